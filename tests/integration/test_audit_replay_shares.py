"""The replay shared out between processes (``service_layer/replay_shares.py``), on an archive in
a real database (SQLite and PostgreSQL): with any number of shares it must give what one fold
over the whole archive gives — the same findings in the same order, the same summary, the same
fresh store — also when cases of one household fall into different shares, and within a scope.

The histories are the unit tests' (tests/unit/test_audit_replay.py: each made by approval's own
rules, with planted findings), archived the way the archiver archives, with CloudEvents headers.
"""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from services.audit.adapters import replay_store
from services.audit.domain import event_time
from services.audit.domain.findings import Finding
from services.audit.service_layer import replay_shares, replaying
from services.audit.service_layer.archiving import Incoming, archive
from services.audit.service_layer.replay_shares import replay_archive, share_of
from services.audit.service_layer.replaying import Scope
from tests.conftest import migrated_engine
from tests.unit.test_audit_replay import (
    CIXI,
    POLICY,
    QINGDAO,
    Log,
    cap_history,
    consistent_history,
    cst,
    household_history,
    payments_history,
)

TOPIC = "onedoor.decisions"


def histories() -> Log:
    """One log of several scenarios: consistent cases, a household whose Dibao case is running
    when its member's subsidy is assessed with the wrong status (a divergence), two emergencies
    of one household whose grant the second recorded wrongly (a divergence), and payments with
    five planted problems. Event ids made unique per scenario; the payments' cases dated a day
    later, as one of them has the name of a case of the first."""
    log = Log()
    parts = [consistent_history()[0], household_history("approved", None)[0],
             cap_history(cst(4), cst(20), 0)[0], payments_history(planted=True)[0]]
    for i, part in enumerate(parts):
        for at, kind, case_id, event_id, value in part._published:
            if i == 3:
                case_id = case_id.replace("-20250303-", "-20250304-")
                value = value.replace(b"-20250303-", b"-20250304-")
            log._published.append((at, kind, case_id, f"h{i}-{event_id}", value))
    return log


@pytest.fixture
def archived(database_url: str) -> Any:
    """The log archived in one chain, in its time order (so ties keep the log's order)."""
    log = histories()
    with migrated_engine(database_url, "audit") as engine:
        records = []
        for offset, (at, kind, case_id, event_id, value) in enumerate(log.events):
            headers = [("ce_specversion", b"1.0"), ("ce_id", (event_id or "").encode()),
                       ("ce_type", kind.encode()), ("ce_time", at.isoformat().encode()),
                       ("ce_subject", case_id.encode())]
            records.append(Incoming(TOPIC, 0, offset, case_id.encode(), headers, value))
        with engine.begin() as conn:
            archive(conn, records)
        yield log, database_url, engine


def store_content(url: str) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {table: Counter(tuple(r) for r in conn.execute(text(f"SELECT * FROM {table}")))
                    for table in ("cases", "timeline", "findings")}
    finally:
        engine.dispose()


def as_rows(findings: list[Finding]) -> list[tuple[Any, ...]]:
    """What a finding says; of those the log's end shows, not the moment (without ``until``,
    each replay's own now)."""
    return [(f.kind, f.case_id, f.at if f.order[0] == 0 else "end", f.detail, f.event_id,
             json.dumps(f.data, sort_keys=True)) for f in findings]


def test_the_histories_cross_shares() -> None:
    """Honest only if some household's cases fall into different shares."""
    log = histories()
    households = [("330282-20250303-home", "330282-20250303-subsidy"),
                  ("330282-20250303-first", "330282-20250303-second")]
    assert {c for pair in households for c in pair} <= {e[2] for e in log.events}
    for shares in (2, 4):  # the shares the tests below replay in
        assert all(share_of(a, shares) != share_of(b, shares) for a, b in households), shares


@pytest.mark.parametrize("workers", [2, 4])
def test_shares_give_what_one_fold_gives(archived, tmp_path: Path, workers: int) -> None:
    log, url, engine = archived
    # Up to a given moment: stages still open are judged at the replay's end, otherwise now.
    scope = Scope(until=cst(31, month=12))
    one, one_summary = replaying.replay(replaying.archived_events(engine), POLICY, scope,
                                        out=replay_store.open_store(f"sqlite:///{tmp_path}/1.db"))
    assert {f.kind for f in one.findings} >= {"divergence", "payment_without_approval",
                                              "advance_never_verified"}
    assert one_summary.events == len(log.events)

    found, summary = replay_archive(url, POLICY, scope, out_url=f"sqlite:///{tmp_path}/n.db",
                                    workers=workers)

    assert as_rows(found) == as_rows(one.findings)  # the same, in the same order
    for name in ("events", "cases", "cases_selected", "decisions_rerun", "identical_bytes",
                 "divergences", "findings", "by_type"):
        assert getattr(summary, name) == getattr(one_summary, name), name
    assert store_content(f"sqlite:///{tmp_path}/n.db") == \
        store_content(f"sqlite:///{tmp_path}/1.db")


@pytest.mark.parametrize("scope", [
    Scope(case_id="330282-20250303-subsidy"),
    Scope(programme="temporary"),
    Scope(region_code=QINGDAO),
    Scope(region_code=CIXI, since=cst(15)),
    Scope(until=cst(19)),
], ids=["case", "programme", "region", "since", "until"])
def test_a_scope_is_kept_by_every_share(archived, scope: Scope) -> None:
    log, url, engine = archived
    one, one_summary = replaying.replay(replaying.archived_events(engine, scope.until), POLICY,
                                        scope)
    found, summary = replay_archive(url, POLICY, scope, workers=2)
    assert as_rows(found) == as_rows(one.findings)
    assert (summary.events, summary.cases_selected, summary.decisions_rerun) == \
        (one_summary.events, one_summary.cases_selected, one_summary.decisions_rerun)
    if scope.until is not None:
        assert summary.events == len(log.up_to(scope.until)) < len(log.events)


def test_a_failing_share_fails_the_replay(archived, tmp_path: Path) -> None:
    _, url, engine = archived
    with engine.begin() as conn:  # an application no share can read
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER IF EXISTS archive_append_only ON archive"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS archive_no_update"))
        conn.execute(text("UPDATE archive SET value = :v WHERE event_type = :t"),
                     {"v": b"{not json", "t": "onedoor.application.submitted"})
    with pytest.raises(RuntimeError, match="replay share"):
        replay_archive(url, POLICY, Scope(), workers=2)


def test_a_share_that_ends_without_a_word_fails_the_replay(archived, tmp_path: Path,
                                                           monkeypatch) -> None:
    """Killed (as by the kernel, out of memory) while the other share waits for the store: the
    replay fails, saying which share, instead of waiting for ever."""
    _, url, _ = archived
    real = replay_shares._folded_share

    def dies(task, share, progress, lock):  # type: ignore[no-untyped-def]
        if share == 1:
            lock.acquire()  # holding the store's lock, which the other share will wait for
            os._exit(9)
        return real(task, share, progress, lock)

    def waited_too_long(*_: object) -> None:
        raise TimeoutError("the replay kept waiting for a share that had ended")

    monkeypatch.setattr(replay_shares, "_folded_share", dies)  # the shares are forked after
    previous = signal.signal(signal.SIGALRM, waited_too_long)
    signal.alarm(60)  # a replay that waits for ever fails the test, not the whole run
    try:
        with pytest.raises(RuntimeError, match=r"replay share 1 of 2 ended without an answer "
                                               r"\(exit code 9\)"):
            replay_archive(url, POLICY, Scope(), out_url=f"sqlite:///{tmp_path / 'r.db'}",
                           workers=2)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_shared_out_replay_into_postgresql_reads_as_one_timeline(archived, tmp_path: Path,
                                                                   postgres_url: str) -> None:
    """Each share writes and indexes a timeline table of its own; the store's ``timeline`` is
    a view over them, the same rows as one process writes into one table."""
    _, url, engine = archived
    scope = Scope(until=cst(31, month=12))
    replaying.replay(replaying.archived_events(engine), POLICY, scope,
                     out=replay_store.open_store(f"sqlite:///{tmp_path}/1.db"))
    replay_archive(url, POLICY, scope, out_url=postgres_url, workers=3)

    assert store_content(postgres_url) == store_content(f"sqlite:///{tmp_path}/1.db")
    store = create_engine(postgres_url)
    try:
        with store.connect() as conn:
            case_id, n = conn.execute(text(
                "SELECT case_id, count(*) FROM timeline GROUP BY case_id ORDER BY 2 DESC, 1 "
                "LIMIT 1")).one()
            at = [a for (a,) in conn.execute(text(
                "SELECT at FROM timeline WHERE case_id = :c ORDER BY at"), {"c": case_id})]
            parts = conn.execute(text("SELECT count(*) FROM information_schema.tables "
                                      "WHERE table_name LIKE 'timeline%'")).scalar()
    finally:
        store.dispose()
    assert n > 1 and len(at) == n and at == sorted(at)
    assert parts == 4  # three shares' tables and the view


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_the_timeline_view_writes_each_moment_as_isoformat_does(database_url: str) -> None:
    """The parts keep the archive's microseconds; the view writes them as text, as every other
    moment of the store (``datetime.isoformat``, UTC)."""
    moments = [datetime(2025, 1, 6, 1, 6, 31, tzinfo=UTC),  # no fraction: none written
               datetime(2025, 1, 6, 1, 6, 31, 5, tzinfo=UTC),
               datetime(2024, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
               datetime(2024, 2, 29, 0, 0, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC),
               datetime(2038, 1, 19, 3, 14, 8, 120_000, tzinfo=UTC)]
    store = replay_store.open_store(database_url)
    try:
        replay_store.create(store, shares=2)
        for share in (0, 1):
            replay_store.add_timeline(store, [
                (f"c-{share}-{i}", event_time.of(m), "t", "s", None)
                for i, m in enumerate(moments)], share)
        with store.connect() as conn:
            got = dict(conn.execute(text("SELECT case_id, at FROM timeline")).all())
    finally:
        store.dispose()
    assert got == {f"c-{share}-{i}": m.isoformat() for share in (0, 1)
                   for i, m in enumerate(moments)}
