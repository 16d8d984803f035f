"""window: staff accounts, sessions, failed sign-ins

Revision ID: 0001
Revises:
Create Date: 2026-11-22 18:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'staff_accounts',
        sa.Column('staff_id', sa.String(length=32), nullable=False),
        sa.Column('role', sa.String(length=30), nullable=False),
        sa.Column('jurisdiction', sa.String(length=9), nullable=False),
        sa.Column('display_name', sa.String(length=100), nullable=False),
        sa.Column('password_hash', sa.String(length=200), nullable=True),
        sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_sign_in_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('staff_id'),
    )
    op.create_table(
        'sessions',
        sa.Column('session_hash', sa.String(length=64), nullable=False),
        sa.Column('staff_id', sa.String(length=32), nullable=False),
        sa.Column('csrf_token', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['staff_id'], ['staff_accounts.staff_id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('session_hash'),
    )
    op.create_index('ix_sessions_staff_id', 'sessions', ['staff_id'])
    op.create_index('ix_sessions_last_seen_at', 'sessions', ['last_seen_at'])
    op.create_table(
        'sign_in_failures',
        sa.Column('account', sa.String(length=32), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('first_failed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('account'),
    )
    op.create_index('ix_sign_in_failures_first_failed_at', 'sign_in_failures',
                    ['first_failed_at'])


def downgrade() -> None:
    op.drop_index('ix_sign_in_failures_first_failed_at', table_name='sign_in_failures')
    op.drop_table('sign_in_failures')
    op.drop_index('ix_sessions_last_seen_at', table_name='sessions')
    op.drop_index('ix_sessions_staff_id', table_name='sessions')
    op.drop_table('sessions')
    op.drop_table('staff_accounts')
