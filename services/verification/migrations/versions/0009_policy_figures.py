"""policy figures: verification's figures as the bureau publishes them

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 15:30:00

Verification read its monitoring and freshness figures from packaged files only; a figure the
bureau publishes through approval (``PolicyPublished``) is now kept here and takes effect
without a restart.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('policy_figures',
    sa.Column('sequence', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('proposal_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sequence'),
    sa.UniqueConstraint('proposal_id')
    )


def downgrade() -> None:
    op.drop_table('policy_figures')
