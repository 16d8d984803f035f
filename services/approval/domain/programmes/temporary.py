"""Temporary assistance (临时救助): one-off payments within a yearly cap per household.

Emergency (急难型): paid first, verified after — before the report the only tests are the cap
and the request itself. Spending-type (支出型): rigid medical spending, spread over months, is
deducted from income before the income test. Either way, after verification the household's
income must be below a multiple of the Dibao standard and its assets must pass.

Who approves and how (town under delegated authority, district, one case one discussion) is
the workflow's concern; this module reports the figures it needs as checks.
"""

from __future__ import annotations

from services.approval.domain.assessment import Benefit, Outcome
from services.approval.domain.facts import CaseFacts, per_capita, share, yuan
from services.approval.domain.programmes.common import (
    asset_checks,
    counted_income,
    counted_members,
    membership,
    pending_report,
    record_flags,
)
from services.approval.domain.trace import Check, PolicyView

FORM_FIGURES = ("temporary.yearly_cap_fen", "temporary.normal_ceiling_fen",
                "temporary.town_approval_limit_fen")
MEANS_FIGURES = ("temporary.medical_spending_months", "temporary.income_multiple_permille",
                 "dibao.monthly_standard_fen", "dibao.max_real_estate", "dibao.max_vehicles",
                 "dibao.deposit_limit_months", "dibao.employment_cost_deduction_fen")
FIGURES = FORM_FIGURES + MEANS_FIGURES
# The failed check of an emergency whose report came but whose means test cannot run for want of
# figures: undecided (a person must look), while the advance, assessed on the form, can be paid.
MEANS_TEST_POLICY = "means_test_policy"


def assess(facts: CaseFacts, p: PolicyView) -> Outcome:
    request = facts.temporary
    if request is None:
        return Outcome(False, (), (Check("request", "救助申请", False,
                                         "no temporary-assistance request on the application"),))
    if request.kind == "emergency":
        # The 24-hour advance is assessed on the form alone: it must not wait for (or be
        # refused for) figures only the means test after verification needs.
        p.require(*FORM_FIGURES)
    else:
        p.require(*FIGURES)
    cap = p.fig("temporary.yearly_cap_fen")
    already = facts.temporary_granted_this_year_fen
    room = max(cap.value - already, 0)
    amount = min(request.requested_amount_fen, room)
    checks = [Check(
        "yearly_cap", "年度累计上限", amount > 0,
        f"requested {yuan(request.requested_amount_fen)} yuan; this household already got "
        f"{yuan(already)} yuan this year of the cap {yuan(cap.value)} yuan"
        + (f", so {yuan(amount)} yuan can be granted" if 0 < amount < request.requested_amount_fen
           else "" if amount else ", so nothing more can be granted"),
        {"requested_amount_fen": str(request.requested_amount_fen),
         "granted_this_year_fen": str(already), "grantable_fen": str(amount)}, (cap,))]
    ceiling = p.fig("temporary.normal_ceiling_fen")
    town = p.fig("temporary.town_approval_limit_fen")
    checks.append(Check(
        "normal_ceiling", "单次常规上限", True,
        f"{yuan(amount)} yuan is "
        + ("within" if amount <= ceiling.value else
           "above (needs one case, one discussion 一事一议, with a recorded justification)")
        + f" the normal ceiling {yuan(ceiling.value)} yuan; the town may approve up to "
        f"{yuan(town.value)} yuan itself",
        {"amount_fen": str(amount), "needs_discussion": str(amount > ceiling.value),
         "town_may_approve": str(amount <= town.value)}, (ceiling, town)))
    missing = [name for name in MEANS_FIGURES if p.find(name) is None]
    if facts.verified and missing:  # an emergency's: the spending type required them all
        checks.append(Check(
            MEANS_TEST_POLICY, "核对政策参数", False,
            f"the report came, but the means test cannot run: no {', '.join(missing)} in force "
            f"for region {facts.region_code}; the advance is assessed on the form alone",
            {"missing": ", ".join(missing)}))
        return Outcome(False, (Benefit("temporary", None, one_off_amount_fen=amount),)
                       if all(c.passed for c in checks[:-1]) else (), tuple(checks))
    if facts.verified:
        checks += means_test(facts, p, request.rigid_medical_spending_fen)
    elif request.kind == "emergency":
        checks.append(Check("verify_after", "先行救助、事后核对", True,
                            "emergency: may be paid before verification; the report is checked "
                            "when it arrives", {"kind": request.kind}))
    else:  # spending-type: nothing is granted before the means test
        checks.append(pending_report(facts))
    eligible = all(c.passed for c in checks)
    return Outcome(eligible, (Benefit("temporary", None, one_off_amount_fen=amount),)
                   if eligible else (), tuple(checks))


def means_test(facts: CaseFacts, p: PolicyView, rigid_spending_fen: int) -> list[Check]:
    standard = p.fig("dibao.monthly_standard_fen")
    multiple = p.fig("temporary.income_multiple_permille")
    months = p.fig("temporary.medical_spending_months")
    upper = share(standard.value, multiple.value)
    # The household is counted as for Dibao: a member serving a prison sentence is not in it.
    left_out = membership(facts)
    if left_out is not None and not left_out.passed:
        return [left_out]
    size = len(counted_members(facts))
    total, pc, income = counted_income(facts, p)
    monthly_spending = per_capita(rigid_spending_fen, months.value)
    left = max(total - monthly_spending, 0)
    after = per_capita(left, size)
    below = left < upper * size
    return [*([left_out] if left_out else []), income, Check(
        "income_after_rigid_spending", "扣除刚性支出后收入", below,
        f"per-capita income {yuan(pc)} − rigid medical spending {yuan(rigid_spending_fen)} over"
        f" {months.value} months ({yuan(monthly_spending)}/month for the household) = "
        f"{yuan(after)} yuan, {'below' if below else 'not below'} {multiple.value}‰ of "
        f"the Dibao standard = {yuan(upper)} yuan",
        {"per_capita_income_fen": str(pc), "rigid_spending_fen": str(rigid_spending_fen),
         "after_spending_fen": str(after), "upper_bound_fen": str(upper)},
        (standard, multiple, months)), *asset_checks(facts, p, standard.value),
        *record_flags(facts, p)]
