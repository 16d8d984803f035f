"""Orphans' and de-facto unsupported children's allowance (孤儿、事实无人抚养儿童基本生活保障).

A monthly allowance for each child of the case, by category: an orphan in a welfare institution
(集中养育), an orphan cared for in a family (社会散居), a de-facto unsupported child (事实无人抚养
儿童). It is not means-tested: a child of a Dibao household may have it too.

The category comes from the two parents' situations, each the record's where the children's
welfare information system has one (the form's otherwise; a difference is flagged for the
reviewer, as for a disability grade):

- orphan: both parents dead or declared missing (失去父母、查找不到生父母);
- de-facto unsupported (民发〔2019〕62号, two situations added by 民发〔2020〕125号): both parents
  in one of the situations of ``UNABLE``, or one dead or declared missing and the other in one;
- otherwise none: a parent who is there, or whose situation nobody declared, leaves the child out.

The child must be under the policy's age; past it, one still in full-time school keeps the
allowance where the policy says so. A child entering university this year gets the region's
one-off grant (Weihai: 10,000 yuan; none where the figure is 0). The figures and their sources
are in ``policies/orphan.toml``.

With several children, a child who does not qualify is noted, not failed, once another does: an
approval names no failed condition (as the disability subsidies do for a member not severe
enough).
"""

from __future__ import annotations

from services.approval.domain.assessment import Benefit, Outcome
from services.approval.domain.facts import CaseFacts, Member, yuan
from services.approval.domain.policy import Figure
from services.approval.domain.programmes.common import pending_report
from services.approval.domain.trace import Check, PolicyView

FIGURES = ("orphan.institution_monthly_fen", "orphan.family_monthly_fen",
           "orphan.de_facto_monthly_fen", "orphan.adult_age", "orphan.in_school_continues",
           "orphan.university_grant_fen")
GONE = frozenset({"deceased", "missing"})  # 死亡, 宣告失踪
# Situations in which a living parent cannot bring the child up (民发〔2019〕62号; the last two
# from 民发〔2020〕125号).
UNABLE = frozenset({"severely_disabled", "seriously_ill", "imprisoned", "compulsory_isolation",
                    "restricted_liberty", "lost_contact", "guardianship_revoked", "deported"})
SITUATION_ZH = {
    "present": "在世", "deceased": "死亡", "missing": "宣告失踪", "severely_disabled": "重残",
    "seriously_ill": "重病", "imprisoned": "服刑在押", "compulsory_isolation": "强制隔离戒毒",
    "restricted_liberty": "被执行其他限制人身自由的措施", "lost_contact": "失联",
    "guardianship_revoked": "被撤销监护资格", "deported": "被遣送(驱逐)出境",
}
CARE_EN = {"institution": "in a welfare institution", "family": "in a family"}
IN_SCHOOL = frozenset({"in_school", "entering_university"})
ORPHAN, DE_FACTO = "orphan", "de_facto"


def category(father: str | None, mother: str | None) -> str | None:
    """``ORPHAN``, ``DE_FACTO`` or None, from the two parents' situations."""
    if father in GONE and mother in GONE:
        return ORPHAN
    either = GONE | UNABLE
    return DE_FACTO if father in either and mother in either else None


def assess(facts: CaseFacts, p: PolicyView) -> Outcome:
    p.require(*FIGURES)
    children = [m for m in facts.members if m.parents != (None, None)]
    if not children:
        return Outcome(False, (), (Check(
            "child_guardianship", "儿童监护情况", False,
            "no member's parents' situations are declared: the allowance is for a child "
            "whose parents' situations are known", {}),))
    found = [_child(m, p) for m in children]
    any_eligible = any(ok for ok, _, _ in found)
    checks: list[Check] = []
    benefits: list[Benefit] = []
    for ok, child_checks, child_benefits in found:
        if any_eligible and not ok:  # noted, not failed: the case is approved for another child
            child_checks = [c if c.passed else Check(
                c.rule, c.label_zh, True, "noted, not eligible: " + c.detail, c.inputs,
                c.parameters) for c in child_checks]
        checks += child_checks
        benefits += child_benefits
    if not facts.verified:
        # Declared, not verified yet: the guardianship records come with the report.
        checks.append(pending_report(facts))
        return Outcome(False, (), tuple(checks))
    return Outcome(any_eligible, tuple(benefits), tuple(checks))


def _child(m: Member, p: PolicyView) -> tuple[bool, list[Check], list[Benefit]]:
    """One child: whether eligible, the checks, and the benefits."""
    who = {"person_ref": m.person_ref}
    checks: list[Check] = []
    if (m.father_on_record not in (None, m.father)
            or m.mother_on_record not in (None, m.mother)):
        checks.append(_record_differs(m))
    father, mother = m.parents
    kind = category(father, mother)
    parents = (f"father {_said(father)}, mother {_said(mother)}")
    checks.append(Check(
        "guardianship_category", "孤儿、事实无人抚养儿童认定", kind is not None,
        f"{parents}: " + (
            "an orphan (both parents dead or declared missing)" if kind == ORPHAN else
            "a de-facto unsupported child (民发〔2019〕62号, 民发〔2020〕125号)" if kind == DE_FACTO
            else "neither an orphan nor a de-facto unsupported child"),
        {**who, "father": str(father), "mother": str(mother), "category": str(kind)}))
    adult, continues = p.fig("orphan.adult_age"), p.fig("orphan.in_school_continues")
    in_school = m.schooling in IN_SCHOOL
    young = m.age_years < adult.value
    age_ok = young or (in_school and continues.value == 1)
    checks.append(Check(
        "child_age", "保障年龄", age_ok,
        f"age {m.age_years}: " + (
            f"under {adult.value}" if young else
            f"{adult.value} or over, still in full-time school: the allowance continues"
            if age_ok else
            f"{adult.value} or over, "
            + ("in school, but the region does not continue the allowance" if in_school
               else "not in full-time school")),
        {**who, "age_years": str(m.age_years), "schooling": str(m.schooling)},
        (adult, continues)))
    if kind is None or not age_ok:
        return False, checks, []
    monthly: Figure
    if kind == DE_FACTO:
        monthly = p.fig("orphan.de_facto_monthly_fen")
        benefit, label = "orphan_de_facto", "事实无人抚养儿童基本生活补贴"
    elif m.child_care == "institution":
        monthly = p.fig("orphan.institution_monthly_fen")
        benefit, label = "orphan_institution", "孤儿基本生活费: 集中养育"
    elif m.child_care == "family":
        monthly = p.fig("orphan.family_monthly_fen")
        benefit, label = "orphan_family", "孤儿基本生活费: 社会散居"
    else:
        checks.append(Check(
            "child_care", "养育方式", False,
            "an orphan's care is not declared: in a welfare institution (集中养育) or in a "
            "family (社会散居)", {**who, "child_care": str(m.child_care)}))
        return False, checks, []
    care = CARE_EN.get(m.child_care or "", "")
    checks.append(Check(
        "child_allowance", label, True,
        f"{yuan(monthly.value)} yuan/month" + (f" (cared for {care})" if care else ""),
        {**who, "category": kind, "child_care": str(m.child_care),
         "monthly_amount_fen": str(monthly.value)}, (monthly,)))
    benefits = [Benefit(benefit, m.person_ref, monthly.value)]
    if m.schooling == "entering_university":
        grant = p.fig("orphan.university_grant_fen")
        checks.append(Check(
            "university_grant", "考入大学助学金", True,
            f"entering university this year: one-off grant {yuan(grant.value)} yuan"
            if grant.value else
            "entering university this year: the region pays no university grant",
            {**who, "one_off_amount_fen": str(grant.value)}, (grant,)))
        if grant.value:
            benefits.append(Benefit("orphan_university", m.person_ref,
                                    one_off_amount_fen=grant.value))
    return True, checks, benefits


def _said(situation: str | None) -> str:
    if situation is None:
        return "not declared"
    return f"{situation.replace('_', ' ')} ({SITUATION_ZH.get(situation, situation)})"


def _record_differs(m: Member) -> Check:
    """The reviewer's flag: the form and the record disagree on a parent's situation (the record
    decides; the form may be out of date, or wrong)."""
    parts = [f"{who}: declared {_said(declared)}, on record {_said(on_record)}"
             for who, declared, on_record in (("father", m.father, m.father_on_record),
                                             ("mother", m.mother, m.mother_on_record))
             if on_record is not None and on_record != declared]
    return Check("guardianship_on_record", "监护情况以部门记录为准", True,
                 "; ".join(parts) + " — the rules use the record",
                 {"person_ref": m.person_ref, "declared_father": str(m.father),
                  "declared_mother": str(m.mother), "father_on_record": str(m.father_on_record),
                  "mother_on_record": str(m.mother_on_record)})
