"""Monthly cycles and batch subsidies (月度发放, 一次性批量发放): runs over the entitlements of a
region that create one payment per recipient, once.

A run is generated in chunks of entitlements in case id order. Each chunk is one transaction:
its payments, their ledger entries, their events and the run's cursor commit together. A run
that stops half-way (a crash, a restart) resumes from its cursor; and since every payment is
written through the once-only unique indexes, even a chunk done twice — or two processes
generating the same run — creates each payment once. (Two instances of the service do not
generate one run side by side: the Runner lets one at a time, see entrypoints/runner.py; what
is left here is the safety net for whatever still writes a chunk's payments first.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Connection, case, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from services.payment.adapters.payments import NewPayment
from services.payment.adapters.repository import PaymentRepository
from services.payment.adapters.tables import payments, runs
from services.payment.domain.model import Entitlement, ScheduledPayment, monthly_payment
from services.payment.service_layer.handlers import scheduled_event
from shared import progress
from shared.events.envelope import new_id
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)

# A chunk is one transaction: 5,000 payments hold SQLite's write lock for about half a second,
# and measured fastest (make bench; smaller chunks pay the commit more often).
CHUNK = 5_000
RunKind = Literal["cycle", "batch"]


class RunRefused(ValueError):
    """A run that cannot be made as asked (e.g. a batch reference reused with other terms)."""


@dataclass(frozen=True)
class BatchTerms:
    """A one-off subsidy to every recipient of some programmes in a region, for a month."""

    reference: str  # the authority's own reference, e.g. "qingdao-price-linked-2020-03"
    region_code: str
    month: str
    programmes: tuple[str, ...]
    amount_fen: int
    basis: Literal["household", "member"]
    reason: str


def cycle_id(month: str, region_code: str) -> str:
    return f"cycle:{month}:{region_code}"


def batch_id(reference: str) -> str:
    return f"batch:{reference}"


def open_cycle(conn: Connection, month: str, region_code: str, at: datetime) -> dict[str, Any]:
    """The month's cycle for a region, opened if new. Opening it again changes nothing."""
    run_id = cycle_id(month, region_code)
    found = run(conn, run_id)
    if found is None:
        conn.execute(insert(runs).values(run_id=run_id, kind="cycle", month=month,
                                         region_code=region_code, status="generating",
                                         started_at=at))
        found = run(conn, run_id)
    assert found is not None
    return found


def open_batch(conn: Connection, terms: BatchTerms, at: datetime) -> dict[str, Any]:
    run_id = batch_id(terms.reference)
    found = run(conn, run_id)
    wanted = {"kind": "batch", "month": terms.month, "region_code": terms.region_code,
              "programmes": ",".join(terms.programmes), "amount_fen": terms.amount_fen,
              "basis": terms.basis}
    if found is None:
        conn.execute(insert(runs).values(run_id=run_id, status="generating", started_at=at,
                                         reason=terms.reason, **wanted))
        found = run(conn, run_id)
    elif {k: found[k] for k in wanted} != wanted:
        # One reference, one subsidy: reusing it with other terms is a mistake to show, not to
        # pay a second time.
        raise RunRefused(f"batch {terms.reference!r} exists with other terms")
    assert found is not None
    return found


def run(conn: Connection, run_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(runs).where(runs.c.run_id == run_id)).mappings().first()
    return None if row is None else dict(row)


def unfinished(conn: Connection) -> list[str]:
    return list(conn.execute(select(runs.c.run_id).where(runs.c.status == "generating")
                             ).scalars())


def generate(uow_factory: Callable[[], UnitOfWork], run_id: str, *, chunk: int = CHUNK,
             after_chunk: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Generates a run to the end, chunk by chunk, and answers with the finished run.
    ``after_chunk`` is called with the number of chunks committed so far: the runner checks
    there that it still holds the run and that the service is not stopping (and tests
    interrupt a run there); what it raises stops the run at its cursor."""
    with progress.logged(f"payment run {run_id}", log, unit=f"chunks of {chunk:,} entitlements"
                         ) as shown:
        return _generate(uow_factory, run_id, chunk, after_chunk, shown)


def _generate(uow_factory: Callable[[], UnitOfWork], run_id: str, chunk: int,
              after_chunk: Callable[[int], None] | None,
              shown: progress.Progress) -> dict[str, Any]:
    done = 0
    stuck = 0  # collisions in a row with the run's cursor standing still
    stuck_at: object = _NOT_READ
    while True:
        try:
            finished = _next_chunk(uow_factory, run_id, chunk)
        except IntegrityError:
            # Someone else wrote some of this chunk's payments first (another generator of the
            # same run, an approval paying a first month): the chunk rolled back whole, and read
            # again it skips what the other one wrote. A generator of the same run that wins
            # moves the cursor on, so losing to it is progress, never a reason to stop; only a
            # conflict that keeps coming back while nothing moves (one no retry can get past)
            # ends the run here — with its error, for whoever asks again after a fix.
            cursor = _cursor(uow_factory, run_id)
            if cursor != stuck_at:
                stuck, stuck_at = 0, cursor
            stuck += 1
            if stuck > 5:
                raise
            continue
        stuck = 0
        if finished is not None:
            return finished
        done += 1
        shown(done)
        if after_chunk is not None:
            after_chunk(done)


_NOT_READ = object()


def _cursor(uow_factory: Callable[[], UnitOfWork], run_id: str) -> str | None:
    with uow_factory() as uow:
        return uow.conn.execute(select(runs.c.cursor).where(runs.c.run_id == run_id)
                                ).scalar_one_or_none()


def _next_chunk(uow_factory: Callable[[], UnitOfWork], run_id: str,
                chunk: int) -> dict[str, Any] | None:
    """Commits the next chunk of a run; answers with the run once it is generated."""
    with uow_factory() as uow:
        conn = uow.conn
        current = run(conn, run_id)
        if current is None:
            raise LookupError(f"no run {run_id}")
        if current["status"] == "generated":
            return current
        repo = PaymentRepository(conn)
        programmes = current["programmes"].split(",") if current["programmes"] else None
        batch = repo.entitlements_in(current["region_code"], current["month"],
                                     after=current["cursor"], limit=chunk, programmes=programmes,
                                     lock=True)
        now = datetime.now(UTC)
        if not batch:
            # Finished once: a generator that gets here second keeps the first one's time.
            conn.execute(update(runs).where(runs.c.run_id == run_id,
                                            runs.c.status == "generating")
                         .values(status="generated", finished_at=now))
            uow.commit()
            return run(conn, run_id)
        created = repo.add_many_once(list(_payments(current, batch)), now,
                                     region_code=current["region_code"],
                                     after=current["cursor"], last=batch[-1].case_id)
        for new in created:
            uow.publish(scheduled_event(new, now))
        last = batch[-1].case_id
        conn.execute(update(runs).where(runs.c.run_id == run_id).values(
            # Never backwards: a generator that read an old cursor and found its whole chunk
            # written already (by another, further on) must not send the run back over ground
            # done. The UPDATE sees the row as last committed (PostgreSQL re-reads it after
            # waiting for the other writer's lock), so the comparison is with the newest cursor.
            cursor=case((runs.c.cursor.is_(None) | (runs.c.cursor < last), last),
                        else_=runs.c.cursor),
            created_count=runs.c.created_count + len(created),
            created_fen=runs.c.created_fen + sum(n.payment.amount_fen for n in created)))
        uow.commit()
        return None


def preview(conn: Connection, kind: RunKind, month: str, region_code: str,
            terms: BatchTerms | None = None) -> dict[str, Any]:
    """What a run would pay, per programme, without writing anything — and how much of it is
    already paid (a first month paid at approval, an earlier run)."""
    repo = PaymentRepository(conn)
    head = {"kind": kind, "month": month, "region_code": region_code, "programmes": (
        ",".join(terms.programmes) if terms else None), "amount_fen": (
        terms.amount_fen if terms else None), "basis": terms.basis if terms else None}
    by_programme: dict[str, dict[str, int]] = {}
    seen: set[tuple[str, str]] = set()
    for entitlement in repo.each_entitlement(region_code, month,
                                             terms.programmes if terms else None):
        for new in _payments(head, [entitlement]):
            p = new.payment
            if p.once_key in seen:  # as the once-only keys will
                continue
            seen.add(p.once_key)
            figures = by_programme.setdefault(p.programme, {"payments": 0, "amount_fen": 0})
            figures["payments"] += 1
            figures["amount_fen"] += p.amount_fen
    existing = (payments.c.run_id == batch_id(terms.reference) if terms else
                (payments.c.kind == "monthly") & payments.c.reissue_of.is_(None)
                & (payments.c.period == month) & (payments.c.region_code == region_code))
    count, fen = conn.execute(select(func.count(), func.coalesce(func.sum(
        payments.c.amount_fen), 0)).where(existing)).one()
    return {"kind": kind, "month": month, "region_code": region_code,
            "programmes": [{"programme": k, **v} for k, v in sorted(by_programme.items())],
            "payments": sum(v["payments"] for v in by_programme.values()),
            "amount_fen": sum(v["amount_fen"] for v in by_programme.values()),
            # Of those, already scheduled (first months paid at approval, an earlier attempt):
            # generating the run creates only the rest.
            "already_scheduled": {"payments": int(count), "amount_fen": int(fen)}}


def _payments(current: dict[str, Any], batch: list[Entitlement]) -> Iterator[NewPayment]:
    month, run_id = current["month"], current.get("run_id")
    for entitlement in batch:
        if current["kind"] == "cycle":
            payment = monthly_payment(entitlement, month)
        else:
            payment = _batch_payment(current, entitlement)
        if payment is not None:
            yield NewPayment(payment_id=new_id(), payment=payment, run_id=run_id)


def _batch_payment(current: dict[str, Any], entitlement: Entitlement) -> ScheduledPayment | None:
    """A batch subsidy goes to households whose benefit pays for the batch's month."""
    if entitlement.amount_for(current["month"]) <= 0:
        return None
    per = int(current["amount_fen"])
    amount = per * entitlement.household_size if current["basis"] == "member" else per
    return ScheduledPayment(
        case_id=entitlement.case_id, programme=entitlement.programme, kind="batch",
        period=current["month"], amount_fen=amount, beneficiary_ref=entitlement.beneficiary_ref,
        region_code=entitlement.region_code)
