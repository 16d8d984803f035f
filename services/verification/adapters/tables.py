"""Verification's own tables. Partner records and households are kept under pseudonyms only."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from shared.uow import BusTables

metadata = MetaData()
bus = BusTables(metadata)

partner_credentials = Table(
    "partner_credentials",
    metadata,
    Column("department", String(50), primary_key=True),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Credentials a department was issued before its newest one (partner_credentials), still
# accepted until ``expires_at``: the overlap in which the department switches to the new one
# without an outage (``onedoor partners issue-credential``). Expired rows are refused, and
# removed at the department's next issue or revocation.
retiring_partner_credentials = Table(
    "retiring_partner_credentials",
    metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("department", String(50), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

partner_records = Table(
    "partner_records",
    metadata,
    Column("department", String(50), primary_key=True),
    Column("record_id", String(100), primary_key=True),
    Column("kind", String(30), nullable=False),
    Column("person_ref", String(40), nullable=False),
    # 32 bits of a hash of person_ref (repository.person_key), the column a household's records
    # are found by: its index is a fraction of one on the 34-character ref, and a bulk
    # ingestion inserts into it at random places, which at millions of records is most of the
    # cost of storing a record (measured, docs/PERFORMANCE.md). Not unique: a lookup compares
    # person_ref too.
    Column("person_key", BigInteger, nullable=False, index=True),
    Column("amount_fen", BigInteger, nullable=False),
    Column("as_of", Date, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("grade", SmallInteger, nullable=True),  # graded kinds only (disability grade)
    # The bulk publication that last wrote the record (None: sent through POST /partner-records).
    # No foreign key: it would be checked on each of millions of rows for no reader's benefit.
    Column("publication_id", BigInteger, nullable=True),
    # The person's town of residence as the department gives it (required for large medical
    # bills: a lead goes to that town).
    Column("town_code", String(9), nullable=True),
    # A parent's situation, for the children's welfare kinds (domain.partners.SITUATIONS).
    Column("situation", String(24), nullable=True),
)

# A department's bulk file (POST /partner-publications), known by the SHA-256 of its bytes: the
# same file sent again is this publication again. Ingested in batches, each one transaction that
# also moves `applied_through` (the last line applied), where an interrupted ingestion resumes.
partner_publications = Table(
    "partner_publications",
    metadata,
    Column("publication_id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
           autoincrement=True),
    Column("department", String(50), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("format", String(10), nullable=False),  # ndjson / csv
    Column("bytes", BigInteger, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    Column("applied_through", BigInteger, nullable=False),
    Column("lines", BigInteger, nullable=False),  # records read: accepted + rejected
    Column("accepted", BigInteger, nullable=False),
    Column("rejected", BigInteger, nullable=False),
    Column("upserted", BigInteger, nullable=False),
    Column("deleted", BigInteger, nullable=False),
    UniqueConstraint("department", "digest", name="uq_partner_publications_digest"),
    Index("ix_partner_publications_department", "department", "publication_id"),
)

# Why lines were rejected: the first MAX_REJECTIONS_KEPT of a publication (the counts are exact).
partner_publication_rejections = Table(
    "partner_publication_rejections",
    metadata,
    Column("publication_id", BigInteger().with_variant(Integer(), "sqlite"),
           ForeignKey("partner_publications.publication_id"), primary_key=True),
    Column("line_no", BigInteger, primary_key=True),
    Column("reason", Text, nullable=False),
)

# A case's reports, numbered from 1 (`seq`): the application's, then one per change in partner
# data and per periodic review. The latest is the one with the highest number.
reports = Table(
    "reports",
    metadata,
    Column("report_id", String(40), primary_key=True),
    Column("case_id", String(40), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("occasion", String(20), nullable=False),  # application / partner_data / periodic_review
    Column("body", Text, nullable=False),  # JSON of the VerificationReported event
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("case_id", "seq", name="uq_reports_case_seq"),
    # The handler checks first; this makes a second application report impossible all the same.
    Index("ux_reports_one_application", "case_id", unique=True,
          sqlite_where=text("occasion = 'application'"),
          postgresql_where=text("occasion = 'application'")),
)

# The household of each case, as the application described it (see domain.model.Household).
households = Table(
    "households",
    metadata,
    Column("case_id", String(40), primary_key=True),
    Column("region_code", String(6), nullable=False),
    # The town whose staff handle the case (None before towns were recorded): who may read
    # the case's report.
    Column("town_code", String(9), nullable=True),
    Column("programme", String(20), nullable=False),
    Column("applicant_ref", String(40), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
)

household_members = Table(
    "household_members",
    metadata,
    Column("case_id", String(40), ForeignKey("households.case_id"), primary_key=True),
    Column("person_ref", String(40), primary_key=True),
    Column("position", Integer, nullable=False),  # order on the form; reports keep it
    Column("age_years", Integer, nullable=False),  # on the day of the application
    Column("consent_signed", Boolean, nullable=False),
    # New partner data is matched to households by person: this index finds them.
    Index("ix_household_members_person_ref", "person_ref"),
)

declared_incomes = Table(
    "declared_incomes",
    metadata,
    Column("case_id", String(40), primary_key=True),
    Column("person_ref", String(40), primary_key=True),
    Column("kind", String(20), primary_key=True),
    Column("monthly_amount_fen", BigInteger, nullable=False),
    ForeignKeyConstraint(["case_id", "person_ref"],
                         ["household_members.case_id", "household_members.person_ref"]),
)

# Cases whose benefit runs: new partner data about their members triggers a new report. No
# foreign key to households: a decision may be read before the application it follows when a
# consumer replays its topics after a broker restart.
recipients = Table(
    "recipients",
    metadata,
    Column("case_id", String(40), primary_key=True),
    Column("active", Boolean, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

# Cases decided (approved or rejected): a case without a row is open, and new partner data about
# its household gets it a new report as for a recipient. No foreign key, as for recipients.
case_decisions = Table(
    "case_decisions",
    metadata,
    Column("case_id", String(40), primary_key=True),
    Column("outcome", String(20), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
)

# Temporary assistance granted (one-off): counted by the repeated-assistance indicator, and the
# household stays watched for a window after it (domain.monitoring).
temporary_grants = Table(
    "temporary_grants",
    metadata,
    Column("case_id", String(40), primary_key=True),
    Column("decided_at", DateTime(timezone=True), nullable=False),
)

# Early warnings (预警) on watched households' cases: at most one per case and cause, so the same
# fact published again raises nothing. Open until a town worker closes it with an outcome.
early_warnings = Table(
    "early_warnings",
    metadata,
    Column("warning_id", String(40), primary_key=True),
    Column("case_id", String(40), nullable=False),
    Column("region_code", String(6), nullable=False),
    Column("town_code", String(9), nullable=True),
    Column("indicator", String(30), nullable=False),
    Column("cause", String(120), nullable=False),
    Column("tier", String(10), nullable=False),  # yellow / orange / red
    # Why: a code and its figures as JSON (shared/monitoring_reasons.py has the words). A
    # warning raised before issue 26 has the code legacy_text and its words in ``reason``.
    Column("reason_code", String(40), nullable=False),
    Column("reason_params", Text, nullable=False),
    Column("reason", Text, nullable=True),
    Column("person_ref", String(40), nullable=True),
    Column("raised_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("outcome", String(30), nullable=True),
    Column("note", Text, nullable=True),
    Column("closed_by", String(100), nullable=True),
    UniqueConstraint("case_id", "indicator", "cause", name="uq_early_warnings_cause"),
    Index("ix_early_warnings_town", "town_code", "closed_at"),
    Index("ix_early_warnings_region", "region_code", "closed_at"),
)

# Proactive-discovery leads (主动发现): persons who have not applied, for their town, with the
# records that raised them (JSON) — department references and amounts, never an identity.
discovery_leads = Table(
    "discovery_leads",
    metadata,
    Column("lead_id", String(40), primary_key=True),
    Column("person_ref", String(40), nullable=False),
    Column("region_code", String(6), nullable=False),
    Column("town_code", String(9), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("cause", String(120), nullable=False),
    Column("reason_code", String(40), nullable=False),  # as early_warnings'
    Column("reason_params", Text, nullable=False),
    Column("reason", Text, nullable=True),
    Column("evidence", Text, nullable=False),
    Column("raised_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("outcome", String(30), nullable=True),
    Column("note", Text, nullable=True),
    Column("closed_by", String(100), nullable=True),
    Column("case_id", String(40), nullable=True),  # the application the lead led to
    UniqueConstraint("person_ref", "kind", "cause", name="uq_discovery_leads_cause"),
    Index("ix_discovery_leads_town", "town_code", "closed_at"),
    Index("ix_discovery_leads_region", "region_code", "closed_at"),
    Index("ix_discovery_leads_person", "person_ref"),
)

# Every access to partner data (issue 4): a report built from it (by verification itself, on an
# application, new data or a review) or read by a person. Who or what, which case, which
# departments' data, when. Listed to auditors within their jurisdiction; never pruned here.
partner_data_access = Table(
    "partner_data_access",
    metadata,
    Column("access_id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
           autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(100), nullable=False),  # a staff id, or "verification"
    Column("role", String(30), nullable=True),  # the person's role; None for verification
    Column("purpose", String(30), nullable=False),  # application / partner_data / … / report_read
    Column("case_id", String(40), nullable=False),
    Column("region_code", String(6), nullable=False),
    Column("town_code", String(9), nullable=True),
    Column("sources", Text, nullable=False),  # the departments whose data it was, comma-separated
    Index("ix_partner_data_access_case", "case_id"),
    Index("ix_partner_data_access_region", "region_code", "at"),
)

# Reports waiting for live sources (adapters/live_sources.py): an application or a periodic
# review is reported only once every live source has answered, never on part of the data. The
# worker (service_layer/live.py) tries again at `next_attempt_at`, with backoff.
pending_reports = Table(
    "pending_reports",
    metadata,
    Column("case_id", String(40), primary_key=True),
    Column("occasion", String(20), nullable=False),  # application / periodic_review
    Column("since", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("missing", Text, nullable=True),  # department: reason; … from the last attempt
    Index("ix_pending_reports_due", "next_attempt_at"),
)

# The bureau's publications of verification's own figures (monitoring.*, discovery.*,
# freshness.*), as approval published them (``PolicyPublished``, issue 22): amended over the
# packaged files in ``sequence`` order, so a figure takes effect without a restart
# (shared/policy_book.py). The other figures of a publication are approval's, not kept here.
policy_figures = Table(
    "policy_figures",
    metadata,
    Column("sequence", Integer, primary_key=True, autoincrement=False),  # approval's order
    Column("proposal_id", String(40), nullable=False, unique=True),
    Column("name", String(80), nullable=False),
    Column("region_code", String(6), nullable=False),
    Column("effective_from", Date, nullable=False),
    Column("value", BigInteger, nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False),
)

# Every look-up of who a discovery lead is (issue 26): who asked, in which role, about which
# lead, of which department, why (the reason they typed: it stays here, listed to auditors, and
# goes on no event), and what the department answered — never the person it named. Only ever
# inserted (service_layer/person_lookups.py).
lead_person_lookups = Table(
    "lead_person_lookups",
    metadata,
    Column("lookup_id", String(40), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("subject", String(100), nullable=False),
    Column("role", String(30), nullable=False),
    Column("lead_id", String(40), nullable=False),
    Column("region_code", String(6), nullable=False),
    Column("town_code", String(9), nullable=False),
    Column("department", String(40), nullable=False),
    Column("record_id", String(100), nullable=False),  # the department's record it was asked of
    Column("reason", Text, nullable=False),
    Column("outcome", String(30), nullable=False),  # resolved / not_found / department_unavailable
    Column("detail", String(300), nullable=True),  # why the department could not answer
    Index("ix_lead_person_lookups_region", "region_code", "at"),
    Index("ix_lead_person_lookups_lead", "lead_id"),
)
