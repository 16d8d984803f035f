"""The orphans' and de-facto unsupported children's allowance (issue 22 §5) through each service on
real SQLite and PostgreSQL: intake takes the guardianship facts (and names what is missing),
verification stores a parent's situation on record and reports it, approval decides by the
record, without public notice, and grants the university grant once — which is not temporary
assistance and counts against no household's yearly cap."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from deploy.households import resident_id
from deploy.tokens import DevTokens
from services.approval.adapters.repository import ApprovalRepository
from services.intake.adapters.tables import bus as intake_bus
from services.intake.bootstrap import create_app
from services.verification.adapters.tables import bus as verification_bus
from services.verification.bootstrap import packaged_monitoring
from services.verification.service_layer import partner_data as verification
from services.verification.service_layer.partner_data import IncomingRecord
from shared.events import catalogue as ev
from shared.settings import load_settings
from shared.uow import UnitOfWork
from tests.conftest import migrated_engine
from tests.integration import test_verification_reassessment as vr
from tests.integration.test_approval_workflow import DISTRICT, TOWN, deliver, perform, stage

WEIHAI = "371002"  # 环翠区, 威海市: the university grant (seed 004)
TODAY = date.today()


# -- approval ----------------------------------------------------------------------------------

@pytest.fixture
def approval(database_url):
    with migrated_engine(database_url, "approval") as engine:
        yield engine


def orphan_application(case_id: str, mother: str = "present") -> ev.ApplicationSubmitted:
    return ev.ApplicationSubmitted(
        case_id=case_id, region_code=WEIHAI, programme="orphan",
        submitted_at=datetime.now(UTC), members=[
            ev.MemberFacts(person_ref=f"p-{case_id}-0", relation="applicant", age_years=63,
                           declared_incomes=[], consent_signed=True),
            ev.MemberFacts(person_ref=f"p-{case_id}-1", relation="grandchild", age_years=18,
                           declared_incomes=[], consent_signed=True, father="deceased",
                           mother=mother, child_care="family",  # type: ignore[arg-type]
                           schooling="entering_university")])


def guardianship_report(app: ev.ApplicationSubmitted,
                        mother_on_record: str | None) -> ev.VerificationReported:
    return ev.VerificationReported(
        case_id=app.case_id, report_id=f"{app.case_id}-r1", region_code=app.region_code,
        programme=app.programme, applicant_ref=app.members[0].person_ref, household_size=2,
        members=[ev.MemberIncome(person_ref=m.person_ref, declared_monthly_fen=0,
                                 verified_monthly_fen=0, counted_monthly_fen=0, sources=[],
                                 mother_on_record=mother_on_record if i else None)  # type: ignore[arg-type]
                 for i, m in enumerate(app.members)],
        assets=ev.AssetSummary(real_estate_count=1, vehicle_count=0, deposits_fen=0),
        household_monthly_income_fen=0, per_capita_monthly_income_fen=0,
        reported_at=datetime.now(UTC))


def test_the_record_decides_and_the_case_is_approved_without_notice_with_its_grant(approval):
    app = orphan_application("o1")  # declared: the mother is there
    deliver(approval, app)
    published = deliver(approval, guardianship_report(app, mother_on_record="imprisoned"))
    assessed = next(e for e in published if isinstance(e, ev.CaseAssessed))
    assert assessed.eligible is True
    assert (assessed.monthly_amount_fen, assessed.one_off_amount_fen) == (60_000, 1_000_000)
    assert {r.rule for r in assessed.reasons} >= {"guardianship_on_record",
                                                 "guardianship_category", "university_grant"}
    assert stage(approval, "o1")[0] == "awaiting_review"

    result, _ = perform(approval, "o1", "accept", TOWN)  # no home survey, no public notice
    assert result["stage"] == "awaiting_approval"
    result, published = perform(approval, "o1", "approve", DISTRICT)
    assert result["stage"] == "approved"
    decided = next(e for e in published if isinstance(e, ev.ApplicationDecided))
    assert (decided.programme, decided.monthly_amount_fen, decided.one_off_amount_fen) == \
        ("orphan", 60_000, 1_000_000)
    assert {(b.kind, b.person_ref) for b in decided.benefits} == {
        ("orphan_de_facto", "p-o1-1"), ("orphan_university", "p-o1-1")}
    assert not any(isinstance(e, ev.HouseholdRecognised) for e in published)
    with approval.connect() as conn:  # not temporary assistance: no yearly cap is touched
        granted = ApprovalRepository(conn).temporary_granted(
            ["p-o1-0", "p-o1-1"], datetime.now(UTC).year, excluding="none")
    assert granted == 0


def test_a_child_whose_parents_are_there_is_rejected_naming_the_category(approval):
    app = orphan_application("o2")
    deliver(approval, app)
    published = deliver(approval, guardianship_report(app, mother_on_record=None))
    assessed = next(e for e in published if isinstance(e, ev.CaseAssessed))
    assert assessed.eligible is False
    assert [r.rule for r in assessed.reasons if not r.passed] == ["guardianship_category"]
    result, _ = perform(approval, "o2", "reject", TOWN, note="mother at home")
    assert result["stage"] == "rejected"


def test_a_running_allowance_is_suspended_when_the_record_changes(approval):
    app = orphan_application("o3", mother="imprisoned")
    deliver(approval, app)
    deliver(approval, guardianship_report(app, mother_on_record="imprisoned"))
    perform(approval, "o3", "accept", TOWN)
    perform(approval, "o3", "approve", DISTRICT)
    released = guardianship_report(app, mother_on_record="present")
    released = released.model_copy(update={"report_id": "o3-r2", "occasion": "partner_data"})
    published = deliver(approval, released)
    change = next(e for e in published if isinstance(e, ev.BenefitChanged))
    assert change.change == "suspended" and "neither an orphan" in change.reason
    assert stage(approval, "o3")[0] == "suspended"


# -- intake ------------------------------------------------------------------------------------

@pytest.fixture
async def intake(database_url, tmp_path):
    with migrated_engine(database_url, "intake") as engine:
        settings = load_settings(env="test", intake_database_url=database_url, data_dir=tmp_path)
        app = create_app(settings)
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://intake",
                                         headers=DevTokens(settings).clerk("330282")) as http:
                yield http, engine
        finally:
            app.state.runtime.engine.dispose()


def grandmother(sequence: int) -> dict:
    return {"name": "王秀英", "resident_id": resident_id("330282", date(1962, 4, 4), sequence),
            "relation": "applicant", "consent_signed_on": TODAY.isoformat()}


def grandson(sequence: int, **facts: object) -> dict:
    born = TODAY - timedelta(days=365 * 10)
    return {"name": "王小明", "resident_id": resident_id("330282", born, sequence),
            "relation": "grandchild", **facts}


async def test_intake_takes_the_guardianship_facts_and_publishes_only_their_codes(intake):
    http, engine = intake
    response = await http.post("/applications", json={
        "region_code": "330282", "programme": "orphan",
        "members": [grandmother(51), grandson(53, father="deceased", mother="imprisoned",
                                              child_care="family", schooling="in_school")]})
    assert response.status_code == 201, response.text
    shown = (await http.get(response.headers["Location"])).json()
    assert {k: shown["members"][1][k] for k in ("father", "mother", "child_care",
                                                "schooling")} == \
        {"father": "deceased", "mother": "imprisoned", "child_care": "family",
         "schooling": "in_school"}
    with engine.connect() as conn:
        value = conn.execute(select(intake_bus.outbox.c.value)).scalar_one()
    assert b'"father":"deceased","mother":"imprisoned","child_care":"family"' in value
    assert "王小明".encode() not in value


async def test_one_422_names_each_missing_or_unknown_guardianship_fact(intake):
    http, engine = intake
    response = await http.post("/applications", json={
        "region_code": "330282", "programme": "orphan",
        "members": [grandmother(55), grandson(57, father="in jail", mother="deceased")]})
    assert response.status_code == 422
    assert {tuple(d["loc"]) for d in response.json()["detail"]} == {
        ("body", "members", 1, "father")}
    response = await http.post("/applications", json={
        "region_code": "330282", "programme": "orphan",
        "members": [grandmother(55), grandson(57, father="deceased")]})
    assert response.status_code == 422
    assert {tuple(d["loc"])[-3:] for d in response.json()["detail"]} == {
        ("members", 1, "mother"), ("members", 1, "child_care")}
    response = await http.post("/applications", json={
        "region_code": "330282", "programme": "dibao",
        "members": [grandmother(55), grandson(57, father="deceased")]})
    assert response.status_code == 422
    assert any(tuple(d["loc"])[-3:] == ("members", 1, "father")
               and "programme 'orphan'" in d["msg"] for d in response.json()["detail"])
    with engine.connect() as conn:
        assert conn.execute(select(intake_bus.outbox)).first() is None


# -- verification ------------------------------------------------------------------------------

@pytest.fixture
def verifying(database_url):
    with migrated_engine(database_url, "verification") as engine:
        yield engine


def situation(engine, kind: str, child: str, value: str, record_id: str) -> None:
    with UnitOfWork(engine, verification_bus, "/test") as work:
        verification.publish_records(
            "child_welfare", [IncomingRecord(record_id=record_id, kind=kind, resident_id=child,
                                             amount_fen=0, as_of=date(2026, 11, 30),
                                             situation=value)],
            work, pseudonym_key=vr.KEY, monitoring=packaged_monitoring())


def test_a_parents_situation_on_record_reaches_the_report_and_a_change_reports_again(verifying):
    situation(verifying, "mother_situation", vr.SON, "imprisoned", "cw-1")
    application = vr.application().model_copy(update={"programme": "orphan"})
    vr.handle(verifying, application)
    [first] = vr.reported(verifying)
    son = next(m for m in first.members if m.person_ref == vr.ref(vr.SON))
    assert (son.father_on_record, son.mother_on_record) == (None, "imprisoned")
    assert "child_welfare:mother_situation" in son.sources
    situation(verifying, "mother_situation", vr.SON, "imprisoned", "cw-1")  # sent again
    assert len(vr.reported(verifying)) == 1
    situation(verifying, "mother_situation", vr.SON, "present", "cw-1")  # released
    latest = vr.reported(verifying)[-1]
    assert latest.occasion == "partner_data"
    son = next(m for m in latest.members if m.person_ref == vr.ref(vr.SON))
    assert son.mother_on_record == "present"
