from datetime import date

import pytest

from services.approval.bootstrap import DEFAULT_POLICY
from services.approval.domain.dibao import HouseholdFacts, decide
from services.approval.domain.policy import PolicyError, load_policy, parse_policy

CIXI = "330282"
ON = date(2026, 11, 22)


@pytest.fixture(scope="module")
def policy():
    return load_policy(DEFAULT_POLICY)


def facts(per_capita: int, size: int = 3, **assets: int) -> HouseholdFacts:
    return HouseholdFacts(region_code=CIXI, household_size=size,
                          per_capita_monthly_income_fen=per_capita,
                          real_estate_count=assets.get("real_estate", 1),
                          vehicle_count=assets.get("vehicles", 0),
                          deposits_fen=assets.get("deposits", 0))


def test_seed_standard_cixi_2021_is_1005_yuan(policy):
    figure = policy.figure("monthly_standard_fen", CIXI, date(2021, 6, 1))
    assert figure is not None and figure.value == 100_500
    assert policy.figure("monthly_standard_fen", CIXI, date(2020, 12, 31)) is None


def test_amount_is_the_difference_times_members_in_fen(policy):
    decision = decide(facts(per_capita=60_000, size=3), policy, ON)
    assert decision.outcome == "approved"
    assert decision.monthly_amount_fen == (100_500 - 60_000) * 3 == 121_500
    assert decision.start_month == "2026-11"
    assert "monthly_standard_fen@330282/2021-01-01" in decision.policy_version


def test_income_at_the_standard_is_not_below_it(policy):
    decision = decide(facts(per_capita=100_500), policy, ON)
    assert decision.outcome == "rejected"
    assert decision.monthly_amount_fen == 0


def test_a_rejection_names_every_failed_condition(policy):
    decision = decide(facts(per_capita=200_000, size=2, real_estate=2, vehicles=1,
                            deposits=100_500 * 2 * 24 + 1), policy, ON)
    failed = {r.rule for r in decision.reasons if not r.passed}
    assert failed == {"income_below_standard", "real_estate", "vehicles", "deposits"}
    income = next(r for r in decision.reasons if r.rule == "income_below_standard")
    assert income.figures["per_capita_monthly_income_fen"] == "200000"
    assert "seed 001" in income.figures["monthly_standard_fen"]


def test_no_policy_for_the_region_is_undecidable_not_a_rejection(policy):
    decision = decide(HouseholdFacts("370202", 1, 0, 0, 0, 0), policy, ON)
    assert decision.outcome == "undecidable"
    assert "370202" in decision.reasons[0].detail


def test_same_inputs_same_decision(policy):
    assert decide(facts(12_345), policy, ON) == decide(facts(12_345), policy, ON)


def test_district_figure_overrides_city_and_later_date_wins():
    table = parse_policy("""
[[figure]]
name = "monthly_standard_fen"
region = "330200"
effective_from = 2020-01-01
value = 90000
source = "test"
[[figure]]
name = "monthly_standard_fen"
region = "330282"
effective_from = 2021-01-01
value = 100500
source = "test"
[[figure]]
name = "monthly_standard_fen"
region = "330282"
effective_from = 2022-01-01
value = 110000
source = "test"
""")
    assert table.figure("monthly_standard_fen", "330203", ON).value == 90_000  # city's
    assert table.figure("monthly_standard_fen", "330282", date(2021, 5, 1)).value == 100_500
    assert table.figure("monthly_standard_fen", "330282", ON).value == 110_000


def test_a_bad_policy_file_is_refused_whole_naming_each_problem():
    with pytest.raises(PolicyError) as err:
        parse_policy("""
[[figure]]
name = "monthly_standard_fen"
region = "3302"
effective_from = 2021-01-01
value = 100500
source = "x"
[[figure]]
name = "max_vehicles"
region = "000000"
effective_from = 2021-01-01
value = -1
[[figure]]
name = "max_real_estate"
region = "000000"
effective_from = 2021-01-01
value = 1
default = true
""", origin="bad.toml")
    message = str(err.value)
    assert "figure #1: region must be a 6-digit code" in message
    assert "figure #2: value must be a whole number" in message
    assert "figure #2: needs a source" in message
    assert "#3" not in message
