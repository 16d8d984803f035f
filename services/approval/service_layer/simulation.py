"""Simulation before publication (政策测算, issue 22 §4): "what if Cixi's standard becomes 1,105
yuan from January?", answered from approval's own records without writing anything.

Every household the figure reaches is assessed twice on the effective day, from the facts
approval holds for it: with the policy in force, and with the policy as it would be once the
figure is published. The households are the current recipients and everyone who applied in the
last 12 months (their latest report included), so a rise shows who would newly qualify too.
What changes only because the figure moved is counted; nothing else differs between the runs.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from itertools import islice
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select

from services.approval.adapters.tables import case_members, cases
from services.approval.domain.assessment import Assessment, assess
from services.approval.domain.facts import CaseFacts
from services.approval.domain.policy import PolicyTable
from services.approval.domain.workflow import HOUSEHOLD_STATUS_ORDER, RECURRING, RUNNING
from services.approval.service_layer import casework
from services.approval.service_layer.policy_admin import in_region
from shared.policy import Figure

log = logging.getLogger(__name__)

BIN_FEN = 20_000  # the distribution's bars: 200 yuan each
# The households are shared among processes from this many on (below it, starting the processes
# costs more than it saves); the rules are pure Python, so threads would not run them side by
# side. At most WORKERS, and no more than the machine's cores.
PARALLEL_FROM = 20_000
WORKERS = 4
CHUNK = 5_000


@dataclass(frozen=True)
class Change:
    name: str
    region_code: str
    effective_from: date
    value: int


def households(conn: Connection, region: str, now: datetime) -> Iterator[dict[str, Any]]:
    """The reached recipients and last year's applicants (recurring programmes, assessed), read
    as they are used: the rules of the first may run while the next are read."""
    q = (select(cases.c.case_id, cases.c.town_code, cases.c.region_code, cases.c.stage,
                cases.c.facts)
         .where(in_region(region)).where(cases.c.programme.in_(sorted(RECURRING)))
         .where(or_(cases.c.stage.in_(RUNNING), and_(
             cases.c.submitted_at >= now - timedelta(days=365),
             cases.c.assessment_id.is_not(None))))
         .order_by(cases.c.case_id)
         .execution_options(yield_per=CHUNK))
    for r in conn.execute(q).mappings():
        yield dict(r)


def statuses(conn: Connection) -> dict[str, str]:
    """Each person's household status from the running cases, as approval knows it today: the
    first of HOUSEHOLD_STATUS_ORDER among the person's cases, chosen by the database."""
    rank = case({s: i for i, s in enumerate(HOUSEHOLD_STATUS_ORDER)}, value=cases.c.programme)
    rows = conn.execute(
        select(case_members.c.person_ref, func.min(rank))
        .join(cases, cases.c.case_id == case_members.c.case_id)
        .where(cases.c.stage.in_(RUNNING))
        .where(cases.c.programme.in_(HOUSEHOLD_STATUS_ORDER))
        .group_by(case_members.c.person_ref))
    return {ref: HOUSEHOLD_STATUS_ORDER[best] for ref, best in rows}


@dataclass
class Tally:
    """What the households of a simulation came to, summed: one process's share, or all."""

    outcomes: Counter[str] = field(default_factory=Counter)
    population: Counter[str] = field(default_factory=Counter)
    towns: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    before_bins: Counter[int] = field(default_factory=Counter)
    after_bins: Counter[int] = field(default_factory=Counter)
    applicants_new_fen: int = 0

    def add(self, other: Tally) -> None:
        self.outcomes.update(other.outcomes)
        self.population.update(other.population)
        for town, counts in other.towns.items():
            self.towns[town].update(counts)
        self.before_bins.update(other.before_bins)
        self.after_bins.update(other.after_bins)
        self.applicants_new_fen += other.applicants_new_fen


def tally(rows: Iterable[dict[str, Any]], known: dict[str, str], current: PolicyTable,
          candidate: PolicyTable, on: date) -> Tally:
    """Each household assessed twice on ``on``, with the policy now and with the candidate."""
    out = Tally()
    for row in rows:
        facts = _with_status(casework.facts_of(row), known)
        before, after = assess(facts, current, on), assess(facts, candidate, on)
        recipient = row["stage"] in RUNNING
        out.population["recipients" if recipient else "applications"] += 1
        kind = _compare(before, after)
        out.outcomes[kind] += 1
        t = out.towns[row["town_code"] or row["region_code"]]
        t[kind] += 1
        if recipient:
            t["before_fen"] += before.monthly_amount_fen if before.eligible else 0
            t["after_fen"] += after.monthly_amount_fen if after.eligible else 0
            t["recipients"] += 1
        elif kind == "newly_eligible":
            out.applicants_new_fen += after.monthly_amount_fen
            t["applicants_newly_eligible_fen"] += after.monthly_amount_fen
        if before.eligible:
            out.before_bins[before.monthly_amount_fen // BIN_FEN] += 1
        if after.eligible:
            out.after_bins[after.monthly_amount_fen // BIN_FEN] += 1
    return out


def _workers() -> int:
    return max(1, min(WORKERS, os.cpu_count() or 1))


def _tallied(read: Callable[[], Iterator[dict[str, Any]]], known: dict[str, str],
             current: PolicyTable, candidate: PolicyTable, on: date, workers: int) -> Tally:
    rows = read()
    first = list(islice(rows, PARALLEL_FROM))
    if workers <= 1 or len(first) < PARALLEL_FROM:
        return tally([*first, *rows], known, current, candidate, on)
    try:
        return _shared(first, rows, known, current, candidate, on, workers)
    except (OSError, BrokenProcessPool):  # no processes to be had, or one died: all again here
        log.warning("simulation: worker processes unavailable; running in this one",
                    exc_info=True)
        return tally(read(), known, current, candidate, on)


def _shared(first: list[dict[str, Any]], rows: Iterator[dict[str, Any]],
            known: dict[str, str], current: PolicyTable, candidate: PolicyTable, on: date,
            workers: int) -> Tally:
    total = Tally()
    # Not forked from this process: it runs threads (the server's, the consumer's), which a
    # fork would copy in whatever state they were. A fork server, started once with the rules
    # imported, forks each worker ready to run. Each worker gets the statuses and both tables
    # once, then chunks of rows, sent while the next are read.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init,
                             initargs=(known, current, candidate, on)) as pool:
        parts = [pool.submit(_worker_tally, first[i:i + CHUNK])
                 for i in range(0, len(first), CHUNK)]
        while chunk := list(islice(rows, CHUNK)):
            parts.append(pool.submit(_worker_tally, chunk))
        for part in parts:
            total.add(part.result())
    return total


_WORKER: dict[str, Any] = {}


def _worker_init(known: dict[str, str], current: PolicyTable, candidate: PolicyTable,
                 on: date) -> None:
    _WORKER.update(known=known, current=current, candidate=candidate, on=on)


def _worker_tally(rows: list[dict[str, Any]]) -> Tally:
    w = _WORKER
    return tally(rows, w["known"], w["current"], w["candidate"], w["on"])


def simulate(conn: Connection, current: PolicyTable, change: Change, figure: Figure,
             now: datetime, workers: int | None = None) -> dict[str, Any]:
    """The simulation's answer (see the module's docstring); ``workers`` processes share the
    households when there are many (default: the machine's cores, at most ``WORKERS``)."""
    started = time.perf_counter()
    candidate = current.amended([figure])
    on = change.effective_from
    found = _tallied(lambda: households(conn, change.region_code, now), statuses(conn), current,
                     candidate, on, _workers() if workers is None else workers)
    by_town: list[dict[str, Any]]
    by_town = [{"town_code": code, "recipients": t["recipients"],
                "before_fen": t["before_fen"], "after_fen": t["after_fen"],
                "change_fen": t["after_fen"] - t["before_fen"],
                "newly_eligible": t["newly_eligible"], "newly_ineligible": t["newly_ineligible"],
                "changed": t["changed"],
                "applicants_newly_eligible_fen": t["applicants_newly_eligible_fen"]}
               for code, t in sorted(found.towns.items())]
    before_total = sum(t["before_fen"] for t in by_town)
    after_total = sum(t["after_fen"] for t in by_town)
    top = max([*found.before_bins, *found.after_bins], default=-1)
    outcomes = found.outcomes
    return {
        "figure": {"name": change.name, "region_code": change.region_code,
                   "effective_from": on.isoformat(), "value": change.value,
                   "value_now": _in_force(current, change)},
        "population": {"recipients": found.population["recipients"],
                       "applications": found.population["applications"]},
        "households": {k: outcomes[k] for k in ("newly_eligible", "newly_ineligible", "changed",
                                                "unchanged", "undecided")},
        "monthly_cost_fen": {"before": before_total, "after": after_total,
                             "change": after_total - before_total,
                             "applicants_newly_eligible": found.applicants_new_fen},
        "by_town": by_town,
        "distribution": {"bin_fen": BIN_FEN, "bins": [
            {"from_fen": i * BIN_FEN, "before": found.before_bins[i],
             "after": found.after_bins[i]} for i in range(top + 1)]},
        "policy_version_now": current.version, "policy_version_after": candidate.version,
        "took_ms": round((time.perf_counter() - started) * 1000, 1),
    }


def _in_force(table: PolicyTable, change: Change) -> int | None:
    fig = table.figure(change.name, change.region_code, change.effective_from)
    return None if fig is None else fig.value


def _with_status(facts: CaseFacts, known: dict[str, str]) -> CaseFacts:
    held = {known.get(m.person_ref) for m in facts.members}
    status = next((s for s in HOUSEHOLD_STATUS_ORDER if s in held), None)
    return facts if status == facts.household_status else replace(facts, household_status=status)


def _compare(before: Assessment, after: Assessment) -> str:
    if after.eligible is None or before.eligible is None:
        return "undecided"
    if after.eligible and not before.eligible:
        return "newly_eligible"
    if before.eligible and not after.eligible:
        return "newly_ineligible"
    if before.eligible and before.monthly_amount_fen != after.monthly_amount_fen:
        return "changed"
    return "unchanged"


CSV_COLUMNS = ("town_code", "recipients", "before_fen", "after_fen", "change_fen",
               "newly_eligible", "newly_ineligible", "changed", "applicants_newly_eligible_fen")


def as_csv(result: dict[str, Any]) -> str:
    lines = [",".join(CSV_COLUMNS)]
    lines += [",".join(str(t[c]) for c in CSV_COLUMNS) for t in result["by_town"]]
    return "\n".join(lines) + "\n"
