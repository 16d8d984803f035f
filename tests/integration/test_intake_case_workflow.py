"""A case's status and timeline at intake, built from events that arrive in any order, on a
database brought up by intake's migrations (SQLite and PostgreSQL)."""

import json
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from deploy.households import resident_id
from services.intake.adapters.repository import CaseRepository
from services.intake.adapters.tables import bus, cases
from services.intake.domain.model import (
    Application,
    InvalidApplication,
    LegalSupporter,
    Member,
    TemporaryRequest,
)
from services.intake.service_layer import commands as intake_commands
from services.intake.service_layer import handlers
from shared.events.base import Event
from shared.events.catalogue import (
    ApplicationDecided,
    AssetSummary,
    Benefit,
    BenefitChanged,
    CaseAssessed,
    CaseStageChanged,
    DecisionReason,
    HouseholdRecognised,
    PaymentScheduled,
    ReassessmentRequested,
    ReferralAnswered,
    ReferralRequested,
    VerificationReported,
)
from shared.events.envelope import Envelope, from_record, to_record
from shared.resident_id import parse_resident_id
from shared.uow import UnitOfWork
from tests.conftest import migrated_engine

KEY = b"test-key"
# Events come after the submission, which is stamped with the real time.
T0 = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
NOTICE_ENDS = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url):
    with migrated_engine(database_url, "intake") as engine:
        yield engine


def person(sequence: int, born: date = date(1962, 4, 4), **facts) -> Member:
    rid = parse_resident_id(resident_id("330282", born, sequence), today=date.today())
    return Member("赵六", rid, "applicant", consent_signed_on=date.today(), **facts)


def submit(engine, application: Application) -> str:
    with UnitOfWork(engine, bus, "/test") as uow:
        case_id, _ = intake_commands.submit_application(application, uow, pseudonym_key=KEY)
    return case_id


def dibao(sequence: int = 11) -> Application:
    return Application("330282", "dibao", (person(sequence),), referrals=("medical",))


def temporary(sequence: int = 21) -> Application:
    return Application("330282", "temporary", (person(sequence),), temporary=TemporaryRequest(
        "emergency", 300_000, "fire", description="凌晨厨房起火，房屋烧毁"))


def deliver(engine, event: Event, minutes: int = 0) -> Envelope:
    """Apply an event as the consumer would: one unit of work, the routing table's handler."""
    envelope = Envelope(data=event, source="/onedoor/approval",
                        time=T0 + timedelta(minutes=minutes))
    with UnitOfWork(engine, bus, "/onedoor/intake") as uow:
        handlers.HANDLERS[type(event)](event, envelope, uow)  # type: ignore[operator]
        uow.commit()
    return envelope


def stage(case_id: str, sequence: int, to: str, **more) -> CaseStageChanged:
    return CaseStageChanged(case_id=case_id, sequence=sequence, from_stage=None, to_stage=to,
                            **{"action": "test", "actor": "system", "changed_at": T0, **more})


def payment(case_id: str, kind: str = "monthly") -> PaymentScheduled:
    return PaymentScheduled(case_id=case_id, payment_id="pay-1", programme="dibao",
                            period="2026-12", kind=kind, amount_fen=81_000,
                            beneficiary_ref="p-x", region_code="330282", scheduled_at=T0)


def report(case_id: str) -> VerificationReported:
    return VerificationReported(
        case_id=case_id, report_id="r-1", region_code="330282", programme="dibao",
        applicant_ref="p-x", household_size=1, members=[],
        assets=AssetSummary(real_estate_count=1, vehicle_count=0, deposits_fen=0),
        household_monthly_income_fen=60_000, per_capita_monthly_income_fen=60_000,
        reported_at=T0)


def case(engine, case_id: str) -> dict:
    with engine.connect() as conn:
        return CaseRepository(conn).get(case_id)  # type: ignore[return-value]


def timeline(engine, case_id: str) -> list[tuple[str, str]]:
    return [(e["event_type"], e["summary"]) for e in case(engine, case_id)["timeline"]]


def test_a_stage_change_that_arrives_late_only_adds_to_the_timeline(engine):
    case_id = submit(engine, dibao())
    deliver(engine, stage(case_id, 1, "awaiting_report"), minutes=1)
    deliver(engine, stage(case_id, 3, "under_notice", due_at=NOTICE_ENDS), minutes=3)
    deliver(engine, stage(case_id, 2, "awaiting_review"), minutes=2)  # overtaken by seq 3
    found = case(engine, case_id)
    assert (found["case"]["status"], found["case"]["stage_seq"]) == ("under_notice", 3)
    assert [s for _, s in timeline(engine, case_id)] == [
        "申请已受理 application received (1 members)",
        "待核对 awaiting the verification report",
        "待审核 awaiting the town's review",
        "公示中 under public notice until 2026-11-29 10:00",  # China time
    ]
    # The latest event time, not the last one applied.
    assert found["case"]["updated_at"].replace(tzinfo=None) == \
        (T0 + timedelta(minutes=3)).replace(tzinfo=None)


def test_a_payment_that_overtakes_the_approval_shows_once_approved(engine):
    case_id = submit(engine, dibao())
    deliver(engine, stage(case_id, 4, "awaiting_approval"))
    deliver(engine, payment(case_id), minutes=2)
    assert case(engine, case_id)["case"]["status"] == "awaiting_approval"
    deliver(engine, stage(case_id, 5, "approved"), minutes=1)
    assert case(engine, case_id)["case"]["status"] == "payment_scheduled"
    assert timeline(engine, case_id)[-1] == (
        "onedoor.payment.scheduled", "已安排发放 payment scheduled: 810.00 yuan for 2026-12")


def test_a_payment_after_the_approval_schedules_it_and_a_later_stage_replaces_that(engine):
    case_id = submit(engine, dibao())
    deliver(engine, stage(case_id, 5, "approved"))
    deliver(engine, payment(case_id), minutes=1)
    assert case(engine, case_id)["case"]["status"] == "payment_scheduled"
    deliver(engine, stage(case_id, 5, "approved"), minutes=2)  # the same stage, sent again
    assert case(engine, case_id)["case"]["status"] == "payment_scheduled"
    deliver(engine, stage(case_id, 6, "suspended", explanation="no longer eligible"), minutes=3)
    assert case(engine, case_id)["case"]["status"] == "suspended"
    assert timeline(engine, case_id)[-1][1] == "暂停 suspended: no longer eligible"


def test_verified_only_before_approval_stages_the_case(engine):
    first = submit(engine, dibao(11))
    deliver(engine, report(first))
    assert case(engine, first)["case"]["status"] == "verified"
    deliver(engine, stage(first, 1, "awaiting_review"), minutes=1)
    assert case(engine, first)["case"]["status"] == "awaiting_review"

    second = submit(engine, dibao(13))
    deliver(engine, stage(second, 1, "returned", actor="town_reviewer:t-017", has_note=True),
            minutes=1)
    deliver(engine, report(second))  # the report arrives after approval staged the case
    assert case(engine, second)["case"]["status"] == "returned"
    assert [t for t, _ in timeline(engine, second)] == [
        "onedoor.application.submitted", "onedoor.verification.reported",
        "onedoor.case.stage_changed"]
    # The reviewer's note itself stays in approval (issue 21): the timeline says it is there.
    assert timeline(engine, second)[2][1] == "退回补充材料 returned (意见已存档 note on file)"


def test_an_event_applied_twice_has_one_effect(engine):
    case_id = submit(engine, dibao())
    event = stage(case_id, 1, "approved")
    envelope = Envelope(data=event, source="/onedoor/approval", time=T0)
    for _ in range(2):
        with UnitOfWork(engine, bus, "/onedoor/intake") as uow:
            handlers.on_case_stage_changed(event, envelope, uow)
            uow.commit()
    assert len(timeline(engine, case_id)) == 2


def test_an_event_for_a_case_intake_never_had_is_refused(engine):
    with pytest.raises(handlers.UnknownCase):
        deliver(engine, stage("330282-20261122-000000000000", 1, "approved"))


def reason(rule: str, passed: bool, detail: str) -> DecisionReason:
    return DecisionReason(rule=rule, passed=passed, detail=detail)


def test_every_workflow_event_is_summarised_in_the_timeline(engine):
    case_id = submit(engine, dibao())
    events = [
        CaseAssessed(case_id=case_id, assessment_id="a1", report_id="r-1", eligible=True,
                     programme="dibao", region_code="330282", monthly_amount_fen=123_400,
                     one_off_amount_fen=0, benefits=[], policy_version="v1", reasons=[],
                     assessed_on="2026-11-22", assessed_at=T0),
        CaseAssessed(case_id=case_id, assessment_id="a2", report_id="r-2", eligible=False,
                     programme="dibao", region_code="330282", monthly_amount_fen=0,
                     one_off_amount_fen=0, benefits=[], policy_version="v1",
                     reasons=[reason("income", False, "income above the standard"),
                              reason("assets", True, "no second property")],
                     assessed_on="2026-11-22", assessed_at=T0),
        ApplicationDecided(case_id=case_id, decision_id="d1", outcome="approved",
                           programme="dibao", region_code="330282", beneficiary_ref="p-x",
                           household_size=1, monthly_amount_fen=40_500, start_month="2026-12",
                           policy_version="v1", reasons=[], decided_at=T0, decided_by="district"),
        BenefitChanged(case_id=case_id, change="gradual_exit", programme="dibao",
                       beneficiary_ref="p-x", effective_month="2027-03", end_month="2027-08",
                       monthly_amount_fen=20_000, reason="new job", changed_at=T0),
        HouseholdRecognised(case_id=case_id, status="marginal", region_code="330282",
                            member_refs=["p-x", "p-y"], valid_from="2027-09", recognised_at=T0),
        ReassessmentRequested(case_id=case_id, occasion="periodic_review", requested_at=T0),
        ReferralRequested(case_id=case_id, referral_id="ref-1", kind="medical",
                          region_code="330282", member_refs=["p-x"], requested_at=T0),
        ReferralAnswered(case_id=case_id, referral_id="ref-1", kind="medical",
                         outcome="granted", amount_fen=200_000, answered_at=T0),
    ]
    for minute, event in enumerate(events, start=1):
        deliver(engine, event, minutes=minute)
    assert [s for _, s in timeline(engine, case_id)[1:]] == [
        "预审 pre-assessment: eligible, 1,234.00 yuan/month",
        "预审 pre-assessment: not eligible: income above the standard",
        "批准 approved: 405.00 yuan/month from 2026-12, decided by the district",
        "渐退 gradual exit from 2027-03: 200.00 yuan/month, last paid 2027-08 (new job)",
        "认定 recognised as 低保边缘家庭 marginal low-income household from 2027-09 (2 members)",
        "复核 periodic review: a new verification report was requested",
        "转介 referred for 医疗救助 medical assistance",
        "转介答复 医疗救助 medical assistance: granted, 2,000.00 yuan",
    ]
    # None of these moves the status: approval's stage changes do.
    assert case(engine, case_id)["case"]["status"] == "submitted"


def test_a_temporary_grant_is_stored_shown_and_closes_the_case(engine):
    case_id = submit(engine, temporary())
    decided = ApplicationDecided(
        case_id=case_id, decision_id="d1", outcome="approved", programme="temporary",
        region_code="330282", beneficiary_ref="p-x", household_size=1, monthly_amount_fen=0,
        start_month=None, policy_version="v1", reasons=[reason("cap", True, "within the cap")],
        decided_at=T0, one_off_amount_fen=1_500_000, advance=True, decided_by="town",
        benefits=[Benefit(kind="temporary", one_off_amount_fen=1_500_000)],
        has_justification=True)
    deliver(engine, decided)
    deliver(engine, stage(case_id, 1, "advance_paid"), minutes=1)
    found = case(engine, case_id)
    decision = json.loads(found["case"]["decision"])
    assert decision["one_off_amount_fen"] == 1_500_000
    assert decision["benefits"] == [{"kind": "temporary", "person_ref": None,
                                     "monthly_amount_fen": 0, "one_off_amount_fen": 1_500_000}]
    assert (decision["decided_by"], decision["advance"], decision["has_justification"]) == \
        ("town", True, True)
    assert found["timeline"][1]["summary"] == (
        "批准 approved (先行救助 advance, verified afterwards): 15,000.00 yuan once"
        " (一事一议 one case, one discussion), decided by the town")
    # The one-off need is met: the same person may apply again for the next emergency.
    again = submit(engine, temporary())
    assert again != case_id


@pytest.mark.parametrize(("programme", "status", "open_"), [
    ("dibao", "approved", True),
    ("dibao", "payment_scheduled", True),
    ("dibao", "suspended", True),
    ("dibao", "rejected", False),
    ("dibao", "terminated", False),
    ("temporary", "awaiting_review", True),
    ("temporary", "follow_up", True),
    ("temporary", "approved", False),
    ("temporary", "payment_scheduled", False),
    ("temporary", "advance_paid", False),
    ("temporary", "terminated", False),
])
def test_a_member_is_held_by_an_open_case_of_the_same_programme(engine, programme, status,
                                                                  open_):
    application = dibao() if programme == "dibao" else temporary()
    first = submit(engine, application)
    with engine.begin() as conn:
        conn.execute(cases.update().where(cases.c.case_id == first).values(status=status))
    if open_:
        with pytest.raises(InvalidApplication) as refused:
            submit(engine, application)
        assert [p.path for p in refused.value.problems] == [("members", 0, "resident_id")]
        assert first in refused.value.problems[0].reason
    else:
        assert submit(engine, application) != first
    # Another programme is another matter.
    other = Application("330282", "marginal", application.members)
    assert submit(engine, other)


def test_the_programme_facts_are_stored_and_published_without_the_description(engine):
    tekun = Application("330282", "tekun", (
        person(31, disability_grade=1, able_to_work=False, self_care="none"),),
        legal_supporters=(LegalSupporter("child", False), LegalSupporter("sibling", True)),
        care_mode="centralised", referrals=("medical", "housing"))
    tekun_id = submit(engine, tekun)
    temporary_id = submit(engine, temporary())
    found = case(engine, tekun_id)
    assert json.loads(found["case"]["legal_supporters"]) == [
        {"relation": "child", "able_to_support": False},
        {"relation": "sibling", "able_to_support": True}]
    assert found["case"]["care_mode"] == "centralised"
    assert json.loads(found["case"]["referrals"]) == ["medical", "housing"]
    assert {k: found["members"][0][k] for k in ("disability_grade", "able_to_work",
                                                "self_care")} == \
        {"disability_grade": 1, "able_to_work": False, "self_care": "none"}
    assert json.loads(case(engine, temporary_id)["case"]["temporary"])["description"] == \
        "凌晨厨房起火，房屋烧毁"

    with engine.connect() as conn:
        rows = conn.execute(select(bus.outbox).order_by(bus.outbox.c.id)).mappings().all()
    published = [from_record(r["value"], [(k, v.encode()) for k, v in json.loads(r["headers"])])
                 .data for r in rows]
    tekun_event, temporary_event = published
    member = tekun_event.members[0]
    assert (member.disability_grade, member.able_to_work, member.self_care) == (1, False, "none")
    assert [(s.relation, s.able_to_support) for s in tekun_event.legal_supporters] == \
        [("child", False), ("sibling", True)]
    assert (tekun_event.care_mode, tekun_event.referrals) == ("centralised",
                                                              ["medical", "housing"])
    assert temporary_event.temporary.model_dump() == {
        "kind": "emergency", "requested_amount_fen": 300_000, "cause": "fire",
        "rigid_medical_spending_fen": 0}
    for r in rows:
        assert "起火".encode() not in r["value"] and "赵六".encode() not in r["value"]
    # What was published decodes as the contract says (the relay sends these bytes).
    assert to_record(Envelope(data=temporary_event, source="/x")).value == rows[1]["value"]


@pytest.mark.postgres
def test_two_instances_moving_one_case_at_once_lose_neither_move(postgres_url):
    """Events of one case come on several topics, so two instances of intake may apply two of
    them at the same moment. The second must see the first's move, not overwrite it (found by
    bench/chaos.py with two instances: a paid case shown as "verified")."""
    with migrated_engine(postgres_url, "intake") as engine:
        case_id = submit(engine, dibao(41))
        staged = stage(case_id, 2, "awaiting_review")
        first = UnitOfWork(engine, bus, "/onedoor/intake")
        with first:
            handlers.on_case_stage_changed(
                staged, Envelope(data=staged, source="/onedoor/approval", time=T0), first)
            # The first instance has moved the case and not yet committed when the second
            # applies the verification report.
            second = threading.Thread(target=deliver, args=(engine, report(case_id)))
            second.start()
            second.join(timeout=1.0)  # blocks on the case's row until the first commits
            first.commit()
        second.join(timeout=30)
        assert not second.is_alive()
        shown = case(engine, case_id)
    assert (shown["case"]["status"], shown["case"]["stage_seq"]) == ("awaiting_review", 2)
    assert len(shown["timeline"]) == 3  # submitted, staged, verified: both recorded
