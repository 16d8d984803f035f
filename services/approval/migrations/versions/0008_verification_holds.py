"""verification_holds: a case verification may not check for want of a member's consent
(授权核对), with who must sign, until the town records it (issue 26)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-15 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'verification_holds',
        sa.Column('hold_id', sa.String(40), primary_key=True),
        sa.Column('case_id', sa.String(40), nullable=False),
        sa.Column('reason', sa.String(30), nullable=False),
        sa.Column('occasion', sa.String(20), nullable=False),
        sa.Column('member_refs', sa.Text(), nullable=False),
        sa.Column('held_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('signed_on', sa.Date(), nullable=True),
        sa.Column('released_by', sa.String(80), nullable=True),
        sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index('ix_verification_holds_case_id', 'verification_holds', ['case_id'])


def downgrade() -> None:
    op.drop_index('ix_verification_holds_case_id', 'verification_holds')
    op.drop_table('verification_holds')
