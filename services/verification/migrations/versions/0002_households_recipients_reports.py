"""households, recipients and several reports per case

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 11:07:00.220026
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 0001 left the reports' primary key and its unique report_id unnamed. These are the names
# PostgreSQL gave them; on SQLite, batch mode reflects the table and this convention gives the
# reflected constraints the same names, so that one set of operations drops them on both.
_0001_NAMES = {"pk": "%(table_name)s_pkey", "uq": "%(table_name)s_%(column_0_name)s_key"}
_APPLICATION = sa.text("occasion = 'application'")


def upgrade() -> None:
    op.create_table('households',
    sa.Column('case_id', sa.String(length=40), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('programme', sa.String(length=20), nullable=False),
    sa.Column('applicant_ref', sa.String(length=40), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('case_id')
    )
    op.create_table('recipients',
    sa.Column('case_id', sa.String(length=40), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('case_id')
    )
    op.create_table('household_members',
    sa.Column('case_id', sa.String(length=40), nullable=False),
    sa.Column('person_ref', sa.String(length=40), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('age_years', sa.Integer(), nullable=False),
    sa.Column('consent_signed', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['households.case_id'], ),
    sa.PrimaryKeyConstraint('case_id', 'person_ref')
    )
    with op.batch_alter_table('household_members', schema=None) as batch_op:
        batch_op.create_index('ix_household_members_person_ref', ['person_ref'], unique=False)

    op.create_table('declared_incomes',
    sa.Column('case_id', sa.String(length=40), nullable=False),
    sa.Column('person_ref', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('monthly_amount_fen', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['case_id', 'person_ref'], ['household_members.case_id', 'household_members.person_ref'], ),
    sa.PrimaryKeyConstraint('case_id', 'person_ref', 'kind')
    )

    # Reports were one per case, keyed by case; now a case has several, keyed by report id. Every
    # report made so far was an application's, hence the server defaults for existing rows.
    with op.batch_alter_table('reports', naming_convention=_0001_NAMES) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('occasion', sa.String(length=20), nullable=False,
                                      server_default='application'))
        batch_op.drop_constraint('reports_report_id_key', type_='unique')
        batch_op.drop_constraint('reports_pkey', type_='primary')
        batch_op.create_primary_key('reports_pkey', ['report_id'])
        batch_op.create_unique_constraint('uq_reports_case_seq', ['case_id', 'seq'])
        batch_op.create_index('ux_reports_one_application', ['case_id'], unique=True, sqlite_where=_APPLICATION, postgresql_where=_APPLICATION)
    with op.batch_alter_table('reports') as batch_op:
        batch_op.alter_column('seq', server_default=None)
        batch_op.alter_column('occasion', server_default=None)


def downgrade() -> None:
    # One report per case again: only the application's report can stay.
    op.execute("DELETE FROM reports WHERE occasion <> 'application'")
    with op.batch_alter_table('reports') as batch_op:
        batch_op.drop_index('ux_reports_one_application', sqlite_where=_APPLICATION, postgresql_where=_APPLICATION)
        batch_op.drop_constraint('uq_reports_case_seq', type_='unique')
        batch_op.drop_constraint('reports_pkey', type_='primary')
        batch_op.create_primary_key('reports_pkey', ['case_id'])
        batch_op.create_unique_constraint('reports_report_id_key', ['report_id'])
        batch_op.drop_column('occasion')
        batch_op.drop_column('seq')

    op.drop_table('declared_incomes')
    with op.batch_alter_table('household_members', schema=None) as batch_op:
        batch_op.drop_index('ix_household_members_person_ref')

    op.drop_table('household_members')
    op.drop_table('recipients')
    op.drop_table('households')
