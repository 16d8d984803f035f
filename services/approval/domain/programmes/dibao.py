"""Minimum living guarantee (最低生活保障, Dibao).

Eligible when per-capita income (after the employment-cost deduction) is below the local
standard and the assets pass. The benefit tops every member up to the standard (差额救助), plus
classified amounts (分类施保) for elderly, disabled and minor members, plus the disability
subsidies for disabled members. Members are those living together that 民发〔2021〕57号 counts:
one serving a prison sentence is left out of the size, the income, the amount and the add-ons
(``common.counted_members``).
"""

from __future__ import annotations

from services.approval.domain.assessment import Benefit, Outcome
from services.approval.domain.facts import CaseFacts, Member, share, yuan
from services.approval.domain.policy import Figure
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
from shared.resident_id import ADULT_AGE

FIGURES = ("dibao.monthly_standard_fen", "dibao.max_real_estate", "dibao.max_vehicles",
           "dibao.deposit_limit_months", "dibao.employment_cost_deduction_fen",
           "dibao.elderly_age", "dibao.addon_elderly_permille", "dibao.addon_disabled_permille",
           "dibao.addon_minor_permille", "disability.living_subsidy_fen",
           "disability.nursing_subsidy_fen", "disability.nursing_max_grade")


def assess(facts: CaseFacts, p: PolicyView) -> Outcome:
    p.require(*FIGURES)
    if not facts.verified:
        return Outcome(False, (), (pending_report(facts),))
    standard = p.fig("dibao.monthly_standard_fen")
    members = counted_members(facts)
    left_out = membership(facts)
    if left_out is not None and not left_out.passed:
        return Outcome(False, (), (left_out,))
    size = len(members)
    total, pc, income = counted_income(facts, p)
    below = total < standard.value * size
    checks = [*([left_out] if left_out else []), income, Check(
        "income_below_standard", "收入低于低保标准", below,
        f"per-capita monthly income {yuan(pc)} yuan {'is below' if below else 'is not below'}"
        f" the standard {yuan(standard.value)} yuan",
        {"per_capita_income_fen": str(pc)}, (standard,)),
        *asset_checks(facts, p, standard.value), *record_flags(facts, p)]
    if not all(c.passed for c in checks):
        return Outcome(False, (), tuple(checks))
    gap = standard.value * size - total
    benefits = [Benefit("dibao", None, gap)]
    checks.append(Check(
        "amount", "差额救助金额", True,
        f"{yuan(standard.value)} × {size} − household income {yuan(total)}"
        f" = {yuan(gap)} yuan/month",
        {"monthly_amount_fen": str(gap), "household_size": str(size)}, (standard,)))
    for member in members:
        addon = classified(member, p, standard.value)
        if addon is not None:
            benefits.append(Benefit("dibao_classified", member.person_ref, addon[0]))
            checks.append(addon[1])
    extra, extra_checks = disability_subsidies(facts, p, low_income=True, add_on=True,
                                               members=members)
    return Outcome(True, (*benefits, *extra), (*checks, *extra_checks))


def classified(member: Member, p: PolicyView, standard: int) -> tuple[int, Check] | None:
    """分类施保: the highest one add-on a member qualifies for (they do not stack)."""
    elderly_age = p.fig("dibao.elderly_age")
    # (kind, its name, the add-on's rate, the figure that made the member one, if any)
    options: list[tuple[str, str, Figure, Figure | None]] = []
    if member.age_years >= elderly_age.value:
        options.append(("elderly", "老年人", p.fig("dibao.addon_elderly_permille"), elderly_age))
    if member.grade is not None:
        options.append(("disabled", "残疾人", p.fig("dibao.addon_disabled_permille"), None))
    if member.age_years < ADULT_AGE:
        options.append(("minor", "未成年人", p.fig("dibao.addon_minor_permille"), None))
    if not options:
        return None
    kind, zh, rate, extra = max(options, key=lambda o: o[2].value)
    amount = share(standard, rate.value)
    used = (rate, p.fig("dibao.monthly_standard_fen")) + ((extra,) if extra else ())
    return amount, Check(
        f"classified_{kind}", f"分类施保: {zh}", True,
        f"{kind} member (age {member.age_years}): {rate.value}‰ of {yuan(standard)}"
        f" = {yuan(amount)} yuan/month"
        + (f" (highest of {', '.join(o[0] for o in options)})" if len(options) > 1 else ""),
        {"person_ref": member.person_ref, "age_years": str(member.age_years)}, used)
