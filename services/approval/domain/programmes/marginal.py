"""Marginal low-income household (低保边缘家庭): recognition, not cash.

Per-capita income at or above the Dibao standard but below a multiple of it, and the Dibao
asset tests passed. Recognition is what other departments' medical, education, housing and
temporary assistance follow; the household also gets the disability subsidies it qualifies for.
Members are counted as for Dibao (``common.counted_members``: not one serving a prison sentence).
"""

from __future__ import annotations

from services.approval.domain.assessment import Benefit, Outcome
from services.approval.domain.facts import CaseFacts, share, yuan
from services.approval.domain.programmes.common import (
    asset_checks,
    counted_income,
    counted_members,
    disability_subsidies,
    membership,
    pending_report,
    record_flags,
)
from services.approval.domain.trace import Check, PolicyView

FIGURES = ("dibao.monthly_standard_fen", "marginal.income_multiple_permille",
           "dibao.max_real_estate", "dibao.max_vehicles", "dibao.deposit_limit_months",
           "dibao.employment_cost_deduction_fen", "disability.living_subsidy_fen",
           "disability.nursing_subsidy_fen", "disability.nursing_max_grade")


def assess(facts: CaseFacts, p: PolicyView) -> Outcome:
    p.require(*FIGURES)
    if not facts.verified:
        return Outcome(False, (), (pending_report(facts),))
    standard = p.fig("dibao.monthly_standard_fen")
    multiple = p.fig("marginal.income_multiple_permille")
    upper = share(standard.value, multiple.value)
    members = counted_members(facts)
    left_out = membership(facts)
    if left_out is not None and not left_out.passed:
        return Outcome(False, (), (left_out,))
    total, pc, income = counted_income(facts, p)
    at_least = total >= standard.value * len(members)
    within = total < upper * len(members)
    checks = [
        *([left_out] if left_out else []),
        income,
        Check("income_at_or_above_standard", "收入不低于低保标准", at_least,
              f"per-capita income {yuan(pc)} yuan "
              + ("is at or above" if at_least else
                 "is below (the household may qualify for Dibao instead)")
              + f" the Dibao standard {yuan(standard.value)} yuan",
              {"per_capita_income_fen": str(pc)}, (standard,)),
        Check("income_below_band", "收入低于边缘上限", within,
              f"per-capita income {yuan(pc)} yuan {'is below' if within else 'is not below'}"
              f" {multiple.value}‰ of the standard = {yuan(upper)} yuan",
              {"per_capita_income_fen": str(pc), "upper_bound_fen": str(upper)},
              (standard, multiple)),
        *asset_checks(facts, p, standard.value),
        *record_flags(facts, p),
    ]
    if not all(c.passed for c in checks):
        return Outcome(False, (), tuple(checks))
    extra, extra_checks = disability_subsidies(facts, p, low_income=True, add_on=True,
                                               members=members)
    return Outcome(True, (Benefit("recognition", None), *extra), (*checks, *extra_checks))
