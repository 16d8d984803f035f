"""lead person look-ups: every ask of who a discovery lead is, logged

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10 10:00:00

A town reviewer (or the district's approver) may ask the department that owns a lead's record who
the lead is, with a reason (issue 26). Each ask is kept here with its reason and the department's
outcome, for auditors; the person the department names is kept nowhere.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'lead_person_lookups',
        sa.Column('lookup_id', sa.String(length=40), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('subject', sa.String(length=100), nullable=False),
        sa.Column('role', sa.String(length=30), nullable=False),
        sa.Column('lead_id', sa.String(length=40), nullable=False),
        sa.Column('region_code', sa.String(length=6), nullable=False),
        sa.Column('town_code', sa.String(length=9), nullable=False),
        sa.Column('department', sa.String(length=40), nullable=False),
        sa.Column('record_id', sa.String(length=100), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('outcome', sa.String(length=30), nullable=False),
        sa.Column('detail', sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint('lookup_id'),
    )
    op.create_index('ix_lead_person_lookups_region', 'lead_person_lookups',
                    ['region_code', 'at'])
    op.create_index('ix_lead_person_lookups_lead', 'lead_person_lookups', ['lead_id'])


def downgrade() -> None:
    op.drop_index('ix_lead_person_lookups_lead', table_name='lead_person_lookups')
    op.drop_index('ix_lead_person_lookups_region', table_name='lead_person_lookups')
    op.drop_table('lead_person_lookups')
