"""The case workflow: which action moves a case where, who may take it, and what is refused."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.approval.domain import policy as policy_module
from services.approval.domain.assessment import Assessment, Benefit
from services.approval.domain.policy import PolicyTable, load_policy, parse_policies
from services.approval.domain.reassessment import Reassessed, add_months, reassess
from services.approval.domain.trace import Check
from services.approval.domain.workflow import (
    SYSTEM,
    ActionRefused,
    Actor,
    Case,
    Change,
    Rules,
    act,
    add_working_days,
    on_report,
    town_review_due,
)
from shared import clock

POLICY_DIR = Path(policy_module.__file__).resolve().parents[1] / "policies"
PACKAGED = load_policy(POLICY_DIR)
REGION = "330282"

# Thursday 26 September 2024, 10:00 in China. No calendar in the packaged policy, so:
NOW = datetime(2024, 9, 26, 2, 0, tzinfo=UTC)
APPROVAL_DUE = datetime(2024, 10, 10, 15, 59, 59, tzinfo=UTC)  # 10 working days, 23:59:59 CST
REVIEW_DUE = datetime(2024, 10, 17, 15, 59, 59, tzinfo=UTC)  # 15 working days, 23:59:59 CST
NOTICE_ENDS = NOW + timedelta(days=7)

TOWN = Actor("town_reviewer", "t-1")
DISTRICT = Actor("district_approver", "d-1")
CLERK = Actor("window_clerk", "c-1")


def packaged_texts() -> list[tuple[str, str]]:
    return [(f.read_text(encoding="utf-8"), str(f)) for f in sorted(POLICY_DIR.glob("*.toml"))]


def with_figure(name: str, region: str, effective: str, value: int) -> PolicyTable:
    extra = (f'[[figure]]\nname = "{name}"\nregion = "{region}"\neffective_from = {effective}\n'
             f'value = {value}\nsource = "test figure"\n')
    return parse_policies([*packaged_texts(), (extra, "local.toml")])


def rules(table: PolicyTable = PACKAGED, region: str = REGION, now: datetime = NOW) -> Rules:
    return Rules(table, region, clock.local_date(now))


def check(rule: str, passed: bool, detail: str) -> Check:
    return Check(rule, rule, passed, detail)


ELIGIBLE = Assessment(True, (Benefit("dibao", None, 50_000),),
                      (check("income_below_standard", True, "below the standard"),), "v1",
                      date(2024, 9, 20))
NOT_ELIGIBLE = Assessment(False, (), (check("vehicles", False, "1 vehicles (at most 0)"),),
                          "v1", date(2024, 9, 20))
UNDECIDED = Assessment(None, (), (check("policy_in_force", False, "no dibao policy in force"),),
                       None, date(2024, 9, 20))


def one_off(amount_fen: int) -> Assessment:
    return Assessment(True, (Benefit("temporary", None, one_off_amount_fen=amount_fen),),
                      (check("yearly_cap", True, "within the cap"),), "v1", date(2024, 9, 20))


def a_case(stage: str, programme: str = "dibao", **kw: Any) -> Case:
    values: dict[str, Any] = {"assessment": ELIGIBLE, "home_survey": True, **kw}
    return Case("case-1", programme, REGION, stage, 3, **values)


# --- allowed transitions -------------------------------------------------------------------


@dataclass(frozen=True)
class Allowed:
    name: str
    case: Case
    action: str
    actor: Actor
    changes: tuple[Change, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    now: datetime = NOW


ALLOWED = [
    *(Allowed(f"accept {p}: public notice for 7 days", a_case("awaiting_review", p), "accept",
              TOWN, (Change("under_notice", "accept", due_at=NOTICE_ENDS,
                            notice_ends_at=NOTICE_ENDS),))
      for p in ("dibao", "tekun", "marginal")),
    *(Allowed(f"accept {p}: no notice, straight to approval",
              a_case("awaiting_review", p, home_survey=False,
                     assessment=one_off(100_000) if p == "temporary" else ELIGIBLE),
              "accept", TOWN, (Change("awaiting_approval", "accept", due_at=APPROVAL_DUE),))
      for p in ("temporary", "disability")),
    Allowed("return with a note", a_case("awaiting_review"), "return", TOWN,
            (Change("returned", "return", "missing the lease"),),
            {"note": "  missing the lease "}),
    Allowed("resume by the window clerk", a_case("returned"), "resume", CLERK,
            (Change("awaiting_review", "resume", due_at=REVIEW_DUE),)),
    Allowed("resume an emergency: due within the advance hours",
            a_case("returned", "temporary", emergency=True), "resume", TOWN,
            (Change("awaiting_review", "resume", due_at=NOW + timedelta(hours=24)),)),
    *(Allowed(f"reject from {stage} by the {who.role}", a_case(stage, assessment=NOT_ELIGIBLE),
              "reject", who, (Change("rejected", "reject", "car", decides="rejected",
                                     decided_by=by),), {"note": "car"})
      for stage, who, by in (("awaiting_review", TOWN, "town"),
                             ("under_notice", TOWN, "town"),
                             ("awaiting_approval", DISTRICT, "district"),
                             ("follow_up", DISTRICT, "district"))),
    Allowed("object during the notice", a_case("under_notice", notice_ends_at=NOTICE_ENDS),
            "object", CLERK, (Change("under_notice", "objection_recorded", "neighbour says",
                                     notice_ends_at=NOTICE_ENDS),), {"note": "neighbour says"}),
    Allowed("objection upheld: back to review",
            a_case("under_notice", notice_ends_at=NOTICE_ENDS, open_objections=1),
            "resolve_objection", TOWN,
            (Change("awaiting_review", "objection_upheld", "owns a shop", due_at=REVIEW_DUE),),
            {"upheld": True, "note": "owns a shop"}),
    Allowed("objection dismissed: the notice goes on",
            a_case("under_notice", notice_ends_at=NOTICE_ENDS, open_objections=1),
            "resolve_objection", TOWN,
            (Change("under_notice", "objection_dismissed", "unfounded",
                    notice_ends_at=NOTICE_ENDS),), {"upheld": False, "note": "unfounded"}),
    *(Allowed(f"close the notice at its end ({who.role})",
              a_case("under_notice", notice_ends_at=NOW), "close_notice", who,
              (Change("awaiting_approval", "close_notice", due_at=APPROVAL_DUE),))
      for who in (TOWN, SYSTEM)),
    Allowed("district approves", a_case("awaiting_approval"), "approve", DISTRICT,
            (Change("approved", "approve", decides="approved", decided_by="district"),)),
    Allowed("approve at the notice end closes the notice first",
            a_case("under_notice", notice_ends_at=NOW), "approve", DISTRICT,
            (Change("awaiting_approval", "close_notice", due_at=APPROVAL_DUE),
             Change("approved", "approve", decides="approved", decided_by="district"))),
    Allowed("approve after the notice end closes the notice first",
            a_case("under_notice", notice_ends_at=NOW - timedelta(days=2)), "approve", DISTRICT,
            (Change("awaiting_approval", "close_notice", due_at=APPROVAL_DUE),
             Change("approved", "approve", decides="approved", decided_by="district"))),
    Allowed("town approves small temporary assistance itself",
            a_case("awaiting_approval", "temporary", assessment=one_off(300_000)), "approve",
            TOWN, (Change("approved", "approve", decides="approved", decided_by="town"),)),
    Allowed("temporary above the normal ceiling with a justification",
            a_case("awaiting_approval", "temporary", assessment=one_off(1_200_000)), "approve",
            DISTRICT, (Change("approved", "approve", "fire", decides="approved",
                              decided_by="district"),),
            {"justification": "house burnt down; discussed 2024-09-25", "note": "fire"}),
    Allowed("temporary at the normal ceiling needs no justification",
            a_case("awaiting_approval", "temporary", assessment=one_off(1_000_000)), "approve",
            DISTRICT, (Change("approved", "approve", decides="approved",
                              decided_by="district"),)),
    *(Allowed(f"emergency advance from {stage}",
              a_case(stage, "temporary", emergency=True, assessment=one_off(300_000)),
              "advance", TOWN, (Change("advance_paid", "advance", decides="advance",
                                       decided_by="town"),))
      for stage in ("awaiting_report", "awaiting_review")),
    Allowed("confirm an advance after a failed verification",
            a_case("follow_up", "temporary", emergency=True), "confirm", DISTRICT,
            (Change("approved", "confirm", "hardship is real"),), {"note": "hardship is real"}),
    *(Allowed(f"suspend from {stage}", a_case(stage), "suspend", DISTRICT,
              (Change("suspended", "suspend", "moved away", benefit_change="suspended"),),
              {"note": "moved away"})
      for stage in ("approved", "exiting")),
    Allowed("reinstate", a_case("suspended"), "reinstate", DISTRICT,
            (Change("approved", "reinstate", "back home", benefit_change="resumed"),),
            {"note": "back home"}),
    *(Allowed(f"terminate from {stage}", a_case(stage, "disability"), "terminate", DISTRICT,
              (Change("terminated", "terminate", "deceased", benefit_change="terminated"),),
              {"note": "deceased"})
      for stage in ("approved", "exiting", "suspended")),
]


@pytest.mark.parametrize("t", ALLOWED, ids=[t.name for t in ALLOWED])
def test_allowed_transitions(t: Allowed):
    assert act(t.case, t.action, t.actor, t.now, rules(now=t.now), **t.kwargs) == list(t.changes)


# --- refusals ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refused:
    name: str
    case: Case
    action: str
    actor: Actor
    says: str
    missing: str | None = None  # the ActionRefused.field
    kwargs: dict[str, Any] = field(default_factory=dict)


REFUSED = [
    Refused("approve while awaiting review", a_case("awaiting_review"), "approve", DISTRICT,
            "cannot approve a case that is awaiting_review"),
    Refused("town approves Dibao without delegation", a_case("awaiting_approval"), "approve",
            TOWN, "a town_reviewer cannot approve; needs district_approver"),
    Refused("window clerk approves", a_case("awaiting_approval"), "approve", CLERK,
            "a window_clerk cannot approve"),
    Refused("town approves temporary above its limit",
            a_case("awaiting_approval", "temporary", assessment=one_off(300_001)), "approve",
            TOWN, "a town_reviewer cannot approve"),
    Refused("approve a case the pre-assessment failed",
            a_case("awaiting_approval", assessment=NOT_ELIGIBLE), "approve", DISTRICT,
            "the pre-assessment failed (1 vehicles (at most 0))"),
    Refused("approve temporary above the normal ceiling without justification",
            a_case("awaiting_approval", "temporary", assessment=one_off(1_000_001)), "approve",
            DISTRICT, "one case, one discussion", missing="justification"),
    Refused("approve temporary above the normal ceiling with a blank justification",
            a_case("awaiting_approval", "temporary", assessment=one_off(1_200_000)), "approve",
            DISTRICT, "one case, one discussion", missing="justification",
            kwargs={"justification": "   "}),
    Refused("approve under notice before it ends",
            a_case("under_notice", notice_ends_at=NOW + timedelta(seconds=1)), "approve",
            DISTRICT, "the public notice runs until"),
    Refused("approve under notice with an open objection",
            a_case("under_notice", notice_ends_at=NOW, open_objections=1), "approve", DISTRICT,
            "1 objection(s) to the notice are not resolved yet"),
    Refused("accept by the window clerk", a_case("awaiting_review"), "accept", CLERK,
            "a window_clerk cannot accept"),
    Refused("accept Dibao without the home survey", a_case("awaiting_review",
                                                           home_survey=False),
            "accept", TOWN, "home survey", missing="home_survey"),
    Refused("accept before the pre-assessment", a_case("awaiting_review", assessment=None),
            "accept", TOWN, "before the pre-assessment"),
    Refused("accept what the pre-assessment could not decide",
            a_case("awaiting_review", assessment=UNDECIDED), "accept", TOWN,
            "could not decide (no dibao policy in force)"),
    Refused("accept what the pre-assessment failed",
            a_case("awaiting_review", assessment=NOT_ELIGIBLE), "accept", TOWN,
            "return or reject"),
    Refused("accept a case under notice", a_case("under_notice"), "accept", TOWN,
            "cannot accept a case that is under_notice"),
    Refused("return without a note", a_case("awaiting_review"), "return", TOWN,
            "return needs a reason", missing="note"),
    Refused("return with a blank note", a_case("awaiting_review"), "return", TOWN,
            "return needs a reason", missing="note", kwargs={"note": "  "}),
    Refused("reject without a note", a_case("awaiting_review"), "reject", TOWN,
            "reject needs a reason", missing="note"),
    Refused("reject an approved case", a_case("approved"), "reject", DISTRICT,
            "cannot reject a case that is approved", kwargs={"note": "x"}),
    Refused("resume by the district", a_case("returned"), "resume", DISTRICT,
            "a district_approver cannot resume"),
    Refused("object outside the notice", a_case("awaiting_approval"), "object", CLERK,
            "cannot object a case that is awaiting_approval", kwargs={"note": "x"}),
    Refused("object without a note", a_case("under_notice"), "object", CLERK,
            "object needs a reason", missing="note"),
    Refused("resolve an objection without saying whether it is upheld",
            a_case("under_notice", open_objections=1), "resolve_objection", TOWN,
            "upheld", missing="upheld", kwargs={"note": "x"}),
    Refused("close the notice before it ends",
            a_case("under_notice", notice_ends_at=NOW + timedelta(hours=1)), "close_notice",
            TOWN, "the public notice runs until"),
    Refused("close the notice with open objections",
            a_case("under_notice", notice_ends_at=NOW - timedelta(days=1), open_objections=2),
            "close_notice", SYSTEM, "2 objection(s)"),
    Refused("close the notice by the district",
            a_case("under_notice", notice_ends_at=NOW), "close_notice", DISTRICT,
            "a district_approver cannot close_notice"),
    Refused("advance above the town limit",
            a_case("awaiting_report", "temporary", emergency=True, assessment=one_off(300_001)),
            "advance", TOWN, "at most the town's limit of 300000 fen"),
    Refused("advance for a non-emergency",
            a_case("awaiting_report", "temporary", assessment=one_off(100_000)), "advance",
            TOWN, "only emergency temporary assistance"),
    Refused("advance for an emergency that is not temporary assistance",
            a_case("awaiting_report", "dibao", emergency=True), "advance", TOWN,
            "only emergency temporary assistance"),
    Refused("advance before any assessment",
            a_case("awaiting_report", "temporary", emergency=True, assessment=None), "advance",
            TOWN, "not assessed yet"),
    Refused("advance when the assessment says no",
            a_case("awaiting_report", "temporary", emergency=True, assessment=NOT_ELIGIBLE),
            "advance", TOWN, "cannot advance: 1 vehicles (at most 0)"),
    Refused("advance when the assessment cannot decide",
            a_case("awaiting_report", "temporary", emergency=True, assessment=UNDECIDED),
            "advance", TOWN, "cannot advance: no dibao policy in force"),
    Refused("advance by the district",
            a_case("awaiting_report", "temporary", emergency=True, assessment=one_off(1)),
            "advance", DISTRICT, "a district_approver cannot advance"),
    Refused("advance once already paid",
            a_case("advance_paid", "temporary", emergency=True, assessment=one_off(1)),
            "advance", TOWN, "cannot advance a case that is advance_paid"),
    Refused("confirm without a note", a_case("follow_up", "temporary"), "confirm", DISTRICT,
            "confirm needs a reason", missing="note"),
    Refused("suspend one-off temporary assistance", a_case("approved", "temporary"),
            "suspend", DISTRICT, "cannot suspend a one-off temporary case",
            kwargs={"note": "x"}),
    Refused("terminate one-off temporary assistance", a_case("approved", "temporary"),
            "terminate", DISTRICT, "cannot terminate a one-off temporary case",
            kwargs={"note": "x"}),
    Refused("suspend by the town", a_case("approved"), "suspend", TOWN,
            "a town_reviewer cannot suspend", kwargs={"note": "x"}),
    Refused("suspend a suspended case", a_case("suspended"), "suspend", DISTRICT,
            "cannot suspend a case that is suspended", kwargs={"note": "x"}),
    Refused("reinstate an approved case", a_case("approved"), "reinstate", DISTRICT,
            "cannot reinstate a case that is approved", kwargs={"note": "x"}),
    Refused("terminate a rejected case", a_case("rejected"), "terminate", DISTRICT,
            "cannot terminate a case that is rejected", kwargs={"note": "x"}),
    Refused("an unknown action", a_case("approved"), "pay", DISTRICT, "unknown action 'pay'"),
]


@pytest.mark.parametrize("t", REFUSED, ids=[t.name for t in REFUSED])
def test_refusals(t: Refused):
    with pytest.raises(ActionRefused) as refused:
        act(t.case, t.action, t.actor, NOW, rules(), **t.kwargs)
    assert t.says in refused.value.reason
    assert refused.value.field == t.missing


def test_a_missing_workflow_figure_refuses_the_action_naming_it():
    bare = parse_policies([('[[figure]]\nname = "dibao.max_vehicles"\nregion = "000000"\n'
                            'effective_from = 2000-01-01\nvalue = 0\ndefault = true\n', "x")])
    with pytest.raises(ActionRefused, match=r"no workflow\.public_notice_days in force"):
        act(a_case("awaiting_review"), "accept", TOWN, NOW, rules(bare))


def test_rules_record_the_figures_an_action_used():
    r = rules()
    act(a_case("awaiting_review"), "accept", TOWN, NOW, r)
    assert r.used == ["workflow.public_notice_days@000000/2000-01-01"]


# --- delegation ----------------------------------------------------------------------------

DELEGATED = with_figure("workflow.town_delegated_approval", "370202", "2023-01-01", 1)


def delegated_case(region: str = "370202") -> Case:
    return replace(a_case("awaiting_approval"), region_code=region)


def test_where_approval_is_delegated_the_town_approves_dibao_in_the_districts_name():
    changes = act(delegated_case(), "approve", TOWN, NOW, rules(DELEGATED, "370202"))
    assert changes == [Change("approved", "approve", decides="approved", decided_by="town")]


def test_where_approval_is_delegated_the_district_still_may_approve():
    changes = act(delegated_case(), "approve", DISTRICT, NOW, rules(DELEGATED, "370202"))
    assert changes == [Change("approved", "approve", decides="approved", decided_by="district")]


@pytest.mark.parametrize(("region", "on"), [
    ("370203", NOW),  # another district
    ("370202", datetime(2022, 12, 31, 2, 0, tzinfo=UTC)),  # before the delegation took effect
])
def test_delegation_holds_only_for_its_region_from_its_date(region, on):
    with pytest.raises(ActionRefused, match="a town_reviewer cannot approve"):
        act(delegated_case(region), "approve", TOWN, on, rules(DELEGATED, region, on))


def test_delegation_lets_the_town_approve_temporary_above_its_own_limit():
    case = replace(a_case("awaiting_approval", "temporary", assessment=one_off(500_000)),
                   region_code="370202")
    changes = act(case, "approve", TOWN, NOW, rules(DELEGATED, "370202"))
    assert changes[-1].decided_by == "town"


# --- the public notice ---------------------------------------------------------------------


def test_accept_then_approve_at_the_end_of_the_notice():
    r = rules()
    (accepted,) = act(a_case("awaiting_review"), "accept", TOWN, NOW, r)
    assert accepted.to_stage == "under_notice"
    assert accepted.notice_ends_at == NOW + timedelta(days=7)
    noticed = replace(a_case("under_notice"), notice_ends_at=accepted.notice_ends_at)

    just_before = accepted.notice_ends_at - timedelta(microseconds=1)
    with pytest.raises(ActionRefused, match="public notice runs until"):
        act(noticed, "approve", DISTRICT, just_before, rules(now=just_before))

    end = accepted.notice_ends_at
    closed, approved = act(noticed, "approve", DISTRICT, end, rules(now=end))
    assert (closed.to_stage, closed.action) == ("awaiting_approval", "close_notice")
    assert closed.due_at == add_working_days(end, 10, PACKAGED)
    assert (approved.to_stage, approved.decides, approved.decided_by) == (
        "approved", "approved", "district")


def test_the_notice_length_is_policy():
    ten_days = with_figure("workflow.public_notice_days", REGION, "2024-01-01", 10)
    (accepted,) = act(a_case("awaiting_review"), "accept", TOWN, NOW, rules(ten_days))
    assert accepted.notice_ends_at == NOW + timedelta(days=10)


def test_town_approving_dibao_at_the_notice_end_without_delegation_is_refused():
    with pytest.raises(ActionRefused, match="a town_reviewer cannot approve"):
        act(a_case("under_notice", notice_ends_at=NOW), "approve", TOWN, NOW, rules())


# --- a report arrives ----------------------------------------------------------------------


@pytest.mark.parametrize(("case", "assessment", "expected"), [
    (a_case("awaiting_report"), ELIGIBLE,
     [Change("awaiting_review", "pre_assessed", explanation="eligible: 500.00 yuan/month",
             due_at=REVIEW_DUE)]),
    (a_case("awaiting_report"), NOT_ELIGIBLE,
     [Change("awaiting_review", "pre_assessed",
             explanation="not eligible: 1 vehicles (at most 0)",
             due_at=REVIEW_DUE)]),
    (a_case("awaiting_report", "temporary", emergency=True), one_off(100_000),
     [Change("awaiting_review", "pre_assessed", explanation="eligible: 1,000.00 yuan once",
             due_at=NOW + timedelta(hours=24))]),
    (a_case("advance_paid", "temporary", emergency=True), one_off(100_000),
     [Change("approved", "verified_after_advance", explanation="eligible: 1,000.00 yuan once")]),
    (a_case("advance_paid", "temporary", emergency=True), NOT_ELIGIBLE,
     [Change("follow_up", "verification_failed_after_advance",
             explanation="not eligible: 1 vehicles (at most 0)")]),
    (a_case("advance_paid", "temporary", emergency=True), UNDECIDED,
     [Change("follow_up", "verification_inconclusive_after_advance",
             explanation="needs staff: no dibao policy in force")]),
    (a_case("awaiting_review"), ELIGIBLE, []),
    (a_case("under_notice"), NOT_ELIGIBLE, []),
    (a_case("approved"), NOT_ELIGIBLE, []),
], ids=["awaiting_report eligible", "awaiting_report not eligible",
        "awaiting_report emergency: due in 24 hours", "advance_paid eligible → approved",
        "advance_paid not eligible → follow_up", "advance_paid undecidable → follow_up",
        "awaiting_review: stage stays", "under_notice: stage stays", "approved: stage stays"])
def test_on_report(case, assessment, expected):
    assert on_report(case, assessment, NOW, rules()) == expected


def test_town_review_due():
    assert town_review_due(NOW, rules(), emergency=False) == REVIEW_DUE
    assert town_review_due(NOW, rules(), emergency=True) == NOW + timedelta(hours=24)


# --- a recipient's reassessment ------------------------------------------------------------


def monthly(amount_fen: int) -> Assessment:
    return Assessment(True, (Benefit("dibao", None, amount_fen),),
                      (check("income_below_standard", True, "below"),), "v2", date(2024, 9, 20))


LOST = Assessment(False, (), (check("income_below_standard", False, "income 1,200.00 is not "
                                    "below the standard 1,005.00"),), "v2", date(2024, 9, 20))


@dataclass(frozen=True)
class Re:
    name: str
    stage: str
    new: Assessment
    expected: Reassessed | None
    previous_work: int = 0
    new_work: int = 0
    this_month: str = "2024-09"
    current: int = 50_000


REASSESS = [
    Re("income from work rises: gradual exit for the packaged 6 months", "approved", LOST,
       Reassessed("exiting", "gradual_exit", "2024-10", "2025-03", 50_000,
                  "income from work rose (0 → 150000 fen/month): benefit continues to 2025-03 "
                  "(6 months), then ends; income 1,200.00 is not below the standard 1,005.00"),
       new_work=150_000),
    Re("gradual exit across a year end", "approved", LOST,
       Reassessed("exiting", "gradual_exit", "2024-12", "2025-05", 50_000,
                  "income from work rose (10000 → 150000 fen/month): benefit continues to "
                  "2025-05 (6 months), then ends; income 1,200.00 is not below the standard "
                  "1,005.00"),
       previous_work=10_000, new_work=150_000, this_month="2024-11"),
    Re("other loss of eligibility: suspended", "approved", LOST,
       Reassessed("suspended", "suspended", "2024-10", None, 0,
                  "no longer eligible, pending staff review: income 1,200.00 is not below the "
                  "standard 1,005.00"),
       previous_work=20_000, new_work=20_000),
    Re("income from work fell but eligibility lost: suspended", "approved", LOST,
       Reassessed("suspended", "suspended", "2024-10", None, 0,
                  "no longer eligible, pending staff review: income 1,200.00 is not below the "
                  "standard 1,005.00"),
       previous_work=30_000, new_work=20_000),
    Re("amount changes", "approved", monthly(42_000),
       Reassessed(None, "amount_changed", "2024-10", None, 42_000,
                  "eligible: 420.00 yuan/month")),
    Re("same amount: nothing changes", "approved", monthly(50_000), None),
    Re("exiting and eligible again: resumed", "exiting", monthly(50_000),
       Reassessed("approved", "resumed", "2024-10", None, 50_000,
                  "eligible again: gradual exit stopped; eligible: 500.00 yuan/month")),
    Re("exiting and still not eligible: the exit runs on", "exiting", LOST, None,
       new_work=200_000),
    Re("suspended and still not eligible: nothing changes", "suspended", LOST, None),
    *(Re(f"undecidable while {stage}: no change", stage, UNDECIDED, None, new_work=150_000)
      for stage in ("approved", "exiting", "suspended")),
]


@pytest.mark.parametrize("t", REASSESS, ids=[t.name for t in REASSESS])
def test_reassess(t: Re):
    got = reassess(t.stage, t.current, monthly(t.current), t.new, t.previous_work, t.new_work,
                   t.this_month, rules())
    assert got == t.expected


def test_the_gradual_exit_months_are_the_regions_policy():
    twelve = with_figure("dibao.gradual_exit_months", REGION, "2024-01-01", 12)
    got = reassess("approved", 50_000, monthly(50_000), LOST, 0, 150_000, "2024-09",
                   rules(twelve))
    assert got is not None
    assert (got.to_stage, got.end_month) == ("exiting", "2025-09")


# --- calendar arithmetic -------------------------------------------------------------------

NATIONAL_DAY_2024 = parse_policies([*packaged_texts(), ("""
[calendar]
holidays = [2024-10-01, 2024-10-02, 2024-10-03, 2024-10-04, 2024-10-07]
workdays = [2024-09-29, 2024-10-12]
""", "calendar.toml")])


def cst(y: int, m: int, d: int, h: int = 10) -> datetime:
    return datetime(y, m, d, h, 0, tzinfo=clock.CHINA)


def end_of(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 23, 59, 59, tzinfo=clock.CHINA)


@pytest.mark.parametrize(("start", "days", "table", "end"), [
    (cst(2024, 9, 27), 1, PACKAGED, end_of(2024, 9, 30)),      # Friday → Monday
    (cst(2024, 9, 28), 1, PACKAGED, end_of(2024, 9, 30)),      # Saturday → Monday
    (cst(2024, 9, 27), 5, PACKAGED, end_of(2024, 10, 4)),
    (cst(2024, 9, 30), 1, NATIONAL_DAY_2024, end_of(2024, 10, 8)),   # over the holiday
    (cst(2024, 9, 30), 3, NATIONAL_DAY_2024, end_of(2024, 10, 10)),
    (cst(2024, 9, 27), 1, NATIONAL_DAY_2024, end_of(2024, 9, 29)),   # make-up Sunday
    (cst(2024, 9, 27), 2, NATIONAL_DAY_2024, end_of(2024, 9, 30)),
    (cst(2024, 9, 27), 3, NATIONAL_DAY_2024, end_of(2024, 10, 8)),
    (cst(2024, 10, 11), 1, NATIONAL_DAY_2024, end_of(2024, 10, 12)),  # make-up Saturday
    (cst(2024, 10, 11), 0, NATIONAL_DAY_2024, end_of(2024, 10, 11)),
], ids=["weekend", "from a weekend", "a week", "holiday", "holiday then 3",
        "make-up sunday", "make-up then monday", "make-up, monday, holiday",
        "make-up saturday", "zero days"])
def test_add_working_days(start, days, table, end):
    assert add_working_days(start, days, table) == end


def test_add_working_days_counts_from_the_day_in_china_and_keeps_the_callers_zone():
    # Thursday 20:00 UTC is already Friday 04:00 in China: one working day later is Monday.
    start = datetime(2024, 9, 26, 20, 0, tzinfo=UTC)
    end = add_working_days(start, 1, PACKAGED)
    assert end == datetime(2024, 9, 30, 15, 59, 59, tzinfo=UTC)
    assert end.tzinfo is UTC


@pytest.mark.parametrize(("month", "n", "expected"), [
    ("2024-09", 1, "2024-10"),
    ("2024-12", 1, "2025-01"),
    ("2024-09", 6, "2025-03"),
    ("2024-11", 14, "2026-01"),
    ("2025-01", -1, "2024-12"),
    ("2024-05", 0, "2024-05"),
])
def test_add_months(month, n, expected):
    assert add_months(month, n) == expected
