"""Partner records and the credentials partners publish with."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol
from zlib import crc32

from sqlalchemy import (
    Connection,
    bindparam,
    delete,
    insert,
    literal,
    null,
    select,
    type_coerce,
    union_all,
    update,
)

from services.verification.adapters.tables import (
    partner_credentials,
    partner_records,
    retiring_partner_credentials,
)
from services.verification.domain.model import PartnerRecord
from services.verification.domain.monitoring import DATED_KINDS
from shared.bulk import insert_columns
from shared.sql import among

# Statements run for every application or publication, built once (see intake's repository).
_RECORDS_OF = select(partner_records).where(
    among(partner_records.c.person_key, "keys"), among(partner_records.c.person_ref, "refs"))


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


# Characters of a credential's SHA-256 shown to name it: enough to tell a department's few
# apart, and to check against a token in hand (``sha256sum``); nothing to guess the token from.
FINGERPRINT = 12


@dataclass(frozen=True)
class Credential:
    """A credential as listed: whose, which (its fingerprint), since and until when."""

    department: str
    fingerprint: str
    created_at: datetime
    expires_at: datetime | None  # None: the department's newest, kept until replaced
    newest: bool


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(moment: datetime) -> datetime:
    # SQLite gives moments back without their zone; OneDoor writes UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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
    @property
    def situation(self) -> str | None: ...


_REPLACED = ("kind", "amount_fen", "as_of", "received_at", "grade", "publication_id",
             "town_code", "situation")  # all but the key and the person, who stays (see apply)
_RECORDS_BY_ID = select(
    partner_records.c.record_id, partner_records.c.person_ref, partner_records.c.kind,
    partner_records.c.amount_fen, partner_records.c.grade, partner_records.c.town_code,
    partner_records.c.as_of, partner_records.c.situation,
).where(partner_records.c.department == bindparam("department"),
        among(partner_records.c.record_id, "ids"))
_DELETE_BY_ID = delete(partner_records).where(
    partner_records.c.department == bindparam("department"),
    among(partner_records.c.record_id, "ids"))



def _changed(was: tuple[Any, ...] | None, now: RecordContent) -> bool:
    """Whether a record's new content differs from what was stored (``was``: person_ref, kind,
    amount_fen, grade, town_code, as_of, situation as the driver gives it). The date counts only
    for the kinds that are read by it — large medical bills enter and leave the warnings'
    window — as every monthly file moves every other record's date."""
    if was is None:
        return True
    if tuple(was[:5]) != (now.person_ref, now.kind, now.amount_fen, now.grade, now.town_code):
        return True
    if was[6] != now.situation:
        return True
    return now.kind in DATED_KINDS and str(was[5])[:10] != now.as_of.isoformat()


class PartnerRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def department_for_token(self, token: str, at: datetime | None = None) -> str | None:
        """The department whose credential ``token`` is: its newest, or one replaced whose
        overlap has not ended at ``at`` (now by default). Two lookups by primary key."""
        digest = token_digest(token)
        newest, retiring = partner_credentials, retiring_partner_credentials
        return self.conn.execute(union_all(
            select(newest.c.department).where(newest.c.token_sha256 == digest),
            select(retiring.c.department).where(retiring.c.token_sha256 == digest,
                                                retiring.c.expires_at > (at or _now())),
        ).limit(1)).scalar()

    def set_token(self, department: str, token: str, at: datetime | None = None) -> None:
        """Make ``token`` the department's newest credential; the one it replaces stops at
        once (``retire_newest`` first keeps it for an overlap)."""
        values = {"token_sha256": token_digest(token), "created_at": at or _now()}
        changed = self.conn.execute(update(partner_credentials)
                                    .where(partner_credentials.c.department == department)
                                    .values(**values)).rowcount
        if not changed:
            self.conn.execute(insert(partner_credentials).values(department=department, **values))

    def retire_newest(self, department: str, until: datetime, now: datetime) -> int:
        """Keep the department's newest credential and every replaced one accepted until
        ``until`` at the latest (a deadline already sooner stays), dropping those that have
        expired by ``now``, or all of them when ``until`` is not after ``now``. Returns how many
        are still accepted besides the newest to come."""
        retiring = retiring_partner_credentials
        mine = retiring.c.department == department
        if until <= now:
            self.conn.execute(delete(retiring).where(mine))
            return 0
        self.conn.execute(delete(retiring).where(mine, retiring.c.expires_at <= now))
        self.conn.execute(update(retiring).where(mine, retiring.c.expires_at > until)
                          .values(expires_at=until))
        newest = self.conn.execute(
            select(partner_credentials.c.token_sha256, partner_credentials.c.created_at)
            .where(partner_credentials.c.department == department)).first()
        if newest is not None:
            self.conn.execute(insert(retiring).values(
                token_sha256=newest.token_sha256, department=department,
                created_at=newest.created_at, expires_at=until))
        return len(self.conn.execute(select(retiring.c.token_sha256).where(mine)).all())

    def revoke_retiring(self, department: str) -> int:
        """End the overlap now: only the department's newest credential stays. Returns how many
        replaced credentials were still kept (expired ones included)."""
        retiring = retiring_partner_credentials
        return self.conn.execute(delete(retiring).where(retiring.c.department == department)
                                 ).rowcount or 0

    def credentials(self) -> list[Credential]:
        """Every credential kept, each department's newest first, then the replaced ones by
        deadline: fingerprints and times, never a token (only their hashes are stored)."""
        newest, retiring = partner_credentials, retiring_partner_credentials
        rows = list(self.conn.execute(union_all(
            select(newest.c.department, newest.c.token_sha256, newest.c.created_at,
                   # Typed, or SQLite's strings of the other half would not be read as times.
                   type_coerce(null(), retiring.c.expires_at.type).label("expires_at"),
                   literal(0).label("rank")),
            select(retiring.c.department, retiring.c.token_sha256, retiring.c.created_at,
                   retiring.c.expires_at, literal(1).label("rank")),
        )).all())
        rows.sort(key=lambda r: (r.department, r.rank, r.expires_at or r.created_at))
        return [Credential(department=r.department, fingerprint=r.token_sha256[:FINGERPRINT],
                           created_at=_utc(r.created_at), newest=r.rank == 0,
                           expires_at=None if r.expires_at is None else _utc(r.expires_at))
                for r in rows]

    def revoke_tokens(self, tokens: list[str]) -> int:
        """Remove the credentials whose token is one of these, newest or replaced; returns how
        many there were."""
        digests = [token_digest(t) for t in tokens]
        return sum(self.conn.execute(delete(table).where(table.c.token_sha256.in_(digests))
                                     ).rowcount or 0
                   for table in (partner_credentials, retiring_partner_credentials))

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
            "situation": [r.situation for r in ordered],
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
                              town_code=r["town_code"], situation=r["situation"])
                for r in rows]
