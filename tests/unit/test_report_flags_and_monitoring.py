"""The report's flags and source freshness, and the monitoring indicators, as pure functions."""

from datetime import date

import pytest

from services.verification.domain.household import HouseholdMember
from services.verification.domain.model import PartnerRecord, build_report
from services.verification.domain.monitoring import (
    Indicators,
    discovery_lead,
    months_before,
    temporary_signal,
)

ON = date(2026, 12, 3)
MOTHER = HouseholdMember("p-mother", 56, {"wage": 100_000}, True)
SON = HouseholdMember("p-son", 25, {}, True)
IND = Indicators(window_months=12, medical_min_fen=500_000, medical_permille=(300, 600, 1000),
                 income_loss_permille=500, income_loss_tier=2, earner_death_tier=3,
                 member_death_tier=1, temporary_counts=(2, 3, 0), lead_medical_bill_fen=2_000_000)


def rec(rid: str, kind: str, who: str, amount: int = 0, as_of: date = ON,
        department: str = "x", town: str | None = None) -> PartnerRecord:
    return PartnerRecord(department, rid, kind, who, amount, as_of, town_code=town)


def test_deaths_imprisonments_and_a_second_property_are_flagged():
    report = build_report([MOTHER, SON], [
        rec("d", "death", "p-son", as_of=date(2026, 11, 1), department="public_security"),
        rec("i", "imprisonment", "p-mother", department="court"),
        rec("h1", "real_estate", "p-mother", 1), rec("h2", "real_estate", "p-son", 1),
        rec("z", "death", "p-stranger")])
    assert [(f.kind, f.person_ref, f.source) for f in report.flags] == [
        ("deceased", "p-son", "public_security:death"),
        ("imprisoned", "p-mother", "court:imprisonment"),
        ("second_property", None, "report")]
    one_home = build_report([MOTHER, SON], [rec("h1", "real_estate", "p-mother", 1)])
    assert one_home.flags == ()
    # A flag changes what a decision rests on: the figures differ.
    assert report.figures != build_report([MOTHER, SON], [
        rec("h1", "real_estate", "p-mother", 1), rec("h2", "real_estate", "p-son", 1)]).figures


def test_a_source_is_stale_when_a_figure_is_older_than_its_window_and_facts_never_are():
    records = [rec("w", "wage", "p-mother", 100_000, date(2026, 8, 1), "hr_social_security"),
               rec("w2", "wage", "p-son", 100_000, date(2026, 11, 30), "hr_social_security"),
               rec("v", "vehicle", "p-son", 1, date(2026, 6, 1), "public_security"),
               rec("d", "death", "p-son", 0, date(2001, 1, 1), "public_security")]
    report = build_report([MOTHER, SON], records, on=ON,
                          freshness_days={"hr_social_security": 92, "public_security": 366})
    by = {s.department: s for s in report.sources}
    assert by["hr_social_security"].stale and by["hr_social_security"].records == 2
    assert by["hr_social_security"].oldest_as_of == date(2026, 8, 1)
    assert not by["public_security"].stale and by["public_security"].records == 1  # not the death
    assert not any(s.stale for s in build_report([MOTHER, SON], records).sources)  # no day given


@pytest.mark.parametrize(("day", "months", "expected"), [
    (date(2026, 12, 3), 12, date(2025, 12, 3)), (date(2026, 3, 31), 1, date(2026, 2, 28)),
    (date(2024, 3, 30), 1, date(2024, 2, 29)), (date(2026, 1, 15), 13, date(2024, 12, 15))])
def test_months_before(day, months, expected):
    assert months_before(day, months) == expected


def test_repeated_temporary_assistance_tiers():
    assert temporary_signal("c", 1, IND) is None
    assert temporary_signal("c", 2, IND).tier == "yellow"  # type: ignore[union-attr]
    assert temporary_signal("c", 5, IND).tier == "orange"  # type: ignore[union-attr]  # red off


def test_a_lead_needs_enough_bills_in_the_window_and_a_town():
    bills = [rec("m1", "large_medical_bill", "p-x", 1_500_000, date(2026, 10, 1), town="330282101"),
             rec("m2", "large_medical_bill", "p-x", 600_000, date(2025, 11, 1), town="330282102")]
    assert discovery_lead("p-x", bills, ON, IND) is None  # the second is out of the window
    bills.append(rec("m3", "large_medical_bill", "p-x", 600_000, date(2026, 11, 1)))
    lead = discovery_lead("p-x", bills, ON, IND)
    assert lead is not None and lead.town_code == "330282101"  # the newest bill with a town
    assert [e.record_id for e in lead.evidence] == ["m1", "m3"]
    assert discovery_lead("p-y", bills, ON, IND) is None
