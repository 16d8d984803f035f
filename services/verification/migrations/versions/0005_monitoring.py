"""monitoring (warnings, leads, grants, decided cases), partner-data access log, reports pending
live sources; partner records' town

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('partner_records', sa.Column('town_code', sa.String(length=9), nullable=True))
    op.create_table('case_decisions',
    sa.Column('case_id', sa.String(length=40), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('case_id')
    )
    # Cases approved for a running benefit are decided. Rejections were not kept before: those
    # cases count as open, and partner data about them gets approval a report it does not act on
    # (a decided case's stage stays).
    op.execute("INSERT INTO case_decisions (case_id, outcome, decided_at) "
               "SELECT case_id, 'approved', changed_at FROM recipients")
    op.create_table('temporary_grants',
    sa.Column('case_id', sa.String(length=40), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('case_id')
    )
    op.create_table('early_warnings',
    sa.Column('warning_id', sa.String(length=40), nullable=False),
    sa.Column('case_id', sa.String(length=40), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('town_code', sa.String(length=9), nullable=True),
    sa.Column('indicator', sa.String(length=30), nullable=False),
    sa.Column('cause', sa.String(length=120), nullable=False),
    sa.Column('tier', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('person_ref', sa.String(length=40), nullable=True),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=30), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('closed_by', sa.String(length=100), nullable=True),
    sa.PrimaryKeyConstraint('warning_id'),
    sa.UniqueConstraint('case_id', 'indicator', 'cause', name='uq_early_warnings_cause')
    )
    op.create_index('ix_early_warnings_town', 'early_warnings', ['town_code', 'closed_at'])
    op.create_index('ix_early_warnings_region', 'early_warnings', ['region_code', 'closed_at'])
    op.create_table('discovery_leads',
    sa.Column('lead_id', sa.String(length=40), nullable=False),
    sa.Column('person_ref', sa.String(length=40), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('town_code', sa.String(length=9), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('cause', sa.String(length=120), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('evidence', sa.Text(), nullable=False),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=30), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('closed_by', sa.String(length=100), nullable=True),
    sa.Column('case_id', sa.String(length=40), nullable=True),
    sa.PrimaryKeyConstraint('lead_id'),
    sa.UniqueConstraint('person_ref', 'kind', 'cause', name='uq_discovery_leads_cause')
    )
    op.create_index('ix_discovery_leads_town', 'discovery_leads', ['town_code', 'closed_at'])
    op.create_index('ix_discovery_leads_region', 'discovery_leads', ['region_code', 'closed_at'])
    op.create_index('ix_discovery_leads_person', 'discovery_leads', ['person_ref'])
    op.create_table('partner_data_access',
    sa.Column('access_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=30), nullable=True),
    sa.Column('purpose', sa.String(length=30), nullable=False),
    sa.Column('case_id', sa.String(length=40), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('town_code', sa.String(length=9), nullable=True),
    sa.Column('sources', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('access_id')
    )
    op.create_index('ix_partner_data_access_case', 'partner_data_access', ['case_id'])
    op.create_index('ix_partner_data_access_region', 'partner_data_access', ['region_code', 'at'])
    op.create_table('pending_reports',
    sa.Column('case_id', sa.String(length=40), nullable=False),
    sa.Column('occasion', sa.String(length=20), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('missing', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('case_id')
    )
    op.create_index('ix_pending_reports_due', 'pending_reports', ['next_attempt_at'])


def downgrade() -> None:
    op.drop_table('pending_reports')
    op.drop_table('partner_data_access')
    op.drop_table('discovery_leads')
    op.drop_table('early_warnings')
    op.drop_table('temporary_grants')
    op.drop_table('case_decisions')
    op.drop_column('partner_records', 'town_code')
