"""Payment's own tables. The unique indexes are the last guard against paying a household twice;
the ledger is append-only, enforced by the database (see migration 0004)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

from shared.uow import BusTables

metadata = MetaData()
bus = BusTables(metadata)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants a BIGINT identity.
_Id = BigInteger().with_variant(Integer(), "sqlite")

# A re-issue repeats a failed payment under its own key (uq_payment_reissued_once), so the
# once-only keys below are about first issues: an original and its re-issue are one obligation.
_MONTHLY = text("kind = 'monthly' AND reissue_of IS NULL")
_ONE_OFF = text("kind = 'one_off' AND reissue_of IS NULL")
_BATCH = text("kind = 'batch' AND reissue_of IS NULL")
_BACK_PAY = text("kind = 'back_pay' AND reissue_of IS NULL")
_REISSUE = text("reissue_of IS NOT NULL")

payments = Table(
    "payments",
    metadata,
    Column("payment_id", String(40), primary_key=True),
    Column("case_id", String(40), nullable=False),
    Column("programme", String(30), nullable=False),
    # A writer that forgets the kind gets the most constrained one: refused, never paid twice.
    Column("kind", String(10), nullable=False, server_default="monthly"),
    Column("period", String(7), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    # No index of its own: the once-only indexes below lead with it where it is searched.
    Column("beneficiary_ref", String(40), nullable=False),
    Column("region_code", String(6), nullable=False),
    Column("status", String(20), nullable=False),
    Column("scheduled_at", DateTime(timezone=True), nullable=False),
    # Where it came from: the decision (first month, one-off), the cycle or batch run, or the
    # failed payment it re-issues.
    Column("decision_id", String(40), nullable=True),
    Column("run_id", String(80), nullable=True),
    Column("reissue_of", String(40), nullable=True),
    Column("hold_reason", Text, nullable=True),
    # Sent to a bank: the file, and the account as it was when the file was made — sealed, so
    # the file can be produced again byte for byte after the account is corrected.
    Column("bank_file_id", String(40), nullable=True, index=True),
    Column("bank_code", String(20), nullable=True),
    Column("account_sealed", Text, nullable=True),
    Column("holder_sealed", Text, nullable=True),
    Column("exported_at", DateTime(timezone=True), nullable=True),
    Column("settled_at", DateTime(timezone=True), nullable=True),
    Column("failure_reason", Text, nullable=True),
    Column("bank_reference", String(80), nullable=True),
    # A back pay (补发): the month's total it tops what was paid up to (see its index below).
    Column("tops_up_to_fen", BigInteger, nullable=True),
    CheckConstraint("kind IN ('monthly', 'one_off', 'batch', 'back_pay')",
                    name="ck_payments_kind"),
    CheckConstraint("(kind = 'back_pay') = (tops_up_to_fen IS NOT NULL)",
                    name="ck_payments_back_pay_total"),
    CheckConstraint("status IN ('scheduled', 'held', 'exported', 'paid', 'failed', 'reissued')",
                    name="ck_payments_status"),
    CheckConstraint("amount_fen > 0", name="ck_payments_amount"),
    # Monthly: one payment per case, programme and month — and per beneficiary, programme and
    # month, so that not even two cases of one household are paid twice for a month.
    Index("uq_payment_monthly_per_case", "case_id", "programme", "period", unique=True,
          sqlite_where=_MONTHLY, postgresql_where=_MONTHLY),
    Index("uq_payment_monthly_per_beneficiary", "beneficiary_ref", "programme", "period",
          unique=True, sqlite_where=_MONTHLY, postgresql_where=_MONTHLY),
    # One-off: one per case and programme (a case is decided once). A household may get several
    # one-off payments through different cases (each a separate emergency), within the cap.
    Index("uq_payment_one_off_per_case", "case_id", "programme", unique=True,
          sqlite_where=_ONE_OFF, postgresql_where=_ONE_OFF),
    # Batch subsidies: one per batch and household.
    Index("uq_payment_batch_per_beneficiary", "run_id", "beneficiary_ref", unique=True,
          sqlite_where=_BATCH, postgresql_where=_BATCH),
    # Back pay: a month of a case (and of a household) is topped up to a given total once. A
    # second change tops it up to another total, by the difference only; the same change
    # delivered again, or handled again after a restart, meets this index.
    Index("uq_payment_back_pay_per_case", "case_id", "programme", "period", "tops_up_to_fen",
          unique=True, sqlite_where=_BACK_PAY, postgresql_where=_BACK_PAY),
    Index("uq_payment_back_pay_per_beneficiary", "beneficiary_ref", "programme", "period",
          "tops_up_to_fen", unique=True, sqlite_where=_BACK_PAY, postgresql_where=_BACK_PAY),
    # A failed payment is re-issued once.
    Index("uq_payment_reissued_once", "reissue_of", unique=True,
          sqlite_where=_REISSUE, postgresql_where=_REISSUE),
    Index("ix_payments_due", "region_code", "status", "period"),
    Index("ix_payments_case", "case_id"),
)

# The running monthly benefits, which the monthly cycles read. ``periods`` is the schedule as
# JSON ([from_month, status, amount_fen, end_month] per period); ``last_month`` the last month it
# can pay (NULL while it runs on), so a cycle skips what ended without reading it.
entitlements = Table(
    "entitlements",
    metadata,
    Column("case_id", String(40), primary_key=True),
    Column("programme", String(30), nullable=False),
    Column("beneficiary_ref", String(40), nullable=False, index=True),
    Column("region_code", String(6), nullable=False),
    Column("start_month", String(7), nullable=False),
    Column("periods", Text, nullable=False),
    Column("last_month", String(7), nullable=True),
    Column("household_size", Integer, nullable=False, server_default="1"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_entitlements_region", "region_code", "case_id"),
)

# Who is in each case's household: the yearly temporary-assistance cap counts every case that
# shares a member.
case_members = Table(
    "case_members",
    metadata,
    Column("case_id", String(40), primary_key=True),
    Column("person_ref", String(40), primary_key=True),
    Index("ix_case_members_person", "person_ref"),
)

# Where each case is handled, from its decision: which staff may see its payments and account.
case_areas = Table(
    "case_areas",
    metadata,
    Column("case_id", String(40), primary_key=True),
    Column("region_code", String(6), nullable=False),
    Column("town_code", String(9), nullable=True),  # None before towns were recorded
)

# The bank account a case is paid into. The number and the holder's name are sealed (AES-GCM,
# bound to the case id); only the last four digits are kept in clear, for masked display.
accounts = Table(
    "accounts",
    metadata,
    Column("case_id", String(40), primary_key=True),
    Column("bank_code", String(20), nullable=False),
    Column("account_sealed", Text, nullable=False),
    Column("account_last4", String(4), nullable=False),
    Column("holder_sealed", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# A monthly cycle or a batch subsidy: generated in chunks, each committed with the cursor, so a
# run that crashes resumes where it stopped.
runs = Table(
    "disbursement_runs",
    metadata,
    Column("run_id", String(80), primary_key=True),
    Column("kind", String(10), nullable=False),
    Column("month", String(7), nullable=False),
    Column("region_code", String(6), nullable=False),
    Column("programmes", String(200), nullable=True),  # batch: comma-separated
    Column("amount_fen", BigInteger, nullable=True),  # batch: per household or per member
    Column("basis", String(10), nullable=True),  # batch: household | member
    Column("reason", Text, nullable=True),
    Column("status", String(12), nullable=False),
    Column("cursor", String(40), nullable=True),  # the last case id done
    Column("created_count", BigInteger, nullable=False, server_default="0"),
    Column("created_fen", BigInteger, nullable=False, server_default="0"),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("kind IN ('cycle', 'batch')", name="ck_runs_kind"),
    CheckConstraint("status IN ('generating', 'generated')", name="ck_runs_status"),
)

bank_files = Table(
    "bank_files",
    metadata,
    Column("file_id", String(40), primary_key=True),
    Column("run_id", String(80), nullable=True),
    Column("region_code", String(6), nullable=False),
    Column("bank_code", String(20), nullable=False),
    Column("record_count", BigInteger, nullable=False),
    Column("total_fen", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Result files from banks, by the SHA-256 of their bytes: the same file sent twice is answered
# with its first report and changes nothing.
bank_results = Table(
    "bank_results",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("file_id", String(40), nullable=False),
    Column("report", Text, nullable=False),
    Column("imported_at", DateTime(timezone=True), nullable=False),
)

# Every money movement, append-only: an amount moves from one state to another (from "approved"
# into scheduled or held; scheduled → exported → paid or failed; failed → scheduled when it is
# re-issued). Balances by state always add up to what was approved.
ledger = Table(
    "ledger",
    metadata,
    Column("entry_id", _Id, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("payment_id", String(40), nullable=False),
    Column("case_id", String(40), nullable=False),
    Column("region_code", String(6), nullable=False),
    Column("programme", String(30), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("period", String(7), nullable=False),
    Column("from_state", String(12), nullable=False),
    Column("to_state", String(12), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("ref", String(80), nullable=True),  # the run, bank file or failed payment involved
    CheckConstraint("amount_fen > 0", name="ck_ledger_amount"),
    Index("ix_ledger_totals", "region_code", "period", "programme"),
    Index("ix_ledger_payment", "payment_id"),
)

# Answers of mutating requests, by Idempotency-Key: the same key and body get the original
# answer; the same key with another body is refused. A key is its caller's
# (Principal.key_scope); keys stored before callers were recorded have caller "".
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("caller", String(80), primary_key=True, server_default=""),
    Column("scope", String(80), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
