"""Completing the reports that wait for live partner sources.

A case waits (``pending_reports``) from its application or review until every live source has
answered about its members. The worker takes the cases due, asks each source outside any
transaction (a slow partner never holds the database), then, in one transaction, stores what the
sources said and either publishes the report or sets the next attempt with backoff and says
which sources are missing and why. A report is never made on part of the data.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from services.verification.adapters.live_sources import LiveSource, SourceUnavailable
from services.verification.adapters.pending import PendingRepository, missing_text
from services.verification.adapters.repositories.households import HouseholdRepository
from services.verification.adapters.repositories.partners import PartnerRepository
from services.verification.domain.model import PartnerRecord
from services.verification.service_layer.reporting import report_now
from shared.db import reading
from shared.policy import PolicySource
from shared.uow import UnitOfWork

log = logging.getLogger("onedoor.verification.live")
FIRST_RETRY = timedelta(seconds=5)
LAST_RETRY = timedelta(minutes=10)  # the longest wait between attempts


@dataclass(frozen=True)
class Outcome:
    reported: int
    waiting: int


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s … up to 10 minutes between attempts."""
    doubled: int = 2 ** max(attempts - 1, 0)  # int ** int is typed Any (a negative power)
    return min(FIRST_RETRY * doubled, LAST_RETRY)


def complete_due(engine: Engine, uow_factory: Callable[[], UnitOfWork],
                 sources: Sequence[LiveSource], policy: PolicySource, *,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 limit: int = 20) -> Outcome:
    """One pass over the cases due now."""
    with reading(engine) as conn:
        due = PendingRepository(conn).due(now(), limit)
    reported = waiting = 0
    for pending in due:
        with reading(engine) as conn:
            household = HouseholdRepository(conn).get_for_update(pending.case_id)
        if household is None:
            continue
        refs = [m.person_ref for m in household.members]
        answers: dict[str, list[PartnerRecord]] = {}
        missing: list[tuple[str, str]] = []
        for source in sources:
            try:
                answers[source.department] = source.fetch(refs)
            except SourceUnavailable as exc:
                missing.append((exc.department, exc.reason))
        with uow_factory() as uow:
            records = PartnerRepository(uow.conn)
            for department, found in answers.items():
                records.replace_for_persons(department, refs, found)
            repo = PendingRepository(uow.conn)
            if missing:
                attempts = pending.attempts + 1
                repo.retry(pending.case_id, attempts, now() + backoff(attempts),
                           missing_text(missing))
                waiting += 1
            elif repo.done(pending.case_id):
                report_now(uow, household, pending.occasion, policy)  # type: ignore[arg-type]  # stored from an Occasion
                reported += 1
            uow.commit()
    return Outcome(reported, waiting)


async def run(engine: Engine, uow_factory: Callable[[], UnitOfWork],
              sources: Sequence[LiveSource], policy: PolicySource, idle_s: float = 1.0) -> None:
    """The worker: a pass, then a pause when there was nothing to do."""
    while True:
        outcome = await asyncio.to_thread(complete_due, engine, uow_factory, sources, policy)
        if outcome.reported or outcome.waiting:
            log.info("live sources: %d reported, %d still waiting", outcome.reported,
                     outcome.waiting)
        await asyncio.sleep(idle_s if not outcome.reported else 0)
