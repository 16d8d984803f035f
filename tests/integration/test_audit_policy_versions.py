"""An auditor's replay re-runs each decision with the policy in force on its day, from the
archive (issue 22 §2): the base table amended by every archived ``PolicyPublished``, in
sequence order, as approval amends its live table.

On a real archive (SQLite, and PostgreSQL where it runs): a Cixi Dibao household decided in
March under the packaged standard; the bureau then raises Cixi's standard from April; a second
household decided in April with the raised one. Both events are made by approval's own rules
(``tests/unit/test_audit_replay.py``'s histories), the amended table the way approval builds it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from services.approval.rules import PolicyTable
from services.audit.adapters import replay_store, store
from services.audit.bootstrap import create_app
from services.audit.domain.checkpoint import Signer
from services.audit.domain.policies import PolicyLibrary
from services.audit.domain.verify import verify
from services.audit.entrypoints import replay_cli
from services.audit.service_layer import archiving, policies, replaying
from services.audit.service_layer.archiving import Incoming
from services.audit.service_layer.replay_shares import replay_archive
from services.audit.service_layer.replaying import Scope
from shared.auth.principals import Role
from shared.auth.tokens import bearer, load_token_keys
from shared.events import catalogue as ev
from shared.events.base import lookup
from shared.policy import published_figure
from shared.settings import Settings
from tests.conftest import migrated_engine
from tests.unit.test_audit_replay import (
    CIXI,
    CIXI_STANDARD,
    POLICY,
    CaseHistory,
    Log,
    cst,
    end_of,
    person,
)

STANDARD = "dibao.monthly_standard_fen"
RAISED = 120_000  # Cixi's standard from April 2025, published on 20 March
FROM = date(2025, 4, 1)
WAGE = 60_000  # the applicant's; a household of two: 30,000 fen per person
UNTIL = end_of(30, month=4)


def publication(sequence: int, value: int, effective_from: date, after: PolicyTable,
                published_day: int) -> ev.PolicyPublished:
    """A publication as approval makes it: ``after`` is its live table once published."""
    return ev.PolicyPublished(
        case_id=ev.POLICY_KEY, proposal_id=f"prop-{sequence}", sequence=sequence, name=STANDARD,
        region_code=CIXI, effective_from=effective_from, value=value,
        replaces_value=CIXI_STANDARD, proposed_by="policy_officer:p-001",
        approved_by="policy_officer:p-002", policy_version=after.version,
        published_at=cst(published_day))


def amended(base: PolicyTable, sequence: int, value: int, effective_from: date) -> PolicyTable:
    """Approval's live table after a publication."""
    return base.amended([published_figure(f"prop-{sequence}", STANDARD, CIXI, effective_from,
                                           value)])


def household(log: Log, name: str, month: int) -> CaseHistory:
    """A Cixi Dibao household: applied on the 3rd, verified and assessed on the 4th, approved
    when its notice ends — with the table approval has at the time (``log.policy``)."""
    case = log.case(name, "dibao", [person(f"p-{name}-1", wage=WAGE),
                                    person(f"p-{name}-2", "spouse")])
    case.open(cst(3, 9, month=month))
    case.verified(cst(4, 11, month=month), {f"p-{name}-1": WAGE}, work={f"p-{name}-1": WAGE})
    case.through_notice(cst(6, 15, month=month))
    return case


@dataclass
class Story:
    log: Log
    march: CaseHistory  # decided under the packaged standard
    april: CaseHistory  # decided under the raised one
    raised: PolicyTable  # approval's table after the publication
    published: ev.PolicyPublished


def story() -> Story:
    log = Log(POLICY)
    march = household(log, "march", 3)
    raised = amended(POLICY, 1, RAISED, FROM)
    published = publication(1, RAISED, FROM, raised, published_day=20)
    log.publish(published, published.published_at)
    log.policy = raised  # approval's live table from now on
    april = household(log, "april", 4)
    assert march.assessed is not None and april.assessed is not None
    # Honest only if the raise is what decides the second amount: the same household, the
    # standard 195 yuan higher for each of its two members.
    assert april.assessed.monthly_amount_fen - march.assessed.monthly_amount_fen == \
        2 * (RAISED - CIXI_STANDARD)
    return Story(log, march, april, raised, published)


def archive_events(engine: Engine, events: list[replaying.Event]) -> None:
    """Archived as the archiver does: each event on its own topic (one partition), with the
    CloudEvents headers the relays send."""
    offsets: dict[str, int] = {}
    incoming = []
    for at, kind, case_id, event_id, value in events:
        model = lookup(kind, 1)
        assert model is not None
        offset = offsets[model.topic] = offsets.get(model.topic, -1) + 1
        headers = [("ce_specversion", b"1.0"), ("ce_id", (event_id or "").encode()),
                   ("ce_type", kind.encode()), ("ce_time", at.isoformat().encode()),  # type: ignore[union-attr]
                   ("ce_subject", case_id.encode())]
        incoming.append(Incoming(model.topic, 0, offset, case_id.encode(), headers, value))
    with engine.begin() as conn:
        archiving.archive(conn, incoming)


@pytest.fixture
def archived(database_url: str) -> Iterator[tuple[Story, str, Engine]]:
    s = story()
    with migrated_engine(database_url, "audit") as engine:
        archive_events(engine, s.log.events)
        yield s, database_url, engine


def divergent(found: list[Any]) -> dict[str, list[Any]]:
    by_case: dict[str, list[Any]] = {}
    for f in found:
        if f.kind == "divergence":
            by_case.setdefault(f.case_id, []).append(f)
    return by_case


@pytest.mark.parametrize("workers", [1, 2])
def test_each_decision_re_runs_with_the_policy_of_its_day(archived, tmp_path: Path,
                                                          workers: int) -> None:
    s, url, _ = archived
    out = f"sqlite:///{tmp_path / 'fresh.db'}"
    found, summary = replay_archive(url, POLICY, Scope(until=UNTIL), out_url=out,
                                    workers=workers)

    assert divergent(found) == {} and summary.divergences == 0
    assert summary.decisions_rerun == 2
    assert summary.policy_digest == POLICY.version  # the base, as before
    assert [(v["sequence"], v["version"], v["decisions"]) for v in summary.policy_versions] == [
        (0, POLICY.version, 1), (1, s.raised.version, 1)]
    assert summary.policy_versions[1]["rebuilt_as_published"] is True
    assert summary.policy_publications == {"publications": 1, "unreadable": 0,
                                           "missing_sequences": []}
    # The publication is no case: not counted, not in the fresh store.
    assert summary.cases == 2
    stored = replay_store.open_store(out)
    try:
        with stored.connect() as conn:
            cases = {r[0] for r in conn.exec_driver_sql("SELECT case_id FROM cases")}
            timeline = {r[0] for r in conn.exec_driver_sql("SELECT case_id FROM timeline")}
    finally:
        stored.dispose()
    assert cases == timeline == {s.march.case_id, s.april.case_id}


def test_a_tampered_amount_under_the_raised_policy_diverges(database_url: str) -> None:
    s = story()
    assert s.april.assessed is not None
    s.log.tamper(ev.CaseAssessed.type, "assessment_id", s.april.assessed.assessment_id,
                 compact=True, monthly_amount_fen=s.april.assessed.monthly_amount_fen + 100)
    with migrated_engine(database_url, "audit") as engine:
        archive_events(engine, s.log.events)
    found, summary = replay_archive(database_url, POLICY, Scope(until=UNTIL))

    (f,) = divergent(found)[s.april.case_id]
    assert summary.divergences == 1 and s.march.case_id not in divergent(found)
    assert "monthly_amount_fen" in f.data["fields"]
    assert f.data["rerun"]["monthly_amount_fen"] == s.april.assessed.monthly_amount_fen
    # The re-run used the raised table, chosen by the moment the assessment was made (the
    # assessment records the figures it used, not the table's digest).
    assert (f.data["policy_table"], f.data["policy_chosen_by"]) == (s.raised.version, "time")


def test_the_base_policy_alone_would_flag_the_decision_made_under_the_raise(archived) -> None:
    """The replay before publications were read: one table for every decision. The April
    decision then diverges — what the library is there to prevent."""
    s, url, engine = archived
    found, summary = replay_archive(url, PolicyLibrary(POLICY), Scope(until=UNTIL))
    (f,) = divergent(found)[s.april.case_id]
    assert summary.divergences == 1
    assert s.march.assessed is not None and s.april.assessed is not None
    assert f.data["recorded"]["monthly_amount_fen"] == s.april.assessed.monthly_amount_fen
    assert f.data["rerun"]["monthly_amount_fen"] == s.march.assessed.monthly_amount_fen
    assert [v["sequence"] for v in summary.policy_versions] == [0]
    # The service's own replay (one process, the library from the archive) agrees with the
    # shared-out one.
    fold, one = replaying.replay(replaying.archived_events(engine, UNTIL),
                                 policies.library(engine, POLICY), Scope(until=UNTIL))
    assert one.divergences == 0 and set(fold.cases) == {s.march.case_id, s.april.case_id}


def test_the_policy_topic_archives_and_verifies_and_is_no_case(archived) -> None:
    s, _, engine = archived
    signer = Signer.generate()
    with engine.begin() as conn:
        archiving.checkpoint(conn, signer)
        marks = store.all_checkpoints(conn)
        assert store.topic_count(conn, ev.PolicyPublished.topic) == 1
        assert (ev.PolicyPublished.topic, 0) in store.chains(conn)
    checked = verify(store.records(engine), marks, {signer.key_id: signer.public_key_pem()})
    assert checked.ok and checked.records == len(s.log.events)
    assert replaying.case_as_of(engine, POLICY, ev.POLICY_KEY, UNTIL) is None
    view = replaying.case_as_of(engine, POLICY, s.april.case_id, UNTIL)
    assert view is not None and view["findings"] == []
    found = replaying.recipients_on(engine, POLICY, "3302", UNTIL)
    assert {r["case_id"] for r in found["recipients"]} == {s.march.case_id, s.april.case_id}


def test_the_live_service_reads_a_publication_archived_after_it_started(
        database_url: str, tmp_path: Path) -> None:
    """No restart: the report re-run before the publication reached the archive flags the
    April decision; once it is archived, the next report re-runs it with the raised table."""
    s = story()
    published = [e for e in s.log.events if e[1] == ev.PolicyPublished.type]
    with migrated_engine(database_url, "audit") as engine:
        archive_events(engine, [e for e in s.log.events if e not in published])
        settings = Settings(env="test", data_dir=tmp_path, audit_database_url=database_url)
        app = create_app(settings)
        issuer = load_token_keys(settings)[0]
        assert issuer is not None
        token = issuer.issue("a-001", Role.AUDITOR, "", timedelta(minutes=5))
        client = TestClient(app)

        def report() -> dict[str, Any]:
            answer = client.get("/reports/divergences", params={"until": "2025-04-30"},
                                headers=bearer(token))
            assert answer.status_code == 200, answer.text
            return answer.json()  # type: ignore[no-any-return]

        before = report()
        assert [r["case_id"] for r in before["rows"]] == [s.april.case_id]
        assert before["policy_digest"] == POLICY.version
        archive_events(engine, published)
        after = report()
        assert after["rows"] == [] and after["policy_digest"] == POLICY.version
        assert [(v["sequence"], v["decisions"]) for v in after["policy_versions"]] == [
            (0, 1), (1, 1)]
        # Nothing new archived: the library made for the last report is the one used again.
        assert policies.library(engine, app.state.policy) is \
            policies.library(engine, app.state.policy)
        app.state.runtime.engine.dispose()


def test_the_command_line_says_which_versions_re_ran_the_decisions(
        archived, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``onedoor audit replay``, its fresh store where the settings keep replays (no --out)."""
    s, url, _ = archived
    monkeypatch.setenv("ONEDOOR_DATA_DIR", str(tmp_path))
    parser = argparse.ArgumentParser()
    replay_cli.add_commands(parser.add_subparsers())
    common = ["--database-url", url, "--until", "2025-04-30", "--workers", "1"]

    args = parser.parse_args(["replay", *common])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "and 1 publication(s)" in printed
    assert f"with publication #1 ({STANDARD} {CIXI} from 2025-04-01: {RAISED}), policy " \
           f"{s.raised.version}" in printed
    assert f"fresh store: sqlite:///{tmp_path / 'replays'}" in printed

    args = parser.parse_args(["replay", *common, "--json"])
    assert args.func(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["policy_digest"] == POLICY.version and summary["divergences"] == 0
    assert [v["version"] for v in summary["policy_versions"]] == [POLICY.version,
                                                                  s.raised.version]
