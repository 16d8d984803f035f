"""A partner department's bulk publication: read in blocks, judged in chunks, applied in batches.

The file arrives whole first (spooled to disk by the HTTP route, hashed on the way), because a
publication is known by the SHA-256 of its bytes: the same file sent again answers the first
report and changes nothing. Then its lines are judged one by one (``domain.publication``, pure;
for a large file in a worker process beside this one, ``judging``) and applied up to ``BATCH``
lines per transaction: the accepted lines' records (pseudonymised as they are read), the
rejected lines' reasons, the publication's counts and cursor, and a new report on every open or
recipient's case whose figures the batch changed, the early warnings and discovery leads it
raises (``monitoring``) — all committed together. A bad line never blocks the others, and a
batch is never half applied. An ingestion interrupted (a crash, a restart) resumes after its
cursor when the same file is sent again.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, Literal

from sqlalchemy.exc import IntegrityError

from services.verification.adapters.publications import (
    Progress,
    Publication,
    PublicationRepository,
)
from services.verification.adapters.repositories.partners import PartnerRepository
from services.verification.domain import publication as lines
from services.verification.domain.monitoring import MEDICAL_KIND
from services.verification.domain.publication import (
    MAX_LINE_BYTES,
    Delete,
    Outcome,
    Rejected,
    Upsert,
)
from services.verification.service_layer import judging
from services.verification.service_layer.monitoring import discover
from services.verification.service_layer.partner_data import on_partner_data_changed
from shared.collector import fewer_collections
from shared.db import fewer_checkpoints
from shared.policy import PolicySource
from shared.uow import UnitOfWork

Format = Literal["ndjson", "csv"]
# Lines per transaction. Each transaction writes every index page it touched once more, and a
# file's records land at random places in the index of persons: at 3 million rows, raw inserts
# in batches of 10,000 took 2.4× the system time of batches of 50,000 and half the speed
# (docs/PERFORMANCE.md). 50,000 lines hold ~20 MB at their peak and SQLite's write lock for
# about a second.
BATCH = 50_000
JUDGED_CHUNK = 5_000  # lines judged at a time (in a worker, sent and returned at a time)
WORKER_FROM_BYTES = 8 * 2**20  # ~70,000 lines; a worker process takes ~0.2 s to start
MAX_REJECTIONS_KEPT = 1_000  # reasons kept per publication; the counts stay exact
_BLOCK = 2**18  # bytes read at a time


class PublicationBusy(RuntimeError):
    """Another request is ingesting the same file right now."""


@dataclass(frozen=True)
class Upload:
    """A file as received: ``body`` is seekable (a spooled temporary file)."""

    department: str
    format: Format
    body: IO[bytes]
    digest: str  # SHA-256 of the bytes, hex
    size: int


def publish_file(upload: Upload, uow_factory: Callable[[], UnitOfWork], *,
                 pseudonym_key: bytes, monitoring: PolicySource, batch: int | None = None,
                 in_worker: bool | None = None) -> tuple[bool, dict[str, Any]]:
    """Ingest a file, or recognise it. Returns (whether this call completed it, the report).

    ``in_worker``: judge the lines in a worker process (``judging``); by default for files of
    WORKER_FROM_BYTES or more, where the worker's start is small beside what it saves.

    Raises ``domain.publication.FileRefused`` (nothing stored) for a file that cannot be read at
    all, and ``PublicationBusy`` when another request holds the same file's ingestion."""
    batch = batch or BATCH
    upload.body.seek(0)
    # The header first: a file refused for it is refused before anything is stored.
    columns, blocks, first = _columns(upload.format, _line_blocks(upload.body))
    found = _claim(upload, uow_factory)
    if found.completed_at is not None:
        return False, _report_of(uow_factory, found.publication_id, complete=False)
    cursor = found.applied_through
    if in_worker is None:
        in_worker = upload.size >= WORKER_FROM_BYTES
    size = min(batch, JUDGED_CHUNK)
    chunks = _chunks(blocks, first=first, after=cursor, size=size)
    held: list[list[Outcome]] = []
    held_through = cursor
    with fewer_collections():
        for last, outcomes, more_ready in judging.judged(chunks, upload.department, columns,
                                                         pseudonym_key, in_worker=in_worker,
                                                         ahead=-(-batch // size) + 1):
            held.append(outcomes)
            held_through = last
            # A transaction of ``batch`` lines, or of what is judged so far when the next lines
            # are not: the writer writes rather than waits (while the worker starts, say).
            if held_through - cursor >= batch or not more_ready:
                cursor = _apply(uow_factory, found, cursor, held_through, held, monitoring)
                held = []
        if held:
            cursor = _apply(uow_factory, found, cursor, held_through, held, monitoring)
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


def _columns(format: Format, blocks: Iterator[list[bytes | None]]
             ) -> tuple[tuple[str, ...] | None, Iterator[list[bytes | None]], int]:
    """A CSV file's columns, from its header (line 1, read here), the lines left and the number
    of the first of them; for NDJSON, no columns and every line from line 1."""
    if format == "ndjson":
        return None, blocks, 1
    first = next(blocks, [None])
    if first[0] is None:
        raise lines.FileRefused("header: the first line must name the columns")
    return lines.csv_header(first[0]), itertools.chain([first[1:]], blocks), 2


def _chunks(blocks: Iterator[list[bytes | None]], *, first: int, after: int, size: int
            ) -> Iterator[judging.Chunk]:
    """The lines after line ``after`` (applied before an interruption), ``size`` at a time;
    ``first`` is the number of the blocks' first line."""
    start, held = first, []  # the number of held[0], and the lines held
    for block in blocks:
        held += block
        if start <= after:  # lines applied before: dropped
            dropped = min(after - start + 1, len(held))
            held, start = held[dropped:], start + dropped
        while len(held) >= size:
            yield start, held[:size]
            held, start = held[size:], start + size
    if held:
        yield start, held


def _line_blocks(body: IO[bytes]) -> Iterator[list[bytes | None]]:
    """The file's lines without their newline, in order, some thousands at a time (read in
    blocks and split there: a readline per line cost ~1 µs a line). A line is held whole only up
    to MAX_LINE_BYTES: a longer one is None, and its rest is skipped as it is read."""
    partial, too_long = b"", False
    while block := body.read(_BLOCK):
        found = block.split(b"\n")
        found[0] = partial + found[0]
        partial = found.pop()  # after the last newline: the start of a line, or b""
        pieces: list[bytes | None] = (
            [None if len(p) > MAX_LINE_BYTES else p for p in found]
            if found and max(map(len, found)) > MAX_LINE_BYTES else list(found))
        if too_long and pieces:  # the end of a long line begun in an earlier block
            pieces[0], too_long = None, False
        if len(partial) > MAX_LINE_BYTES:  # a line longer than any record: not held
            partial, too_long = b"", True
        if pieces:
            yield pieces
    if partial or too_long:
        yield [None if too_long else partial]


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
           chunks: list[list[Outcome]], monitoring: PolicySource) -> int:
    """One transaction: the lines after ``cursor`` through ``to_line`` (their outcomes in
    chunks) — records, rejections, counts and the reports they cause."""
    rejected = [o for chunk in chunks for o in chunk if isinstance(o, Rejected)]
    upserted = sum(1 for chunk in chunks for o in chunk if isinstance(o, Upsert))
    judged = sum(map(len, chunks))
    progress = Progress(to_line=to_line, lines=judged, accepted=judged - len(rejected),
                        rejected=len(rejected), upserted=upserted,
                        deleted=judged - len(rejected) - upserted)
    with uow_factory() as uow:
        repo = PublicationRepository(uow.conn)
        # First, so that a concurrent ingestion of the same file waits here, then gives up.
        if not repo.advance(pub.publication_id, cursor, progress):
            raise PublicationBusy("the same file is being ingested by another request")
        kept = repo.get(pub.publication_id)
        assert kept is not None
        room = MAX_REJECTIONS_KEPT - (kept.rejected - len(rejected))
        repo.add_rejections(pub.publication_id, rejected[:max(room, 0)])
        apply_outcomes(uow, pub.department, [o for chunk in chunks for o in chunk], monitoring,
                       publication_id=pub.publication_id)
        with fewer_checkpoints(uow.conn):
            uow.commit()
    return to_line


def apply_outcomes(uow: UnitOfWork, department: str, outcomes: list[Outcome],
                   monitoring: PolicySource, *, publication_id: int | None) -> None:
    """Within the caller's transaction: a department's accepted lines applied (a record's last
    line wins), with the reports, warnings and leads they cause. Rejections are the caller's."""
    latest: dict[str, Upsert | Delete] = {}
    for outcome in outcomes:
        if not isinstance(outcome, Rejected):
            latest.pop(outcome.record_id, None)
            latest[outcome.record_id] = outcome
    upserts = [o for o in latest.values() if isinstance(o, Upsert)]
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
