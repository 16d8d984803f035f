"""The disabled persons' federation's grade on record decides over the form's (issue 22): a member
known only from the record gets the disabled add-on and the subsidies, a member whose record
differs from the form is assessed by the record, and the reviewer is told of the difference."""

from __future__ import annotations

from datetime import date

import pytest

from services.approval.domain.assessment import assess
from services.approval.domain.facts import Assets, CaseFacts, Member, report_findings, with_findings
from services.approval.domain.policy import load_policy
from services.verification.domain.household import HouseholdMember
from services.verification.domain.model import PartnerRecord, build_report
from tests.unit.test_programmes import POLICY_DIR

POLICY = load_policy(POLICY_DIR)
ON = date(2022, 3, 1)
CIXI_STANDARD = 100_500


def grade_record(ref: str, grade: int, as_of: date, record_id: str = "r") -> PartnerRecord:
    return PartnerRecord("disabled_persons_federation", record_id, "disability_grade", ref, 0,
                         as_of, grade=grade)


def test_the_report_carries_the_newest_grade_on_record() -> None:
    member = HouseholdMember("P1", 40, {}, True)
    report = build_report([member], [grade_record("P1", 3, date(2020, 1, 1), "a"),
                                     grade_record("P1", 1, date(2024, 6, 1), "b"),
                                     grade_record("P2", 2, date(2025, 1, 1), "c")])
    assert report.members[0].disability_grade == 1
    assert build_report([member], []).members[0].disability_grade is None


def verified(declared_grade: int | None, grade_on_record: int | None) -> CaseFacts:
    facts = CaseFacts("c-1", "dibao", "330282", (Member(
        person_ref="P1", relation="applicant", age_years=40, declared_monthly_fen=0,
        disability_grade=declared_grade),))
    report = {"report_id": "r-1", "assets": {"real_estate_count": 1, "vehicle_count": 0,
                                             "deposits_fen": 0},
              "members": [{"person_ref": "P1", "counted_monthly_fen": 0,
                           "employment_monthly_fen": 0, "disability_grade": grade_on_record}]}
    return with_findings(facts, report_findings(report))


def benefits(facts: CaseFacts) -> set[str]:
    return {b.kind for b in assess(facts, POLICY, ON).benefits}


@pytest.mark.parametrize(("declared", "on_record", "gets_nursing", "flagged"), [
    (None, 1, True, True),  # known only from the record: the hostile pass's member
    (1, None, True, False),  # no record: the form stands
    (3, 1, True, True),  # the record is more severe: it decides
    (1, 3, False, True),  # the record is less severe: it decides too
    (2, 2, True, False),  # they agree: nothing to flag
])
def test_the_grade_on_record_decides_and_a_difference_is_flagged(
        declared: int | None, on_record: int | None, gets_nursing: bool, flagged: bool) -> None:
    facts = verified(declared, on_record)
    a = assess(facts, POLICY, ON)
    kinds = {b.kind for b in a.benefits}
    assert a.eligible is True
    assert "dibao_classified" in kinds and "disability_living" in kinds
    assert ("disability_nursing" in kinds) is gets_nursing
    flags = [c for c in a.checks if c.rule == "disability_grade_on_record"]
    assert bool(flags) is flagged
    if flagged:
        assert f"records grade {on_record}" in flags[0].detail


def test_without_a_grade_anywhere_there_is_no_disabled_add_on() -> None:
    assert benefits(verified(None, None)) == {"dibao"}


def test_stored_facts_from_before_the_grade_on_record_still_load() -> None:
    facts = verified(None, 1)
    data = facts.to_dict()
    del data["members"][0]["grade_on_record"]
    assert CaseFacts.from_dict(data).members[0].grade is None
    assert CaseFacts.from_dict(facts.to_dict()) == facts
    assert Assets(1, 0, 0) == facts.assets
