"""Disability two subsidies (残疾人两项补贴), applied for on their own.

The nursing subsidy needs only a severe grade. The living subsidy needs the household to be a
Dibao, extreme-hardship or marginal low-income household — which approval knows from its own
decisions (``household_status``), so the household does not prove it again.
"""

from __future__ import annotations

from services.approval.domain.assessment import Outcome
from services.approval.domain.facts import CaseFacts
from services.approval.domain.programmes.common import disability_subsidies
from services.approval.domain.trace import Check, PolicyView

FIGURES = ("disability.living_subsidy_fen", "disability.nursing_subsidy_fen",
           "disability.nursing_max_grade")


def assess(facts: CaseFacts, p: PolicyView) -> Outcome:
    p.require(*FIGURES)
    status = facts.household_status
    low_income = status in ("dibao", "tekun", "marginal")
    recognised = Check(
        "household_low_income", "低保/特困/低保边缘家庭", low_income,
        f"household is recognised as {status}" if status else
        "household is not recognised as Dibao, extreme-hardship or marginal low-income",
        {"household_status": status or "none"})
    benefits, checks = disability_subsidies(facts, p, low_income=low_income)
    if not checks:
        checks = [Check("disabled_member", "残疾人成员", False,
                        "no member has a disability grade", {})]
    return Outcome(bool(benefits), tuple(benefits), (recognised, *checks))
