"""decisions: the deciding staff's note and justification; stage_changes: the workflow's own
explanation beside the staff's note — typed text stays in approval, off the bus (issue 21)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows from before keep their text where it was: a decision's in its body, a change's
    # composed explanation in its note (the window shows both the same way).
    op.add_column('decisions', sa.Column('note', sa.Text(), nullable=True))
    op.add_column('decisions', sa.Column('justification', sa.Text(), nullable=True))
    op.add_column('stage_changes', sa.Column('explanation', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column('stage_changes', 'explanation')
    op.drop_column('decisions', 'justification')
    op.drop_column('decisions', 'note')
