"""identity lookups: every resolution of a pseudonym to a person, logged

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 15:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'identity_lookups',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('subject', sa.String(length=64), nullable=False),
        sa.Column('role', sa.String(length=32), nullable=False),
        sa.Column('person_ref', sa.String(length=80), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('found', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_identity_lookups_person_ref', 'identity_lookups', ['person_ref'])


def downgrade() -> None:
    op.drop_index('ix_identity_lookups_person_ref', table_name='identity_lookups')
    op.drop_table('identity_lookups')
