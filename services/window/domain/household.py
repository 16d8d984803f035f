"""The new-application form: flat HTML fields in, intake's application body out, and intake's
answers about fields (422 ``loc``/``msg``) back next to the field they concern.

The rules stay intake's: the resident ID number is read with intake's own parser (check digit,
birth date, sex), and everything else is left for intake to judge, so that the window never
accepts or refuses anything intake would decide differently. The window only adds what a form
needs: amounts typed in yuan, blank rows left out, messages in Chinese.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from services.intake.vocabulary import INCOME_KINDS, PROGRAMMES, RELATIONS
from services.window.domain import guardianship
from shared.inputs import text_problem
from shared.resident_id import (
    InvalidResidentId,
    ResidentId,
    parse_resident_id,
)

MAX_MEMBERS = 30  # intake's own limit
_MULTILINE = frozenset({"tmp_description"})  # the one field that may run over lines
INCOME_SLOTS = 3  # income lines per member on the form; more are rare at a window
REFERRALS = ("medical", "education", "housing", "employment")
SELF_CARE = ("full", "partial", "none")
_MEMBER_FIELD = re.compile(r"m([0-9]{1,2})_")
__all__ = ["INCOME_KINDS", "PROGRAMMES", "RELATIONS"]


@dataclass(frozen=True)
class FieldProblem:
    """What is wrong with one form field (``field`` is its id; "" the form as a whole)."""

    field: str
    zh: str
    en: str


@dataclass
class HouseholdForm:
    """The form as typed: every value kept, so a refused form comes back as it was sent."""

    values: dict[str, str] = field(default_factory=dict)
    members: list[int] = field(default_factory=lambda: [0])
    referrals: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, form: Mapping[str, str], referrals: Sequence[str] = ()) -> HouseholdForm:
        values = {k: v.strip() for k, v in form.items() if isinstance(v, str)}
        indexes = sorted({int(m.group(1)) for k in values if (m := _MEMBER_FIELD.match(k))})
        # A member card left empty (added, then not used) is not a member.
        members = [i for i in indexes if any(
            values.get(f"m{i}_{name}") for name in ("name", "resident_id"))][:MAX_MEMBERS]
        return cls(values, members or [0], [r for r in referrals if r in REFERRALS])

    def get(self, name: str) -> str:
        return self.values.get(name, "")

    def with_member(self) -> HouseholdForm:
        """One more (empty) member card: the form works without JavaScript too."""
        nxt = max(self.members) + 1 if self.members else 0
        return HouseholdForm(self.values, [*self.members, nxt][:MAX_MEMBERS], self.referrals)

    def to_application(self, today: date) -> tuple[dict[str, Any], list[FieldProblem]]:
        """Intake's request body, and the problems the window can name before sending it."""
        problems = self.text_problems()
        body: dict[str, Any] = {"region_code": self.get("region_code"),
                                "programme": self.get("programme")}
        if self.get("town_code"):
            body["town_code"] = self.get("town_code")
        body["members"] = [self._member(i, today, problems) for i in self.members]
        if self.referrals:
            body["referrals"] = list(self.referrals)
        if body["programme"] == "tekun" and self.get("care_mode"):
            body["care_mode"] = self.get("care_mode")
        if body["programme"] == "temporary":
            body["temporary"] = self._temporary(problems)
        return body, problems

    def text_problems(self) -> list[FieldProblem]:
        """Fields holding control or bidirectional-override characters (pasted from elsewhere,
        or sent by hand): refused as intake refuses them (shared/inputs.py), on the form."""
        return [FieldProblem(name, "不能包含控制字符或文字方向控制字符，请重新输入", problem)
                for name, value in self.values.items()
                if (problem := text_problem(value, multiline=name in _MULTILINE))]

    def cleaned(self) -> HouseholdForm:
        """The form to show again: a value with such characters is left out, not echoed."""
        return HouseholdForm({name: value for name, value in self.values.items()
                              if not text_problem(value, multiline=name in _MULTILINE)},
                             self.members, self.referrals)

    def _member(self, i: int, today: date, problems: list[FieldProblem]) -> dict[str, Any]:
        p = f"m{i}_"
        member: dict[str, Any] = {"name": self.get(p + "name"),
                                  "resident_id": self.get(p + "resident_id").upper(),
                                  "relation": self.get(p + "relation")}
        found = check_resident_id(member["resident_id"], today)
        if isinstance(found, FieldProblem):
            problems.append(FieldProblem(p + "resident_id", found.zh, found.en))
        incomes = []
        for j in range(INCOME_SLOTS):
            kind, amount = self.get(f"{p}inc{j}_kind"), self.get(f"{p}inc{j}_yuan")
            if not kind and not amount:
                continue
            fen = yuan_to_fen(amount)
            if fen is None:
                problems.append(FieldProblem(f"{p}inc{j}_yuan", "请填写金额（元，最多两位小数）",
                                             "enter an amount in yuan (at most 2 decimals)"))
                continue
            incomes.append({"kind": kind, "monthly_amount_fen": fen})
        member["declared_incomes"] = incomes
        if self.get(p + "consent_signed_on"):
            member["consent_signed_on"] = self.get(p + "consent_signed_on")
        grade = self.get(p + "disability_grade")
        if re.fullmatch(r"[0-9]{1,3}", grade):  # which grades there are is intake's to say
            member["disability_grade"] = int(grade)
        elif grade:  # not a number at all (the form offers 1 to 4): refused here, not echoed
            problems.append(FieldProblem(p + "disability_grade", "请选择残疾等级（1至4级）",
                                         "choose a disability grade from 1 to 4"))
        if self.get(p + "able_to_work") in ("yes", "no"):
            member["able_to_work"] = self.get(p + "able_to_work") == "yes"
        if self.get(p + "self_care") in SELF_CARE:
            member["self_care"] = self.get(p + "self_care")
        member.update(guardianship.member_facts(self.get("programme"), self.get, p))
        return member

    def _temporary(self, problems: list[FieldProblem]) -> dict[str, Any]:
        requested = yuan_to_fen(self.get("tmp_yuan"))
        if requested is None:
            problems.append(FieldProblem("tmp_yuan", "请填写申请金额（元）",
                                         "enter the amount asked for, in yuan"))
        medical = yuan_to_fen(self.get("tmp_medical_yuan") or "0")
        if medical is None:
            problems.append(FieldProblem("tmp_medical_yuan", "金额格式不正确",
                                         "not an amount in yuan"))
        temporary: dict[str, Any] = {"kind": self.get("tmp_kind"), "cause": self.get("tmp_cause"),
                                     "requested_amount_fen": requested or 0,
                                     "rigid_medical_spending_fen": medical or 0}
        if self.get("tmp_description"):
            temporary["description"] = self.get("tmp_description")
        return temporary


def yuan_to_fen(text: str) -> int | None:
    """"1,234.5" → 123450; None when it is not an amount of yuan with at most two decimals."""
    cleaned = text.replace(",", "").replace("，", "").strip()
    if not re.fullmatch(r"[0-9]{1,10}(\.[0-9]{1,2})?", cleaned):
        return None
    try:
        return int(Decimal(cleaned) * 100)
    except InvalidOperation:
        return None


def check_resident_id(raw: str, today: date) -> ResidentId | FieldProblem:
    """Intake's own reading of the number, with its reason in Chinese when it fails."""
    try:
        return parse_resident_id(raw, today=today)
    except InvalidResidentId as exc:
        zh, en = explain(str(exc))
        return FieldProblem("resident_id", zh, en)


# --- intake's answers, placed next to their fields ---------------------------------------------

def field_of(loc: Sequence[str | int]) -> str:
    """The form field a 422 ``loc`` names ("" when it concerns the form as a whole).

    ["body", "members", 2, "resident_id"] → "m<card of member 2>_resident_id" is resolved by the
    caller (members are numbered in the order sent); here member positions stay positions."""
    parts = list(loc[1:]) if loc and loc[0] == "body" else list(loc)
    if not parts:
        return ""
    head = parts[0]
    if head == "members" and len(parts) >= 3 and isinstance(parts[1], int):
        i, name = parts[1], parts[2]
        if name == "declared_incomes" and len(parts) >= 4 and isinstance(parts[3], int):
            return f"m#{i}_inc{parts[3]}_" + ("kind" if parts[-1] == "kind" else "yuan")
        return f"m#{i}_{name}"
    if head == "members":
        return "members"
    if head == "temporary" and len(parts) >= 2:
        return {"requested_amount_fen": "tmp_yuan", "rigid_medical_spending_fen":
                "tmp_medical_yuan"}.get(str(parts[1]), f"tmp_{parts[1]}")
    if head in ("programme", "region_code", "town_code", "care_mode", "referrals"):
        return str(head)
    return ""


# Intake's messages, in the words a window clerk reads. Anything not listed is shown as intake
# wrote it: a message in English beats a message that says less.
_MESSAGES: list[tuple[re.Pattern[str], str]] = [(re.compile(p), zh) for p, zh in [
    (r"must be 17 digits followed by a digit or X", "身份证号应为18位：17位数字加1位数字或X"),
    (r"check digit is (\w), the number requires (\w)", "校验码是{0}，按前17位应为{1}：请核对号码"),
    (r"birth date (\w+) is not a real date", "号码中的出生日期{0}不存在"),
    (r"birth date (\S+) is not plausible", "号码中的出生日期{0}不合理"),
    (r"every adult member must sign the consent", "成年家庭成员须签署核对授权书（填写签署日期）"),
    (r"consent cannot be signed after the application date", "授权书签署日期不能晚于申请日期"),
    (r"exactly one member must have relation 'applicant' \(found (\d+)\)",
     "须有且只有一名申请人（现有{0}名）"),
    (r"the applicant must be an adult", "申请人须为成年人"),
    (r"same resident ID number as member (\d+)", "与另一名成员的身份证号相同"),
    (r"already has an open case for \S+: (\S+)", "此人已在办理中的同类案件{0}中"),
    (r"already has an open case for", "此人已有办理中的同类案件"),
    (r"^Field required", "必填"),
    (r"String should have at least 1 character", "必填"),
    (r"must not be blank", "必填"),
    (r"^Input should be (.*)", "取值不正确"),
    (r"required for extreme-hardship support", "特困供养申请必填"),
    (r"extreme-hardship support is for one person", "特困供养只列申请人本人"),
    (r"required for temporary assistance", "临时救助须填写救助请求"),
    (r"need at least one member with a disability_grade", "须至少一名成员填写残疾等级"),
    (r"required for a child of the orphans' allowance", "孤儿、事实无人抚养儿童保障必填"),
    (r"the orphans' allowance needs at least one child",
     "须至少为一名儿童填写父亲情况、母亲情况和养育方式"),
    (r"only for the orphans' allowance", "仅适用于孤儿、事实无人抚养儿童保障"),
    (r"must be a 6-digit administrative division code", "应为6位行政区划代码"),
    (r"must name a district or county", "应为区县一级的代码"),
    (r"town (\d+) is not in region (\d+)", "镇街{0}不在区县{1}内"),
    (r"must be a 9-digit town or street code", "应为9位镇街代码"),
    (r"outside your jurisdiction", "不在您的管辖范围内"),
]]


def explain(message: str) -> tuple[str, str]:
    """(Chinese, English) for one of intake's messages."""
    en = re.sub(r"^(Value error|Assertion failed), ", "", message)
    for pattern, zh in _MESSAGES:
        if m := pattern.search(en):
            return zh.format(*m.groups()), en
    return en, en


def problems_from_422(detail: object, members: Sequence[int]) -> list[FieldProblem]:
    """Intake's 422 ``detail`` as problems on form fields; member positions become card ids."""
    found = []
    items = detail if isinstance(detail, list) else [{"loc": [], "msg": str(detail)}]
    for item in items:
        if not isinstance(item, dict):
            item = {"loc": [], "msg": str(item)}
        loc, (zh, en) = item.get("loc") or [], explain(str(item.get("msg", "")))
        name = field_of(loc)
        if name.startswith("m#"):
            position, rest = name[2:].split("_", 1)
            card = members[int(position)] if int(position) < len(members) else None
            name = f"m{card}_{rest}" if card is not None else "members"
        found.append(FieldProblem(name, zh, en))
    return found
