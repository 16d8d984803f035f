"""A case returned to the town's window for want of a member's consent (授权核对, issue 26) ends
there when the household never signs: the applicant withdraws (the clerk records it), or the town
closes it not approved because the household did not authorise the check (民发〔2021〕57号) — a
decision whose reason is the code ``consent_not_given``. On real SQLite and PostgreSQL, through
approval's HTTP API; its events then go to the readers that already understand them: payment
(nothing to pay), intake's timeline and status (the case is closed, its members may apply again)
and the auditor's replay (no finding). Neither ending is possible for a case the town returned
itself, nor once the consent is recorded and verification checks again.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from services.approval.adapters.holds import HoldRepository
from services.approval.adapters.repository import Conflict
from services.approval.adapters.tables import bus, verification_holds
from services.approval.domain.workflow import ActionRefused, Actor
from services.approval.service_layer import commands, consent
from services.audit.domain.replay import Replay
from services.intake.domain.model import CaseStatus, closed_statuses
from services.intake.service_layer import summaries
from services.payment.adapters.tables import bus as payment_bus
from services.payment.adapters.tables import payments
from services.payment.service_layer.handlers import on_application_decided
from shared.events import catalogue as ev
from shared.events.envelope import Envelope
from shared.uow import UnitOfWork
from tests.conftest import PostgresDatabases, migrated_engine
from tests.integration.test_approval_workflow import deliver, report
from tests.integration.test_consent_hold_approval import (
    DISTRICT,
    TODAY,
    TOWN,
    case_of,
    hand,
    household,
    listed,
    outbox,
    withheld,
)
from tests.integration.test_consent_hold_approval import approval as approval
from tests.integration.test_typed_text_off_the_bus import POLICY

# What a reviewer might type when closing: personal, so it stays in approval.
TYPED = "户主王秀英说儿子在宁波打工，电话13812345678，不肯回来签字"


@pytest.fixture
def payment_engine(database_url: str, tmp_path: Path) -> Iterator[Engine]:
    """Payment's own database, of the same kind as approval's."""
    if database_url.startswith("sqlite"):
        with migrated_engine(f"sqlite:///{tmp_path / 'payment.db'}", "payment") as e:
            yield e
        return
    dbs = PostgresDatabases()
    try:
        with migrated_engine(dbs.create(), "payment") as e:
            yield e
    finally:
        dbs.drop_all()


def returned_for_consent(engine: Engine, case_id: str) -> ev.ApplicationSubmitted:
    """An application verification withheld for the son's missing consent: back at the window."""
    app = household(case_id)
    deliver(engine, app, policy=POLICY)
    hand(engine, withheld(app))
    return app


def act(client: TestClient, headers: dict[str, str], case_id: str, action: str,
        **body: Any) -> Any:
    return client.post(f"/cases/{case_id}/actions", json={"action": action, **body},
                       headers=headers)


def offered(case: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["action"]: a for a in case["allowed_actions"]}


def raw_outbox(engine: Engine) -> list[bytes]:
    with engine.connect() as conn:
        return [bytes(v) for v in conn.execute(select(bus.outbox.c.value)).scalars()]


def hold_rows(engine: Engine, case_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(verification_holds).where(
            verification_holds.c.case_id == case_id)).mappings()]


def replayed(app: ev.ApplicationSubmitted, engine: Engine) -> Replay:
    """The auditor's fold over the application and everything approval published on the case."""
    fold = Replay(POLICY)
    events = [(app.type, app.model_dump_json().encode())] + [
        (e.type, e.model_dump_json().encode()) for e in outbox(engine, app.case_id)]
    start = datetime.now(UTC)
    for i, (event_type, value) in enumerate(events):
        fold.apply(event_type, app.case_id, start + timedelta(microseconds=i), None, value)
    fold.finish(start + timedelta(days=60))  # long after: any time limit would have run out
    return fold


def test_the_town_closes_an_application_the_household_never_authorised(approval,
                                                                       payment_engine):
    client, engine, tokens = approval
    app = returned_for_consent(engine, "330282-close-consent")
    case_id, clerk, reviewer = app.case_id, tokens.clerk(TOWN), tokens.reviewer(TOWN)

    # Offered to the town's reviewer (the decision is the town's), not to the clerk.
    case = case_of(client, reviewer, case_id)
    close = offered(case)["close_without_consent"]
    assert (close["possible"], close["needs"]) == (True, [])
    assert "close_without_consent" not in offered(case_of(client, clerk, case_id))
    refused = act(client, clerk, case_id, "close_without_consent")
    assert refused.status_code == 409, refused.text
    assert not [e for e in outbox(engine, case_id) if isinstance(e, ev.ApplicationDecided)]

    done = act(client, reviewer, case_id, "close_without_consent", note=TYPED)
    assert done.status_code == 200, done.text
    assert done.json()["stage"] == "rejected"
    published = outbox(engine, case_id)
    [moved] = [e for e in published if isinstance(e, ev.CaseStageChanged)
               and e.action == "close_without_consent"]
    assert (moved.from_stage, moved.to_stage, moved.has_note) == ("returned", "rejected", True)
    [decided] = [e for e in published if isinstance(e, ev.ApplicationDecided)]
    assert (decided.outcome, decided.decided_by, decided.monthly_amount_fen,
            decided.one_off_amount_fen, decided.benefits) == ("rejected", "town", 0, 0, [])
    ground = [r for r in decided.reasons if r.rule == "consent_not_given"]
    assert len(ground) == 1 and ground[0].passed is False
    assert "did not authorise" in ground[0].detail
    # What the reviewer typed stays in approval: the bus says only that a note is on file.
    name_escaped = json.dumps("王秀英").strip('"').encode()  # as JSON may write it
    assert all(TYPED.encode() not in value and b"13812345678" not in value
               and "王秀英".encode() not in value and name_escaped not in value
               for value in raw_outbox(engine))
    assert case_of(client, reviewer, case_id)["history"][-1]["note"] == TYPED

    # The hold ended with the case: off the town's queue, no consent recorded on it any more.
    case = case_of(client, reviewer, case_id)
    assert case["verification_hold"] is None and case["decision"]["outcome"] == "rejected"
    [row] = hold_rows(engine, case_id)
    assert row["released_at"] is not None and row["signed_on"] is None
    assert case_id not in listed(client, reviewer, held="consent_missing")
    late = client.post(f"/cases/{case_id}/consent", json={"signed_on": TODAY.isoformat()},
                       headers=clerk)
    assert late.status_code == 409, late.text
    again = act(client, reviewer, case_id, "close_without_consent")
    assert again.status_code == 409, again.text
    assert not [e for e in outbox(engine, case_id) if isinstance(e, ev.ConsentRecorded)]
    assert len([e for e in outbox(engine, case_id)
                if isinstance(e, ev.ApplicationDecided)]) == 1  # decided once

    # Payment: nothing to pay, nothing scheduled.
    with UnitOfWork(payment_engine, payment_bus, "/test") as uow:
        on_application_decided(decided, Envelope(data=decided, source="/test"), uow)
        uow.commit()
    with payment_engine.connect() as conn:
        assert conn.execute(select(payments.c.payment_id)).all() == []
        assert conn.execute(select(payment_bus.outbox.c.id)).all() == []
    # Intake: a line naming the ground, and a closed case whose members may apply again.
    assert "did not authorise the check" in summaries.decided(decided)
    status = CaseStatus().after_stage_change(moved.sequence, moved.to_stage)
    assert status.status in closed_statuses(app.programme)
    # The auditor's replay folds it as any rejection: nothing to report.
    fold = replayed(app, engine)
    assert fold.findings == []
    assert fold.cases[case_id].stage == "rejected"
    assert fold.cases[case_id].decision["outcome"] == "rejected"


def test_the_applicant_withdraws_and_the_case_ends_without_a_decision(approval):
    client, engine, tokens = approval
    app = returned_for_consent(engine, "330282-withdraw-consent")
    case_id, clerk = app.case_id, tokens.clerk(TOWN)
    assert offered(case_of(client, clerk, case_id))["withdraw"]["possible"]
    assert act(client, tokens.approver(DISTRICT), case_id, "withdraw").status_code == 409

    done = act(client, clerk, case_id, "withdraw")
    assert done.status_code == 200, done.text
    assert done.json()["stage"] == "terminated"
    published = outbox(engine, case_id)
    [moved] = [e for e in published if isinstance(e, ev.CaseStageChanged)
               and e.action == "withdraw"]
    assert (moved.from_stage, moved.to_stage, moved.has_note) == ("returned", "terminated", False)
    # A withdrawal decides nothing: no decision, no benefit change.
    assert not [e for e in published if isinstance(e, ev.ApplicationDecided | ev.BenefitChanged)]
    case = case_of(client, tokens.reviewer(TOWN), case_id)
    assert case["verification_hold"] is None
    assert not any(a["possible"] for a in case["allowed_actions"])
    assert case_id not in listed(client, clerk, held="consent_missing")
    assert case_id not in listed(client, clerk, stage="returned")
    assert client.post(f"/cases/{case_id}/consent", json={"signed_on": TODAY.isoformat()},
                       headers=clerk).status_code == 409
    assert act(client, clerk, case_id, "withdraw").status_code == 409
    assert CaseStatus().after_stage_change(moved.sequence, moved.to_stage).status in \
        closed_statuses(app.programme)
    fold = replayed(app, engine)
    assert fold.findings == [] and fold.cases[case_id].stage == "terminated"


def test_a_case_the_town_returned_itself_is_neither_withdrawn_nor_closed_so(approval):
    client, engine, tokens = approval
    app = household("330282-town-returned")
    app = app.model_copy(update={"members": [  # every adult signed: verified, then returned
        app.members[0], app.members[1].model_copy(update={"consent_signed": True})]})
    case_id, reviewer = app.case_id, tokens.reviewer(TOWN)
    deliver(engine, app, policy=POLICY)
    deliver(engine, report(app), policy=POLICY)
    assert act(client, reviewer, case_id, "return", note="bring the lease").status_code == 200
    case = case_of(client, reviewer, case_id)
    assert case["stage"] == "returned" and case["verification_hold"] is None
    for action in ("withdraw", "close_without_consent"):
        # Not offered in this stage at all; refused when sent.
        assert offered(case)[action]["in_stage"] is False
        answer = act(client, reviewer, case_id, action)
        assert answer.status_code == 409 and "not waiting for a member's consent" in answer.text
    assert offered(case)["resume"]["possible"]  # the way on: resume, then reject or accept
    assert case_of(client, reviewer, case_id)["sequence"] == case["sequence"]


def test_once_the_consent_is_recorded_the_case_may_not_be_closed_while_it_is_checked(approval):
    client, engine, tokens = approval
    app = returned_for_consent(engine, "330282-consent-then-close")
    case_id, reviewer = app.case_id, tokens.reviewer(TOWN)
    assert client.post(f"/cases/{case_id}/consent", json={"signed_on": TODAY.isoformat()},
                       headers=reviewer).status_code == 200
    case = case_of(client, reviewer, case_id)
    assert case["stage"] == "awaiting_report"
    for action in ("withdraw", "close_without_consent"):
        assert offered(case)[action]["in_stage"] is False
        assert act(client, reviewer, case_id, action).status_code == 409
    assert not [e for e in outbox(engine, case_id) if isinstance(e, ev.ApplicationDecided)]
    # Withheld again (the re-check found another member unsigned): it may be closed then.
    hand(engine, withheld(app))
    assert offered(case_of(client, reviewer, case_id))["close_without_consent"]["possible"]


def test_a_hold_for_another_reason_does_not_allow_the_closing(approval):
    client, engine, tokens = approval
    app = returned_for_consent(engine, "330282-other-hold")
    with engine.begin() as conn:  # a reason verification does not give today
        conn.execute(verification_holds.update().where(
            verification_holds.c.case_id == app.case_id).values(reason="sources_pending"))
    answer = act(client, tokens.reviewer(TOWN), app.case_id, "close_without_consent")
    assert answer.status_code == 409, answer.text
    assert case_of(client, tokens.reviewer(TOWN), app.case_id)["stage"] == "returned"


def race(engine: Engine, case_id: str) -> dict[str, str]:
    """The clerk records the consent while the reviewer closes the case, at the same moment,
    each in their own unit of work: how each ended (done, or the refusal's kind)."""
    reviewer, clerk = Actor("town_reviewer", "t-017"), Actor("window_clerk", "c-001")
    start, outcomes = threading.Barrier(2), {}

    def run(name: str, work: Any) -> None:
        start.wait()
        try:
            with UnitOfWork(engine, bus, "/test") as uow:
                work(uow)
            outcomes[name] = "done"
        except (ActionRefused, Conflict) as refused:
            outcomes[name] = type(refused).__name__

    threads = [
        threading.Thread(target=run, args=("consent", lambda uow: consent.record(
            uow, case_id, clerk, TODAY))),
        threading.Thread(target=run, args=("close", lambda uow: commands.perform(
            uow, POLICY, case_id, "close_without_consent", reviewer)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


def test_a_closing_and_a_consent_recorded_at_once_end_one_way_only(approval):
    """Two people at the window at once: one records the consent, the other closes the case.
    One of them wins; the other is refused and changes nothing — never both effects."""
    _, engine, _ = approval
    for n in range(3):
        app = returned_for_consent(engine, f"330282-race-{n}")
        outcomes = race(engine, app.case_id)
        assert len(outcomes) == 2 and list(outcomes.values()).count("done") == 1, outcomes
        published = outbox(engine, app.case_id)
        recorded = [e for e in published if isinstance(e, ev.ConsentRecorded)]
        decided = [e for e in published if isinstance(e, ev.ApplicationDecided)]
        assert (len(recorded), len(decided)) == ((1, 0) if outcomes["consent"] == "done"
                                                 else (0, 1))
        [row] = hold_rows(engine, app.case_id)
        assert row["released_at"] is not None
        assert (row["signed_on"] is not None) == (outcomes["consent"] == "done")


def test_the_ended_hold_stays_as_the_record_of_who_was_asked_and_who_ended_it(approval):
    client, engine, tokens = approval
    app = returned_for_consent(engine, "330282-hold-record")
    assert act(client, tokens.reviewer(TOWN), app.case_id,
               "close_without_consent").status_code == 200
    with engine.connect() as conn:
        [hold] = HoldRepository(conn).of_case(app.case_id)
    assert (hold.reason, hold.occasion, hold.member_refs) == (
        "consent_missing", "application", (app.members[1].person_ref,))
    assert hold.released_by is not None and hold.released_by.startswith("town_reviewer:")
    assert hold.released_at is not None and hold.signed_on is None
