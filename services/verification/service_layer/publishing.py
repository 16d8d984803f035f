"""A partner department's bulk publication: read line by line, applied in batches.

The file arrives whole first (spooled to disk by the HTTP route, hashed on the way), because a
publication is known by the SHA-256 of its bytes: the same file sent again answers the first
report and changes nothing. Then its lines are judged one by one (``domain.publication``, pure)
and applied ``BATCH`` lines per transaction: the accepted lines' records (pseudonymised as they
are read), the rejected lines' reasons, the publication's counts and cursor, and a new report on
every recipient's case whose figures the batch changed, the early warnings and discovery
leads it raises (``monitoring``) — all committed together. A bad line
never blocks the others, and a batch is never half applied. An ingestion interrupted (a crash, a
restart) resumes after its cursor when the same file is sent again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO, Literal

from sqlalchemy.exc import IntegrityError

from services.verification.adapters.publications import (
    Progress,
    Publication,
    PublicationRepository,
)
from services.verification.adapters.repository import PartnerRepository
from services.verification.domain import publication as lines
from services.verification.domain.model import PartnerRecord
from services.verification.domain.monitoring import MEDICAL_KIND
from services.verification.domain.publication import Delete, Outcome, Rejected, Upsert
from services.verification.service_layer.handlers import on_partner_data_changed
from services.verification.service_layer.monitoring import discover
from shared.policy import PolicyTable
from shared.pseudonym import pseudonymiser
from shared.uow import UnitOfWork

Format = Literal["ndjson", "csv"]
# Lines per transaction: enough for set-based writes to pay (5,000 was no faster, measured), few
# enough that a batch's objects (~1.7 KB a line at their peak) stay a few MiB and SQLite's one
# write lock is held for a fraction of a second.
BATCH = 2_000
MAX_LINE_BYTES = 16_384  # a record is ~200 bytes; a longer line is refused, never held whole
MAX_REJECTIONS_KEPT = 1_000  # reasons kept per publication; the counts stay exact


class PublicationBusy(RuntimeError):
    """Another request is ingesting the same file right now."""


@dataclass(frozen=True)
class Upload:
    """A file as received: ``body`` is seekable (a spooled temporary file)."""

    department: str
    format: Format
    body: BinaryIO
    digest: str  # SHA-256 of the bytes, hex
    size: int


def publish_file(upload: Upload, uow_factory: Callable[[], UnitOfWork], *,
                 pseudonym_key: bytes, monitoring: PolicyTable,
                 batch: int = BATCH) -> tuple[bool, dict[str, Any]]:
    """Ingest a file, or recognise it. Returns (whether this call completed it, the report).

    Raises ``domain.publication.FileRefused`` (nothing stored) for a file that cannot be read at
    all, and ``PublicationBusy`` when another request holds the same file's ingestion."""
    upload.body.seek(0)
    read = _reader(upload, pseudonymiser(pseudonym_key))  # refuses a bad header first
    found = _claim(upload, uow_factory)
    if found.completed_at is not None:
        return False, _report_of(uow_factory, found.publication_id, complete=False)
    cursor = found.applied_through
    chunk: list[Outcome] = []
    last = cursor
    for line, outcome in read:
        if line <= cursor:
            continue  # applied before an interruption
        last = line
        if outcome is not None:
            chunk.append(outcome)
        if len(chunk) >= batch:
            cursor = _apply(uow_factory, found, cursor, last, chunk, monitoring)
            chunk = []
    if chunk or last > cursor:
        cursor = _apply(uow_factory, found, cursor, last, chunk, monitoring)
    return True, _report_of(uow_factory, found.publication_id, complete=True)


def report(pub: Publication, rejected: list[Rejected] | None = None) -> dict[str, Any]:
    """A publication as the API shows it; with ``rejected``, the lines and their reasons (never
    the lines themselves: they carry resident ID numbers)."""
    body: dict[str, Any] = {
        "publication_id": pub.publication_id, "department": pub.department,
        "format": pub.format, "digest": pub.digest, "bytes": pub.bytes,
        "received_at": pub.received_at.isoformat(),
        "completed_at": pub.completed_at.isoformat() if pub.completed_at else None,
        "lines": pub.lines, "accepted": pub.accepted, "rejected": pub.rejected,
        "upserted": pub.upserted, "deleted": pub.deleted}
    if rejected is not None:
        body["rejections"] = [{"line": r.line, "reason": r.reason} for r in rejected]
        body["rejections_truncated"] = len(rejected) < pub.rejected  # MAX_REJECTIONS_KEPT
    return body


def _reader(upload: Upload, pseudonymise: lines.Pseudonymise
            ) -> Iterator[tuple[int, Outcome | None]]:
    """(line number, outcome or None for a blank line), from line 1; a CSV header is line 1."""
    numbered = _lines(upload.body)
    if upload.format == "ndjson":
        def judge(n: int, raw: bytes) -> Outcome | None:
            return lines.ndjson_line(upload.department, n, raw, pseudonymise)
    else:
        first = next(numbered, None)
        if first is None or first[1] is None:
            raise lines.FileRefused("header: the first line must name the columns")
        columns = lines.csv_header(first[1])

        def judge(n: int, raw: bytes) -> Outcome | None:
            return lines.csv_line(upload.department, columns, n, raw, pseudonymise)
    return ((n, Rejected(n, f"longer than {MAX_LINE_BYTES} bytes") if raw is None
             else judge(n, raw)) for n, raw in numbered)


def _lines(body: BinaryIO) -> Iterator[tuple[int, bytes | None]]:
    """Numbered lines, each read whole only up to MAX_LINE_BYTES (None for a longer one, whose
    rest is skipped in bounded pieces)."""
    n = 0
    while True:
        raw = body.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        n += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while (rest := body.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
            yield n, None
            continue
        yield n, raw


def _claim(upload: Upload, uow_factory: Callable[[], UnitOfWork]) -> Publication:
    """The publication of this file: the one already known by its digest, or a new one."""
    for _ in range(2):
        try:
            with uow_factory() as uow:
                repo = PublicationRepository(uow.conn)
                found = repo.find(upload.department, upload.digest) or repo.add(
                    upload.department, upload.digest, upload.format, upload.size,
                    datetime.now(UTC))
                uow.commit()
                return found
        except IntegrityError:
            continue  # the same file, claimed by a concurrent request (PostgreSQL): read it
    raise PublicationBusy("the same file is being received by another request")


def _apply(uow_factory: Callable[[], UnitOfWork], pub: Publication, cursor: int, to_line: int,
           chunk: list[Outcome], monitoring: PolicyTable) -> int:
    """One transaction: the batch's records, rejections, counts and the reports they cause."""
    rejected = [o for o in chunk if isinstance(o, Rejected)]
    upserted = sum(1 for o in chunk if isinstance(o, Upsert))
    progress = Progress(to_line=to_line, lines=len(chunk), accepted=len(chunk) - len(rejected),
                        rejected=len(rejected), upserted=upserted,
                        deleted=len(chunk) - len(rejected) - upserted)
    with uow_factory() as uow:
        repo = PublicationRepository(uow.conn)
        # First, so that a concurrent ingestion of the same file waits here, then gives up.
        if not repo.advance(pub.publication_id, cursor, progress):
            raise PublicationBusy("the same file is being ingested by another request")
        kept = repo.get(pub.publication_id)
        assert kept is not None
        room = MAX_REJECTIONS_KEPT - (kept.rejected - len(rejected))
        repo.add_rejections(pub.publication_id, rejected[:max(room, 0)])
        apply_outcomes(uow, pub.department, chunk, monitoring, publication_id=pub.publication_id)
        uow.commit()
    return to_line


def apply_outcomes(uow: UnitOfWork, department: str, outcomes: list[Outcome],
                   monitoring: PolicyTable, *, publication_id: int | None) -> None:
    """Within the caller's transaction: a department's accepted lines applied (a record's last
    line wins), with the reports, warnings and leads they cause. Rejections are the caller's."""
    latest: dict[str, Upsert | Delete] = {}
    for outcome in outcomes:
        if not isinstance(outcome, Rejected):
            latest.pop(outcome.record_id, None)
            latest[outcome.record_id] = outcome
    upserts = [PartnerRecord(department=department, record_id=o.record_id, kind=o.kind,
                             person_ref=o.person_ref, amount_fen=o.amount_fen, as_of=o.as_of,
                             grade=o.grade, town_code=o.town_code)
               for o in latest.values() if isinstance(o, Upsert)]
    deletes = [o.record_id for o in latest.values() if isinstance(o, Delete)]
    touched = PartnerRepository(uow.conn).apply(department, upserts, deletes,
                                                publication_id=publication_id)
    on_partner_data_changed(uow, sorted(touched), monitoring)
    discover(uow, sorted({r.person_ref for r in upserts if r.kind == MEDICAL_KIND}), monitoring)


def _report_of(uow_factory: Callable[[], UnitOfWork], publication_id: int, *,
               complete: bool) -> dict[str, Any]:
    """The publication's report, marking it complete first when asked."""
    with uow_factory() as uow:
        repo = PublicationRepository(uow.conn)
        if complete:
            repo.complete(publication_id, datetime.now(UTC))
        found = repo.get(publication_id)
        assert found is not None
        body = report(found, repo.rejections(publication_id))
        uow.commit()
    return body
