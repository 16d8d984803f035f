"""Replaying the archive on every core: the cases shared out between processes.

One fold re-runs every assessment in the order the archive gives; one core could not do it at
the issue's 50,000 events/s. So each process takes a share of the cases — by a stable hash of
the case id — reads the whole archive itself, in the same order, and folds, re-runs and writes
to the fresh store only its own cases (``Replay(owns=...)``). Of the other cases it folds only
what households are made of (applications, stage changes, decisions): an assessment reads its
household's status and grants from cases in other shares, and every share must see them as one
fold over all would. Nothing but counts and findings comes back; the findings are merged by the
position of the event that made them, the order one fold gives.

The price: every share reads every event and folds every household, so the replay as a whole
takes about a third more CPU than one process (docs/PERFORMANCE.md). It pays when the cores are
free; on a machine busy with other work, ``--workers 1`` folds in this process alone.

Earlier levers that did not pay (docs/PERFORMANCE.md): a thread reading the next page while the
fold worked, and sending each assessment's facts to a second process to re-run (pickling them
cost a third of what the re-run saved, and the fold stayed on one core).
"""

from __future__ import annotations

import gc
import heapq
import multiprocessing
import os
import queue
import threading
import time
import traceback
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from services.approval.rules import PolicyTable
from services.audit.adapters import replay_store, store
from services.audit.domain import event_time
from services.audit.domain.cases import Entry
from services.audit.domain.findings import KINDS, Finding
from services.audit.domain.policies import PolicyLibrary
from services.audit.domain.replay import Replay
from services.audit.service_layer import policies
from services.audit.service_layer.replaying import (
    Scope,
    Summary,
    archived_pages,
    collector_paused,
    fold_pages,
)
from shared.db import make_engine, reading
from shared.events import topics

Progress = Callable[[int, int | None], None]
_left_to_exit: list[Replay] = []  # in a share's process (see _share_process)


def default_workers() -> int:
    """One process per core this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        os.cpu_count() or 1


def share_of(case_id: str, shares: int) -> int:
    """The share a case belongs to: the same in every process and every run (``hash`` of a str
    is salted per process)."""
    return zlib.crc32(case_id.encode()) % shares


@dataclass(frozen=True)
class _Task:
    """What every share is given (its number is passed beside it)."""

    url: str
    policy: PolicyLibrary  # read once, before the shares start: each re-runs with the same
    scope: Scope
    until: int | None  # the last event time read (µs): every share reads the same events
    ending: datetime  # the moment stages still open are judged at
    out_url: str | None
    stale_after_days: int
    shares: int
    total: int | None


@dataclass
class _Done:
    """What a share sends back."""

    events: int  # every event read (the same for all shares)
    cases: int  # its own
    cases_selected: int
    decisions_rerun: int
    identical_bytes: int
    policy_used: dict[int, int]  # table position → assessments re-run with it
    counts: dict[str, int]
    findings: list[Finding]


def replay_archive(url: str, policy: PolicyTable | PolicyLibrary, scope: Scope, *,
                   out_url: str | None = None, workers: int = 1, total: int | None = None,
                   progress: Progress | None = None, stale_after_days: int = 180
                   ) -> tuple[list[Finding], Summary]:
    """Replay audit's archive at ``url`` in ``workers`` processes (1: in this one); write the
    fresh store to ``out_url`` when given. Answers the findings, in event order, and a
    summary — the same as ``replaying.replay`` over ``archived_events``. ``policy``: the base
    table, amended by the archive's publications here; or a library made already."""
    started = time.perf_counter()
    if not isinstance(policy, PolicyLibrary):
        policy = policies.library_at(url, policy)
    summary = Summary(started_at=datetime.now(UTC).isoformat(), scope=scope.to_json(),
                      policy_digest=policy.base.version)
    out = None if out_url is None else replay_store.open_store(out_url)
    if out is not None:
        replay_store.create(out, max(1, workers))
        out.dispose()  # no open connection carried into the shares (SQLite forbids it)
    task = _Task(url, policy, scope, _last_event_time(url, scope.until),
                 scope.until or datetime.now(UTC), out_url, stale_after_days, max(1, workers),
                 total)
    done = [_fold_share(task, 0, progress, threading.Lock())] if task.shares == 1 else \
        _in_processes(task, progress)

    findings = list(heapq.merge(*(d.findings for d in done), key=lambda f: f.order))
    summary.events = done[0].events
    summary.cases = sum(d.cases for d in done)
    summary.cases_selected = sum(d.cases_selected for d in done)
    summary.decisions_rerun = sum(d.decisions_rerun for d in done)
    summary.identical_bytes = sum(d.identical_bytes for d in done)
    used: dict[int, int] = {}
    for d in done:
        for k, n in d.policy_used.items():
            used[k] = used.get(k, 0) + n
    summary.policy_versions = policy.described(used)
    summary.policy_publications = policy.archived()
    by_type: dict[str, int] = {}
    for d in done:
        for kind, n in d.counts.items():
            by_type[kind] = by_type.get(kind, 0) + n
    summary.by_type = dict(sorted(by_type.items()))
    summary.findings = {kind: 0 for kind in KINDS}
    for f in findings:
        summary.findings[f.kind] += 1
    summary.divergences = summary.findings["divergence"]
    if out is not None:
        replay_store.finish(out, (), findings,
                            {**summary.to_json(), "seconds": time.perf_counter() - started,
                             "workers": task.shares})
        out.dispose()
    summary.seconds = time.perf_counter() - started
    if progress is not None:
        progress(summary.events, summary.events)
    return findings, summary


def _last_event_time(url: str, until: datetime | None) -> int | None:
    """The stream's end, fixed before the shares start, so that each reads the same events
    even while the archiver appends."""
    engine = make_engine(url)
    try:
        with reading(engine) as conn:
            return store.last_event_time(conn, leaving_out=topics.DEAD_LETTER,
                                         until=None if until is None else event_time.of(until))
    finally:
        engine.dispose()


def _fold_share(task: _Task, share: int, progress: Progress | None, lock: Any) -> _Done:
    with collector_paused():  # to the end: the cases are written after the fold
        return _folded_share(task, share, progress, lock)[0]


def _folded_share(task: _Task, share: int, progress: Progress | None, lock: Any
                  ) -> tuple[_Done, Replay]:
    """Fold one share; ``lock``, shared by the shares, is held while one writes the store."""
    engine: Engine = make_engine(task.url)
    scope = task.scope
    owns = None if task.shares == 1 else \
        (lambda case_id: share_of(case_id, task.shares) == share)
    fold = Replay(task.policy, selected=scope.selector, since=scope.since,
                  stale_after_days=task.stale_after_days, owns=owns)
    written = None if task.out_url is None else \
        _Store(replay_store.open_store(task.out_url), share, lock)
    # An empty archive has no last event: then nothing is read.
    pages = iter(()) if task.until is None else \
        archived_pages(engine, event_time.moment(task.until))
    n = fold_pages(fold, pages, on_timeline=None if written is None else written.timeline,
                   progress=progress, total=task.total)
    fold.finish(task.ending)
    selected = [c for c in fold.cases.values() if scope.selects(c)]
    if written is not None:
        written.finish([c.view() for c in selected])
        written.out.dispose()
    engine.dispose()
    return _Done(n, len(fold.cases), len(selected), fold.decisions_rerun, fold.identical_bytes,
                 fold.policy_used, fold.counts, fold.findings), fold


class _Store:
    """What a share writes to the fresh store: its timeline as it goes, its cases at the end.

    The shares write to one database, and SQLite lets one write at a time. Reading the archive
    in step, the shares wrote in step, and one waited for the other's write again and again
    (0.7 s of 15 at 1,000,000 events). So a share writes only when no other share is writing —
    a lock among them, tried, not waited for — and otherwise keeps its entries for the next
    try. It waits only at the end, or once it holds many."""

    def __init__(self, out: Engine, share: int, lock: Any) -> None:
        self.out, self.share, self.lock = out, share, lock
        self._held: list[Entry] = []

    def timeline(self, entries: list[Entry]) -> None:
        self._held.extend(entries)  # copied: the fold reuses its list
        if self.lock.acquire(len(self._held) >= _HOLD_AT_MOST):  # blocking only then
            try:
                self._write()
            finally:
                self.lock.release()

    def finish(self, cases: list[dict[str, Any]]) -> None:
        with self.lock:
            self._write()
            replay_store.add_cases(self.out, cases)
            replay_store.index_timeline(self.out, self.share)

    def _write(self) -> None:
        if self._held:
            replay_store.add_timeline(self.out, self._held, self.share)  # its own table
            self._held = []


_HOLD_AT_MOST = 200_000  # timeline entries a share keeps, waiting for the store (~40 MB)


def _in_processes(task: _Task, progress: Progress | None) -> list[_Done]:
    # Forked where the platform allows: the children start at once with the policy already
    # loaded (a fresh interpreter re-imports approval's rules and the catalogue, about a second).
    # The callers (the CLI, the bench) have no threads of their own that a fork would copy.
    methods = multiprocessing.get_all_start_methods()
    context = (multiprocessing.get_context("fork") if "fork" in methods
               else multiprocessing.get_context("spawn"))
    answers: Any = context.Queue()
    store_lock = context.Lock()  # one share writes the store at a time (_Store)
    processes = [context.Process(target=_share_process, args=(task, share, answers, store_lock),
                                 name=f"replay-share-{share}", daemon=True)
                 for share in range(task.shares)]
    for p in processes:
        p.start()
    done: dict[int, _Done] = {}
    try:
        while len(done) < task.shares:
            try:
                what, share, body = answers.get(timeout=1.0)
            except queue.Empty:
                if not _gone(processes, done):
                    continue
                # A share's process ended without a word (killed, out of memory): unless its
                # answer is still on its way, the replay fails rather than wait for ever (and
                # the other shares with it, which may be waiting for the store's lock it held).
                try:
                    what, share, body = answers.get(timeout=2.0)
                except queue.Empty:
                    gone = _gone(processes, done)[0]
                    raise RuntimeError(
                        f"replay share {gone} of {task.shares} ended without an answer "
                        f"(exit code {processes[gone].exitcode})") from None
            if what == "progress" and progress is not None:
                progress(body, task.total)
            elif what == "failed":
                raise RuntimeError(f"replay share {share} of {task.shares} failed:\n{body}")
            elif what == "done":
                done[share] = body
    finally:
        for p in processes:
            if p.is_alive() and len(done) < task.shares:
                p.terminate()
            p.join()
    return [done[share] for share in range(task.shares)]


def _gone(processes: list[Any], done: dict[int, _Done]) -> list[int]:
    """The shares whose process ended before its answer was read."""
    return [share for share, p in enumerate(processes) if share not in done and not p.is_alive()]


def _share_process(task: _Task, share: int, answers: Any, lock: Any) -> None:
    try:
        # One share reports progress for all: they read the same events at about the same pace.
        report = (lambda n, total: answers.put(("progress", share, n))) if share == 0 else None
        # The process ends once it has answered: its fold is left to the exit, not freed object
        # by object (a third of a second at 1,000,000 events), and the collector, which would
        # walk it all, stays off to the end.
        gc.disable()
        done, fold = _folded_share(task, share, report, lock)
        _left_to_exit.append(fold)
        answers.put(("done", share, done))
    except BaseException:  # whatever it was, the parent must hear of it
        answers.put(("failed", share, traceback.format_exc()))
