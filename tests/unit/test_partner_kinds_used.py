"""Every partner kind is used (issue 22 §1, the last item): the kinds that were stored "for the
report's flags still to come" now change the report and the assessment as national practice
has them (民发〔2021〕57号, 43号):

- business (market regulation): business income, at the larger of declared and recorded, flagged;
- wealth_product, insurance_policy (banks and insurers): financial assets beside deposits, tested
  with them against the deposit limit, each shown with its source;
- provident_fund: shown and flagged, counted with the financial assets only where the region's
  ``dibao.count_provident_fund`` says so;
- taxable_income (tax): never added to the count (it overlaps wages and business income), flagged
  when above the counted income by more than ``dibao.taxable_income_margin_permille``;
- household_registration (public security): a registration outside the case's region is flagged;
- imprisonment (court): the member is left out of the household (民发〔2021〕57号 art. 8), and
  extreme-hardship support is not granted.

Table-driven: each kind's effect, and the boundary each fix touches.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from services.approval.domain.assessment import Assessment, assess
from services.approval.domain.facts import (
    Assets,
    CaseFacts,
    Member,
    TemporaryRequest,
    report_findings,
    with_findings,
)
from services.approval.domain.policy import PolicyTable, load_policy, parse_policies
from services.verification.domain.household import HouseholdMember
from services.verification.domain.model import PartnerRecord, build_report, within
from services.verification.domain.partners import KINDS, OWNER
from shared.events import catalogue as ev
from tests.unit.test_audit_replay import MINUTE, Log, cst
from tests.unit.test_audit_replay import person as applicant_of
from tests.unit.test_programmes import POLICY_DIR, figure_toml, packaged_texts

POLICY = load_policy(POLICY_DIR)
CIXI = "330282"  # Dibao standard 100,500 fen
STANDARD = 100_500
ON = date(2026, 12, 1)
AS_OF = date(2026, 11, 30)


def rec(kind: str, ref: str = "P1", fen: int = 0, *, record_id: str | None = None,
        town: str | None = None, as_of: date = AS_OF) -> PartnerRecord:
    return PartnerRecord(OWNER[kind], record_id or f"{kind}-{ref}-{fen}", kind, ref, fen, as_of,
                         town_code=town)


def member(ref: str = "P1", **declared: int) -> HouseholdMember:
    return HouseholdMember(ref, 40, declared, True)


# -- the report ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("declared", "recorded", "counted", "taken"), [
    (0, 80_000, 80_000, "recorded"),  # known only from the record: counted, as a wage would be
    (50_000, 80_000, 80_000, "recorded"),  # the record is larger: it counts
    (90_000, 80_000, 90_000, "declared"),  # the declaration is larger: it counts
    (80_000, 80_000, 80_000, "both"),
    (30_000, 0, 30_000, "declared"),  # a registration without a figure: the form's stands
])
def test_a_registered_business_is_business_income_at_the_larger_figure(
        declared: int, recorded: int, counted: int, taken: str) -> None:
    report = build_report([member(business=declared, wage=20_000)], [rec("business", fen=recorded)])
    m = report.members[0]
    business = next(k for k in m.by_kind if k.kind == "business")
    assert (business.declared_fen, business.recorded_fen, business.counted_fen) == \
        (declared, recorded, counted)
    assert business.counted_from == taken
    assert "market_regulation:business" in business.sources
    assert m.counted_monthly_fen == counted + 20_000
    assert m.employment_monthly_fen == counted + 20_000  # income from work: the deduction applies
    assert [(f.kind, f.person_ref, f.source) for f in report.flags] == [
        ("business_registered", "P1", "market_regulation:business")]


def test_a_business_figure_is_monthly_income_in_the_registry() -> None:
    # It was the registered capital (a value) before issue 22: no income at all.
    assert KINDS["business"].measure == "monthly_fen"


@pytest.mark.parametrize(("records", "wealth", "insurance", "provident", "deposits"), [
    ([], 0, 0, 0, 0),
    ([rec("wealth_product", fen=1_200_000)], 1_200_000, 0, 0, 0),
    ([rec("insurance_policy", fen=300_000)], 0, 300_000, 0, 0),
    ([rec("provident_fund", fen=4_000_000)], 0, 0, 4_000_000, 0),
    ([rec("deposit", fen=100), rec("wealth_product", "P2", 200),
      rec("wealth_product", "P1", 300, record_id="w2"), rec("insurance_policy", "P2", 400),
      rec("provident_fund", "P2", 500)], 500, 400, 500, 100),
])
def test_financial_assets_are_summed_per_kind_over_the_household(
        records: list[PartnerRecord], wealth: int, insurance: int, provident: int,
        deposits: int) -> None:
    report = build_report([member("P1"), member("P2")],
                          [*records, rec("wealth_product", "stranger", 9_999)])
    assert (report.wealth_products_fen, report.insurance_value_fen, report.provident_fund_fen,
            report.deposits_fen) == (wealth, insurance, provident, deposits)
    # None of them is income.
    assert report.household_monthly_income_fen == 0
    assert [f.kind for f in report.flags] == ["provident_fund"] * (1 if provident else 0)


@pytest.mark.parametrize(("records", "taxable"), [
    ([], None),
    ([rec("taxable_income", fen=0)], 0),
    ([rec("taxable_income", fen=150_000)], 150_000),
    ([rec("taxable_income", fen=100_000, record_id="t1"),
      rec("taxable_income", fen=30_000, record_id="t2")], 130_000),  # two withholding agents
])
def test_taxable_income_is_carried_beside_the_count_never_in_it(
        records: list[PartnerRecord], taxable: int | None) -> None:
    m = build_report([member(wage=100_000)], records).members[0]
    assert m.taxable_income_fen == taxable
    assert (m.counted_monthly_fen, m.verified_monthly_fen) == (100_000, 0)
    assert [k.kind for k in m.by_kind] == ["wage"]


@pytest.mark.parametrize(("town", "region", "elsewhere"), [
    ("330282001", "330282", False),  # a town of Cixi, a Cixi case
    ("330281001", "330282", True),  # Yuyao, next door: elsewhere
    ("330281001", "330200", False),  # a Ningbo-wide case: Yuyao is in Ningbo
    ("330281001", "330000", False),  # a province-wide case
    ("370202001", "330282", True),  # another province
    (None, "330282", False),  # a record that does not say where: nothing to compare
])
def test_a_registration_outside_the_cases_region_is_flagged(
        town: str | None, region: str, elsewhere: bool) -> None:
    report = build_report([member()], [rec("household_registration", town=town)],
                          region_code=region)
    assert report.members[0].registered_elsewhere is elsewhere
    assert [(f.kind, f.source) for f in report.flags] == (
        [("registered_elsewhere", "public_security:household_registration")] if elsewhere else [])
    if town is not None:
        assert within(town, region) is not elsewhere


def test_the_newest_registration_decides_and_no_region_means_no_flag() -> None:
    moved = [rec("household_registration", town="370202001", record_id="old",
                 as_of=date(2010, 1, 1)),
             rec("household_registration", town="330282001", record_id="new",
                 as_of=date(2020, 1, 1))]
    assert build_report([member()], moved, region_code=CIXI).members[0].registered_elsewhere \
        is False
    assert build_report([member()], moved[:1]).flags == ()  # the builder was told no region


def test_an_imprisonment_on_record_dates_the_member_and_flags_them() -> None:
    report = build_report([member("P1"), member("P2")], [
        rec("imprisonment", "P2", record_id="a", as_of=date(2024, 5, 1)),
        rec("imprisonment", "P2", record_id="b", as_of=date(2025, 2, 1))])
    assert {m.person_ref: m.imprisoned_since for m in report.members} == \
        {"P1": None, "P2": date(2025, 2, 1)}
    assert [(f.kind, f.person_ref) for f in report.flags] == [("imprisoned", "P2")] * 2


@pytest.mark.parametrize("record", [
    rec("business", fen=10_000), rec("wealth_product", fen=1), rec("insurance_policy", fen=1),
    rec("provident_fund", fen=1), rec("taxable_income", fen=0),
    rec("household_registration", town="370202001"), rec("imprisonment"),
])
def test_each_kind_changes_the_figures_a_decision_rests_on(record: PartnerRecord) -> None:
    """A new report is made when the figures change: each kind's record now changes them."""
    before = build_report([member()], [], region_code=CIXI)
    assert build_report([member()], [record], region_code=CIXI).figures != before.figures


# -- the assessment ------------------------------------------------------------------------------

def household(*members: Member, programme: str = "dibao", region: str = CIXI) -> CaseFacts:
    return CaseFacts("c-1", programme, region, members)


def person(ref: str, relation: str = "applicant", age: int = 40, **kw: Any) -> Member:
    return Member(person_ref=ref, relation=relation, age_years=age, declared_monthly_fen=0, **kw)


def reported(facts: CaseFacts, members: dict[str, dict[str, Any]], **assets: int) -> CaseFacts:
    """The facts with a report in its JSON form: ``members`` ref → the member's report fields
    beyond the counted income (0 unless given)."""
    report = {"report_id": "r-1",
              "assets": {"real_estate_count": 1, "vehicle_count": 0, "deposits_fen": 0, **assets},
              "members": [{"person_ref": m.person_ref, "counted_monthly_fen": 0,
                           "employment_monthly_fen": 0, **members.get(m.person_ref, {})}
                          for m in facts.members]}
    return with_findings(facts, report_findings(report))


def checks(a: Assessment, rule: str) -> list[Any]:
    return [c for c in a.checks if c.rule == rule]


LIMIT_2 = STANDARD * 2 * 24  # two members, 24 months (the national default)


@pytest.mark.parametrize(("deposits", "wealth", "insurance", "passes"), [
    (LIMIT_2, 0, 0, True),  # deposits alone, at the limit
    (LIMIT_2 - 2, 1, 1, True),  # at the limit with every kind
    (LIMIT_2 - 1, 1, 1, False),  # a fen over: the wealth product and the policy count
    (0, LIMIT_2 + 1, 0, False),  # wealth products alone over the limit
    (0, 0, LIMIT_2 + 1, False),  # insurance cash value alone
])
def test_wealth_products_and_insurance_count_with_deposits_against_the_limit(
        deposits: int, wealth: int, insurance: int, passes: bool) -> None:
    facts = reported(household(person("A"), person("B", "spouse")), {},
                     deposits_fen=deposits, wealth_products_fen=wealth,
                     insurance_value_fen=insurance)
    a = assess(facts, POLICY, ON)
    assert a.eligible is passes
    (test,) = checks(a, "deposits")
    assert test.passed is passes
    assert test.inputs["deposit_limit_fen"] == str(LIMIT_2)
    if wealth or insurance:
        assert test.label_zh == "存款等金融资产"
        assert test.inputs["financial_assets_fen"] == str(deposits + wealth + insurance)
        for source in ("bank:deposit", "bank:wealth_product", "bank:insurance_policy"):
            assert source in test.detail
    else:  # deposits alone: the trace a decision always had (archived decisions replay as made)
        assert (test.label_zh, test.detail) == (
            "存款", f"deposits {LIMIT_2 // 100:,}.00 yuan (at most 1,005.00 × 2 × 24 months = "
            f"{LIMIT_2 // 100:,}.00 yuan)")


@pytest.mark.parametrize("programme", ["marginal", "temporary"])
def test_the_other_means_tests_count_the_financial_assets_too(programme: str) -> None:
    facts = household(person("A"), programme=programme)
    if programme == "temporary":
        facts = facts.but(temporary=TemporaryRequest("spending", 100_000, "illness", 0))
    over = reported(facts, {"A": {"counted_monthly_fen": 120_000}}, deposits_fen=0,
                    wealth_products_fen=STANDARD * 24 + 1)
    assert not checks(assess(over, POLICY, ON), "deposits")[0].passed


def policy_counting_provident_fund(value: int) -> PolicyTable:
    return parse_policies([*packaged_texts(), (figure_toml(
        "dibao.count_provident_fund", CIXI, "2026-01-01", value), "region.toml")])


@pytest.mark.parametrize(("counted_here", "balance", "eligible"), [
    (0, LIMIT_2, True),  # not counted (the national default): shown, not tested
    (0, LIMIT_2 * 10, True),
    (1, LIMIT_2, True),  # counted: at the limit passes
    (1, LIMIT_2 + 1, False),  # counted: a fen over fails
])
def test_the_provident_fund_counts_where_the_region_says_so_and_is_flagged_either_way(
        counted_here: int, balance: int, eligible: bool) -> None:
    facts = reported(household(person("A"), person("B", "spouse")), {},
                     provident_fund_fen=balance)
    a = assess(facts, policy_counting_provident_fund(counted_here), ON)
    assert a.eligible is eligible
    (flag,) = checks(a, "provident_fund")
    assert flag.passed and flag.inputs == {"provident_fund_fen": str(balance),
                                           "counted": str(bool(counted_here))}
    assert flag.parameters[0].name == "dibao.count_provident_fund"
    (test,) = checks(a, "deposits")
    assert ("provident fund" in test.detail) is bool(counted_here)


def test_the_national_default_does_not_count_the_provident_fund() -> None:
    facts = reported(household(person("A")), {}, provident_fund_fen=10**9)
    a = assess(facts, POLICY, ON)
    assert a.eligible is True
    assert checks(a, "provident_fund")[0].parameters[0].region == "000000"


@pytest.mark.parametrize(("taxable", "counted", "flagged"), [
    (None, 100_000, False),  # no record
    (110_000, 100_000, False),  # at the margin (100‰): within
    (110_001, 100_000, True),  # a fen above
    (90_000, 100_000, False),  # below the count
    (1, 0, True),  # anything when nothing is counted
    (0, 0, False),
])
def test_taxable_income_above_the_count_is_flagged_and_never_counted(
        taxable: int | None, counted: int, flagged: bool) -> None:
    facts = reported(household(person("A")), {"A": {
        "counted_monthly_fen": counted, "employment_monthly_fen": counted,
        "taxable_income_fen": taxable}})
    a = assess(facts, POLICY, ON)
    found = checks(a, "taxable_income_above_counted")
    assert bool(found) is flagged
    if flagged:
        assert found[0].passed
        assert found[0].inputs["taxable_income_fen"] == str(taxable)
        assert found[0].inputs["counted_income_fen"] == str(counted)
    # The amount is the count's: the taxable income is never added.
    without = assess(reported(household(person("A")), {"A": {
        "counted_monthly_fen": counted, "employment_monthly_fen": counted}}), POLICY, ON)
    assert a.monthly_amount_fen == without.monthly_amount_fen


def test_the_taxable_margin_is_the_regions() -> None:
    strict = parse_policies([*packaged_texts(), (figure_toml(
        "dibao.taxable_income_margin_permille", CIXI, "2026-01-01", 0), "region.toml")])
    facts = reported(household(person("A")), {"A": {"counted_monthly_fen": 100_000,
                                                    "taxable_income_fen": 100_001}})
    assert not checks(assess(facts, POLICY, ON), "taxable_income_above_counted")
    assert checks(assess(facts, strict, ON), "taxable_income_above_counted")


@pytest.mark.parametrize("programme", ["dibao", "marginal", "tekun"])
def test_a_registration_elsewhere_is_flagged_never_refused(programme: str) -> None:
    applicant = person("A", age=70, able_to_work=False, self_care="full")
    base = household(applicant, programme=programme)
    income = 120_000 if programme == "marginal" else 0
    plain = reported(base, {"A": {"counted_monthly_fen": income}})
    flagged = reported(base, {"A": {"counted_monthly_fen": income, "registered_elsewhere": True}})
    a, b = assess(plain, POLICY, ON), assess(flagged, POLICY, ON)
    assert a.eligible is b.eligible is True
    assert a.monthly_amount_fen == b.monthly_amount_fen
    assert not checks(a, "household_registration")
    (flag,) = checks(b, "household_registration")
    assert flag.passed and flag.inputs["region_code"] == CIXI


# Dibao: applicant earning 1,500 yuan (wage, so 200 yuan deducted), a spouse in prison with a
# pension of 600 yuan, a child of 10.
def prison_household(in_prison: bool, *, programme: str = "dibao") -> CaseFacts:
    facts = household(person("A"), person("B", "spouse", 45), person("C", "child", 10),
                      programme=programme)
    return reported(facts, {
        "A": {"counted_monthly_fen": 150_000, "employment_monthly_fen": 150_000},
        "B": {"counted_monthly_fen": 60_000,
              "imprisoned_since": date(2025, 1, 1) if in_prison else None}})


def test_a_member_in_prison_is_left_out_of_the_household_size_income_and_amount() -> None:
    free, jailed = (assess(prison_household(p), POLICY, ON) for p in (False, True))
    # Free: (1,500 − 200 + 600) over 3 = 633.33 < 1,005; 3,015 − 1,900 = 1,115 yuan.
    assert free.eligible and free.benefits[0].monthly_amount_fen == 3 * STANDARD - 190_000
    # In prison: (1,500 − 200) over 2 = 650 < 1,005; 2,010 − 1,300 = 710 yuan.
    assert jailed.eligible and jailed.benefits[0].monthly_amount_fen == 2 * STANDARD - 130_000
    (members,) = checks(jailed, "household_members")
    assert members.passed and members.inputs["counted_size"] == "2"
    assert members.inputs["not_counted"] == "B" and "art. 8" in members.detail
    assert checks(jailed, "income_counted")[0].inputs["household_size"] == "2"
    assert checks(jailed, "amount")[0].inputs["household_size"] == "2"
    assert not checks(free, "household_members")
    # The add-ons follow the members counted: the child's, not the prisoner's.
    assert {b.person_ref for b in jailed.benefits if b.kind == "dibao_classified"} == {"C"}


@pytest.mark.parametrize(("wage", "eligible_free", "eligible_jailed"), [
    # A prisoner without income leaves a smaller divisor: the applicant's wage less the
    # 200-yuan deduction, over 2 members instead of 3, against the standard of 1,005 yuan.
    (190_000, True, True),  # 1,700 over 2 = 850
    (220_000, True, True),  # 2,000 over 2 = 1,000: just below
    (221_000, True, False),  # 2,010 over 2 = 1,005: at the standard, not below
    (230_000, True, False),  # 2,100 over 2 = 1,050 (over 3 = 700: eligible)
])
def test_leaving_a_member_out_moves_the_income_test(wage: int, eligible_free: bool,
                                                    eligible_jailed: bool) -> None:
    def facts(in_prison: bool) -> CaseFacts:
        return reported(household(person("A"), person("B", "spouse", 45), person("C", "child", 9)),
                        {"A": {"counted_monthly_fen": wage, "employment_monthly_fen": wage},
                         "B": {"imprisoned_since": date(2025, 1, 1) if in_prison else None}})
    assert assess(facts(False), POLICY, ON).eligible is eligible_free
    assert assess(facts(True), POLICY, ON).eligible is eligible_jailed


@pytest.mark.parametrize("programme", ["dibao", "marginal"])
def test_a_household_whose_only_member_is_in_prison_has_no_one_to_count(programme: str) -> None:
    facts = reported(household(person("A"), programme=programme),
                     {"A": {"imprisoned_since": date(2025, 1, 1)}})
    a = assess(facts, POLICY, ON)
    assert a.eligible is False
    assert [c.rule for c in a.failed] == ["household_members"]
    assert "no member left" in a.failed[0].detail


def test_marginal_and_temporary_count_the_members_the_same_way() -> None:
    def marginal(in_prison: bool) -> Assessment:
        facts = household(person("A"), person("B", "spouse", 45), person("C", "child", 10),
                          programme="marginal")
        return assess(reported(facts, {
            "A": {"counted_monthly_fen": 260_000, "employment_monthly_fen": 260_000},
            "B": {"imprisoned_since": date(2025, 1, 1) if in_prison else None}}), POLICY, ON)
    # 2,400 over 3 = 800 (below the standard: Dibao, not marginal); over 2 = 1,200: marginal.
    assert marginal(False).eligible is False and marginal(True).eligible is True
    temporary = prison_household(True, programme="temporary").but(
        temporary=TemporaryRequest("spending", 100_000, "illness", 0))
    a = assess(temporary, POLICY, ON)
    assert checks(a, "household_members")[0].inputs["counted_size"] == "2"
    assert checks(a, "income_counted")[0].inputs["household_size"] == "2"


def test_extreme_hardship_is_not_granted_to_a_person_in_prison() -> None:
    applicant = person("A", age=70, able_to_work=False, self_care="full")
    facts = household(applicant, programme="tekun")
    free = assess(reported(facts, {}), POLICY, ON)
    jailed = assess(reported(facts, {"A": {"imprisoned_since": date(2025, 1, 1)}}), POLICY, ON)
    assert free.eligible is True and not checks(free, "not_in_prison")
    assert jailed.eligible is False
    assert [c.rule for c in jailed.failed] == ["not_in_prison"]


# -- archived facts, reports and events ------------------------------------------------------

OLD_REPORT = {"report_id": "r-0", "assets": {"real_estate_count": 1, "vehicle_count": 0,
                                             "deposits_fen": 5_000},
              "members": [{"person_ref": "A", "counted_monthly_fen": 10_000,
                           "employment_monthly_fen": 0}]}


def test_a_report_from_before_the_kinds_were_used_reads_with_nothing_on_record() -> None:
    found = report_findings(OLD_REPORT)
    assert found.assets == Assets(1, 0, 5_000) == Assets(1, 0, 5_000, 0, 0, 0)
    assert found.records == {}
    facts = with_findings(household(person("A")), found)
    m = facts.members[0]
    assert (m.in_prison_since, m.taxable_income_fen, m.registered_elsewhere) == (None, None, False)
    a = assess(facts, POLICY, ON)
    rules = [c.rule for c in a.checks]
    for new in ("household_members", "provident_fund", "taxable_income_above_counted",
                "household_registration"):
        assert new not in rules
    # And its policy version names no figure the old rules did not use.
    assert "count_provident_fund" not in (a.policy_version or "")
    assert "taxable_income_margin" not in (a.policy_version or "")


def test_stored_facts_from_before_the_kinds_load() -> None:
    facts = reported(household(person("A")), {"A": {"taxable_income_fen": 5,
                                                    "imprisoned_since": date(2025, 1, 1)}},
                     wealth_products_fen=7)
    data = facts.to_dict()
    assert data["members"][0]["in_prison_since"] == "2025-01-01"  # JSON-ready
    assert CaseFacts.from_dict(data) == facts
    for name in ("in_prison_since", "taxable_income_fen", "registered_elsewhere"):
        del data["members"][0][name]
    for name in ("wealth_products_fen", "insurance_value_fen", "provident_fund_fen"):
        del data["assets"][name]
    old = CaseFacts.from_dict(data)
    assert old.members[0].in_prison_since is None and old.assets == Assets(1, 0, 0)


def test_an_archived_report_event_decodes_with_the_defaults() -> None:
    event = ev.VerificationReported.model_validate({
        "case_id": "330282-20250303-x", "report_id": "r", "region_code": CIXI,
        "programme": "dibao", "applicant_ref": "A", "household_size": 1,
        "members": [{"person_ref": "A", "declared_monthly_fen": 0, "verified_monthly_fen": 0,
                     "counted_monthly_fen": 0, "sources": []}],
        "assets": {"real_estate_count": 0, "vehicle_count": 0, "deposits_fen": 0},
        "household_monthly_income_fen": 0, "per_capita_monthly_income_fen": 0,
        "reported_at": "2025-03-03T02:00:00Z",
        "flags": [{"kind": "imprisoned", "person_ref": "A", "source": "court:imprisonment"}]})
    assert event.assets.wealth_products_fen == event.assets.provident_fund_fen == 0
    m = event.members[0]
    assert (m.taxable_income_fen, m.registered_elsewhere, m.imprisoned_since) == \
        (None, False, None)


def test_the_report_event_and_its_json_give_approval_the_same_facts() -> None:
    """Approval reads the event's model (dates as dates); the audit replay reads its JSON (dates
    as strings): both must give the same facts, or the replay diverges."""
    event = ev.VerificationReported(
        case_id="330282-20250303-x", report_id="r", region_code=CIXI, programme="dibao",
        applicant_ref="A", household_size=2,
        members=[ev.MemberIncome(person_ref="A", declared_monthly_fen=0, verified_monthly_fen=0,
                                 counted_monthly_fen=50_000, sources=[], taxable_income_fen=90_000,
                                 registered_elsewhere=True),
                 ev.MemberIncome(person_ref="B", declared_monthly_fen=0, verified_monthly_fen=0,
                                 counted_monthly_fen=0, sources=[],
                                 imprisoned_since=date(2025, 1, 1))],
        assets=ev.AssetSummary(real_estate_count=1, vehicle_count=0, deposits_fen=1,
                               wealth_products_fen=2, insurance_value_fen=3,
                               provident_fund_fen=4),
        household_monthly_income_fen=50_000, per_capita_monthly_income_fen=25_000,
        reported_at="2025-03-03T02:00:00Z")  # type: ignore[arg-type]
    from_model = report_findings(event.model_dump())
    from_json = report_findings(json.loads(event.model_dump_json()))
    assert from_model == from_json
    assert from_json.records == {"A": (None, 90_000, True), "B": ("2025-01-01", None, False)}
    assert from_json.assets == Assets(1, 0, 1, 2, 3, 4)


# -- the audit replay ----------------------------------------------------------------------------

def test_the_audit_replay_reruns_decisions_on_every_kind_with_no_divergence() -> None:
    """Audit re-runs approval's rules on the facts rebuilt from the archived events' JSON: a
    household with a business, financial assets, a provident fund, taxable income, a registration
    elsewhere and a member in prison replays exactly as approval decided it — approved through
    the notice, and a tekun applicant in prison refused."""
    log = Log()
    dibao = log.case("kinds", "dibao", [applicant_of("p-k-1", wage=150_000),
                                        applicant_of("p-k-2", "spouse"),
                                        applicant_of("p-k-3", "child", age=9)])
    tekun = log.case("jailed", "tekun", [ev.MemberFacts(
        person_ref="p-j-1", relation="applicant", age_years=70, declared_incomes=[],
        consent_signed=True, able_to_work=False, self_care="full")])
    for n, (case, members, assets) in enumerate((
            (dibao, [ev.MemberIncome(
                person_ref="p-k-1", declared_monthly_fen=150_000, verified_monthly_fen=30_000,
                counted_monthly_fen=180_000, employment_monthly_fen=180_000, sources=[
                    "market_regulation:business"], taxable_income_fen=250_000,
                registered_elsewhere=True),
              ev.MemberIncome(person_ref="p-k-2", declared_monthly_fen=0,
                              verified_monthly_fen=60_000, counted_monthly_fen=60_000,
                              sources=["hr_social_security:pension"],
                              imprisoned_since=date(2024, 6, 1)),
              ev.MemberIncome(person_ref="p-k-3", declared_monthly_fen=0,
                              verified_monthly_fen=0, counted_monthly_fen=0, sources=[])],
             ev.AssetSummary(real_estate_count=1, vehicle_count=0, deposits_fen=100_000,
                             wealth_products_fen=500_000, insurance_value_fen=20_000,
                             provident_fund_fen=3_000_000)),
            (tekun, [ev.MemberIncome(person_ref="p-j-1", declared_monthly_fen=0,
                                     verified_monthly_fen=0, counted_monthly_fen=0, sources=[],
                                     imprisoned_since=date(2025, 1, 10))],
             ev.AssetSummary(real_estate_count=0, vehicle_count=0, deposits_fen=0)))):
        case.open(cst(3 + n, 9))
        at = cst(4 + n, 11)
        report = ev.VerificationReported(
            case_id=case.case_id, report_id=f"{case.case_id}/r", region_code=CIXI,
            programme=case.programme,  # type: ignore[arg-type]
            applicant_ref=case.refs[0], household_size=len(members), members=members,
            assets=assets, household_monthly_income_fen=0, per_capita_monthly_income_fen=0,
            reported_at=at, flags=[ev.ReportFlag(kind="imprisoned", person_ref=members[-1]
                                                 .person_ref, source="court:imprisonment")])
        log.publish(report, at)
        case.assess_report(at + MINUTE, report)
    dibao.through_notice(cst(6, 15))
    assert dibao.decision is not None and dibao.decision.outcome == "approved"
    # 2 members counted: 2,010 − (1,800 − 200) = 410 yuan, and the child's add-on.
    assert dibao.decision.monthly_amount_fen == 2 * STANDARD - 160_000 + 10_050
    rules = {r.rule for r in dibao.decision.reasons}
    assert {"household_members", "provident_fund", "taxable_income_above_counted",
            "household_registration"} <= rules
    assert tekun.result is not None and tekun.result.eligible is False

    fold = log.replay()
    assert fold.findings == []
    assert fold.decisions_rerun == 2
