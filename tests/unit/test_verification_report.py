from datetime import date

import pytest

from services.verification.domain.household import HouseholdMember, check_consent
from services.verification.domain.model import PartnerRecord, build_report


def rec(kind: str, ref: str, fen: int, dept: str = "hr_social_security") -> PartnerRecord:
    return PartnerRecord(dept, f"{kind}-{ref}-{fen}", kind, ref, fen, date(2026, 10, 31))


def member(ref: str, age: int = 46, consent: bool = True, **declared: int) -> HouseholdMember:
    return HouseholdMember(ref, age, declared, consent)


def test_counted_income_is_the_larger_of_declared_and_verified():
    members = [member("p-a", other=50_000), member("p-b", 44, pension=30_000),
               member("p-c", 11, consent=False)]
    report = build_report(members, [rec("wage", "p-a", 180_000), rec("pension", "p-b", 10_000),
                                    rec("vehicle", "p-a", 5_000_000, "public_security"),
                                    rec("deposit", "p-b", 120_000, "bank"),
                                    rec("wage", "p-stranger", 999_999)])
    counted = {m.person_ref: m.counted_monthly_fen for m in report.members}
    # p-a: the recorded wage and the declared "other" income are different kinds: both count.
    assert counted == {"p-a": 230_000, "p-b": 30_000, "p-c": 0}
    assert report.household_monthly_income_fen == 260_000
    assert report.per_capita_monthly_income_fen == 86_667
    assert (report.vehicle_count, report.real_estate_count, report.deposits_fen) == (1, 0, 120_000)


def test_declared_incomes_add_up_across_kinds():
    report = build_report([member("p-a", wage=100_000, pension=20_000, transfer=5_000)], [])
    assert report.members[0].declared_monthly_fen == 125_000
    assert report.members[0].counted_monthly_fen == 125_000


def test_per_capita_income_rounds_half_up_to_the_fen():
    members = [member(f"p-{i}", other=fen) for i, fen in enumerate([100, 100, 101])]
    assert build_report(members, []).per_capita_monthly_income_fen == 100  # 100.33
    members = [member("p-x", other=1), member("p-y")]
    assert build_report(members, []).per_capita_monthly_income_fen == 1  # 0.5 → 1


def test_no_partner_data_without_every_adults_consent():
    members = [member("p-a"), member("p-b", 26, consent=False), member("p-c", 11, consent=False)]
    assert check_consent(members) == ["p-b"]  # who must sign; a child of 11 need not
    assert check_consent([member("p-a"), member("p-c", 11, consent=False)]) == []


def test_at_a_review_a_child_who_may_have_come_of_age_must_sign():
    """Ages are kept as on the application day, birth dates never: a member counts as an adult
    once they may have turned 18 — their age then plus the years begun since."""
    applied = date(2025, 3, 10)
    teen, child = member("p-17", 17, consent=False), member("p-16", 16, consent=False)
    household = [member("p-a"), teen, child]
    assert check_consent(household, applied_on=applied, on=applied) == []  # the form's ages
    assert check_consent(household, applied_on=applied, on=None) == []
    assert check_consent(household, applied_on=applied, on=date(2025, 3, 11)) == ["p-17"]
    # 16 on 2025-03-10: 17 on 2026-03-10 at the latest, 18 by 2027-03-10 at the latest, and
    # possibly from the day after 2026-03-10.
    assert check_consent(household, applied_on=applied, on=date(2026, 3, 10)) == ["p-17"]
    assert check_consent(household, applied_on=applied,
                         on=date(2026, 3, 11)) == ["p-17", "p-16"]


def employment(m: HouseholdMember, *records: PartnerRecord) -> tuple[int, int]:
    income = build_report([m], records).members[0]
    return income.employment_monthly_fen, income.counted_monthly_fen


def test_employment_income_is_declared_wage_and_business_when_no_partner_knows_more():
    assert employment(member("p-a", wage=80_000, business=30_000, pension=20_000)) == (
        110_000, 130_000)


def test_employment_income_is_the_wage_records_when_they_show_more_than_declared():
    assert employment(member("p-a", wage=50_000, pension=20_000),
                      rec("wage", "p-a", 60_000), rec("wage", "p-a", 40_000),
                      rec("pension", "p-a", 20_000)) == (100_000, 120_000)
    # A pension record is income, but not from work.
    assert employment(member("p-a"), rec("pension", "p-a", 90_000)) == (0, 90_000)


def test_a_larger_wage_record_replaces_the_declared_wage_not_the_declared_business():
    # wage: max(700, 900) = 900; business (no partner records it): 500.
    assert employment(member("p-a", wage=70_000, business=50_000),
                      rec("wage", "p-a", 90_000)) == (140_000, 140_000)


def test_a_declared_wage_cannot_hide_a_recorded_pension():
    # The hostile pass's household: 1,000 yuan of wage declared, 600 of pension recorded.
    income = build_report([member("p-a", wage=100_000)],
                          [rec("pension", "p-a", 60_000)]).members[0]
    assert income.counted_monthly_fen == 160_000
    assert income.employment_monthly_fen == 100_000
    assert [(k.kind, k.declared_fen, k.recorded_fen, k.counted_fen, k.counted_from, k.sources)
            for k in income.by_kind] == [
        ("pension", 0, 60_000, 60_000, "recorded", ("hr_social_security:pension",)),
        ("wage", 100_000, 0, 100_000, "declared", ("declared",)),
    ]


@pytest.mark.parametrize(("declared", "recorded", "counted", "source"), [
    (100_000, 99_999, 100_000, "declared"),
    (100_000, 100_000, 100_000, "both"),
    (100_000, 100_001, 100_001, "recorded"),
    (0, 0, 0, None),  # no income of the kind: no line for it
])
def test_each_kind_counts_the_larger_of_declared_and_recorded(declared: int, recorded: int,
                                                              counted: int,
                                                              source: str | None) -> None:
    records = [rec("wage", "p-a", recorded)] if recorded else []
    income = build_report([member("p-a", wage=declared)], records).members[0]
    assert income.counted_monthly_fen == counted
    assert [k.counted_from for k in income.by_kind] == ([source] if source else [])


def test_unemployment_benefit_is_compared_with_declared_transfer_income():
    income = build_report([member("p-a", transfer=50_000)],
                          [rec("unemployment_benefit", "p-a", 30_000)]).members[0]
    assert income.counted_monthly_fen == 50_000  # the same kind: the larger, not the sum
    assert [(k.kind, k.counted_from) for k in income.by_kind] == [("transfer", "declared")]


def test_employment_income_never_exceeds_the_counted_income():
    cases = [
        member("p-a", wage=70_000), member("p-a", business=10_000, other=5_000),
        member("p-a", property=40_000), member("p-a"),
    ]
    for m in cases:
        for records in ([], [rec("wage", "p-a", 65_000)],
                        [rec("wage", "p-a", 65_000), rec("pension", "p-a", 20_000)]):
            work, counted = employment(m, *records)
            assert 0 <= work <= counted


def test_reports_with_the_same_figures_match_whatever_their_sources():
    m = member("p-a", wage=50_000)
    first = build_report([m], [rec("wage", "p-a", 50_000)])
    confirmed = build_report([m], [rec("wage", "p-a", 50_000), rec("deposit", "p-a", 0, "bank")])
    assert first.members[0].sources != confirmed.members[0].sources
    assert first.figures == confirmed.figures
    assert first.figures != build_report([m], [rec("wage", "p-a", 50_001)]).figures
    assert first.figures != build_report([m], [rec("vehicle", "p-a", 1, "public_security")]).figures
