"""monthly cycles, batch subsidies, bank files, accounts, the ledger, idempotency keys

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 12:40:00

Entitlements keep their whole schedule (periods) instead of only the current state; payments
learn where they came from, the bank file they went out in and how the bank answered; the
ledger, append-only by trigger, gets an entry for every payment made before this revision.
"""
import json
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_MONTHLY = sa.text("kind = 'monthly'")
OLD_ONE_OFF = sa.text("kind = 'one_off'")
MONTHLY = sa.text("kind = 'monthly' AND reissue_of IS NULL")
ONE_OFF = sa.text("kind = 'one_off' AND reissue_of IS NULL")
BATCH = sa.text("kind = 'batch' AND reissue_of IS NULL")
REISSUE = sa.text("reissue_of IS NOT NULL")
_Id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as b:
        for name, kind in (('decision_id', sa.String(40)), ('run_id', sa.String(80)),
                           ('reissue_of', sa.String(40)), ('hold_reason', sa.Text()),
                           ('bank_file_id', sa.String(40)), ('bank_code', sa.String(20)),
                           ('account_sealed', sa.Text()), ('holder_sealed', sa.Text()),
                           ('exported_at', sa.DateTime(timezone=True)),
                           ('settled_at', sa.DateTime(timezone=True)),
                           ('failure_reason', sa.Text()), ('bank_reference', sa.String(80))):
            b.add_column(sa.Column(name, kind, nullable=True))
        # Old guards out, new ones in, in one transaction (DDL is transactional on PostgreSQL,
        # and SQLite's batch mode rebuilds the table in one): no moment is unguarded.
        b.drop_index('uq_payment_monthly_per_case', sqlite_where=OLD_MONTHLY, postgresql_where=OLD_MONTHLY)
        b.drop_index('uq_payment_monthly_per_beneficiary', sqlite_where=OLD_MONTHLY, postgresql_where=OLD_MONTHLY)
        b.drop_index('uq_payment_one_off_per_case', sqlite_where=OLD_ONE_OFF, postgresql_where=OLD_ONE_OFF)
        b.create_index('uq_payment_monthly_per_case', ['case_id', 'programme', 'period'], unique=True, sqlite_where=MONTHLY, postgresql_where=MONTHLY)
        b.create_index('uq_payment_monthly_per_beneficiary', ['beneficiary_ref', 'programme', 'period'], unique=True, sqlite_where=MONTHLY, postgresql_where=MONTHLY)
        b.create_index('uq_payment_one_off_per_case', ['case_id', 'programme'], unique=True, sqlite_where=ONE_OFF, postgresql_where=ONE_OFF)
        b.create_index('uq_payment_batch_per_beneficiary', ['run_id', 'beneficiary_ref'], unique=True, sqlite_where=BATCH, postgresql_where=BATCH)
        b.create_index('uq_payment_reissued_once', ['reissue_of'], unique=True, sqlite_where=REISSUE, postgresql_where=REISSUE)
        b.create_index('ix_payments_due', ['region_code', 'status', 'period'])
        b.create_index('ix_payments_case', ['case_id'])
        b.create_index('ix_payments_bank_file_id', ['bank_file_id'])
        # Searched only through the once-only indexes, which lead with it.
        b.drop_index('ix_payments_beneficiary_ref')
        b.drop_constraint('ck_payments_kind', type_='check')
        b.create_check_constraint('ck_payments_kind', "kind IN ('monthly', 'one_off', 'batch')")
        b.create_check_constraint('ck_payments_status', "status IN ('scheduled', 'held', 'exported', 'paid', 'failed', 'reissued')")
        b.create_check_constraint('ck_payments_amount', 'amount_fen > 0')

    _entitlements_to_periods()

    op.create_table('case_members',
        sa.Column('case_id', sa.String(40), nullable=False),
        sa.Column('person_ref', sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint('case_id', 'person_ref'))
    op.create_index('ix_case_members_person', 'case_members', ['person_ref'])
    op.create_table('accounts',
        sa.Column('case_id', sa.String(40), nullable=False),
        sa.Column('bank_code', sa.String(20), nullable=False),
        sa.Column('account_sealed', sa.Text(), nullable=False),
        sa.Column('account_last4', sa.String(4), nullable=False),
        sa.Column('holder_sealed', sa.Text(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('case_id'))
    op.create_table('disbursement_runs',
        sa.Column('run_id', sa.String(80), nullable=False),
        sa.Column('kind', sa.String(10), nullable=False),
        sa.Column('month', sa.String(7), nullable=False),
        sa.Column('region_code', sa.String(6), nullable=False),
        sa.Column('programmes', sa.String(200), nullable=True),
        sa.Column('amount_fen', sa.BigInteger(), nullable=True),
        sa.Column('basis', sa.String(10), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('status', sa.String(12), nullable=False),
        sa.Column('cursor', sa.String(40), nullable=True),
        sa.Column('created_count', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('created_fen', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('cycle', 'batch')", name='ck_runs_kind'),
        sa.CheckConstraint("status IN ('generating', 'generated')", name='ck_runs_status'),
        sa.PrimaryKeyConstraint('run_id'))
    op.create_table('bank_files',
        sa.Column('file_id', sa.String(40), nullable=False),
        sa.Column('run_id', sa.String(80), nullable=True),
        sa.Column('region_code', sa.String(6), nullable=False),
        sa.Column('bank_code', sa.String(20), nullable=False),
        sa.Column('record_count', sa.BigInteger(), nullable=False),
        sa.Column('total_fen', sa.BigInteger(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('file_id'))
    op.create_table('bank_results',
        sa.Column('sha256', sa.String(64), nullable=False),
        sa.Column('file_id', sa.String(40), nullable=False),
        sa.Column('report', sa.Text(), nullable=False),
        sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('sha256'))
    op.create_table('idempotency_keys',
        sa.Column('scope', sa.String(80), nullable=False),
        sa.Column('key', sa.String(200), nullable=False),
        sa.Column('request_hash', sa.String(64), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('scope', 'key'))
    op.create_table('ledger',
        sa.Column('entry_id', _Id, autoincrement=True, nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('payment_id', sa.String(40), nullable=False),
        sa.Column('case_id', sa.String(40), nullable=False),
        sa.Column('region_code', sa.String(6), nullable=False),
        sa.Column('programme', sa.String(30), nullable=False),
        sa.Column('kind', sa.String(10), nullable=False),
        sa.Column('period', sa.String(7), nullable=False),
        sa.Column('from_state', sa.String(12), nullable=False),
        sa.Column('to_state', sa.String(12), nullable=False),
        sa.Column('amount_fen', sa.BigInteger(), nullable=False),
        sa.Column('ref', sa.String(80), nullable=True),
        sa.CheckConstraint('amount_fen > 0', name='ck_ledger_amount'),
        sa.PrimaryKeyConstraint('entry_id'))
    op.create_index('ix_ledger_totals', 'ledger', ['region_code', 'period', 'programme'])
    op.create_index('ix_ledger_payment', 'ledger', ['payment_id'])
    # Every payment made so far was scheduled: the ledger starts from them.
    op.execute(sa.text("""
        INSERT INTO ledger (at, payment_id, case_id, region_code, programme, kind, period,
                            from_state, to_state, amount_fen, ref)
        SELECT scheduled_at, payment_id, case_id, region_code, programme, kind, period,
               'approved', 'scheduled', amount_fen, NULL
        FROM payments ORDER BY scheduled_at, payment_id"""))
    _ledger_append_only()


def _postgres() -> bool:
    return op.get_bind().dialect.name == 'postgresql'


def _entitlements_to_periods() -> None:
    """The current state becomes a schedule: the start period, and the current period if it
    began later. (The amount before a change was not kept; the start period gets the current
    one — the months before this revision were already paid.)"""
    with op.batch_alter_table('entitlements', schema=None) as b:
        b.add_column(sa.Column('periods', sa.Text(), nullable=True))
        b.add_column(sa.Column('last_month', sa.String(7), nullable=True))
        b.add_column(sa.Column('household_size', sa.Integer(), server_default='1', nullable=False))
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        'SELECT case_id, start_month, monthly_amount_fen, status, status_from, end_month '
        'FROM entitlements')).all()
    for r in rows:
        periods = [[r.start_month, 'active', r.monthly_amount_fen, None]]
        if r.status_from > r.start_month or r.status != 'active':
            current = [r.status_from, r.status, r.monthly_amount_fen, r.end_month]
            periods = [current] if r.status_from <= r.start_month else [*periods, current]
        last = r.end_month if r.status in ('exiting', 'terminated') else None
        bind.execute(sa.text('UPDATE entitlements SET periods = :p, last_month = :l '
                             'WHERE case_id = :c'),
                     {'p': json.dumps(periods), 'l': last, 'c': r.case_id})
    with op.batch_alter_table('entitlements', schema=None) as b:
        b.alter_column('periods', existing_type=sa.Text(), nullable=False)
        b.drop_constraint('ck_entitlements_status', type_='check')
        for name in ('monthly_amount_fen', 'amount_from', 'status', 'status_from', 'end_month'):
            b.drop_column(name)
        b.create_index('ix_entitlements_region', ['region_code', 'case_id'])
        b.create_index('ix_entitlements_beneficiary_ref', ['beneficiary_ref'])


def _ledger_append_only() -> None:
    # Append-only by the database, not by convention: a correction is a new entry.
    if _postgres():
        op.execute(sa.text("""
            CREATE FUNCTION ledger_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'the ledger is append-only'; END $$ LANGUAGE plpgsql"""))
        op.execute(sa.text("""
            CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger
            FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"""))
        op.execute(sa.text("""
            CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger
            FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only()"""))
    else:
        for action in ('UPDATE', 'DELETE'):
            op.execute(sa.text(f"""
                CREATE TRIGGER ledger_no_{action.lower()} BEFORE {action} ON ledger
                BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END"""))


def downgrade() -> None:
    # Not supported: it would drop the ledger, the record of every money movement.
    raise NotImplementedError("payment 0004 cannot be downgraded: it would erase the ledger")
