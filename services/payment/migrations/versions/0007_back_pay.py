"""back pay (补发): a payment kind that tops a month already paid up to what it is now due

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 09:00:00

A benefit change that reaches back into months payment has paid (a raise for a month already paid) is paid
the difference, month by month, once: each back pay records the total it tops its month up to,
and a unique index per case and per household (beneficiary) on (programme, month, total)
refuses a second top-up to the same total.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACK_PAY = sa.text("kind = 'back_pay' AND reissue_of IS NULL")
MONTHLY = sa.text("kind = 'monthly' AND reissue_of IS NULL")
ONE_OFF = sa.text("kind = 'one_off' AND reissue_of IS NULL")
BATCH = sa.text("kind = 'batch' AND reissue_of IS NULL")
REISSUE = sa.text("reissue_of IS NOT NULL")
# The once-only indexes, re-created with the table SQLite's batch mode rebuilds, so that their
# conditions are exactly these (a rebuild must never leave the table unguarded or guarded less).
_ONCE = (
    ('uq_payment_monthly_per_case', ['case_id', 'programme', 'period'], MONTHLY),
    ('uq_payment_monthly_per_beneficiary', ['beneficiary_ref', 'programme', 'period'], MONTHLY),
    ('uq_payment_one_off_per_case', ['case_id', 'programme'], ONE_OFF),
    ('uq_payment_batch_per_beneficiary', ['run_id', 'beneficiary_ref'], BATCH),
    ('uq_payment_reissued_once', ['reissue_of'], REISSUE),
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
        return
    with op.batch_alter_table('payments', schema=None) as b:
        b.add_column(sa.Column('tops_up_to_fen', sa.BigInteger(), nullable=True))
        for name, columns, where in _ONCE:
            b.drop_index(name, sqlite_where=where, postgresql_where=where)
            b.create_index(name, columns, unique=True, sqlite_where=where, postgresql_where=where)
        b.drop_constraint('ck_payments_kind', type_='check')
        b.create_check_constraint('ck_payments_kind',
                                  "kind IN ('monthly', 'one_off', 'batch', 'back_pay')")
        b.create_check_constraint('ck_payments_back_pay_total',
                                  "(kind = 'back_pay') = (tops_up_to_fen IS NOT NULL)")
        b.create_index('uq_payment_back_pay_per_case',
                       ['case_id', 'programme', 'period', 'tops_up_to_fen'], unique=True,
                       sqlite_where=BACK_PAY)
        b.create_index('uq_payment_back_pay_per_beneficiary',
                       ['beneficiary_ref', 'programme', 'period', 'tops_up_to_fen'], unique=True,
                       sqlite_where=BACK_PAY)


def _upgrade_postgresql() -> None:
    """The same end, altered in place. PostgreSQL keeps the once-only indexes as they are (only
    SQLite's batch mode rebuilds the table and must re-create them): rebuilding five unique
    indexes of a city's payments table would hold it locked for minutes. What is left reads the
    table once per check and once per back-pay index it builds."""
    op.add_column('payments', sa.Column('tops_up_to_fen', sa.BigInteger(), nullable=True))
    op.drop_constraint('ck_payments_kind', 'payments', type_='check')
    op.create_check_constraint('ck_payments_kind', 'payments',
                               "kind IN ('monthly', 'one_off', 'batch', 'back_pay')")
    op.create_check_constraint('ck_payments_back_pay_total', 'payments',
                               "(kind = 'back_pay') = (tops_up_to_fen IS NOT NULL)")
    op.create_index('uq_payment_back_pay_per_case', 'payments',
                    ['case_id', 'programme', 'period', 'tops_up_to_fen'], unique=True,
                    postgresql_where=BACK_PAY)
    op.create_index('uq_payment_back_pay_per_beneficiary', 'payments',
                    ['beneficiary_ref', 'programme', 'period', 'tops_up_to_fen'], unique=True,
                    postgresql_where=BACK_PAY)


def downgrade() -> None:
    # Fails, on purpose, while back pay rows exist: deleting them would erase what was paid.
    with op.batch_alter_table('payments', schema=None) as b:
        b.drop_index('uq_payment_back_pay_per_beneficiary', sqlite_where=BACK_PAY,
                     postgresql_where=BACK_PAY)
        b.drop_index('uq_payment_back_pay_per_case', sqlite_where=BACK_PAY,
                     postgresql_where=BACK_PAY)
        b.drop_constraint('ck_payments_back_pay_total', type_='check')
        b.drop_constraint('ck_payments_kind', type_='check')
        b.create_check_constraint('ck_payments_kind', "kind IN ('monthly', 'one_off', 'batch')")
        for name, columns, where in _ONCE:
            b.drop_index(name, sqlite_where=where, postgresql_where=where)
            b.create_index(name, columns, unique=True, sqlite_where=where, postgresql_where=where)
        b.drop_column('tops_up_to_fen')
