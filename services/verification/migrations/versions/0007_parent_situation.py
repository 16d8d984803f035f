"""partner records: a parent's situation, for the children's welfare kinds

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 10:00:00

Records stored before this revision have none (no kind carried one).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # In place, as 0004 adds the grade: a nullable column, no rebuild of millions of records.
    op.add_column('partner_records', sa.Column('situation', sa.String(length=24), nullable=True))


def downgrade() -> None:
    op.drop_column('partner_records', 'situation')
