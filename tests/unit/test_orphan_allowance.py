"""The orphans' and de-facto unsupported children's allowance (孤儿、事实无人抚养儿童, issue 22 §5):
the rules as named scenarios with every boundary; the guardianship record deciding over the form,
from a partner's line to the report to the rules; intake's form rules; the audit replay."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import date

import pytest

from deploy.households import resident_id
from services.approval.domain.assessment import Assessment, assess
from services.approval.domain.facts import Assets, CaseFacts, Member, report_findings, with_findings
from services.approval.domain.policy import FIGURES, PolicyTable, load_policy, parse_policies
from services.approval.domain.programmes import orphan
from services.approval.domain.workflow import NOTICED, RECURRING
from services.intake.domain.model import Application
from services.intake.domain.model import Member as IntakeMember
from services.verification.domain.household import HouseholdMember
from services.verification.domain.model import PartnerRecord, build_report
from services.verification.domain.partners import SITUATIONS
from services.verification.domain.publication import Rejected, Upsert, read_fields
from shared.events import catalogue as ev
from shared.resident_id import parse_resident_id
from tests.unit.test_audit_replay import DISTRICT as AUDIT_DISTRICT
from tests.unit.test_audit_replay import TOWN as AUDIT_TOWN
from tests.unit.test_audit_replay import CaseHistory, Log, cst, emergency, of_kind
from tests.unit.test_audit_replay import person as audit_person
from tests.unit.test_programmes import POLICY_DIR, Scenario, figure_toml, packaged_texts

WEIHAI, QINGDAO, JIMO = "371002", "370202", "370215"  # 环翠区 (威海市); 市南区, 即墨区 (青岛市)
ON = date(2023, 3, 1)
INSTITUTION, FAMILY, DE_FACTO, GRANT = 100_000, 60_000, 60_000, 1_000_000
NO_CONTINUATION = figure_toml("orphan.in_school_continues", "000000", "2011-01-01", 0)
PACKAGED = load_policy(POLICY_DIR)
TABLES = {
    "packaged": PACKAGED,
    "no_continuation": parse_policies([*packaged_texts(), (NO_CONTINUATION, "x.toml")]),
    # The packaged policy without the family-care orphans' standard.
    "gap": PolicyTable(tuple(f for f in PACKAGED.figures
                             if f.name != "orphan.family_monthly_fen")),
}
GUARDIAN = Member("G1", "applicant", 58, 0)


def child(ref: str = "K1", age: int = 10, father: str | None = "deceased",
          mother: str | None = "deceased", care: str | None = "family",
          schooling: str | None = None, father_on_record: str | None = None,
          mother_on_record: str | None = None) -> Member:
    return Member(ref, "child", age, 0, father=father, mother=mother, child_care=care,
                  schooling=schooling, father_on_record=father_on_record,
                  mother_on_record=mother_on_record)


def case(*children: Member, region: str = QINGDAO, verified: bool = True) -> CaseFacts:
    return CaseFacts("case-orphan", "orphan", region, (GUARDIAN, *(children or (child(),))),
                     assets=Assets(1, 0, 0) if verified else None,
                     report_id="r-1" if verified else None)


def run(s: Scenario) -> Assessment:
    return assess(s.facts, TABLES[s.policy], s.on)


ORPHAN_SCENARIOS = [
    # -- category, from the two parents' situations --------------------------------------------
    Scenario("both parents dead, cared for in a family: the family-care orphan's allowance",
             case(child()), True, monthly=FAMILY,
             benefits=(("orphan_family", "K1", FAMILY, 0),),
             says=("an orphan (both parents dead or declared missing)", "600.00 yuan/month")),
    Scenario("both parents dead, in a welfare institution: the institution's allowance",
             case(child(care="institution")), True, monthly=INSTITUTION,
             benefits=(("orphan_institution", "K1", INSTITUTION, 0),)),
    Scenario("one parent dead, the other declared missing: an orphan",
             case(child(father="missing")), True, monthly=FAMILY),
    Scenario("one parent dead and the other imprisoned: de-facto unsupported",
             case(child(mother="imprisoned")), True, monthly=DE_FACTO,
             benefits=(("orphan_de_facto", "K1", DE_FACTO, 0),),
             says=("a de-facto unsupported child",),
             inputs=(("guardianship_category", "category", "de_facto"),)),
    Scenario("both parents unable (severely disabled, lost contact): de-facto unsupported",
             case(child(father="severely_disabled", mother="lost_contact")), True,
             monthly=DE_FACTO),
    Scenario("one missing, the other's guardianship revoked (民发〔2020〕125号): de-facto",
             case(child(father="missing", mother="guardianship_revoked")), True,
             monthly=DE_FACTO),
    Scenario("a de-facto unsupported child's care does not change the amount",
             case(child(mother="deported", care="institution")), True, monthly=DE_FACTO),
    Scenario("both parents alive and there: not eligible",
             case(child(father="present", mother="present")), False,
             failed=("guardianship_category",),
             says=("neither an orphan nor a de-facto unsupported child",)),
    Scenario("one parent dead, the other there: not eligible",
             case(child(mother="present")), False, failed=("guardianship_category",)),
    Scenario("one parent imprisoned, the other there: not eligible",
             case(child(father="imprisoned", mother="present")), False,
             failed=("guardianship_category",)),
    Scenario("a parent's situation not declared: not eligible",
             case(child(mother=None)), False, failed=("guardianship_category",),
             says=("mother not declared",)),
    Scenario("an orphan whose care is not declared cannot be paid",
             case(child(care=None)), False, failed=("child_care",)),
    Scenario("no member has guardianship facts",
             CaseFacts("c", "orphan", QINGDAO, (GUARDIAN,), assets=Assets(1, 0, 0),
                       report_id="r"), False, failed=("child_guardianship",)),
    # -- age 18 ----------------------------------------------------------------------------------
    Scenario("age 17: under 18", case(child(age=17)), True, monthly=FAMILY,
             says=("age 17: under 18",)),
    Scenario("age 18, not in school: the allowance stops", case(child(age=18)), False,
             failed=("child_age",), says=("18 or over, not in full-time school",)),
    Scenario("age 18, schooling not declared: the allowance stops",
             case(child(age=18, schooling=None)), False, failed=("child_age",)),
    Scenario("age 18, still in full-time school: the allowance continues",
             case(child(age=18, schooling="in_school")), True, monthly=FAMILY,
             says=("still in full-time school: the allowance continues",)),
    Scenario("age 19 in school where the region does not continue: stops",
             case(child(age=19, schooling="in_school")), False, failed=("child_age",),
             policy="no_continuation", says=("the region does not continue the allowance",)),
    # -- the university grant (Weihai, seed 004) ------------------------------------------------
    Scenario("Weihai: an orphan entering university gets 10,000 yuan once and the allowance",
             case(child(age=18, schooling="entering_university"), region=WEIHAI), True,
             monthly=FAMILY, one_off=GRANT,
             benefits=(("orphan_family", "K1", FAMILY, 0),
                       ("orphan_university", "K1", 0, GRANT)),
             says=("one-off grant 10,000.00 yuan",)),
    Scenario("Weihai: a de-facto unsupported child entering university gets it too",
             case(child(age=17, mother="seriously_ill", schooling="entering_university"),
                  region=WEIHAI), True, monthly=DE_FACTO, one_off=GRANT),
    Scenario("Qingdao pays no university grant: noted, nothing once",
             case(child(age=18, schooling="entering_university")), True, monthly=FAMILY,
             one_off=0, says=("the region pays no university grant",)),
    Scenario("Weihai: no grant for a child who does not qualify",
             case(child(father="present", mother="present", schooling="entering_university"),
                  region=WEIHAI), False, one_off=0, failed=("guardianship_category",)),
    Scenario("Weihai before the grant's placeholder date: no grant",
             case(child(age=18, schooling="entering_university"), region=WEIHAI), True,
             monthly=FAMILY, one_off=0, on=date(2021, 12, 31)),
    # -- policy gaps and verification ------------------------------------------------------------
    Scenario("a missing figure leaves the case undecided, naming it",
             case(child()), None, failed=("policy_in_force",), policy="gap",
             says=("missing orphan.family_monthly_fen",)),
    Scenario("before the de-facto default's date its figure is missing: undecided",
             case(child(mother="imprisoned")), None, failed=("policy_in_force",),
             on=date(2019, 6, 30), says=("missing orphan.de_facto_monthly_fen",)),
    Scenario("declared, not verified yet: undecided",
             case(child(), verified=False), None, failed=("verification_report",)),
    Scenario("declared not eligible before the report: already not eligible",
             case(child(mother="present"), verified=False), False,
             failed=("guardianship_category", "verification_report")),
    # -- the record decides -------------------------------------------------------------------
    Scenario("the record of a dead mother turns a declared 'present' into an orphan, flagged",
             case(child(mother="present", mother_on_record="deceased")), True, monthly=FAMILY,
             says=("mother: declared present (在世), on record deceased (死亡)",),
             inputs=(("guardianship_on_record", "mother_on_record", "deceased"),)),
    Scenario("a record of a father who is there overrides a declared death, flagged",
             case(child(father_on_record="present")), False, failed=("guardianship_category",),
             says=("father: declared deceased (死亡), on record present (在世)",)),
    Scenario("a record that agrees with the form flags nothing",
             case(child(father_on_record="deceased", mother_on_record="deceased")), True,
             monthly=FAMILY),
    # -- several children --------------------------------------------------------------------
    Scenario("two orphaned siblings: an allowance each",
             case(child("K1"), child("K2", age=4, care="institution")), True,
             monthly=FAMILY + INSTITUTION),
    Scenario("a sibling past 18 out of school is noted, not failed, beside one who qualifies",
             case(child("K1"), child("K2", age=20)), True, monthly=FAMILY, failed=(),
             says=("noted, not eligible: age 20",)),
]


@pytest.mark.parametrize("s", ORPHAN_SCENARIOS, ids=lambda s: s.name)
def test_orphan_allowance(s: Scenario) -> None:
    a = run(s)
    assert a.eligible is s.eligible, [c.detail for c in a.checks]
    assert a.monthly_amount_fen == s.monthly
    assert a.one_off_amount_fen == s.one_off
    assert Counter(c.rule for c in a.failed) == Counter(s.failed)
    if s.benefits is not None:
        assert tuple((b.kind, b.person_ref, b.monthly_amount_fen, b.one_off_amount_fen)
                     for b in a.benefits) == s.benefits
    details = " | ".join(c.detail for c in a.checks)
    for text in s.says:
        assert text in details
    for rule, name, value in s.inputs:
        assert any(c.rule == rule and c.inputs.get(name) == value for c in a.checks), rule
    if a.eligible is None:  # undecided grants nothing
        assert a.benefits == ()
    for b in a.benefits:  # money is integer fen, and each amount names its figure
        assert type(b.monthly_amount_fen) is int and type(b.one_off_amount_fen) is int


def test_scenario_names_are_unique() -> None:
    assert len({s.name for s in ORPHAN_SCENARIOS}) == len(ORPHAN_SCENARIOS)


@pytest.mark.parametrize("s", ORPHAN_SCENARIOS, ids=lambda s: s.name)
def test_stored_facts_replay_to_the_identical_assessment(s: Scenario) -> None:
    again = CaseFacts.from_dict(s.facts.to_dict())
    assert again == s.facts
    assert run(Scenario(s.name, again, s.eligible, policy=s.policy, on=s.on)) == run(s)


def test_every_amount_names_its_figure_with_region_and_date() -> None:
    a = assess(case(child(age=18, schooling="entering_university"), region=WEIHAI),
               PACKAGED, ON)
    used = {f.name: f for c in a.checks for f in c.parameters}
    assert used["orphan.family_monthly_fen"].region == "000000"
    assert used["orphan.family_monthly_fen"].default
    grant = used["orphan.university_grant_fen"]
    assert (grant.region, grant.value, grant.default) == ("371000", GRANT, False)
    assert "seed 004" in grant.source
    assert a.policy_version and "orphan.university_grant_fen@371000/2022-01-01" in \
        a.policy_version


def test_the_category_follows_the_national_definitions_for_every_pair() -> None:
    for father, mother in itertools.product(SITUATIONS, repeat=2):
        kind = orphan.category(father, mother)
        assert kind == orphan.category(mother, father)
        if {father, mother} <= orphan.GONE:
            assert kind == "orphan"
        elif {father, mother} <= orphan.GONE | orphan.UNABLE:
            assert kind == "de_facto"
        else:
            assert kind is None and "present" in (father, mother)
    assert set(SITUATIONS) == orphan.GONE | orphan.UNABLE | {"present"}
    assert set(SITUATIONS) == set(ev.ParentSituation.__args__)  # type: ignore[attr-defined]


def test_the_programme_is_wired_like_the_others() -> None:
    assert "orphan" in ev.Programme.__args__  # type: ignore[attr-defined]
    assert "orphan" in RECURRING and "orphan" not in NOTICED
    assert set(orphan.FIGURES) <= set(FIGURES)
    table = PACKAGED
    for name in orphan.FIGURES:  # each has a national default: no region is left undecided
        assert table.figure(name, "000000", ON) is not None, name


# -- verification: the record about the child, from a partner's line to the rules ------------

def situation_record(ref: str, kind: str, situation: str, as_of: date,
                     record_id: str) -> PartnerRecord:
    return PartnerRecord("child_welfare", record_id, kind, ref, 0, as_of, situation=situation)


def test_the_report_carries_each_parents_newest_situation_on_record() -> None:
    kid, guardian = HouseholdMember("K1", 10, {}, False), HouseholdMember("G1", 58, {}, True)
    records = [situation_record("K1", "mother_situation", "present", date(2020, 1, 1), "a"),
               situation_record("K1", "mother_situation", "deceased", date(2024, 1, 1), "b"),
               situation_record("K1", "father_situation", "imprisoned", date(2023, 5, 1), "c"),
               situation_record("G1", "father_situation", "deceased", date(2023, 5, 1), "d")]
    report = build_report([guardian, kid], records)
    on_record = {m.person_ref: (m.father_on_record, m.mother_on_record) for m in report.members}
    assert on_record == {"G1": ("deceased", None), "K1": ("imprisoned", "deceased")}
    # A new situation is a new figure of the report: the case is reported on again.
    before = build_report([guardian, kid], records[:1])
    assert before.figures != report.figures


def test_the_reports_record_reaches_the_rules_and_decides() -> None:
    facts = case(child(mother="present"), verified=False)
    report = {"report_id": "r-9", "assets": {"real_estate_count": 0, "vehicle_count": 0,
                                             "deposits_fen": 0},
              "members": [{"person_ref": "G1", "counted_monthly_fen": 0,
                           "employment_monthly_fen": 0},
                          {"person_ref": "K1", "counted_monthly_fen": 0,
                           "employment_monthly_fen": 0, "father_on_record": None,
                           "mother_on_record": "imprisoned"}]}
    verified = with_findings(facts, report_findings(report))
    assert verified.members[1].parents == ("deceased", "imprisoned")
    a = assess(verified, PACKAGED, ON)
    assert a.eligible is True and a.monthly_amount_fen == DE_FACTO
    assert any(c.rule == "guardianship_on_record" for c in a.checks)
    # A report from before parents' situations were reported (no such keys) finds none.
    for m in report["members"]:
        m.pop("father_on_record", None), m.pop("mother_on_record", None)
    assert with_findings(facts, report_findings(report)).members[1].parents == \
        ("deceased", "present")


CHILD_ID = resident_id("370202", date(2014, 5, 5), 13)


def line(**fields: object) -> Upsert | Rejected:
    base = {"record_id": "cw-1", "kind": "mother_situation", "resident_id": CHILD_ID,
            "as_of": "2026-11-30"}
    return read_fields("child_welfare", 1, {**base, **fields}, pseudonymise=lambda n: "ref")  # type: ignore[return-value]


def test_a_partner_line_carries_a_parents_situation_and_nothing_else() -> None:
    ok = line(situation="imprisoned")
    assert isinstance(ok, Upsert) and ok.situation == "imprisoned" and ok.amount_fen == 0
    for bad, reason in [({}, "situation: required for mother_situation"),
                        ({"situation": "in jail"}, "situation: required"),
                        ({"situation": "deceased", "grade": 1}, "grade: mother_situation"),
                        ({"situation": "deceased", "amount_fen": 5}, "amount_fen:")]:
        judged = line(**bad)
        assert isinstance(judged, Rejected) and judged.reason.startswith(reason), judged
    other = read_fields("court", 1, {"record_id": "x", "kind": "imprisonment",
                                     "resident_id": CHILD_ID, "as_of": "2026-11-30",
                                     "situation": "imprisoned"}, pseudonymise=str)
    assert isinstance(other, Rejected) and "imprisonment carries no situation" in other.reason
    wrong_department = read_fields("court", 1, {"record_id": "x", "kind": "father_situation",
                                                "resident_id": CHILD_ID,
                                                "as_of": "2026-11-30", "situation": "imprisoned"},
                                   pseudonymise=str)
    assert isinstance(wrong_department, Rejected)
    assert "published by child_welfare" in wrong_department.reason


# -- intake: the form's rules ----------------------------------------------------------------

TODAY = date(2026, 11, 20)


def intake_member(sequence: int, born: date, relation: str, **facts: object) -> IntakeMember:
    number = resident_id("370202", born, sequence)
    return IntakeMember(name="张三", resident_id=parse_resident_id(number, today=TODAY),
                        relation=relation, consent_signed_on=TODAY if relation == "applicant"
                        else None, **facts)  # type: ignore[arg-type]


def problems(programme: str, *members: IntakeMember) -> set[tuple[tuple[object, ...], str]]:
    app = Application("370202", programme, members, submitted_on=TODAY)
    return {(p.path, p.reason) for p in app.problems()}


def test_intake_takes_an_orphan_application_with_its_guardianship_facts() -> None:
    guardian = intake_member(11, date(1968, 3, 3), "applicant")
    kid = intake_member(13, date(2014, 5, 5), "grandchild", father="deceased",
                        mother="imprisoned", child_care="family", schooling="in_school")
    assert problems("orphan", guardian, kid) == set()


def test_intake_names_each_missing_or_misplaced_guardianship_fact() -> None:
    guardian = intake_member(11, date(1968, 3, 3), "applicant")
    half = intake_member(13, date(2014, 5, 5), "grandchild", father="deceased")
    found = problems("orphan", guardian, half)
    assert {path for path, _ in found} == {("members", 1, "mother"),
                                           ("members", 1, "child_care")}
    assert {path for path, _ in problems("orphan", guardian)} == {("members",)}
    elsewhere = problems("dibao", guardian, half)
    assert (("members", 1, "father"), "only for the orphans' allowance (programme 'orphan')") \
        in elsewhere


# -- the audit replay: an orphan's case re-runs as approval ran it ---------------------------

def orphan_history(log: Log, region: str = "371002") -> CaseHistory:
    """A Weihai grandmother and her orphaned grandson entering university: applied, verified
    (the record agrees), accepted (no public notice) and approved with the one-off grant."""
    kid = ev.MemberFacts(person_ref="p-o-2", relation="grandchild", age_years=18,
                         declared_incomes=[], consent_signed=True, father="deceased",
                         mother="deceased", child_care="family", schooling="entering_university")
    history = log.case("orphan", "orphan", [audit_person("p-o-1", age=62), kid], region=region)
    history.open(cst(3, 9))
    history.verified(cst(4, 11))
    history.act(cst(5, 15), "accept", AUDIT_TOWN)
    assert history.stage_now == "awaiting_approval"  # no public notice for children
    history.act(cst(6, 10), "approve", AUDIT_DISTRICT)
    return history


def test_an_orphan_case_replays_with_no_finding() -> None:
    log = Log()
    history = orphan_history(log)
    decided = history.decision
    assert decided is not None and decided.outcome == "approved"
    assert (decided.monthly_amount_fen, decided.one_off_amount_fen) == (FAMILY, GRANT)
    history.pay(cst(10), "2025-03", GRANT, kind="one_off")
    history.pay(cst(10), "2025-03", FAMILY)
    fold = log.replay()
    assert fold.findings == []
    assert fold.decisions_rerun == log.count(ev.CaseAssessed.type) == 1
    state = fold.cases[history.case_id]
    assert state.stage == "approved" and state.view()["one_off_amount_fen"] == GRANT


def test_the_university_grant_does_not_count_against_temporary_assistances_cap() -> None:
    """The grandmother's fire the same year: approval counts no orphans' grant against the
    household's temporary cap (casework grants only temporary assistance), nor does the replay."""
    log = Log()
    orphan_history(log)
    fire = log.case("fire", "temporary", [audit_person("p-o-1", age=62)],
                    temporary=emergency(1_500_000))
    fire.open(cst(10, 20), granted_fen=0)
    assert fire.assessed is not None and fire.assessed.one_off_amount_fen == 1_500_000
    assert of_kind(log.replay(), "divergence") == []
