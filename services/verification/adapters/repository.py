"""Partner records, credentials, households, recipients and reports in verification's database."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol
from zlib import crc32

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from services.verification.adapters.tables import (
    case_decisions,
    declared_incomes,
    household_members,
    households,
    partner_credentials,
    partner_records,
    recipients,
    reports,
    temporary_grants,
)
from services.verification.domain.model import Household, HouseholdMember, PartnerRecord
from services.verification.domain.monitoring import DATED_KINDS
from shared.clock import as_utc
from shared.db import among, insert_columns, insert_new

# Statements run for every application or publication, built once (see intake's repository).
_RECORDS_OF = select(partner_records).where(
    among(partner_records.c.person_key, "keys"), among(partner_records.c.person_ref, "refs"))
_APPLICATION_REPORTED = select(reports.c.report_id).where(
    reports.c.case_id == bindparam("cid"), reports.c.occasion == "application")
_HOUSEHOLD_EXISTS = select(households.c.case_id).where(households.c.case_id == bindparam("cid"))
# The cases new partner data about some persons concerns: open cases (not yet decided: a new
# report) and the households early warnings watch (domain.monitoring) — active recipients' (a new
# report too) and those granted temporary assistance (the caller keeps the grants still inside
# their window).
_WATCHED_CASES_OF = (
    select(household_members.c.case_id)
    .where(among(household_members.c.person_ref, "refs"),
           or_(household_members.c.case_id.in_(
               select(recipients.c.case_id).where(recipients.c.active)),
               household_members.c.case_id.in_(select(temporary_grants.c.case_id)),
               household_members.c.case_id.not_in(select(case_decisions.c.case_id)))))
_MEMBERS_AMONG = select(household_members.c.person_ref).where(
    among(household_members.c.person_ref, "refs")).distinct()
_LATEST_SEQ = (select(reports.c.case_id, func.max(reports.c.seq).label("seq"))
               .where(among(reports.c.case_id, "cids"))
               .group_by(reports.c.case_id).subquery())
_LATEST_REPORTS = select(reports).join(
    _LATEST_SEQ, and_(reports.c.case_id == _LATEST_SEQ.c.case_id,
                      reports.c.seq == _LATEST_SEQ.c.seq))


def _stored(row: Any) -> StoredReport:
    return StoredReport(case_id=row.case_id, seq=row.seq, report_id=row.report_id,
                        occasion=row.occasion, body=row.body, created_at=as_utc(row.created_at))


def person_key(person_ref: str) -> int:
    """The 32-bit key partner records are found by (see ``tables.partner_records``): any
    string's, so that it does not depend on how pseudonyms are spelled; signed, so that SQLite
    keeps it in 4 bytes. Persons may share a key (some thousands among 10 million); a lookup
    compares the refs too."""
    return crc32(person_ref.encode()) - 2**31


def token_digest(token: str) -> str:
    # Tokens are long random strings, so a plain SHA-256 is enough: there is nothing to
    # brute-force that a slow hash would protect.
    return hashlib.sha256(token.encode()).hexdigest()


class RecordContent(Protocol):
    """What a partner record says, as ``PartnerRecord`` and a publication's ``Upsert`` both
    carry it (the department aside)."""

    @property
    def record_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def person_ref(self) -> str: ...
    @property
    def amount_fen(self) -> int: ...
    @property
    def as_of(self) -> date: ...
    @property
    def grade(self) -> int | None: ...
    @property
    def town_code(self) -> str | None: ...


_REPLACED = ("kind", "amount_fen", "as_of", "received_at", "grade", "publication_id",
             "town_code")  # all but the key and the person, who stays (see apply)
_RECORDS_BY_ID = select(
    partner_records.c.record_id, partner_records.c.person_ref, partner_records.c.kind,
    partner_records.c.amount_fen, partner_records.c.grade, partner_records.c.town_code,
    partner_records.c.as_of,
).where(partner_records.c.department == bindparam("department"),
        among(partner_records.c.record_id, "ids"))
_DELETE_BY_ID = delete(partner_records).where(
    partner_records.c.department == bindparam("department"),
    among(partner_records.c.record_id, "ids"))


def _changed(was: tuple[Any, ...] | None, now: RecordContent) -> bool:
    """Whether a record's new content differs from what was stored (``was``: person_ref, kind,
    amount_fen, grade, town_code, as_of as the driver gives it). The date counts only for the
    kinds that are read by it — large medical bills enter and leave the warnings' window — as
    every monthly file moves every other record's date."""
    if was is None:
        return True
    if tuple(was[:5]) != (now.person_ref, now.kind, now.amount_fen, now.grade, now.town_code):
        return True
    return now.kind in DATED_KINDS and str(was[5])[:10] != now.as_of.isoformat()


class PartnerRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def department_for_token(self, token: str) -> str | None:
        return self.conn.execute(
            select(partner_credentials.c.department)
            .where(partner_credentials.c.token_sha256 == token_digest(token))
        ).scalar_one_or_none()

    def set_token(self, department: str, token: str) -> None:
        values = {"token_sha256": token_digest(token), "created_at": datetime.now(UTC)}
        changed = self.conn.execute(update(partner_credentials)
                                    .where(partner_credentials.c.department == department)
                                    .values(**values)).rowcount
        if not changed:
            self.conn.execute(insert(partner_credentials).values(department=department, **values))

    def revoke_tokens(self, tokens: list[str]) -> int:
        """Remove the credentials whose token is one of these; returns how many there were."""
        digests = [token_digest(t) for t in tokens]
        return self.conn.execute(delete(partner_credentials)
                                 .where(partner_credentials.c.token_sha256.in_(digests))
                                 ).rowcount or 0

    def upsert(self, records: list[PartnerRecord]) -> set[str]:
        """Insert new records; a record sent again (same department and id) replaces the old.
        Returns the persons concerned (see ``apply``)."""
        touched: set[str] = set()
        for department in sorted({r.department for r in records}):
            touched |= self.apply(department, [r for r in records if r.department == department],
                                  [], publication_id=None)
        return touched

    def apply(self, department: str, upserts: Sequence[RecordContent], deletes: list[str], *,
              publication_id: int | None) -> set[str]:
        """One department's upserts and deletions (by record id; each id at most once), in three
        set-based statements whatever their number. Returns the persons whose records changed:
        those of new records, of records whose content changed, and of records deleted (a
        corrected resident ID moves a record from one person to another; both must be looked
        at). A record sent again with the same content is stored again but touches no one: a
        department's monthly file mostly repeats the last one, and only what changed is worth
        a household's reassessment."""
        record_ids = [r.record_id for r in upserts] + deletes
        if not record_ids:
            return set()
        if self.conn.dialect.name == "postgresql":
            # The driver prepares a statement run five times, and PostgreSQL then keeps a generic
            # plan made while the table was small: a sequential scan, which took seconds per batch
            # once it held 100,000 records (measured). Plan each batch's lookup for the table
            # as it is; SET LOCAL ends with the transaction.
            self.conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
        old = {row[0]: row[1:] for row in self.conn.execute(
            _RECORDS_BY_ID, {"department": department, "ids": record_ids})}
        sent = {r.record_id: r for r in upserts}
        # Deleted, or moved to another person: out of the index of persons first. A record
        # that stays with its person is overwritten in place below, and that index, where
        # records land at random places, is left alone: a monthly file mostly repeats the
        # last one.
        if gone := [rid for rid, was in old.items()
                    if rid not in sent or was[0] != sent[rid].person_ref]:
            self.conn.execute(_DELETE_BY_ID, {"department": department, "ids": gone})
        # Column by column straight from the lines, no object per record in between (the path
        # of millions of records, bench.partner_ingest), in the order of the index of persons:
        # its pages are then each read and written once per batch, not once per record.
        person_keys = list(map(person_key, (r.person_ref for r in upserts)))
        order = sorted(range(len(upserts)), key=person_keys.__getitem__)
        ordered = [upserts[i] for i in order]
        insert_columns(self.conn, partner_records, {
            "record_id": [r.record_id for r in ordered], "kind": [r.kind for r in ordered],
            "person_ref": [r.person_ref for r in ordered],
            "person_key": [person_keys[i] for i in order],
            "amount_fen": [r.amount_fen for r in ordered], "as_of": [r.as_of for r in ordered],
            "grade": [r.grade for r in ordered], "town_code": [r.town_code for r in ordered],
        }, same={"department": department, "received_at": datetime.now(UTC),
                 "publication_id": publication_id},
            on_conflict=("department", "record_id"), replace=_REPLACED)
        if not old:
            return {r.person_ref for r in upserts}
        touched = {r.person_ref for r in upserts if _changed(old.get(r.record_id), r)}
        # The persons the old records were about: a deletion, or a record moved to another.
        touched |= {was[0] for rid, was in old.items()
                    if rid not in sent or _changed(was, sent[rid])}
        return touched

    def replace_for_persons(self, department: str, person_refs: Sequence[str],
                            records: list[PartnerRecord]) -> None:
        """What a live source answered about these persons is all it holds about them: its
        records about them are replaced by the answer (a record it no longer gives is gone)."""
        self.conn.execute(delete(partner_records).where(
            partner_records.c.department == department,
            partner_records.c.person_key.in_([person_key(r) for r in person_refs]),
            partner_records.c.person_ref.in_(list(person_refs))))
        self.apply(department, records, [], publication_id=None)

    def for_persons(self, refs: list[str]) -> list[PartnerRecord]:
        rows = self.conn.execute(_RECORDS_OF, {"keys": [person_key(r) for r in refs],
                                               "refs": refs}).mappings()
        return [PartnerRecord(department=r["department"], record_id=r["record_id"],
                              kind=r["kind"], person_ref=r["person_ref"],
                              amount_fen=r["amount_fen"], as_of=r["as_of"], grade=r["grade"],
                              town_code=r["town_code"])
                for r in rows]


def _households_where(condition: ColumnElement[bool]) -> Select[Any]:
    """Households with their members and declared incomes, one row per member and income kind
    (a member who declared nothing has one row, without a kind).

    The households' rows are locked (PostgreSQL; SQLite has one writer anyway): whoever reports
    on a case next waits, and then compares with this report, not the one before it."""
    return (
        select(households, household_members.c.person_ref, household_members.c.age_years,
               household_members.c.consent_signed, declared_incomes.c.kind,
               declared_incomes.c.monthly_amount_fen)
        .join(household_members, household_members.c.case_id == households.c.case_id)
        .outerjoin(declared_incomes,
                   and_(declared_incomes.c.case_id == household_members.c.case_id,
                        declared_incomes.c.person_ref == household_members.c.person_ref))
        .where(condition)
        # One order for every writer, so that two never wait for each other's cases.
        .order_by(households.c.case_id, household_members.c.position)
        .with_for_update(of=households)
    )


_HOUSEHOLD = _households_where(households.c.case_id == bindparam("cid"))
_WATCHED_HOUSEHOLDS_OF = _households_where(households.c.case_id.in_(_WATCHED_CASES_OF))


def _assemble(rows: Iterable[Any]) -> list[Household]:
    cases: dict[str, tuple[Any, dict[str, tuple[Any, dict[str, int]]]]] = {}
    for row in rows:
        _, members = cases.setdefault(row.case_id, (row, {}))
        _, declared = members.setdefault(row.person_ref, (row, {}))
        if row.kind is not None:
            declared[row.kind] = row.monthly_amount_fen
    return [Household(case_id=head.case_id, region_code=head.region_code,
                      town_code=head.town_code, programme=head.programme,
                      applicant_ref=head.applicant_ref,
                      submitted_at=as_utc(head.submitted_at),
                      members=tuple(HouseholdMember(person_ref=m.person_ref,
                                                    age_years=m.age_years,
                                                    declared_fen_by_kind=declared,
                                                    consent_signed=m.consent_signed)
                                    for m, declared in members.values()))
            for head, members in cases.values()]


class HouseholdRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def exists(self, case_id: str) -> bool:
        return self.conn.execute(_HOUSEHOLD_EXISTS, {"cid": case_id}).first() is not None

    def add(self, household: Household) -> None:
        self.conn.execute(insert(households).values(
            case_id=household.case_id, region_code=household.region_code,
            town_code=household.town_code,
            programme=household.programme, applicant_ref=household.applicant_ref,
            submitted_at=household.submitted_at))
        self.conn.execute(insert(household_members), [
            {"case_id": household.case_id, "person_ref": m.person_ref, "position": i,
             "age_years": m.age_years, "consent_signed": m.consent_signed}
            for i, m in enumerate(household.members)])
        incomes = [{"case_id": household.case_id, "person_ref": m.person_ref, "kind": kind,
                    "monthly_amount_fen": fen}
                   for m in household.members for kind, fen in m.declared_fen_by_kind.items()]
        if incomes:
            self.conn.execute(insert(declared_incomes), incomes)

    def area(self, case_id: str) -> tuple[str, str | None] | None:
        """The case's district and town, for the jurisdiction check; None for no such case."""
        row = self.conn.execute(select(households.c.region_code, households.c.town_code)
                                .where(households.c.case_id == case_id)).first()
        return None if row is None else (row[0], row[1])

    def get_for_update(self, case_id: str) -> Household | None:
        found = _assemble(self.conn.execute(_HOUSEHOLD, {"cid": case_id}))
        return found[0] if found else None

    def watched_among(self, person_refs: list[str]) -> list[Household]:
        """The households with any of these persons as a member that new partner data about
        them concerns — open cases, active recipients', and those granted temporary assistance —
        locked for update: one query, however many persons a partner published about."""
        if not person_refs:
            return []
        return _assemble(self.conn.execute(_WATCHED_HOUSEHOLDS_OF, {"refs": person_refs}))

    def members_among(self, person_refs: Sequence[str]) -> set[str]:
        """Those of these persons who are a member of some household: who has applied."""
        return set(self.conn.execute(_MEMBERS_AMONG, {"refs": list(person_refs)}).scalars())


class RecipientRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def set_active(self, case_id: str, active: bool, at: datetime) -> None:
        changed = self.conn.execute(update(recipients).where(recipients.c.case_id == case_id)
                                    .values(active=active, changed_at=at)).rowcount
        if not changed:
            self.conn.execute(insert(recipients).values(case_id=case_id, active=active,
                                                        changed_at=at))

    def decide(self, case_id: str, outcome: str, at: datetime) -> None:
        """The case is decided (once: a decision delivered again changes nothing)."""
        insert_new(self.conn, case_decisions,
                   [{"case_id": case_id, "outcome": outcome, "decided_at": at}], "case_id")

    def decided_among(self, case_ids: Sequence[str]) -> set[str]:
        if not case_ids:
            return set()
        return set(self.conn.execute(select(case_decisions.c.case_id).where(
            among(case_decisions.c.case_id, "cids")), {"cids": case_ids}).scalars())

    def active_among(self, case_ids: Sequence[str]) -> set[str]:
        if not case_ids:
            return set()
        return set(self.conn.execute(select(recipients.c.case_id).where(
            recipients.c.active, among(recipients.c.case_id, "cids")), {"cids": case_ids}
        ).scalars())

    def is_active(self, case_id: str) -> bool:
        return bool(self.conn.execute(select(recipients.c.active)
                                      .where(recipients.c.case_id == case_id)).scalar())


@dataclass(frozen=True)
class StoredReport:
    case_id: str
    seq: int  # 1 for a case's first report, then 2, 3, …
    report_id: str
    occasion: str
    body: str  # JSON of the VerificationReported event
    created_at: datetime


class ReportRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def has_application_report(self, case_id: str) -> bool:
        return self.conn.execute(_APPLICATION_REPORTED, {"cid": case_id}).first() is not None

    def add(self, new: list[StoredReport]) -> None:
        if new:
            self.conn.execute(insert(reports), [
                {"report_id": r.report_id, "case_id": r.case_id, "seq": r.seq,
                 "occasion": r.occasion, "body": r.body, "created_at": r.created_at}
                for r in new])

    def latest(self, case_ids: list[str]) -> dict[str, StoredReport]:
        """Each case's latest report, for any number of cases in one query."""
        if not case_ids:
            return {}
        rows = self.conn.execute(_LATEST_REPORTS, {"cids": case_ids})
        return {r.case_id: _stored(r) for r in rows}

    def of_case(self, case_id: str) -> list[StoredReport]:
        """A case's reports, the first first."""
        rows = self.conn.execute(select(reports).where(reports.c.case_id == case_id)
                                 .order_by(reports.c.seq))
        return [_stored(r) for r in rows]
