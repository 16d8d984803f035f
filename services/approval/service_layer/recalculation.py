"""Every recipient recalculated when a published figure changes (issue 22 §3).

A publication queues one job. Any instance may run it: it claims the job with a lease, then
works through the reached recipients in case-id order, a batch per unit of work. The batch's
changes, its explanations and the job's cursor commit together, so a crash resumes after the
last batch committed and no household is recalculated twice into a second benefit change.

A household whose amount moves gets a new assessment (``CaseAssessed``, assessed on the
figure's effective date with the published table) and ``BenefitChanged`` from that month, so
the next payment cycle pays the new amount and the auditor's replay finds the same result. One
that loses eligibility is suspended into the town's queue (gradual exit where the rules say so:
``workflow.reassess``), never stopped silently.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, or_, select, update

from services.approval.adapters.repository import ApprovalRepository
from services.approval.adapters.tables import (
    cases,
    policy_proposals,
    recalculated,
    recalculations,
)
from services.approval.domain.assessment import Assessment, assess
from services.approval.domain.facts import yuan
from services.approval.domain.policy import PolicyTable
from services.approval.domain.workflow import SYSTEM, Change, Rules, add_months, reassess
from services.approval.service_layer import casework
from services.approval.service_layer.policy_admin import recipients_query
from services.approval.service_layer.policy_book import PolicyBook
from shared.service import ServiceRuntime
from shared.uow import UnitOfWork

J = recalculations.c
LEASE = timedelta(seconds=60)
BATCH = 500


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
    with uow_factory() as uow:
        conn = uow.conn
        held = conn.execute(update(recalculations).where(J.job_id == job_id)
                            .where(J.claimed_by == worker).where(J.status == "running")
                            .values(lease_until=now + LEASE))
        if held.rowcount != 1:
            return False
        job = conn.execute(select(recalculations).where(J.job_id == job_id)).mappings().one()
        proposal = conn.execute(select(policy_proposals).where(
            policy_proposals.c.proposal_id == job["proposal_id"])).mappings().one()
        q = recipients_query(proposal["region_code"]).order_by(cases.c.case_id).limit(size)
        if job["cursor"] is not None:
            q = q.where(cases.c.case_id > job["cursor"])
        batch = list(conn.execute(q).scalars())
        table = book.current(conn)
        repo = ApprovalRepository(conn)
        rows, changed, to_review = [], 0, 0
        for case_id in batch:
            outcome = _recalculate(uow, repo, case_id, table, proposal["effective_from"], now)
            rows.append({"job_id": job_id, "case_id": case_id, **outcome})
            changed += outcome["outcome"] != "unchanged"
            to_review += outcome["outcome"] in ("suspended", "undecided")
        if rows:
            conn.execute(insert(recalculated), rows)
        finished = len(batch) < size
        conn.execute(update(recalculations).where(J.job_id == job_id).values(
            cursor=batch[-1] if batch else job["cursor"], done=J.done + len(batch),
            changed=J.changed + changed, to_review=J.to_review + to_review,
            **({"status": "done", "finished_at": now, "lease_until": None} if finished else {})))
        uow.commit()
        return not finished


def run_pending(uow_factory: Callable[[], UnitOfWork], engine: Engine, book: PolicyBook,
                worker: str) -> int:
    """Run every job this worker can claim to its end; how many jobs it finished."""
    finished = 0
    while (job := claim(engine, worker, datetime.now(UTC))) is not None:
        while run_batch(uow_factory, book, job, worker):
            pass
        finished += 1
    return finished


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


def _recalculate(uow: UnitOfWork, repo: ApprovalRepository, case_id: str, table: PolicyTable,
                 effective: date, now: datetime) -> dict[str, Any]:
    row, case = casework.load(repo, case_id)
    old = row["monthly_amount_fen"]
    previous = case.assessment
    facts = casework.current_facts(repo, casework.facts_of(row), now)
    new = assess(facts, table, effective)
    moved = _moved(previous, new)
    if new.eligible is None:
        return _said("undecided", old, old, "needs staff: " + "; ".join(
            c.detail for c in new.failed))
    if previous is None:
        return _said("unchanged", old, old, "no assessment on record")
    month = f"{effective:%Y-%m}"
    change = reassess(case.stage, old, previous, new, 0, 0, add_months(month, -1),
                      Rules(table, case.region_code, effective))
    if change is None:
        return _said("unchanged", old, new.monthly_amount_fen if new.eligible else old, moved)
    casework.run_assessment(uow, repo, row, facts, table, now, on=effective, result=new)
    reason = f"policy change from {month}: {moved}"
    casework.benefit_changed(uow, row, change.benefit_change or "", now, reason,
                             monthly=change.monthly_amount_fen, end_month=change.end_month,
                             effective=change.effective_month)
    if change.benefit_change in ("amount_changed", "resumed"):
        repo.set_case(case_id, monthly_amount_fen=change.monthly_amount_fen)
    if change.to_stage:
        casework.apply_changes(uow, repo, row, case, [Change(
            change.to_stage, "reassessed_policy_change", explanation=change.reason)], SYSTEM, now)
    return _said(change.benefit_change or "changed", old, change.monthly_amount_fen, moved)


def _said(outcome: str, old: int, new: int, explanation: str) -> dict[str, Any]:
    return {"outcome": outcome, "old_monthly_fen": old, "new_monthly_fen": new,
            "explanation": explanation}


def _moved(previous: Assessment | None, new: Assessment) -> str:
    """Which figures moved the amount, and from what to what: composed from the two traces."""
    before = {} if previous is None else {
        f.name: f for c in previous.checks for f in c.parameters}
    parts, seen = [], set()
    for f in (f for c in new.checks for f in c.parameters):
        old = before.get(f.name)
        if f.name in seen or old is None or old.value == f.value:
            continue
        seen.add(f.name)
        parts.append(f"{f.name} {_shown(f.name, old.value)} → {_shown(f.name, f.value)}")
    amount = (f"{yuan(_monthly(previous))} → {yuan(new.monthly_amount_fen)} yuan/month"
              if new.eligible else "not eligible")
    return amount + ("; " + ", ".join(parts) if parts else "; no figure it uses moved")


def _monthly(a: Assessment | None) -> int:
    return 0 if a is None else a.monthly_amount_fen


def _shown(name: str, value: int) -> str:
    return f"{yuan(value)} yuan" if name.endswith("_fen") else str(value)
