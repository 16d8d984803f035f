"""Policy administered in the system (issue 22 §2–3), on a real database: one officer proposes,
another approves (four eyes), approval publishes — and every recipient the figure reaches is
recalculated once, through the normal events, however the job is interrupted."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from services.approval.adapters.repository import ApprovalRepository
from services.approval.adapters.tables import (
    assessments,
    bus,
    cases,
    recalculated,
    recalculations,
)
from services.approval.domain.assessment import assess
from services.approval.domain.facts import CaseFacts
from services.approval.domain.stated import reasons
from services.approval.service_layer import casework, policy_admin, recalculation
from services.approval.service_layer.policy_admin import Officer, ProposalRefused
from services.approval.service_layer.policy_book import PolicyBook
from services.approval.service_layer.recalculation_household import StoredAssessment
from shared import clock
from shared.events import catalogue as ev
from shared.policy import Figure, published_figure
from shared.uow import UnitOfWork
from tests.integration.test_approval_workflow import (
    DISTRICT,
    POLICY,
    SURVEY,
    TOWN,
    application,
    deliver,
    perform,
    report,
)
from tests.integration.test_approval_workflow import engine as engine

A, B = Officer("policy_officer", "p-001"), Officer("policy_officer", "p-002")
STANDARD = "dibao.monthly_standard_fen"
NOW = datetime.now(UTC)
NEXT_MONTH = policy_admin.first_open_month(NOW)
# The packaged policy, and a standard for a neighbouring district the publications do not reach.
BASE = POLICY.amended([Figure(STANDARD, "330281", date(2021, 1, 1), 95_000, "test")])


def approved_recipient(engine, case_id: str, region: str = "330282",
                       incomes: tuple[int, ...] = (60_000,)) -> int:
    app = application(case_id, region=region, incomes=incomes)
    deliver(engine, app, BASE)
    deliver(engine, report(app, report_id=f"report-{case_id}"), BASE)
    perform(engine, case_id, "accept", TOWN, BASE, home_survey=SURVEY)
    result, _ = perform(engine, case_id, "approve", DISTRICT, BASE, now=NOW + timedelta(days=8))
    assert result["stage"] == "approved"
    with engine.connect() as conn:
        return int(conn.execute(select(cases.c.monthly_amount_fen)
                                .where(cases.c.case_id == case_id)).scalar_one())


def uow_factory(engine):
    return lambda: UnitOfWork(engine, bus, "/test")


def propose(engine, book, officer=A, value=110_550, effective=NEXT_MONTH,
            region="330282", name=STANDARD) -> str:
    with UnitOfWork(engine, bus, "/test") as uow:
        return policy_admin.propose(uow, book, officer, name=name, region_code=region,
                                    effective_from=effective, value=value,
                                    source="慈政发〔2026〕1号", reason="yearly rise", now=NOW)


def approve(engine, book, proposal_id, officer=B) -> list[ev.Event]:
    with UnitOfWork(engine, bus, "/test") as uow:
        policy_admin.approve(uow, book, proposal_id, officer, note=None, now=NOW)
    return [e.data for e in uow.published]


def events_of(engine, case_id: str) -> list[str]:
    with engine.connect() as conn:
        return [bytes(r.value).decode() for r in conn.execute(
            select(bus.outbox.c.value).where(bus.outbox.c.key == case_id.encode()))]


def test_four_eyes_then_every_reached_recipient_is_recalculated_once(engine):
    book = PolicyBook(BASE, engine)
    old = {cid: approved_recipient(engine, cid) for cid in ("r1", "r2", "r3")}
    elsewhere = approved_recipient(engine, "q1", region="330281")  # another district: not reached
    proposal = propose(engine, book)
    with pytest.raises(ProposalRefused, match="four eyes"):
        approve(engine, book, proposal, officer=A)
    [published] = approve(engine, book, proposal)
    assert isinstance(published, ev.PolicyPublished)
    assert (published.sequence, published.value, published.replaces_value) == (1, 110_550, 100_500)
    table = BASE.amended([published_figure(proposal, STANDARD, "330282", NEXT_MONTH, 110_550)])
    assert published.policy_version == table.version == book.current().version
    # Another instance of approval (another book on the same database) decides by it at once.
    assert PolicyBook(BASE, engine).current().version == table.version

    before = {cid: len(events_of(engine, cid)) for cid in (*old, "q1")}
    assert recalculation.run_pending(uow_factory(engine), engine, book, "w1") == 1
    with engine.connect() as conn:
        job = conn.execute(select(recalculations)).mappings().one()
        rows = {r.case_id: r for r in conn.execute(select(recalculated))}
        facts = {cid: casework.facts_of(dict(conn.execute(select(cases).where(
            cases.c.case_id == cid)).mappings().one())) for cid in old}
    assert (job["status"], job["total"], job["done"], job["changed"]) == ("done", 3, 3, 3)
    assert set(rows) == set(old)
    for cid, fen in old.items():
        expected = assess(facts[cid], table, NEXT_MONTH).monthly_amount_fen
        assert expected > fen
        assert (rows[cid].old_monthly_fen, rows[cid].new_monthly_fen) == (fen, expected)
        assert "dibao.monthly_standard_fen 1,005.00 yuan → 1,105.50 yuan" in rows[cid].explanation
        new = [ev.BenefitChanged.model_validate_json(v) for v in events_of(engine, cid)
               if '"change"' in v]
        [change] = new
        assert (change.change, change.effective_month, change.monthly_amount_fen) == (
            "amount_changed", f"{NEXT_MONTH:%Y-%m}", expected)
    assert len(events_of(engine, "q1")) == before["q1"] and elsewhere > 0
    # Run again: nothing left to do, nothing sent twice.
    assert recalculation.run_pending(uow_factory(engine), engine, book, "w2") == 0
    assert {cid: len(events_of(engine, cid)) for cid in (*old, "q1")} == {
        cid: n + (2 if cid != "q1" else 0) for cid, n in before.items()}  # assessed + changed


def test_an_interrupted_job_resumes_after_its_last_batch(engine):
    book = PolicyBook(BASE, engine)
    for cid in ("s1", "s2", "s3"):
        approved_recipient(engine, cid)
    approve(engine, book, propose(engine, book))
    factory = uow_factory(engine)
    job = recalculation.claim(engine, "crashing", NOW)
    assert job is not None
    assert recalculation.run_batch(factory, book, job, "crashing", size=1, now=NOW)
    # The worker dies here. While its lease runs, nobody else takes the job ...
    assert recalculation.claim(engine, "other", NOW + timedelta(seconds=5)) is None
    # ... and once it has run out, another instance takes over where the batch left off.
    later = NOW + recalculation.LEASE + timedelta(seconds=1)
    assert recalculation.claim(engine, "other", later) == job
    assert not recalculation.run_batch(factory, book, job, "crashing", size=1, now=later)
    while recalculation.run_batch(factory, book, job, "other", size=1, now=later):
        pass
    with engine.connect() as conn:
        done = conn.execute(select(recalculations.c.status, recalculations.c.done)).one()
        assert tuple(done) == ("done", 3)
        assert sorted(conn.execute(select(recalculated.c.case_id)).scalars()) == [
            "s1", "s2", "s3"]
    for cid in ("s1", "s2", "s3"):
        assert sum('"change"' in v for v in events_of(engine, cid)) == 1


def test_a_recipient_who_loses_eligibility_goes_to_the_town_not_stopped_silently(engine):
    book = PolicyBook(BASE, engine)
    approved_recipient(engine, "t1", incomes=(95_000,))
    approve(engine, book, propose(engine, book, value=90_000))  # the standard lowered
    recalculation.run_pending(uow_factory(engine), engine, book, "w1")
    with engine.connect() as conn:
        stage = conn.execute(select(cases.c.stage).where(cases.c.case_id == "t1")).scalar()
        job = conn.execute(select(recalculations)).mappings().one()
    assert stage == "suspended" and job["to_review"] == 1
    changes = [ev.BenefitChanged.model_validate_json(v) for v in events_of(engine, "t1")
               if '"change"' in v]
    assert [c.change for c in changes] == ["suspended"]


def test_retroactive_and_unknown_figures_are_refused_and_nothing_is_written(engine):
    book = PolicyBook(BASE, engine)
    this_month = clock.local_date(NOW).replace(day=1)
    with pytest.raises(ProposalRefused) as refused:
        propose(engine, book, effective=this_month)
    assert refused.value.field == "effective_from"
    with pytest.raises(ProposalRefused) as refused:
        propose(engine, book, name="dibao.monthly_standrad_fen")
    assert refused.value.field == "name"
    assert book.current().version == BASE.version
    # Approved once, a proposal cannot be decided again.
    proposal = propose(engine, book)
    approve(engine, book, proposal)
    with pytest.raises(ProposalRefused, match="published already"):
        approve(engine, book, proposal)


def test_a_workflow_figure_is_published_without_recalculating_anyone(engine):
    book = PolicyBook(BASE, engine)
    approved_recipient(engine, "w1")
    approve(engine, book, propose(engine, book, name="workflow.public_notice_days", value=5))
    with engine.connect() as conn:
        assert conn.execute(select(recalculations)).first() is None


@pytest.mark.parametrize("jurisdiction,region,reaches", [
    ("330282", "330282", True), ("330282", "330281", False), ("330200", "330282", True),
    ("330200", "330200", True), ("330200", "340100", False), ("330000", "330282", True),
    ("330282001", "330282", False), ("330282", "000000", False), ("", "000000", True)])
def test_which_regions_an_officer_reaches(jurisdiction, region, reaches):
    assert policy_admin.reaches(jurisdiction, region) is reaches


def test_first_open_month_is_next_month_in_china_time():
    # 31 December 17:00 UTC is already 1 January in China: February is the first open month.
    assert policy_admin.first_open_month(datetime(2026, 12, 31, 17, tzinfo=UTC)) == date(2027, 2, 1)
    assert policy_admin.first_open_month(datetime(2026, 12, 31, 15, tzinfo=UTC)) == date(2027, 1, 1)


# -- through approval's HTTP API --------------------------------------------------------------

@pytest.fixture
def api(database_url, tmp_path):
    from fastapi.testclient import TestClient

    from deploy.tokens import DevTokens
    from services.approval.bootstrap import create_app
    from shared.auth.principals import Role
    from shared.settings import load_settings
    from tests.conftest import migrated_engine

    settings = load_settings(env="test", data_dir=tmp_path, approval_database_url=database_url)
    with migrated_engine(database_url, "approval"):
        app = create_app(settings)
        tokens = DevTokens(settings)

        def officer(subject: str, jurisdiction: str = "330200") -> dict[str, str]:
            return tokens.headers(Role.POLICY_OFFICER, subject, jurisdiction)

        client = TestClient(app)
        client.officer = officer  # type: ignore[attr-defined]
        yield client
        client.close()
        app.state.runtime.engine.dispose()


BODY = {"name": STANDARD, "region_code": "330282", "effective_from": NEXT_MONTH.isoformat(),
        "value": 110_550, "source": "慈政发〔2026〕1号", "reason": "yearly rise, seed 001"}


def test_the_api_proposes_refuses_the_proposer_and_publishes_on_a_second_officer(api):
    city_a, city_b = api.officer("p-a"), api.officer("p-b")
    made = api.post("/policy/proposals", headers=city_a, json=BODY)
    assert made.status_code == 201, made.text
    proposal = made.json()
    assert (proposal["status"], proposal["replaces_value"], proposal["unit"]) == (
        "proposed", 100_500, "fen")
    own = api.post(f"/policy/proposals/{proposal['proposal_id']}/approve", headers=city_a,
                   json={})
    assert own.status_code == 409 and "four eyes" in own.json()["detail"]
    done = api.post(f"/policy/proposals/{proposal['proposal_id']}/approve", headers=city_b,
                    json={"note": "checked against the document"})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "published" and done.json()["recalculation_job_id"]
    # The public figures answer with it from its day, at once.
    shown = api.get(f"/policy/330282?on={NEXT_MONTH.isoformat()}&programme=dibao").json()
    assert shown["figures"][STANDARD]["value"] == 110_550
    history = api.get(f"/policy/history?region_code=330282&name={STANDARD}",
                      headers=city_a).json()["figures"]
    assert [(f["origin"], f["value"], f["proposed_by"], f["approved_by"]) for f in history] == [
        ("packaged", 100_500, None, None),
        ("published", 110_550, "policy_officer:p-a", "policy_officer:p-b")]
    job = api.get(f"/policy/recalculations/{done.json()['recalculation_job_id']}",
                  headers=city_a).json()
    assert job["status"] == "queued" and job["total"] == 0


def test_the_api_names_the_field_and_keeps_officers_to_their_region(api):
    officer = api.officer("p-a")
    bad = api.post("/policy/proposals", headers=officer, json={**BODY, "name": "dibao.nope"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "name"]
    past = api.post("/policy/proposals", headers=officer, json={
        **BODY, "effective_from": clock.today().replace(day=1).isoformat()})
    assert past.status_code == 409 and "effective_from" in past.json()["detail"]
    flag = api.post("/policy/proposals", headers=officer, json={
        **BODY, "name": "workflow.town_delegated_approval", "value": 2})
    assert flag.status_code == 422 and flag.json()["detail"][0]["loc"] == ["body", "value"]
    negative = api.post("/policy/proposals", headers=officer, json={**BODY, "value": -1})
    assert negative.status_code == 422 and "-1" not in negative.text
    elsewhere = api.post("/policy/proposals", headers=officer, json={
        **BODY, "region_code": "370202"})
    assert elsewhere.status_code == 403
    district = api.officer("p-d", "330281")
    assert api.post("/policy/proposals", headers=district, json=BODY).status_code == 403
    made = api.post("/policy/proposals", headers=officer, json=BODY).json()
    # A neighbouring district's officer does not see the city's proposal for Cixi.
    assert api.get("/policy/proposals", headers=district).json()["proposals"] == []
    assert [p["proposal_id"] for p in api.get("/policy/proposals",
                                               headers=officer).json()["proposals"]] == [
        made["proposal_id"]]
    clerk = api.post("/policy/proposals", json=BODY, headers={
        "Authorization": "Bearer nonsense"})
    assert clerk.status_code == 401


# -- batches: a batch recalculates as one case at a time would ---------------------------------

# Three districts with the same figures, each with the same households; each district's job runs
# in other batches: one household per batch (each read after the last one's commit, as
# recalculating one case at a time does), batches of three, and all in one batch.
MIRRORED = POLICY.amended([
    f for region in ("330281", "330283") for f in (
        Figure(STANDARD, region, date(2021, 1, 1), 100_500, "test"),
        Figure("tekun.basic_standard_fen", region, date(2021, 1, 1), 170_900, "test"))])


def _applied(case_id: str, region: str, programme: str, members: list[ev.MemberFacts],
             ) -> ev.ApplicationSubmitted:
    return ev.ApplicationSubmitted(case_id=case_id, region_code=region, programme=programme,
                                   submitted_at=NOW, members=members)


def _member(ref: str, income: int, **facts) -> ev.MemberFacts:
    return ev.MemberFacts(person_ref=ref, relation="applicant", age_years=70,
                          declared_incomes=[ev.DeclaredIncome(kind="pension",
                                                              monthly_amount_fen=income)],
                          consent_signed=True, **facts)


def _approved(engine, app: ev.ApplicationSubmitted, *, until_notice: bool = False) -> None:
    deliver(engine, app, MIRRORED)
    deliver(engine, report(app, report_id=f"report-{app.case_id}"), MIRRORED)
    perform(engine, app.case_id, "accept", TOWN, MIRRORED, home_survey=SURVEY)
    if not until_notice:
        perform(engine, app.case_id, "approve", DISTRICT, MIRRORED, now=NOW + timedelta(days=8))


def _households(engine, region: str) -> None:
    """A batch's worth of households: Dibao with a temporary grant this year, extreme hardship,
    a marginal household the rise takes below the band, a disabled member of that household
    (recognised through it, so losing it later in the same batch), and one still under notice
    with an open objection (not a recipient: not reached)."""
    def c(name: str) -> str:
        return f"{region}-{name}"
    _approved(engine, _applied(c("d1"), region, "dibao", [_member(f"p-{c('d1')}", 60_000)]))
    year, partner = clock.local_date(NOW).year, f"q-{c('d1')}"
    with UnitOfWork(engine, bus, "/test") as uow:  # shared with a partner who had one alone
        grants = ApprovalRepository(uow.conn)
        grants.grant_temporary(f"{c('d1')}-temporary", [f"p-{c('d1')}", partner], year, 50_000)
        grants.grant_temporary(f"{c('d1')}-partner", [partner], year, 30_000)
        grants.grant_temporary(f"{c('d1')}-last-year", [f"p-{c('d1')}"], year - 1, 90_000)
        uow.commit()
    _approved(engine, _applied(c("m1"), region, "marginal", [_member(f"p-{c('m1')}", 105_000)]))
    _approved(engine, _applied(c("t1"), region, "tekun", [_member(
        f"p-{c('t1')}", 50_000, able_to_work=False, self_care="partial")]))
    _approved(engine, _applied(c("x1"), region, "disability", [_member(
        f"p-{c('m1')}", 0, disability_grade=2)]))
    _approved(engine, _applied(c("o1"), region, "dibao", [_member(f"p-{c('o1')}", 60_000)]),
              until_notice=True)
    perform(engine, c("o1"), "object", TOWN, MIRRORED, note="a neighbour says she works")


def _seen(engine, region: str, proposal: str) -> dict[str, tuple]:
    """Per household: its line, its case, its events since the publication — all but ids and
    times, with the district's code and its publication's id taken out so that the districts
    compare."""
    def plain(value: object) -> object:
        return str(value).replace(region, "R").replace(proposal, "P")

    seen: dict[str, tuple] = {}
    for name in ("d1", "m1", "t1", "x1", "o1"):
        cid = f"{region}-{name}"
        with engine.connect() as conn:
            line = conn.execute(select(recalculated).where(recalculated.c.case_id == cid)).first()
            case = conn.execute(select(cases.c.stage, cases.c.monthly_amount_fen)
                                .where(cases.c.case_id == cid)).one()
        events = []
        with engine.connect() as conn:
            values = conn.execute(select(bus.outbox.c.value).where(
                bus.outbox.c.key == cid.encode()).order_by(bus.outbox.c.id)).scalars().all()
        for v in values:
            data = json.loads(bytes(v))
            if data.get("assessed_on") == NEXT_MONTH.isoformat():
                events.append(("assessed", data["monthly_amount_fen"], data["eligible"],
                               plain(data["reasons"])))
            elif "change" in data:
                events.append(("changed", data["change"], data["monthly_amount_fen"],
                               data["effective_month"], plain(data["reason"])))
            elif data.get("action") == "reassessed_policy_change":
                events.append(("stage", data["to_stage"], data["sequence"]))
        seen[name] = (
            None if line is None else (line.outcome, line.old_monthly_fen,
                                       line.new_monthly_fen, line.explanation),
            case.stage, case.monthly_amount_fen, events)
    return seen


def test_a_batch_recalculates_each_household_as_one_at_a_time_would(engine):
    book = PolicyBook(MIRRORED, engine)
    regions = ("330282", "330281", "330283")
    for region in regions:
        _households(engine, region)
    jobs, proposals = {}, {}
    for region in regions:
        proposals[region] = propose(engine, book, region=region)
        approve(engine, book, proposals[region])
        with engine.connect() as conn:
            jobs[region] = conn.execute(select(recalculations.c.job_id).where(
                recalculations.c.status == "queued")).scalar_one()
        assert recalculation.claim(engine, f"w-{region}", NOW) == jobs[region]
    factory = uow_factory(engine)
    while recalculation.run_batch(factory, book, jobs["330282"], "w-330282", size=1, now=NOW):
        pass
    while recalculation.run_batch(factory, book, jobs["330281"], "w-330281", size=3, now=NOW):
        pass
    while recalculation.run_batch(factory, book, jobs["330283"], "w-330283", now=NOW):
        pass

    one_at_a_time = _seen(engine, "330282", proposals["330282"])
    assert _seen(engine, "330281", proposals["330281"]) == one_at_a_time
    assert _seen(engine, "330283", proposals["330283"]) == one_at_a_time
    d1, m1, t1, x1, o1 = (one_at_a_time[n] for n in ("d1", "m1", "t1", "x1", "o1"))
    assert d1[0] == ("amount_changed", 50_550, 61_605, "505.50 → 616.05 yuan/month; "
                     "dibao.monthly_standard_fen 1,005.00 yuan → 1,105.50 yuan")
    assert [e[0] for e in d1[3]] == ["assessed", "changed"]
    assert m1[:3] == (("suspended", 0, 0, m1[0][3]), "suspended", 0)
    assert [e[0] for e in m1[3]] == ["assessed", "changed", "stage"]
    assert t1[0][0] == "unchanged" and t1[3] == []
    # The disabled member's household is no longer recognised once the marginal household is
    # suspended: the living subsidy goes, the nursing subsidy stays.
    assert x1[0] == ("amount_changed", 20_000, 10_000,
                     "200.00 → 100.00 yuan/month; no figure it uses moved")
    assert x1[2] == 10_000
    assert o1 == (None, "under_notice", 0, [])
    # This year's temporary assistance, through the partner's own grant too, is in the facts
    # the new assessment was made from, as casework's walk finds it.
    with engine.connect() as conn:
        facts = json.loads(conn.execute(select(assessments.c.facts).where(
            assessments.c.case_id == "330283-d1").where(
            assessments.c.assessed_on == NEXT_MONTH.isoformat())).scalar_one())
        walked = ApprovalRepository(conn).temporary_granted(
            ["p-330283-d1"], clock.local_date(NOW).year, excluding="330283-d1")
    assert facts["temporary_granted_this_year_fen"] == walked == 80_000
    assert facts["household_status"] == "dibao"


def test_a_batch_stores_and_states_assessments_as_casework_does(engine):
    """What the batch makes its own quicker way — the facts stored with a new assessment, the
    figures' statements in its event, the previous assessment read without parsing it — is
    what casework makes and reads."""
    book = PolicyBook(MIRRORED, engine)
    _households(engine, "330282")
    approve(engine, book, propose(engine, book))
    recalculation.run_pending(uow_factory(engine), engine, book, "w1")
    with engine.connect() as conn:
        stored = conn.execute(select(assessments.c.facts, assessments.c.body,
                                     assessments.c.assessed_on)).all()
    assert {row.assessed_on for row in stored} >= {NEXT_MONTH.isoformat()}
    for row in stored:
        facts = CaseFacts.from_dict(json.loads(row.facts))
        assert json.dumps(facts.to_dict(), sort_keys=True) == row.facts
        event = ev.CaseAssessed.model_validate_json(row.body)
        read = casework.assessment_of(row.body)
        assert event.reasons == reasons(read.checks)
        lazy = StoredAssessment(row.body)
        assert lazy.monthly() == read.monthly_amount_fen
        assert lazy.figures() == {f.name: str(f.value) for c in read.checks
                                  for f in c.parameters}
        assert (lazy.eligible, lazy.benefits, lazy.checks, lazy.policy_version, lazy.on) == (
            read.eligible, read.benefits, read.checks, read.policy_version, read.on)


def test_verification_figures_are_proposed_here_from_today_and_recalculate_nobody(engine):
    """The bureau sets verification's figures (monitoring, discovery, freshness) where it sets
    every figure: four eyes, PolicyPublished — but they decide no amount, so no job; and, as
    they decide no month's money, they may take effect today."""
    book = PolicyBook(BASE, engine)
    approved_recipient(engine, "v1")
    today = clock.local_date(NOW)
    threshold = "discovery.medical_bill_fen"
    proposal = propose(engine, book, name=threshold, value=300_000, effective=today)
    [published] = approve(engine, book, proposal)
    assert isinstance(published, ev.PolicyPublished)
    assert (published.name, published.effective_from, published.value) == (
        threshold, today, 300_000)
    assert published.replaces_value is None  # approval's packaged table has no such figure
    with engine.connect() as conn:
        assert conn.execute(select(recalculations)).all() == []
    # Approval's own figures still wait for the first month no cycle has paid.
    with pytest.raises(ProposalRefused, match="first month not yet paid") as refused:
        propose(engine, book, effective=today)
    assert refused.value.field == "effective_from"
    with pytest.raises(ProposalRefused, match="today") as refused:
        propose(engine, book, name=threshold, effective=today - timedelta(days=1))
    assert refused.value.field == "effective_from"
    # A tier is 0 (off) to 3 (red); a name neither service knows is refused.
    with pytest.raises(ProposalRefused, match="tier") as refused:
        propose(engine, book, name="monitoring.income_loss_tier", value=4, effective=today)
    assert refused.value.field == "value"
    propose(engine, book, name="monitoring.income_loss_tier", value=3, effective=today)
    with pytest.raises(ProposalRefused, match="approval or verification") as refused:
        propose(engine, book, name="monitoring.unheard_of_days", value=1, effective=today)
    assert refused.value.field == "name"
