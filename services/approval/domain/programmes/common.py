"""Rules several programmes share: who counts as a household member, income counting, the asset
tests, the reviewer's flags from partner records, the disability subsidies."""

from __future__ import annotations

from collections.abc import Iterable

from services.approval.domain.assessment import Benefit
from services.approval.domain.facts import CaseFacts, Member, per_capita, share, yuan
from services.approval.domain.policy import Figure
from services.approval.domain.trace import Check, PolicyView

# Where each financial asset comes from (the verification report's source, department:kind).
FINANCIAL_SOURCES = {"deposits": "bank:deposit", "wealth_products": "bank:wealth_product",
                     "insurance_value": "bank:insurance_policy",
                     "provident_fund": "housing_provident_fund:provident_fund"}


def pending_report(facts: CaseFacts) -> Check:
    return Check("verification_report", "核对报告", False,
                 "waiting for the verification report (household income and assets)",
                 {"report_id": "none yet"})


def counted_members(facts: CaseFacts) -> tuple[Member, ...]:
    """The household members the means test counts: every member but those serving a prison
    sentence on the court's record, whom 民发〔2021〕57号 art. 8 does not count among the members
    living together (在监狱内服刑 … 不计入共同生活的家庭成员) — neither their head nor their
    income. One released comes back into the count when the court deletes the record.

    Their assets stay in the household's: the report sums assets per household, not per member,
    and what a spouse in prison owns is mostly joint marital property (夫妻共同财产) the household
    can use. Whether 57号 means to leave it out too we are not sure; the reviewer sees the flag.
    """
    return tuple(m for m in facts.members if m.in_prison_since is None)


def membership(facts: CaseFacts) -> Check | None:
    """The trace's word on members left out of the household, None when none is: a household
    without one keeps the trace it always had. Fails when no member is left to count."""
    out = [m for m in facts.members if m.in_prison_since is not None]
    if not out:
        return None
    size = facts.size - len(out)
    who = "; ".join(f"{m.person_ref[:10]}… in prison since {m.in_prison_since}" for m in out)
    return Check(
        "household_members", "共同生活家庭成员认定", size > 0,
        f"{len(out)} of {facts.size} members serving a prison sentence on the court's record "
        f"({who}): not counted as household members (民发〔2021〕57号 art. 8), so the household "
        + (f"counts {size} members, their income and the amount with them"
           if size else "has no member left to count"),
        {"household_size": str(facts.size), "counted_size": str(size),
         "not_counted": ", ".join(m.person_ref for m in out), "source": "court:imprisonment"})


def counted_income(facts: CaseFacts, p: PolicyView) -> tuple[int, int, Check]:
    """Household income after the employment-cost deduction (就业成本扣减), the same per
    person (rounded, for reading), and how it was got. Tests compare the household total with
    the standard × members, so rounding never decides a case at the standard. Members only
    (``counted_members``): one serving a prison sentence adds neither income nor a head.

    Each working member keeps up to the deduction of their earnings out of the count, so that
    taking up work does not cost the household its whole benefit.
    """
    deduction = p.fig("dibao.employment_cost_deduction_fen")
    members = counted_members(facts)
    total = deducted = 0
    lines = []
    for m in members:
        counted = m.counted_monthly_fen or 0
        earned = min(m.employment_monthly_fen or 0, counted)
        off = min(earned, deduction.value)
        total += counted - off
        deducted += off
        if counted:
            lines.append(f"{m.person_ref[:10]}… {yuan(counted)}"
                         + (f" − {yuan(off)}" if off else ""))
    size = len(members)
    pc = per_capita(total, size) if size else 0
    return total, pc, Check(
        "income_counted", "家庭收入计算", True,
        f"household income {yuan(total + deducted)} − employment-cost deduction {yuan(deducted)}"
        f" = {yuan(total)} yuan/month over {size} members = {yuan(pc)} per person",
        {"household_income_fen": str(total + deducted), "deducted_fen": str(deducted),
         "counted_income_fen": str(total), "household_size": str(size),
         "per_capita_income_fen": str(pc), "members": "; ".join(lines) or "no income"},
        (deduction,))


def asset_checks(facts: CaseFacts, p: PolicyView, standard: int) -> list[Check]:
    """The Dibao asset tests (housing, vehicles, financial assets), used by every means-tested
    programme. The limit on financial assets is the standard × the members counted × months.

    Financial assets (金融资产) are deposits, wealth products and commercial insurance's cash
    value (民发〔2021〕57号 lists bank deposits, securities, funds and commercial insurance among
    movable property, 动产), and the provident fund's balance where the region counts it
    (``dibao.count_provident_fund``). A household with deposits alone keeps the trace it always
    had; with any other, the test names each amount with its source.
    """
    assert facts.assets is not None
    a = facts.assets
    max_homes, max_cars = p.fig("dibao.max_real_estate"), p.fig("dibao.max_vehicles")
    months = p.fig("dibao.deposit_limit_months")
    size = len(counted_members(facts))
    limit = standard * size * months.value
    used = ((p.fig("dibao.monthly_standard_fen"), months)
            if p.find("dibao.monthly_standard_fen") else (months,))
    checks = [
        Check("real_estate", "住房", a.real_estate_count <= max_homes.value,
              f"{a.real_estate_count} properties (at most {max_homes.value})",
              {"real_estate_count": str(a.real_estate_count)}, (max_homes,)),
        Check("vehicles", "车辆", a.vehicle_count <= max_cars.value,
              f"{a.vehicle_count} vehicles (at most {max_cars.value})",
              {"vehicle_count": str(a.vehicle_count)}, (max_cars,)),
    ]
    of_limit = (f"at most {yuan(standard)} × {size} × {months.value} months = {yuan(limit)} "
                "yuan")
    if not (a.wealth_products_fen or a.insurance_value_fen or a.provident_fund_fen):
        checks.append(Check(
            "deposits", "存款", a.deposits_fen <= limit,
            f"deposits {yuan(a.deposits_fen)} yuan ({of_limit})",
            {"deposits_fen": str(a.deposits_fen), "deposit_limit_fen": str(limit)}, used))
        return checks
    counted = {"deposits": a.deposits_fen, "wealth_products": a.wealth_products_fen,
               "insurance_value": a.insurance_value_fen}
    provident = None
    if a.provident_fund_fen:
        provident, count_it = provident_fund(p)
        checks.append(Check(
            "provident_fund", "住房公积金", True,
            f"housing provident fund balance {yuan(a.provident_fund_fen)} yuan "
            f"({FINANCIAL_SOURCES['provident_fund']}): "
            + ("counted among the financial assets, as the region's policy says" if count_it
               else "not counted among the financial assets "
                    + ("(the region's policy)" if provident else "(no policy figure in force)"))
            + "; the reviewer sees it either way",
            {"provident_fund_fen": str(a.provident_fund_fen), "counted": str(count_it)},
            () if provident is None else (provident,)))
        if count_it:
            counted["provident_fund"] = a.provident_fund_fen
    total = sum(counted.values())
    words = {"deposits": "deposits", "wealth_products": "wealth products",
             "insurance_value": "insurance cash value", "provident_fund": "provident fund"}
    checks.append(Check(
        "deposits", "存款等金融资产", total <= limit,
        "financial assets: " + " + ".join(f"{words[k]} {yuan(v)} ({FINANCIAL_SOURCES[k]})"
                                          for k, v in counted.items())
        + f" = {yuan(total)} yuan ({of_limit})",
        {**{f"{k}_fen": str(v) for k, v in counted.items()},
         "financial_assets_fen": str(total), "deposit_limit_fen": str(limit)},
        used + (() if provident is None or "provident_fund" not in counted else (provident,))))
    return checks


def provident_fund(p: PolicyView) -> tuple[Figure | None, bool]:
    """Whether the region counts the provident fund's balance among the financial assets, and
    the figure that says so. Without a figure in force it is not counted (the national default,
    and practice in most places): a flag to show is no reason to leave a case undecided."""
    figure = p.find("dibao.count_provident_fund")
    return figure, figure is not None and figure.value == 1


def record_flags(facts: CaseFacts, p: PolicyView, members: Iterable[Member] | None = None
                 ) -> list[Check]:
    """The reviewer's flags from partner records that change no figure (each passed: a flag,
    never a refusal), for the members counted (or ``members``). A household without such
    records keeps the trace it always had.

    - Taxable income (the tax department's) above the member's counted income by more than the
      margin: taxable income overlaps wages and business income, so it is never added to the
      count, but income the tax department knows of and the count does not is for the reviewer
      to look into; both figures are named.
    - A household registration outside the case's region: Dibao is applied for where the
      household is registered (民发〔2021〕57号), though some places take residence-permit holders
      where they live (Weihai, seed 004).
    """
    checks = []
    for m in counted_members(facts) if members is None else members:
        if m.taxable_income_fen is not None:
            counted = m.counted_monthly_fen or 0
            figure = p.find("dibao.taxable_income_margin_permille")
            margin = 0 if figure is None else figure.value
            bar = share(counted, 1000 + margin)
            if m.taxable_income_fen > bar:
                checks.append(Check(
                    "taxable_income_above_counted", "纳税收入高于认定收入", True,
                    f"{m.person_ref[:10]}…: the tax department records taxable income "
                    f"{yuan(m.taxable_income_fen)} yuan/month, above the counted income "
                    f"{yuan(counted)} yuan by more than {margin}‰ ({yuan(bar)} yuan): the "
                    "count stands (taxable income overlaps wages and business income); the "
                    "reviewer checks for income it missed",
                    {"person_ref": m.person_ref, "taxable_income_fen": str(m.taxable_income_fen),
                     "counted_income_fen": str(counted), "threshold_fen": str(bar),
                     "source": "tax:taxable_income"},
                    () if figure is None else (figure,)))
        if m.registered_elsewhere:
            checks.append(Check(
                "household_registration", "户籍不在本地", True,
                f"{m.person_ref[:10]}…: the household registration on record lies outside the "
                f"case's region {facts.region_code}; Dibao is applied for where the household "
                "is registered, some places accept a residence permit: the reviewer checks "
                "(民发〔2021〕57号)",
                {"person_ref": m.person_ref, "region_code": facts.region_code,
                 "source": "public_security:household_registration"}))
    return checks


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
                         add_on: bool = False, members: Iterable[Member] | None = None
                         ) -> tuple[list[Benefit], list[Check]]:
    """The two disability subsidies (残疾人两项补贴) for the household's disabled members.

    Living subsidy: disabled members of a Dibao or marginal low-income household. Nursing
    subsidy: severely disabled members (grade up to the policy's), whatever the income. As an
    add-on to an approval (``add_on``), a member not severe enough is noted, not failed: the
    approval itself did not fail any condition. ``members``: the household members counted, as
    an add-on to a household's recognition (all of them by default).
    """
    disabled = [m for m in (facts.members if members is None else members)
                if m.grade is not None]
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
