"""Approval's workflow on a real database: application → report → review → notice → approval,
the emergency advance, reassessment, and what a refused action leaves behind (nothing)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from deploy.tokens import DevTokens
from services.approval.adapters.tables import bus, cases, decisions, stage_changes
from services.approval.bootstrap import create_app as create_approval
from services.approval.domain.policy import load_policy, parse_policies
from services.approval.domain.workflow import ActionRefused, Actor
from services.approval.service_layer import commands
from services.approval.service_layer.handlers import (
    on_application_submitted,
    on_verification_reported,
)
from shared import clock
from shared.bus.consumer import one_at_a_time
from shared.events import catalogue as ev
from shared.events.envelope import Envelope
from shared.settings import load_settings
from shared.uow import UnitOfWork
from tests.conftest import migrated_engine

POLICY_FILES = sorted(Path("services/approval/policies").glob("*.toml"))
POLICY = load_policy(*POLICY_FILES)
TOWN, DISTRICT = Actor("town_reviewer", "t-017"), Actor("district_approver", "d-003")
SURVEY = commands.HomeSurvey(datetime(2026, 11, 20).date(), "t-017, t-021", "lives alone")


@pytest.fixture
def engine(database_url):
    with migrated_engine(database_url, "approval") as engine:
        yield engine


def deliver(engine, event, policy=POLICY) -> list[ev.Event]:
    handler = {ev.ApplicationSubmitted: on_application_submitted,
               ev.VerificationReported: on_verification_reported}[type(event)]
    with UnitOfWork(engine, bus, "/test") as uow:
        handler(event, Envelope(data=event, source="/test"), uow, policy=policy)
        uow.commit()
    return [e.data for e in uow.published]


def perform(engine, case_id, action, actor, policy=POLICY, **kw):
    with UnitOfWork(engine, bus, "/test") as uow:
        result = commands.perform(uow, policy, case_id, action, actor, **kw)
    return result, [e.data for e in uow.published]


def application(case_id, programme="dibao", region="330282", incomes=(60_000,), **extra):
    members = [ev.MemberFacts(person_ref=f"p-{case_id}-{i}",
                              relation="applicant" if i == 0 else "child",
                              age_years=70 if i == 0 else 10,
                              declared_incomes=[ev.DeclaredIncome(kind="pension",
                                                                  monthly_amount_fen=fen)],
                              consent_signed=True) for i, fen in enumerate(incomes)]
    return ev.ApplicationSubmitted(case_id=case_id, region_code=region, programme=programme,
                                   submitted_at=datetime.now(UTC), members=members, **extra)


def report(app: ev.ApplicationSubmitted, report_id="r1", occasion="application", wage=0,
           cars=0) -> ev.VerificationReported:
    members = []
    for m in app.members:
        declared = sum(i.monthly_amount_fen for i in m.declared_incomes)
        counted = max(declared, wage) if m.relation == "applicant" else declared
        members.append(ev.MemberIncome(
            person_ref=m.person_ref, declared_monthly_fen=declared,
            verified_monthly_fen=wage if m.relation == "applicant" else 0,
            counted_monthly_fen=counted, sources=[],
            employment_monthly_fen=wage if m.relation == "applicant" else 0))
    total = sum(m.counted_monthly_fen for m in members)
    return ev.VerificationReported(
        case_id=app.case_id, report_id=report_id, region_code=app.region_code,
        programme=app.programme, applicant_ref=app.members[0].person_ref,
        household_size=len(members), members=members,
        assets=ev.AssetSummary(real_estate_count=1, vehicle_count=cars, deposits_fen=0),
        household_monthly_income_fen=total, per_capita_monthly_income_fen=total // len(members),
        reported_at=datetime.now(UTC), occasion=occasion)


def stage(engine, case_id) -> tuple[str, int]:
    with engine.connect() as conn:
        row = conn.execute(select(cases.c.stage, cases.c.sequence)
                           .where(cases.c.case_id == case_id)).one()
    return row.stage, row.sequence


def test_dibao_goes_through_review_notice_and_approval(engine):
    app = application("c1")
    published = deliver(engine, app)
    assert [type(e).__name__ for e in published] == ["CaseStageChanged"]
    assert stage(engine, "c1") == ("awaiting_report", 1)
    published = deliver(engine, report(app))
    assessed = next(e for e in published if isinstance(e, ev.CaseAssessed))
    assert assessed.eligible is True and assessed.monthly_amount_fen > 0
    assert stage(engine, "c1") == ("awaiting_review", 2)

    result, published = perform(engine, "c1", "accept", TOWN, home_survey=SURVEY)
    assert result["stage"] == "under_notice"
    with pytest.raises(ActionRefused, match="public notice runs until"):
        perform(engine, "c1", "approve", DISTRICT)
    # An objection during the notice, dismissed with a reason.
    result, _ = perform(engine, "c1", "object", Actor("window_clerk", "w-1"),
                        note="neighbour says the son sends money")
    later = datetime.now(UTC) + timedelta(days=8)
    with pytest.raises(ActionRefused, match="objection"):
        perform(engine, "c1", "approve", DISTRICT, now=later)
    perform(engine, "c1", "resolve_objection", TOWN, objection_id=result["objection_id"],
            upheld=False, note="the son is unemployed; checked with hr")
    with pytest.raises(ActionRefused, match="needs district_approver"):
        perform(engine, "c1", "approve", TOWN, now=later)
    result, published = perform(engine, "c1", "approve", DISTRICT, now=later)
    assert result["stage"] == "approved"
    decided = next(e for e in published if isinstance(e, ev.ApplicationDecided))
    assert decided.outcome == "approved" and decided.decided_by == "district"
    assert decided.monthly_amount_fen == assessed.monthly_amount_fen
    assert any(isinstance(e, ev.HouseholdRecognised) for e in published)
    changes = [e for e in published if isinstance(e, ev.CaseStageChanged)]
    assert [(c.to_stage, c.sequence) for c in changes] == [
        ("awaiting_approval", 6), ("approved", 7)]  # after report, accept, object, dismiss
    with pytest.raises(ActionRefused):
        perform(engine, "c1", "approve", DISTRICT, now=later)  # decided once


def test_refused_action_changes_nothing(engine):
    app = application("c2")
    deliver(engine, app)
    deliver(engine, report(app))
    before = stage(engine, "c2")
    with engine.connect() as conn:
        events_before = conn.execute(select(func.count()).select_from(bus.outbox)).scalar_one()
    with pytest.raises(ActionRefused) as refused:
        perform(engine, "c2", "accept", TOWN)  # no home survey
    assert refused.value.field == "home_survey"
    with pytest.raises(ActionRefused):
        perform(engine, "c2", "approve", DISTRICT)  # not accepted yet
    assert stage(engine, "c2") == before
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(decisions)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(bus.outbox)).scalar_one() \
            == events_before == 3  # stage, assessment, stage


def test_a_rejection_names_every_failed_condition(engine):
    app = application("c3", incomes=(150_000,))
    deliver(engine, app)
    deliver(engine, report(app, cars=1))
    _, published = perform(engine, "c3", "reject", TOWN, note="income and a car")
    decided = next(e for e in published if isinstance(e, ev.ApplicationDecided))
    failed = {r.rule for r in decided.reasons if not r.passed}
    assert {"income_below_standard", "vehicles", "staff_decision"} <= failed
    # The decision carries the assessment's whole trace, policy figures included.
    rules = [r for r in decided.reasons if r.rule != "staff_decision"]
    assert all(r.parameters for r in rules if r.rule != "income_counted" or r.parameters)
    assert next(r for r in rules if r.rule == "vehicles").parameters[0].name == \
        "dibao.max_vehicles"


def test_report_before_application_waits_for_it(engine):
    app = application("c4")
    assert deliver(engine, report(app)) == []
    deliver(engine, app)
    assert stage(engine, "c4") == ("awaiting_review", 2)


def test_emergency_advance_then_failed_verification_is_flagged(engine):
    temporary = ev.TemporaryRequest(kind="emergency", requested_amount_fen=200_000,
                                    cause="fire")
    app = application("c5", programme="temporary", incomes=(0,), temporary=temporary)
    deliver(engine, app)
    assert stage(engine, "c5") == ("awaiting_review", 2)
    _, published = perform(engine, "c5", "advance", TOWN, note="house burnt down")
    decided = next(e for e in published if isinstance(e, ev.ApplicationDecided))
    assert decided.advance and decided.one_off_amount_fen == 200_000
    assert decided.decided_by == "town"
    # The report later shows a car and a high wage: the case is flagged, not dropped.
    published = deliver(engine, report(app, wage=900_000, cars=2))
    assert stage(engine, "c5")[0] == "follow_up"
    assert not any(isinstance(e, ev.ApplicationDecided) for e in published)
    # The yearly cap counts the advance for the household's next case.
    app2 = application("c6", programme="temporary", incomes=(0,), temporary=temporary)
    app2 = app2.model_copy(update={"members": app.members})
    deliver(engine, app2)
    _, published = perform(engine, "c6", "advance", TOWN, note="second fire")
    decided = next(e for e in published if isinstance(e, ev.ApplicationDecided))
    assert decided.one_off_amount_fen == 200_000  # 20,000 yuan default cap leaves room


def test_income_from_new_work_leads_to_gradual_exit(engine):
    app = application("c7")
    deliver(engine, app)
    deliver(engine, report(app))
    perform(engine, "c7", "accept", TOWN, home_survey=SURVEY)
    perform(engine, "c7", "approve", DISTRICT, now=datetime.now(UTC) + timedelta(days=8))
    published = deliver(engine, report(app, report_id="r2", occasion="partner_data",
                                       wage=400_000))
    change = next(e for e in published if isinstance(e, ev.BenefitChanged))
    assert change.change == "gradual_exit" and change.end_month is not None
    assert change.monthly_amount_fen > 0  # still paid during the grace months
    assert stage(engine, "c7")[0] == "exiting"
    # The same report delivered again changes nothing.
    assert deliver(engine, report(app, report_id="r2", occasion="partner_data",
                                  wage=400_000)) == []


def test_town_approves_where_the_district_delegated(engine):
    delegated = parse_policies([
        *((p.read_text(), str(p)) for p in POLICY_FILES),
        ('[[figure]]\nname = "workflow.town_delegated_approval"\nregion = "330282"\n'
         'effective_from = 2020-01-01\nvalue = 1\nsource = "test: delegated"\n', "delegated")])
    app = application("c8")
    deliver(engine, app, delegated)
    deliver(engine, report(app), delegated)
    perform(engine, "c8", "accept", TOWN, delegated, home_survey=SURVEY)
    _, published = perform(engine, "c8", "approve", TOWN, delegated,
                                now=datetime.now(UTC) + timedelta(days=8))
    decided = next(e for e in published if isinstance(e, ev.ApplicationDecided))
    assert decided.decided_by == "town"


def test_stored_assessments_replay_identically(engine):
    for n in range(3):
        app = application(f"r{n}", incomes=(30_000 * n, 0))
        deliver(engine, app)
        deliver(engine, report(app, report_id=f"rep{n}"))
    with engine.connect() as conn:
        from services.approval.adapters.repository import ApprovalRepository
        stored = ApprovalRepository(conn).assessments_of()
    assert len(stored) == 3
    for s in stored:
        assert commands.replay(s, POLICY)["identical"], s["assessment_id"]
    # A retroactive policy change is detected, not hidden.
    changed = parse_policies([
        *((p.read_text().replace("value = 100500", "value = 90000"), str(p))
          for p in sorted(Path("services/approval/policies").glob("*.toml")))])
    assert not all(commands.replay(s, changed)["identical"] for s in stored)


def test_every_stage_change_is_recorded_in_order(engine):
    app = application("c9")
    deliver(engine, app)
    deliver(engine, report(app))
    perform(engine, "c9", "return", TOWN, note="bring the son's wage slip")
    perform(engine, "c9", "resume", Actor("window_clerk", "w-1"), note="wage slip received")
    with engine.connect() as conn:
        rows = conn.execute(select(stage_changes.c.to_stage, stage_changes.c.sequence)
                            .where(stage_changes.c.case_id == "c9")
                            .order_by(stage_changes.c.sequence)).all()
    assert [r.to_stage for r in rows] == ["awaiting_report", "awaiting_review", "returned",
                                          "awaiting_review"]
    assert [r.sequence for r in rows] == [1, 2, 3, 4]
    json.dumps([r.to_stage for r in rows])


def test_an_advance_after_the_report_closes_the_case(engine):
    temporary = ev.TemporaryRequest(kind="emergency", requested_amount_fen=100_000,
                                    cause="accident")
    app = application("c10", programme="temporary", incomes=(0,), temporary=temporary)
    deliver(engine, app)
    deliver(engine, report(app))  # verification was quicker than the town
    result, published = perform(engine, "c10", "advance", TOWN, note="hospital bill")
    assert result["stage"] == "approved"
    decided = next(e for e in published if isinstance(e, ev.ApplicationDecided))
    assert decided.advance and decided.one_off_amount_fen == 100_000


def test_an_advance_needs_only_the_figures_it_uses_even_after_the_report(engine):
    """Qingdao (370202) has the cap and the town's limit but no Dibao standard in the packaged
    policy: the report came first, its means test cannot run, and the 2,000-yuan emergency
    advance is still paid on the form — then followed up, since nothing was verified."""
    temporary = ev.TemporaryRequest(kind="emergency", requested_amount_fen=200_000,
                                    cause="fire")
    app = application("c11", programme="temporary", region="370202", incomes=(0,),
                      temporary=temporary)
    deliver(engine, app)
    deliver(engine, report(app))
    assert stage(engine, "c11")[0] == "awaiting_review"
    result, published = perform(engine, "c11", "advance", TOWN, note="house fire")
    decided = next(e for e in published if isinstance(e, ev.ApplicationDecided))
    assert decided.advance and decided.one_off_amount_fen == 200_000
    assert result["stage"] == "follow_up"
    moves = [e.action for e in published if isinstance(e, ev.CaseStageChanged)]
    assert moves == ["advance", "verification_inconclusive_after_advance"]
    with pytest.raises(ActionRefused):  # nothing verified: no approval on that assessment
        perform(engine, "c11", "approve", DISTRICT)


@pytest.mark.postgres
def test_two_instances_applying_one_cases_application_and_report_at_once_assess_it(
        postgres_url):
    """The application and its report come on two topics, so two instances of approval may
    apply them side by side. Each consumer batch takes its cases' locks first
    (shared/bus/consumer.py one_at_a_time): the report waits for the application's commit and
    is assessed. Without the locks each missed the other's half and the case waited for ever
    (found by bench/chaos.py)."""
    app = application("c-race")

    def apply_report() -> None:
        with UnitOfWork(engine, bus, "/test") as uow:
            one_at_a_time(uow.conn, [b"c-race"])
            on_verification_reported(report(app), Envelope(data=report(app), source="/test"),
                                     uow, policy=POLICY)
            uow.commit()

    with migrated_engine(postgres_url, "approval") as engine:
        with UnitOfWork(engine, bus, "/test") as first:
            one_at_a_time(first.conn, [b"c-race"])
            on_application_submitted(app, Envelope(data=app, source="/test"), first,
                                     policy=POLICY)
            second = threading.Thread(target=apply_report)
            second.start()
            second.join(timeout=1.0)  # waits on the case's lock until the application commits
            first.commit()
        second.join(timeout=30)
        assert not second.is_alive()
        assert stage(engine, "c-race") == ("awaiting_review", 2)


# --- the actions a caller may take now (issue 26): GET /cases/{id} lists them ----------------


@pytest.fixture
def served(engine, database_url, tmp_path):
    """Approval's real app on the test's database (no lifespan: no bus), with signed tokens."""
    settings = load_settings(env="test", data_dir=tmp_path, policy_paths=POLICY_FILES,
                             approval_database_url=database_url)
    app = create_approval(settings)
    client = TestClient(app)
    try:
        yield client, DevTokens(settings)
    finally:
        client.close()
        app.state.runtime.engine.dispose()


def allowed(client, headers, case_id) -> dict[str, dict]:
    answer = client.get(f"/cases/{case_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    return {a["action"]: a for a in answer.json()["allowed_actions"]}


def test_during_the_notice_approve_is_listed_not_possible_with_the_day_it_opens(engine, served):
    client, tokens = served
    app = application("n1")
    deliver(engine, app)
    deliver(engine, report(app))
    perform(engine, "n1", "accept", TOWN, home_survey=SURVEY)
    with engine.connect() as conn:
        ends = conn.execute(select(cases.c.notice_ends_at)
                            .where(cases.c.case_id == "n1")).scalar_one()
    approver = allowed(client, tokens.approver("330282"), "n1")
    assert approver["approve"] == {
        "action": "approve", "possible": False, "in_stage": True, "needs": [],
        "code": "notice_running", "opens_at": clock.as_utc(ends).isoformat(),
        "reason": f"the public notice runs until {clock.as_utc(ends).isoformat()}"}
    assert approver["reject"]["possible"] and approver["reject"]["needs"] == ["note"]
    assert approver["object"]["possible"]
    # What the workflow does with the approver's approve now: what the list said.
    refused = client.post("/cases/n1/actions", json={"action": "approve"},
                          headers=tokens.approver("330282"))
    assert refused.status_code == 409 and "public notice runs until" in refused.text
    # The town's reviewer: no approve at all (not delegated); the notice closes the same day.
    reviewer = allowed(client, tokens.reviewer("330282"), "n1")
    assert "approve" not in reviewer
    assert (reviewer["close_notice"]["possible"], reviewer["close_notice"]["opens_at"]) == (
        False, clock.as_utc(ends).isoformat())
    assert not reviewer["accept"]["possible"] and not reviewer["accept"]["in_stage"]
    # Someone who takes no action (an auditor) is listed none.
    assert allowed(client, tokens.auditor(), "n1") == {}


def test_after_the_notice_approve_is_listed_possible_and_succeeds(engine, served):
    client, tokens = served
    app = application("n2")
    deliver(engine, app)
    deliver(engine, report(app))
    perform(engine, "n2", "accept", TOWN, home_survey=SURVEY)
    with engine.begin() as conn:  # the notice's seven days pass
        conn.execute(update(cases).where(cases.c.case_id == "n2").values(
            notice_ends_at=datetime.now(UTC) - timedelta(minutes=1)))
    approve = allowed(client, tokens.approver("330282"), "n2")["approve"]
    assert (approve["possible"], approve["needs"], approve["opens_at"]) == (True, [], None)
    assert allowed(client, tokens.reviewer("330282"), "n2")["close_notice"]["possible"]
    done = client.post("/cases/n2/actions", json={"action": "approve"},
                       headers=tokens.approver("330282"))
    assert done.status_code == 200 and done.json()["stage"] == "approved", done.text
    after = allowed(client, tokens.approver("330282"), "n2")
    assert after["suspend"]["possible"] and after["suspend"]["needs"] == ["note"]
    assert not after["approve"]["possible"] and not after["approve"]["in_stage"]


def test_the_reviewer_is_offered_acceptance_with_the_survey_and_the_approver_nothing_yet(
        engine, served):
    client, tokens = served
    app = application("n3")
    deliver(engine, app)
    deliver(engine, report(app))
    reviewer = allowed(client, tokens.reviewer("330282"), "n3")
    assert reviewer["accept"]["possible"] and reviewer["accept"]["needs"] == ["home_survey"]
    assert reviewer["return"]["possible"] and "advance" not in reviewer
    approver = allowed(client, tokens.approver("330282"), "n3")
    assert [a for a, v in approver.items() if v["possible"]] == ["reject"]
    assert not approver["approve"]["in_stage"]
