"""members: a child's guardianship facts, for the orphans' allowance

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 10:00:00

Members stored before this revision have none (no programme asked for them).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('father', sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column('mother', sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column('child_care', sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column('schooling', sa.String(length=24), nullable=True))


def downgrade() -> None:
    # recreate='never', as in 0002: SQLite 3.35+ drops plain columns in place.
    with op.batch_alter_table('members', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('schooling')
        batch_op.drop_column('child_care')
        batch_op.drop_column('mother')
        batch_op.drop_column('father')
