"""Extreme-hardship support (特困人员救助供养) for one person.

The "three noes" (三无): no work ability, no income source, no legal supporter able to support.
"No income source" is income below the local Dibao standard (特困人员认定办法, 民发〔2021〕43号,
art. 7), not below the extreme-hardship standard, which is higher: a pension between the two is
a source of income.
The basic living standard is the region's own figure where it sets one (Cixi: 1,709 yuan), else
a multiple of the Dibao standard; a care subsidy follows the person's self-care ability. Care at
home or in an institution (集中供养) changes where the care is given, not the amount.
A person serving a prison sentence on the court's record is supported by the state, not by this
programme: 民发〔2021〕43号 ends support for one sentenced and serving in prison (art. 24 as we read
it: 依法被判处刑罚，且在监狱服刑), so it is not granted either.
"""

from __future__ import annotations

from services.approval.domain.assessment import Benefit, Outcome
from services.approval.domain.facts import CaseFacts, share, yuan
from services.approval.domain.policy import Figure
from services.approval.domain.programmes.common import pending_report, record_flags
from services.approval.domain.trace import Check, PolicyView

CARE = {"full": ("tekun.care_full_fen", "全自理"), "partial": ("tekun.care_partial_fen", "半自理"),
        "none": ("tekun.care_none_fen", "全护理")}


def basic_standard(p: PolicyView) -> tuple[int, tuple[Figure, ...], str]:
    own = p.find("tekun.basic_standard_fen")
    if own is not None:
        return own.value, (own,), f"the region's standard {yuan(own.value)} yuan"
    dibao, multiple = p.fig("dibao.monthly_standard_fen"), p.fig("tekun.standard_multiple_permille")
    amount = share(dibao.value, multiple.value)
    return amount, (dibao, multiple), (f"{multiple.value}‰ of the Dibao standard "
                                      f"{yuan(dibao.value)} = {yuan(amount)} yuan")


def assess(facts: CaseFacts, p: PolicyView) -> Outcome:
    p.require("tekun.min_working_age", "dibao.elderly_age", "dibao.monthly_standard_fen",
              *(f for f, _ in CARE.values()))
    standard, standard_figs, standard_text = basic_standard(p)
    person = facts.applicant
    elderly, working = p.fig("dibao.elderly_age"), p.fig("tekun.min_working_age")
    no_work = (person.able_to_work is False or person.age_years >= elderly.value
               or person.age_years < working.value)
    why = ("declared unable to work" if person.able_to_work is False else
           f"age {person.age_years} (working age {working.value}–{elderly.value - 1})")
    supporters = [s for s in facts.legal_supporters if s.able_to_support]
    checks = [
        Check("no_work_ability", "无劳动能力", no_work,
              f"{'no' if no_work else 'has'} work ability: {why}",
              {"age_years": str(person.age_years), "able_to_work": str(person.able_to_work)},
              (elderly, working)),
        Check("no_able_supporter", "无法定赡养抚养扶养义务人或其无履行能力", not supporters,
              f"{len(facts.legal_supporters)} legal supporter(s), "
              f"{len(supporters)} able to support",
              {"able_supporters": ", ".join(s.relation for s in supporters) or "none"}),
    ]
    if not facts.verified:
        checks.append(pending_report(facts))
        return Outcome(False, (), tuple(checks))
    if person.in_prison_since is not None:  # a record there was none of before issue 22
        checks.append(Check(
            "not_in_prison", "未在监狱服刑", False,
            f"the court records a prison sentence served since {person.in_prison_since}: the "
            "state supports the person while it lasts (民发〔2021〕43号, 终止救助供养: 依法被判处"
            "刑罚，且在监狱服刑)",
            {"in_prison_since": person.in_prison_since, "source": "court:imprisonment"}))
    income = person.counted_monthly_fen or 0
    dibao = p.fig("dibao.monthly_standard_fen")
    checks.append(Check(
        "no_income_source", "无生活来源", income < dibao.value,
        f"own income {yuan(income)} yuan/month "
        f"{'is below' if income < dibao.value else 'is not below'}"
        f" the local Dibao standard {yuan(dibao.value)} yuan (民发〔2021〕43号 art. 7)",
        {"counted_income_fen": str(income)}, (dibao,)))
    checks += record_flags(facts, p, (person,))
    care_level = person.self_care
    if care_level not in CARE:
        checks.append(Check("self_care_assessed", "生活自理能力评估", False,
                            "the applicant's self-care ability has not been assessed",
                            {"self_care": str(care_level)}))
    if not all(c.passed for c in checks):
        return Outcome(False, (), tuple(checks))
    assert care_level is not None
    care = p.fig(CARE[care_level][0])
    checks += [
        Check("basic_living", "基本生活费", True,
              f"basic living standard: {standard_text}",
              {"monthly_amount_fen": str(standard)}, standard_figs),
        Check("care_subsidy", f"照料护理补贴: {CARE[care_level][1]}", True,
              f"self-care {care_level}: {yuan(care.value)} yuan/month, "
              + ("in a care institution (集中供养)" if facts.care_mode == "centralised"
                 else "at home (分散供养)"),
              {"self_care": care_level, "care_mode": facts.care_mode or "home"}, (care,)),
    ]
    return Outcome(True, (Benefit("tekun_basic", person.person_ref, standard),
                          Benefit("tekun_care", person.person_ref, care.value)), tuple(checks))
