"""cases: the town or street whose staff handle the case (town jurisdiction)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 16:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE, not batch mode: SQLite (3.35+) adds and drops a column in place, where a
# batch's copy-and-rename of `cases` would trip the foreign keys of members and timeline.
def upgrade() -> None:
    # Cases taken before stay without a town: only their district's staff see them.
    op.add_column('cases', sa.Column('town_code', sa.String(length=9), nullable=True))
    op.create_index('ix_cases_town_code', 'cases', ['town_code'])


def downgrade() -> None:
    op.drop_index('ix_cases_town_code', table_name='cases')
    op.drop_column('cases', 'town_code')
