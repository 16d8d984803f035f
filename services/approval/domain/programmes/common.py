"""Rules several programmes share: income counting, the asset tests, the disability subsidies."""

from __future__ import annotations

from services.approval.domain.assessment import Benefit
from services.approval.domain.facts import CaseFacts, Member, per_capita, yuan
from services.approval.domain.trace import Check, PolicyView


def pending_report(facts: CaseFacts) -> Check:
    return Check("verification_report", "核对报告", False,
                 "waiting for the verification report (household income and assets)",
                 {"report_id": "none yet"})


def counted_income(facts: CaseFacts, p: PolicyView) -> tuple[int, int, Check]:
    """Household income after the employment-cost deduction (就业成本扣减), the same per
    person (rounded, for reading), and how it was got. Tests compare the household total with
    the standard × members, so rounding never decides a case at the standard.

    Each working member keeps up to the deduction of their earnings out of the count, so that
    taking up work does not cost the household its whole benefit.
    """
    deduction = p.fig("dibao.employment_cost_deduction_fen")
    total = deducted = 0
    lines = []
    for m in facts.members:
        counted = m.counted_monthly_fen or 0
        earned = min(m.employment_monthly_fen or 0, counted)
        off = min(earned, deduction.value)
        total += counted - off
        deducted += off
        if counted:
            lines.append(f"{m.person_ref[:10]}… {yuan(counted)}"
                         + (f" − {yuan(off)}" if off else ""))
    size = facts.size
    pc = per_capita(total, size)
    return total, pc, Check(
        "income_counted", "家庭收入计算", True,
        f"household income {yuan(total + deducted)} − employment-cost deduction {yuan(deducted)}"
        f" = {yuan(total)} yuan/month over {size} members = {yuan(pc)} per person",
        {"household_income_fen": str(total + deducted), "deducted_fen": str(deducted),
         "counted_income_fen": str(total), "household_size": str(size),
         "per_capita_income_fen": str(pc), "members": "; ".join(lines) or "no income"},
        (deduction,))


def asset_checks(facts: CaseFacts, p: PolicyView, standard: int) -> list[Check]:
    """The Dibao asset tests (housing, vehicles, deposits), used by every means-tested programme."""
    assert facts.assets is not None
    a = facts.assets
    max_homes, max_cars = p.fig("dibao.max_real_estate"), p.fig("dibao.max_vehicles")
    months = p.fig("dibao.deposit_limit_months")
    limit = standard * facts.size * months.value
    return [
        Check("real_estate", "住房", a.real_estate_count <= max_homes.value,
              f"{a.real_estate_count} properties (at most {max_homes.value})",
              {"real_estate_count": str(a.real_estate_count)}, (max_homes,)),
        Check("vehicles", "车辆", a.vehicle_count <= max_cars.value,
              f"{a.vehicle_count} vehicles (at most {max_cars.value})",
              {"vehicle_count": str(a.vehicle_count)}, (max_cars,)),
        Check("deposits", "存款", a.deposits_fen <= limit,
              f"deposits {yuan(a.deposits_fen)} yuan (at most {yuan(standard)} × {facts.size}"
              f" × {months.value} months = {yuan(limit)} yuan)",
              {"deposits_fen": str(a.deposits_fen), "deposit_limit_fen": str(limit)},
              (p.fig("dibao.monthly_standard_fen"), months)
              if p.find("dibao.monthly_standard_fen") else (months,)),
    ]


def grade_differs(m: Member) -> Check:
    """The reviewer's flag: the form and the disabled persons' federation disagree on a grade
    (the record decides; the form may be out of date, or wrong)."""
    declared = "none" if m.disability_grade is None else f"grade {m.disability_grade}"
    return Check("disability_grade_on_record", "残疾等级以残联记录为准", True,
                 f"declared {declared}; the disabled persons' federation records grade "
                 f"{m.grade_on_record}, which the rules use",
                 {"person_ref": m.person_ref, "declared_grade": str(m.disability_grade),
                  "grade_on_record": str(m.grade_on_record)})


def disability_subsidies(facts: CaseFacts, p: PolicyView, low_income: bool,
                         add_on: bool = False) -> tuple[list[Benefit], list[Check]]:
    """The two disability subsidies (残疾人两项补贴) for the household's disabled members.

    Living subsidy: disabled members of a Dibao or marginal low-income household. Nursing
    subsidy: severely disabled members (grade up to the policy's), whatever the income. As an
    add-on to an approval (``add_on``), a member not severe enough is noted, not failed: the
    approval itself did not fail any condition.
    """
    disabled = [m for m in facts.members if m.grade is not None]
    if not disabled:
        return [], []
    living = p.fig("disability.living_subsidy_fen")
    nursing = p.fig("disability.nursing_subsidy_fen")
    severe = p.fig("disability.nursing_max_grade")
    benefits, checks = [], []
    for m in disabled:
        grade = m.grade
        assert grade is not None
        who = {"person_ref": m.person_ref, "disability_grade": str(grade)}
        if m.grade_on_record is not None and m.grade_on_record != m.disability_grade:
            checks.append(grade_differs(m))
        checks.append(Check(
            "disability_living_subsidy", "困难残疾人生活补贴", low_income,
            f"grade {grade} disabled member of a "
            f"{'low-income household' if low_income else 'household that is not low-income'}: "
            f"{'gets' if low_income else 'no'} living subsidy {yuan(living.value)} yuan/month",
            who, (living,)))
        if low_income:
            benefits.append(Benefit("disability_living", m.person_ref, living.value))
        is_severe = grade <= severe.value
        checks.append(Check(
            "disability_nursing_subsidy", "重度残疾人护理补贴", is_severe or add_on,
            f"grade {grade} {'is' if is_severe else 'is not'} severe (grades 1–{severe.value}): "
            f"{'gets' if is_severe else 'no'} nursing subsidy {yuan(nursing.value)} yuan/month",
            who, (nursing, severe)))
        if is_severe:
            benefits.append(Benefit("disability_nursing", m.person_ref, nursing.value))
    return benefits, checks
