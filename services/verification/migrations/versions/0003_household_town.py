"""households: the town or street whose staff handle the case (town jurisdiction)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 16:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Households recorded before stay without a town: only their district's staff see them.
    op.add_column('households', sa.Column('town_code', sa.String(length=9), nullable=True))


def downgrade() -> None:
    # In place (SQLite 3.35+): a batch copy of the table would trip its children's foreign keys.
    op.drop_column('households', 'town_code')
