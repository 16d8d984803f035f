"""policy_proposals, recalculations, recalculated: policy administered in the system, with four
eyes, and every recipient recalculated when a published figure changes (issue 22)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'policy_proposals',
        sa.Column('proposal_id', sa.String(40), primary_key=True),
        sa.Column('name', sa.String(80), nullable=False),
        sa.Column('region_code', sa.String(6), nullable=False),
        sa.Column('effective_from', sa.Date(), nullable=False),
        sa.Column('value', sa.BigInteger(), nullable=False),
        sa.Column('replaces_value', sa.BigInteger(), nullable=True),
        sa.Column('source', sa.Text(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('status', sa.String(12), nullable=False),
        sa.Column('proposed_by', sa.String(80), nullable=False),
        sa.Column('proposed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('decided_by', sa.String(80), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('decision_note', sa.Text(), nullable=True),
        sa.Column('sequence', sa.Integer(), nullable=True, unique=True),
        sa.Column('policy_version', sa.String(16), nullable=True),
    )
    op.create_index('ix_policy_proposals_region_code', 'policy_proposals', ['region_code'])
    op.create_table(
        'recalculations',
        sa.Column('job_id', sa.String(40), primary_key=True),
        sa.Column('proposal_id', sa.String(40), nullable=False, unique=True),
        sa.Column('status', sa.String(12), nullable=False),
        sa.Column('cursor', sa.String(40), nullable=True),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('done', sa.Integer(), nullable=False),
        sa.Column('changed', sa.Integer(), nullable=False),
        sa.Column('to_review', sa.Integer(), nullable=False),
        sa.Column('claimed_by', sa.String(80), nullable=True),
        sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        'recalculated',
        sa.Column('job_id', sa.String(40), primary_key=True),
        sa.Column('case_id', sa.String(40), primary_key=True),
        sa.Column('outcome', sa.String(20), nullable=False),
        sa.Column('old_monthly_fen', sa.BigInteger(), nullable=False),
        sa.Column('new_monthly_fen', sa.BigInteger(), nullable=False),
        sa.Column('explanation', sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('recalculated')
    op.drop_table('recalculations')
    op.drop_index('ix_policy_proposals_region_code', 'policy_proposals')
    op.drop_table('policy_proposals')
