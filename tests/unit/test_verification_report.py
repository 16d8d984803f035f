from datetime import date

import pytest

from services.verification.domain.model import (
    ConsentMissing,
    HouseholdMember,
    PartnerRecord,
    build_report,
    check_consent,
)


def rec(kind: str, ref: str, fen: int, dept: str = "hr_social_security") -> PartnerRecord:
    return PartnerRecord(dept, f"{kind}-{ref}-{fen}", kind, ref, fen, date(2026, 10, 31))


def test_counted_income_is_the_larger_of_declared_and_verified():
    members = [HouseholdMember("p-a", 46, 50_000, True),
               HouseholdMember("p-b", 44, 30_000, True),
               HouseholdMember("p-c", 11, 0, False)]
    report = build_report(members, [rec("wage", "p-a", 180_000), rec("pension", "p-b", 10_000),
                                    rec("vehicle", "p-a", 5_000_000, "public_security"),
                                    rec("deposit", "p-b", 120_000, "bank"),
                                    rec("wage", "p-stranger", 999_999)])
    counted = {m.person_ref: m.counted_monthly_fen for m in report.members}
    assert counted == {"p-a": 180_000, "p-b": 30_000, "p-c": 0}
    assert report.household_monthly_income_fen == 210_000
    assert report.per_capita_monthly_income_fen == 70_000
    assert (report.vehicle_count, report.real_estate_count, report.deposits_fen) == (1, 0, 120_000)


def test_per_capita_income_rounds_half_up_to_the_fen():
    members = [HouseholdMember(f"p-{i}", 46, fen, True)
               for i, fen in enumerate([100, 100, 101])]
    assert build_report(members, []).per_capita_monthly_income_fen == 100  # 100.33
    members = [HouseholdMember("p-x", 46, 1, True),
               HouseholdMember("p-y", 46, 0, True)]
    assert build_report(members, []).per_capita_monthly_income_fen == 1  # 0.5 → 1


def test_no_partner_data_without_every_adults_consent():
    members = [HouseholdMember("p-a", 46, 0, True),
               HouseholdMember("p-b", 26, 0, False),
               HouseholdMember("p-c", 11, 0, False)]
    with pytest.raises(ConsentMissing, match="p-b"):
        check_consent(members)
