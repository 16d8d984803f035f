"""Approval's part of a case verification may not check for want of a member's consent (授权核对,
issue 26): on real SQLite and PostgreSQL, the application's case goes back to the town's window
with the reason and who must sign — no time limit running, so it never goes overdue — and a
periodic review waits in the town's queue; the consent recorded at the window tells verification
(``ConsentRecorded``) and the case waits for its report again.

Approval's real app, built by its bootstrap on a database its migrations made, without its bus
(the outbox stays to be read); events are handed to its handlers as its consumer would, and
staff act through its HTTP API with signed tokens.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from services.approval.adapters.tables import bus
from services.approval.service_layer.handlers import on_verification_withheld
from shared import clock
from shared.events import catalogue as ev
from shared.events.envelope import Envelope, from_record
from shared.uow import UnitOfWork
from tests.integration.test_approval_workflow import application, deliver, report
from tests.integration.test_typed_text_off_the_bus import POLICY
from tests.integration.test_typed_text_off_the_bus import approval as approval  # the fixture

DISTRICT, TOWN = "330282", "330282001"
TODAY = clock.today()  # China time, as the services decide days


def household(case_id: str) -> ev.ApplicationSubmitted:
    """A pensioner (consent signed) and her son of 19, who has not signed."""
    app = application(case_id, region=DISTRICT, town_code=TOWN, incomes=(60_000, 0))
    son = app.members[1].model_copy(update={"age_years": 19, "consent_signed": False})
    return app.model_copy(update={"members": [app.members[0], son]})


def withheld(app: ev.ApplicationSubmitted, occasion: str = "application"
             ) -> ev.VerificationWithheld:
    return ev.VerificationWithheld(case_id=app.case_id, reason="consent_missing",
                                   occasion=occasion,  # type: ignore[arg-type]
                                   member_refs=[app.members[1].person_ref],
                                   withheld_at=datetime.now(UTC))


def hand(engine: Engine, event: ev.VerificationWithheld) -> list[ev.Event]:
    with UnitOfWork(engine, bus, "/test") as uow:
        on_verification_withheld(event, Envelope(data=event, source="/test"), uow)
        uow.commit()
    return [e.data for e in uow.published]


def outbox(engine: Engine, case_id: str) -> list[ev.Event]:
    with engine.connect() as conn:
        rows = conn.execute(select(bus.outbox).where(bus.outbox.c.key == case_id.encode())
                            .order_by(bus.outbox.c.id)).mappings().all()
    return [from_record(bytes(r["value"]), [(str(k), str(v).encode())
                                              for k, v in json.loads(r["headers"])]).data
            for r in rows]


def listed(client: TestClient, headers: dict[str, str], **params: str) -> list[str]:
    answer = client.get("/cases", params={"limit": "1000", **params}, headers=headers)
    assert answer.status_code == 200, answer.text
    return [c["case_id"] for c in answer.json()["cases"]]


def case_of(client: TestClient, headers: dict[str, str], case_id: str) -> dict[str, Any]:
    answer = client.get(f"/cases/{case_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_an_application_without_a_consent_goes_back_to_the_window_and_returns_to_verification(
        approval):
    client, engine, tokens = approval
    app = household("330282-consent-app")
    case_id, son = app.case_id, app.members[1].person_ref
    deliver(engine, app, policy=POLICY)
    published = hand(engine, withheld(app))
    [moved] = [e for e in published if isinstance(e, ev.CaseStageChanged)]
    assert (moved.from_stage, moved.to_stage, moved.action) == (
        "awaiting_report", "returned", "consent_missing")
    assert moved.explanation == "verification withheld: consent missing from 1 member(s)"
    assert moved.due_at is None  # the household must come and sign: no time limit runs

    clerk, reviewer = tokens.clerk(TOWN), tokens.reviewer(TOWN)
    case = case_of(client, reviewer, case_id)
    assert (case["stage"], case["due_at"], case["overdue"]) == ("returned", None, False)
    assert case["verification_hold"]["reason"] == "consent_missing"
    assert case["verification_hold"]["occasion"] == "application"
    assert case["verification_hold"]["members"] == [
        {"person_ref": son, "position": 2, "relation": "child"}]
    # The town's queue of cases waiting for a consent, and its returned ones; never overdue.
    assert case_id in listed(client, reviewer, held="consent_missing")
    assert case_id in listed(client, clerk, stage="returned")
    assert case_id not in listed(client, reviewer, overdue="true")
    # "Resume" would skip verification: held back, saying why.
    [resume] = [a for a in case["allowed_actions"] if a["action"] == "resume"]
    assert (resume["possible"], resume["in_stage"], resume["code"]) == (
        False, True, "consent_missing")
    refused = client.post(f"/cases/{case_id}/actions", json={"action": "resume"},
                          headers=clerk)
    assert refused.status_code == 409, refused.text

    # Who may record it, and when it may have been signed.
    url = f"/cases/{case_id}/consent"
    assert client.post(url, json={"signed_on": TODAY.isoformat()},
                       headers=tokens.approver(DISTRICT)).status_code == 409
    late = client.post(url, json={"signed_on": (TODAY + timedelta(days=1)).isoformat()},
                       headers=clerk)
    assert late.status_code == 422 and late.json()["detail"][0]["loc"] == ["body", "signed_on"]
    assert client.post(url, json={"signed_on": "not a day"}, headers=clerk).status_code == 422
    assert [e for e in outbox(engine, case_id) if isinstance(e, ev.ConsentRecorded)] == []

    done = client.post(url, json={"signed_on": TODAY.isoformat()}, headers=clerk)
    assert done.status_code == 200, done.text
    assert done.json()["stage"] == "awaiting_report"
    [recorded] = [e for e in outbox(engine, case_id) if isinstance(e, ev.ConsentRecorded)]
    assert (recorded.occasion, recorded.member_refs, recorded.signed_on,
            recorded.recorded_by_role) == ("application", [son], TODAY, "window_clerk")
    case = case_of(client, reviewer, case_id)
    assert case["verification_hold"] is None
    assert [h["action"] for h in case["history"]] == [
        "submitted", "consent_missing", "consent_recorded"]
    assert case_id not in listed(client, reviewer, held="consent_missing")
    assert client.post(url, json={"signed_on": TODAY.isoformat()},
                       headers=clerk).status_code == 409  # recorded once

    # Verification checks again and reports: the case goes on to the town's review.
    deliver(engine, report(app), policy=POLICY)
    case = case_of(client, reviewer, case_id)
    assert case["stage"] == "awaiting_review" and case["due_at"] is not None


def test_a_withholding_that_overtakes_its_application_is_applied_when_the_case_opens(approval):
    client, engine, tokens = approval
    app = household("330282-consent-first")
    assert hand(engine, withheld(app)) == []  # no case yet: kept
    deliver(engine, app, policy=POLICY)
    case = case_of(client, tokens.reviewer(TOWN), app.case_id)
    assert case["stage"] == "returned"
    assert [h["action"] for h in case["history"]] == ["submitted", "consent_missing"]
    assert case["verification_hold"]["members"][0]["position"] == 2


def test_a_periodic_review_waits_in_the_towns_queue_and_the_benefit_runs_on(approval):
    client, engine, tokens = approval
    app = household("330282-consent-review")
    app = app.model_copy(update={"members": [
        app.members[0], app.members[1].model_copy(update={"age_years": 17,
                                                          "consent_signed": False})]})
    case_id, reviewer = app.case_id, tokens.reviewer(TOWN)
    deliver(engine, app, policy=POLICY)
    deliver(engine, report(app), policy=POLICY)
    survey = {"surveyed_on": TODAY.isoformat(), "surveyors": "t-017, t-021",
              "findings": "as declared"}
    for headers, body in ((reviewer, {"action": "accept", "home_survey": survey}),
                          (tokens.approver(DISTRICT), {"action": "approve"})):
        answer = client.post(f"/cases/{case_id}/actions", json=body, headers=headers)
        assert answer.status_code == 200, answer.text
    assert case_of(client, reviewer, case_id)["stage"] == "approved"
    assert client.post(f"/cases/{case_id}/periodic-review",
                       headers=reviewer).status_code == 202

    before = case_of(client, reviewer, case_id)
    assert hand(engine, withheld(app, "periodic_review")) == []  # no stage change
    case = case_of(client, reviewer, case_id)
    assert case["stage"] == "approved" and case["sequence"] == before["sequence"]
    assert case["verification_hold"]["occasion"] == "periodic_review"
    assert case_id in listed(client, reviewer, held="consent_missing")
    assert case_id not in listed(client, reviewer, overdue="true")

    done = client.post(f"/cases/{case_id}/consent", json={"signed_on": TODAY.isoformat()},
                       headers=reviewer)
    assert done.status_code == 200, done.text
    assert done.json()["stage"] == "approved"
    recorded = [e for e in outbox(engine, case_id) if isinstance(e, ev.ConsentRecorded)]
    assert [(r.occasion, r.recorded_by_role) for r in recorded] == [
        ("periodic_review", "town_reviewer")]
    assert case_id not in listed(client, reviewer, held="consent_missing")
    assert case_of(client, reviewer, case_id)["sequence"] == before["sequence"]


def test_no_consent_to_record_is_a_409_and_changes_nothing(approval):
    client, engine, tokens = approval
    app = application("330282-consent-none", region=DISTRICT, town_code=TOWN)
    deliver(engine, app, policy=POLICY)
    answer = client.post(f"/cases/{app.case_id}/consent", json={"signed_on": TODAY.isoformat()},
                         headers=tokens.clerk(TOWN))
    assert answer.status_code == 409 and "not waiting for a consent" in answer.text
    assert not [e for e in outbox(engine, app.case_id) if isinstance(e, ev.ConsentRecorded)]
    assert client.post("/cases/330282-no-such/consent", json={"signed_on": TODAY.isoformat()},
                       headers=tokens.clerk(TOWN)).status_code == 404
