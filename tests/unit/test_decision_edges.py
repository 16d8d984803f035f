"""Edges a review of the rules found: each was wrong once."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from services.approval.domain.assessment import assess
from services.approval.domain.facts import Assets, CaseFacts, Member, TemporaryRequest
from services.approval.domain.policy import PolicyError, load_policy, parse_policy
from services.approval.domain.reassessment import reassess
from services.approval.domain.workflow import Rules

POLICY = load_policy(Path("services/approval/policies"))
DAY = date(2026, 11, 22)


def member(ref: str, income: int, age: int = 40, **kw) -> Member:  # type: ignore[no-untyped-def]
    return Member(ref, "applicant" if ref == "a" else "spouse", age, income,
                  counted_monthly_fen=income, employment_monthly_fen=0, **kw)


def test_spending_type_temporary_waits_for_the_means_test():
    facts = CaseFacts("c", "temporary", "330282", (member("a", 900_000),),
                      temporary=TemporaryRequest("spending", 500_000, "illness"))
    result = assess(facts, POLICY, DAY)
    assert result.eligible is None and result.one_off_amount_fen == 0


def test_the_standard_is_compared_with_the_household_total_not_a_rounded_share():
    # 100,500 + 100,499 = 200,999 < 2 × 100,500: eligible, although the share rounds to 100,500.
    facts = CaseFacts("c", "dibao", "330282", (member("a", 100_500), member("b", 100_499)),
                      assets=Assets(0, 0, 0), report_id="r")
    result = assess(facts, POLICY, DAY)
    assert result.eligible is True
    assert next(b for b in result.benefits if b.kind == "dibao").monthly_amount_fen == 1


def test_a_rule_that_fails_without_the_report_fails_before_it():
    facts = CaseFacts("c", "tekun", "330282", (member("a", 0, able_to_work=True,
                                                      self_care="full"),))
    assert assess(facts, POLICY, DAY).eligible is False


def test_gradual_exit_only_when_income_alone_fails():
    before = CaseFacts("c", "dibao", "330282", (member("a", 20_000),), assets=Assets(0, 0, 0),
                       report_id="r1")
    car = CaseFacts("c", "dibao", "330282", (member("a", 20_001),), assets=Assets(0, 1, 0),
                    report_id="r2")
    change = reassess("approved", 80_500, assess(before, POLICY, DAY), assess(car, POLICY, DAY),
                      20_000, 20_001, "2026-11", Rules(POLICY, "330282", DAY))
    assert change is not None and change.benefit_change == "suspended"


@pytest.mark.parametrize("text, problem", [
    ("calendar = 5\n[[figure]]\nname='dibao.max_vehicles'\nregion='000000'\n"
     "effective_from=2000-01-01\nvalue=0\ndefault=true", "calendar must be a table"),
    ("figure = 5", "figures must be [[figure]] tables"),
    ("[calendar]\nholiday = [2024-10-01]", "unknown calendar key(s) holiday"),
    ("[[figure]]\nname=['x']\nregion='000000'\neffective_from=2000-01-01\nvalue=0\n"
     "default=true", "name must be a string"),
    ("[[figure]]\nname='dibao.max_vehicles'\nregion='000000'\neffective_from=2000-01-01\n"
     "value=0\nsource='  '", "source must be a non-empty text"),
])
def test_malformed_policy_files_are_refused_with_a_reason(text: str, problem: str):
    with pytest.raises(PolicyError) as refused:
        parse_policy(text, "bad.toml")
    assert problem in str(refused.value)
