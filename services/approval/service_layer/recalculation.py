"""Every recipient recalculated when a published figure changes (issue 22 §3).

A publication queues one job. Any instance may run it: it claims the job with a lease, then
works through the reached recipients in case-id order, a batch per unit of work. The batch's
changes, its explanations and the job's cursor commit together, so a crash resumes after the
last batch committed and no household is recalculated twice into a second benefit change.

A household whose amount moves gets a new assessment (``CaseAssessed``, assessed on the
figure's effective date with the published table) and ``BenefitChanged`` from that month, so
the next payment cycle pays the new amount and the auditor's replay finds the same result. One
that loses eligibility is suspended into the town's queue (gradual exit where the rules say so:
``reassessment.reassess``), never stopped silently.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, or_, select, update

from services.approval.adapters.tables import (
    cases,
    policy_proposals,
    recalculated,
    recalculations,
)
from services.approval.service_layer.policy_admin import recipients_query
from services.approval.service_layer.policy_book import PolicyBook
from services.approval.service_layer.recalculation_batch import Batch
from shared import progress
from shared.bulk import insert_rows
from shared.collector import fewer_collections
from shared.service import ServiceRuntime
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)
J = recalculations.c
LEASE = timedelta(seconds=60)
# Households per transaction: large enough that a batch's few queries and bulk writes cost
# little per household, small enough that a batch holds SQLite's write lock about a second.
BATCH = 2_000


def claim(engine: Engine, worker: str, now: datetime) -> str | None:
    """The id of a job this worker now holds, or None when there is none to run."""
    with engine.begin() as conn:
        job = conn.execute(select(J.job_id).where(J.status != "done").where(or_(
            J.lease_until.is_(None), J.lease_until < now, J.claimed_by == worker))
            .order_by(J.created_at).limit(1)).scalar()
        if job is None:
            return None
        got = conn.execute(update(recalculations).where(J.job_id == job).where(or_(
            J.lease_until.is_(None), J.lease_until < now, J.claimed_by == worker)).values(
            claimed_by=worker, lease_until=now + LEASE, status="running"))
        return job if got.rowcount == 1 else None


def run_batch(uow_factory: Callable[[], UnitOfWork], book: PolicyBook, job_id: str,
              worker: str, *, size: int = BATCH, now: datetime | None = None) -> bool:
    """Recalculate the next batch; True while more remain. Refuses (False) once the lease is
    another worker's."""
    now = now or datetime.now(UTC)
    # A batch makes a few hundred thousand objects it keeps to its commit (the events, above all):
    # the cyclic collector's default pace took about a sixth of its time (measured).
    with fewer_collections(), uow_factory() as uow:
        conn = uow.conn
        held = conn.execute(update(recalculations).where(J.job_id == job_id)
                            .where(J.claimed_by == worker).where(J.status == "running")
                            .values(lease_until=now + LEASE))
        if held.rowcount != 1:
            return False
        job = conn.execute(select(recalculations).where(J.job_id == job_id)).mappings().one()
        proposal = conn.execute(select(policy_proposals).where(
            policy_proposals.c.proposal_id == job["proposal_id"])).mappings().one()
        # The batch's whole cases in the job's own order, one query (Batch reads the rest).
        q = (recipients_query(proposal["region_code"]).with_only_columns(*cases.c)
             .order_by(cases.c.case_id).limit(size))
        if job["cursor"] is not None:
            q = q.where(cases.c.case_id > job["cursor"])
        rows = [dict(r) for r in conn.execute(q).mappings()]
        said = Batch(uow, rows, book.current(conn), proposal["effective_from"], now).run()
        insert_rows(conn, recalculated, [{"job_id": job_id, **s} for s in said])
        changed = sum(s["outcome"] != "unchanged" for s in said)
        to_review = sum(s["outcome"] in ("suspended", "undecided") for s in said)
        finished = len(rows) < size
        conn.execute(update(recalculations).where(J.job_id == job_id).values(
            cursor=rows[-1]["case_id"] if rows else job["cursor"], done=J.done + len(rows),
            changed=J.changed + changed, to_review=J.to_review + to_review,
            **({"status": "done", "finished_at": now, "lease_until": None} if finished else {})))
        uow.commit()
        return not finished


def run_pending(uow_factory: Callable[[], UnitOfWork], engine: Engine, book: PolicyBook,
                worker: str) -> int:
    """Run every job this worker can claim to its end; how many jobs it finished."""
    finished = 0
    while (job := claim(engine, worker, datetime.now(UTC))) is not None:
        with progress.logged(f"recalculation {job}", log, unit="households") as shown:
            shown(*_counts(engine, job))
            while run_batch(uow_factory, book, job, worker):
                shown(*_counts(engine, job))
            shown(*_counts(engine, job))
        finished += 1
    return finished


def _counts(engine: Engine, job_id: str) -> tuple[int, int]:
    """How many households the job has done, of how many (one row, read by key)."""
    with engine.connect() as conn:
        done, total = conn.execute(select(J.done, J.total).where(J.job_id == job_id)).one()
    return int(done), int(total)


def worker(runtime: ServiceRuntime, book: PolicyBook,
           every_s: float = 2.0) -> Callable[[], Awaitable[None]]:
    """The background loop of one instance: look for a job every few seconds (one small read,
    so a resting service stays at rest) and run what it can claim."""
    name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    async def loop() -> None:
        while True:
            await asyncio.to_thread(run_pending, runtime.uow, runtime.engine, book, name)
            await asyncio.sleep(every_s)

    return loop
