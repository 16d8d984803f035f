"""payment kinds (monthly, one-off) and running entitlements

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 11:07:02.947021
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONTHLY = sa.text("kind = 'monthly'")
ONE_OFF = sa.text("kind = 'one_off'")


def upgrade() -> None:
    op.create_table('entitlements',
    sa.Column('case_id', sa.String(length=40), nullable=False),
    sa.Column('programme', sa.String(length=30), nullable=False),
    sa.Column('beneficiary_ref', sa.String(length=40), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('monthly_amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('start_month', sa.String(length=7), nullable=False),
    sa.Column('amount_from', sa.String(length=7), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('status_from', sa.String(length=7), nullable=False),
    sa.Column('end_month', sa.String(length=7), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('active', 'exiting', 'suspended', 'terminated')", name='ck_entitlements_status'),
    sa.PrimaryKeyConstraint('case_id')
    )
    # Every payment so far was the first monthly payment of an approval: the server default
    # makes the existing rows "monthly". The new indexes are created before the old constraints
    # go, so that on PostgreSQL (which runs these in order) the table is never unguarded.
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=10), server_default='monthly', nullable=False))
        batch_op.create_check_constraint('ck_payments_kind', "kind IN ('monthly', 'one_off')")
        batch_op.create_index('uq_payment_monthly_per_beneficiary', ['beneficiary_ref', 'programme', 'period'], unique=True, sqlite_where=MONTHLY, postgresql_where=MONTHLY)
        batch_op.create_index('uq_payment_monthly_per_case', ['case_id', 'programme', 'period'], unique=True, sqlite_where=MONTHLY, postgresql_where=MONTHLY)
        batch_op.create_index('uq_payment_one_off_per_case', ['case_id', 'programme'], unique=True, sqlite_where=ONE_OFF, postgresql_where=ONE_OFF)
        batch_op.drop_constraint('uq_payment_once_per_beneficiary', type_='unique')
        batch_op.drop_constraint('uq_payment_once_per_period', type_='unique')

    # The cases approved before this revision are running entitlements too: the monthly cycles
    # must find them. Each had its first monthly payment, which gives its start and amount.
    op.execute(sa.text("""
        INSERT INTO entitlements (case_id, programme, beneficiary_ref, region_code,
                                  monthly_amount_fen, start_month, amount_from, status,
                                  status_from, end_month, updated_at)
        SELECT p.case_id, p.programme, p.beneficiary_ref, p.region_code, p.amount_fen,
               p.period, p.period, 'active', p.period, NULL, p.scheduled_at
        FROM payments p
        WHERE p.kind = 'monthly'
          AND p.period = (SELECT MIN(q.period) FROM payments q
                          WHERE q.case_id = p.case_id AND q.kind = 'monthly')
    """))


def downgrade() -> None:
    # Fails, on purpose, when one-off payments break the old once-per-month keys: deleting
    # payment records to make a downgrade pass would erase what was paid.
    op.drop_table('entitlements')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_payment_once_per_period', ['case_id', 'programme', 'period'])
        batch_op.create_unique_constraint('uq_payment_once_per_beneficiary', ['beneficiary_ref', 'programme', 'period'])
        batch_op.drop_index('uq_payment_one_off_per_case', sqlite_where=ONE_OFF, postgresql_where=ONE_OFF)
        batch_op.drop_index('uq_payment_monthly_per_case', sqlite_where=MONTHLY, postgresql_where=MONTHLY)
        batch_op.drop_index('uq_payment_monthly_per_beneficiary', sqlite_where=MONTHLY, postgresql_where=MONTHLY)
        batch_op.drop_constraint('ck_payments_kind', type_='check')
        batch_op.drop_column('kind')
