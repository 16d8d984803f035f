"""Replaying the archive: its chains merged into one time-ordered stream, folded by
``domain/replay.py``, written to a fresh store; and the views and reports built on it.

Order: each chain (topic, partition) is in arrival order, and each event carries the moment it
was made (``ce_time``). A service makes an event inside the transaction that decides it, after
reading what earlier transactions committed, so merging the chains by ``ce_time`` gives every
event after the events it could have depended on, across topics and services.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import itertools
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from services.approval.rules import RUNNING, PolicyTable
from services.audit.adapters import replay_store, store
from services.audit.domain import event_time
from services.audit.domain.cases import CaseState, Entry
from services.audit.domain.findings import KINDS, Finding
from services.audit.domain.policies import PolicyLibrary
from services.audit.domain.replay import Replay
from services.audit.service_layer import policies
from shared import clock
from shared.events import topics

TIMELINE_BATCH = 20_000
# at (a moment, or the archive's microseconds since the epoch), type, case id, event id, value
Event = tuple[datetime | int, str, str, str | None, bytes]


@dataclass(frozen=True)
class Scope:
    """What a replay re-runs and reports: a case, a region, a programme, a time range. Every
    event up to ``until`` is still folded (a case's assessment depends on other cases)."""

    case_id: str | None = None
    region_code: str | None = None
    programme: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def selects(self, case: CaseState) -> bool:
        if self.case_id is not None and case.case_id != self.case_id:
            return False
        if self.region_code is not None and \
                not case.region.startswith(area_prefix(self.region_code)):
            return False
        return self.programme is None or case.programme == self.programme

    @property
    def selector(self) -> Callable[[CaseState], bool] | None:
        """``selects``, or None when every case is selected (the fold then never asks)."""
        limited = (self.case_id, self.region_code, self.programme) != (None, None, None)
        return self.selects if limited else None

    def to_json(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v)
                for k, v in self.__dict__.items() if v is not None}


def area_prefix(code: str) -> str:
    """The prefix a region code stands for: a city's code (xxxx00) covers its districts and a
    province's (xx0000) its cities; a district's or a town's code is itself."""
    if len(code) == 6:
        return code[:2] if code.endswith("0000") else code[:4] if code.endswith("00") else code
    return code


@dataclass
class Summary:
    started_at: str
    scope: dict[str, Any]
    policy_digest: str  # the base table's (the packaged files, or the ones named)
    # The tables that re-ran decisions: the base and each publication's, with how many each.
    policy_versions: list[dict[str, Any]] = field(default_factory=list)
    policy_publications: dict[str, Any] = field(default_factory=dict)  # what the archive held
    events: int = 0
    cases: int = 0
    cases_selected: int = 0
    decisions_rerun: int = 0
    identical_bytes: int = 0  # re-runs that matched the published bytes (the fast comparison)
    divergences: int = 0
    findings: dict[str, int] = field(default_factory=dict)
    by_type: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "events_per_second": round(self.rate)}


def archived_events(engine: Engine, until: datetime | None = None) -> Iterator[Event]:
    """Every archived event, all chains merged by event time (``archived_pages``, one by one)."""
    return itertools.chain.from_iterable(archived_pages(engine, until))


def archived_pages(engine: Engine, until: datetime | None = None
                   ) -> Iterator[Sequence[Event]]:
    """Every archived event, all chains merged by event time, a page at a time. Dead letters
    are copies of events archived already on their own topic, and are left out.

    The merge is the database's: archiving keeps each event's ``ce_time`` in an indexed column
    (``event_time``), so one query streams the archive in time order, ties by chain and seq as
    merging the chains in Python did (that merge, with the time found in every record's
    headers, was 5 of the 12 s reading 1,000,000 events took). Where a chain holds an event
    made before the one ahead of it (two transactions committed in the other order), the event
    takes its place by its time, which the merge could not give it."""
    bound = None if until is None else event_time.of(until)
    # The time as archived, in microseconds: the fold makes a moment of it only for the events
    # it folds whole.
    return store.event_pages(engine, leaving_out=topics.DEAD_LETTER, until=bound)


def replay(events: Iterator[Event], policy: PolicyTable | PolicyLibrary, scope: Scope, *,
           out: Engine | None = None, total: int | None = None,
           progress: Callable[[int, int | None], None] | None = None,
           stale_after_days: int = 180) -> tuple[Replay, Summary]:
    """Fold the events; write the fresh store to ``out`` when given. Answers the fold (its
    cases and findings) and a summary. ``policy``: the library of the archive the events come
    from (``policies.library``), or one table to re-run every decision with."""
    started = time.perf_counter()
    library = policy if isinstance(policy, PolicyLibrary) else PolicyLibrary(policy)
    summary = Summary(started_at=datetime.now(UTC).isoformat(), scope=scope.to_json(),
                      policy_digest=library.base.version)
    fold = Replay(library, selected=scope.selector, since=scope.since,
                  stale_after_days=stale_after_days)
    if out is not None:
        replay_store.create(out)
    store_timeline = None if out is None else \
        (lambda entries: replay_store.add_timeline(out, entries))
    with collector_paused():  # the cases written after the fold too
        n = fold_all(fold, events, on_timeline=store_timeline, progress=progress, total=total)
        fold.finish(scope.until or datetime.now(UTC))
        selected = [c for c in fold.cases.values() if scope.selects(c)]
        summary.events, summary.cases, summary.cases_selected = n, len(fold.cases), len(selected)
        summary.decisions_rerun = fold.decisions_rerun
        summary.identical_bytes = fold.identical_bytes
        summary.policy_versions = library.described(fold.policy_used)
        summary.policy_publications = library.archived()
        summary.by_type = dict(sorted(fold.counts.items()))
        summary.findings = {kind: 0 for kind in KINDS}
        for f in fold.findings:
            summary.findings[f.kind] += 1
        summary.divergences = summary.findings["divergence"]
        if out is not None:
            replay_store.index_timeline(out)
            replay_store.finish(out, (c.view() for c in selected), fold.findings,
                                {**summary.to_json(), "seconds": time.perf_counter() - started})
    summary.seconds = time.perf_counter() - started
    if progress is not None:
        progress(n, n)
    return fold, summary


def fold_all(fold: Replay, events: Iterable[Event], *,
             on_timeline: Callable[[list[Entry]], None] | None = None,
             progress: Callable[[int, int | None], None] | None = None,
             total: int | None = None) -> int:
    """Apply every event to the fold, handing its timeline on in batches; answers how many."""
    return fold_pages(fold, _batched(iter(events)), on_timeline=on_timeline, progress=progress,
                      total=total)


def fold_pages(fold: Replay, pages: Iterable[Sequence[Event]], *,
               on_timeline: Callable[[list[Entry]], None] | None = None,
               progress: Callable[[int, int | None], None] | None = None,
               total: int | None = None) -> int:
    """``fold_all`` over pages of events (``archived_pages``): the timeline handed on and the
    progress told after each page, not asked after every event."""
    n = 0
    with collector_paused():
        for page in pages:
            fold.apply_page(page)
            before, n = n, n + len(page)
            if len(fold.timeline) >= TIMELINE_BATCH:
                _drain(fold, on_timeline)
            if progress is not None and n // 50_000 != before // 50_000:
                progress(n, total)
        _drain(fold, on_timeline)
    return n


def _batched(events: Iterator[Event]) -> Iterator[list[Event]]:
    while page := list(itertools.islice(events, TIMELINE_BATCH)):
        yield page


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a fold and what follows it run. The fold
    keeps every case alive to the end and makes no reference cycles, so the collector only
    re-walks an ever larger heap: it cost a third of the time at 200,000 events (measured), and
    more as the archive grows; once the fold was done, one full collection in writing the cases
    took another second at 1,000,000. Reference counting still frees the rest."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _drain(fold: Replay, on_timeline: Callable[[list[Entry]], None] | None) -> None:
    if on_timeline is not None and fold.timeline:
        on_timeline(fold.timeline)
    fold.timeline.clear()


# -- what auditors ask of a replay ------------------------------------------------------------

def case_as_of(engine: Engine, policy: PolicyTable | PolicyLibrary, case_id: str,
               until: datetime) -> dict[str, Any] | None:
    """A case as it stood at a moment: its state, its timeline up to then, and what the replay
    found about it (its decisions re-run with the base ``policy`` and the publications)."""
    timeline: list[dict[str, Any]] = []
    if not isinstance(policy, PolicyLibrary):
        policy = policies.library(engine, policy)
    fold = Replay(policy, selected=lambda c: c.case_id == case_id)
    fold_pages(fold, archived_pages(engine, until), on_timeline=lambda entries: timeline.extend(
        {"at": event_time.moment(at).isoformat(), "type": kind, "summary": summary,
         "event_id": event_id} for _case, at, kind, summary, event_id in entries))
    fold.finish(until)
    case = fold.cases.get(case_id)
    if case is None:
        return None
    return {"as_of": until.isoformat(), "case": case.view(), "timeline": timeline,
            "payments": case.payments,
            "findings": [finding_json(f) for f in fold.findings]}


def recipients_on(engine: Engine, policy: PolicyTable | PolicyLibrary, region_code: str,
                  until: datetime) -> dict[str, Any]:
    """The households of a region receiving a monthly benefit at a moment, with the amount the
    decisions gave them for that month."""
    fold = Replay(policy, selected=lambda c: False)  # nothing re-run: only the state is wanted
    fold_pages(fold, archived_pages(engine, until))
    month = f"{clock.local_date(until):%Y-%m}"
    found: list[dict[str, Any]] = []
    for case in fold.cases.values():
        if not case.region.startswith(area_prefix(region_code)) or case.stage not in RUNNING:
            continue
        monthly = case.monthly_for(month)
        if monthly > 0:
            found.append({"case_id": case.case_id, "programme": case.programme,
                          "region_code": case.region, "stage": case.stage,
                          "monthly_amount_fen": monthly, "members": len(case.member_refs),
                          "since": (case.decision or {}).get("start_month")})
    found.sort(key=lambda r: r["case_id"])
    return {"region_code": region_code, "as_of": until.isoformat(), "month": month,
            "households": len(found), "monthly_total_fen": sum(r["monthly_amount_fen"]
                                                               for r in found),
            "recipients": found}


def finding_json(f: Finding) -> dict[str, Any]:
    return {"kind": f.kind, "case_id": f.case_id, "at": f.at.isoformat(), "detail": f.detail,
            "event_id": f.event_id, **{f"data_{k}": v for k, v in f.data.items()}}


REPORTS = {
    "payments-without-approval": ("payment_without_approval",),
    "approvals-without-report": ("approval_without_report", "advance_never_verified"),
    "stale-decisions": ("stale_report",),
    "overdue": ("overdue", "late"),
    "divergences": ("divergence", "decision_differs"),
}
# The columns a CSV starts with, so an empty report still says what it would hold.
FINDING_COLUMNS = ("kind", "case_id", "at", "detail", "event_id")
RECIPIENT_COLUMNS = ("case_id", "programme", "region_code", "stage", "monthly_amount_fen",
                     "members", "since")


def csv_text(rows: list[dict[str, Any]], first: tuple[str, ...]) -> str:
    """Rows as CSV: the ``first`` columns, then any others in the order they appear; lists and
    dicts as JSON, so a spreadsheet shows them whole."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(dict.fromkeys(
        [*first, *(k for r in rows for k in r)])))
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict)
                         else v for k, v in row.items()})
    return out.getvalue()
