"""The policy officer's proposal form (政策管理, issue 22 §2) and what-if form (政策测算, §4): a
figure's new value as a person types it, the integer approval keeps, and approval's refusals
back next to their field.

Approval judges every proposal (its figure, region, date, four eyes); the window only turns
what was typed into the API's body. Money is typed in yuan and kept in fen: the conversion is
done with Decimal, never float, so 1105.10 yuan is 110510 fen and never 110509.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from shared.inputs import text_problem

FIELDS = ("name", "region_code", "effective_from", "value", "source", "reason")
# At most 2 decimals: fen are the smallest money approval keeps. Thousands separators are
# accepted because that is how amounts are printed on the documents officers copy from.
_YUAN = re.compile(r"([0-9]{1,10})(?:\.([0-9]{1,2}))?")
_WHOLE = re.compile(r"[0-9]{1,12}")
_REGION = re.compile(r"[0-9]{6}")
_SEPARATORS = str.maketrans("", "", ",\uff0c \u00a0")  # , ， space, no-break space
MAX_SOURCE = 300  # approval's limits (ProposalIn)
MAX_REASON = 2000


@dataclass(frozen=True)
class FieldProblem:
    """What is wrong with one form field (``field`` is its name; "" the form as a whole)."""

    field: str
    zh: str
    en: str


def parse_value(unit: str, typed: str) -> tuple[int | None, FieldProblem | None]:
    """The integer approval keeps for ``typed`` in ``unit``, or the problem with it."""
    text = typed.strip().translate(_SEPARATORS)
    if unit == "fen":
        text = text.removesuffix("元").removeprefix("¥").strip()
        if not _YUAN.fullmatch(text):
            return None, FieldProblem("value", "请填写金额（元），最多两位小数，如 1105.00",
                                      "an amount in yuan, at most 2 decimals, e.g. 1105.00")
        return int(Decimal(text) * 100), None
    if unit == "flag":
        if text not in ("0", "1"):
            return None, FieldProblem("value", "请填写 1（是）或 0（否）", "1 (yes) or 0 (no)")
        return int(text), None
    if not _WHOLE.fullmatch(text):
        return None, FieldProblem("value", "请填写非负整数", "a whole number, 0 or more")
    return int(text), None


def first_of_next_month(today: date) -> date:
    """The earliest effective date approval takes: a published figure is never retroactive."""
    return date(today.year + today.month // 12, today.month % 12 + 1, 1)


def proposal_body(values: Mapping[str, str], units: Mapping[str, str]
                  ) -> tuple[dict[str, Any] | None, list[FieldProblem]]:
    """The API's body for the form's ``values`` (stripped strings), or the problems the window
    can see without asking approval; ``units`` maps each catalogue figure to its unit."""
    body, problems = simulation_body(values, units)
    for key, limit, multiline in (("source", MAX_SOURCE, False),
                                  ("reason", MAX_REASON, True)):
        text = values.get(key, "")
        if not text:
            problems.append(FieldProblem(key, "必填", "required"))
        elif len(text) > limit or text_problem(text, multiline=multiline):
            problems.append(FieldProblem(key, f"须为不超过{limit}字的文字"
                                         + ("" if multiline else "（一行）"),
                                         f"text of at most {limit} characters"
                                         + ("" if multiline else ", one line")))
    if problems or body is None:
        return None, problems
    return {**body, "source": values["source"], "reason": values["reason"]}, []


def simulation_body(values: Mapping[str, str], units: Mapping[str, str]
                    ) -> tuple[dict[str, Any] | None, list[FieldProblem]]:
    """The what-if's body (政策测算: figure, region, date, value; approval's SimulationIn), or
    the problems with it. Any date is taken: a simulation publishes nothing, so approval's rule
    against changing the past (the proposal's earliest date) does not apply to it."""
    problems = []
    name = values.get("name", "")
    if name not in units:
        problems.append(FieldProblem("name", "请选择政策指标", "choose a figure"))
    region = values.get("region_code", "")
    if not _REGION.fullmatch(region):
        problems.append(FieldProblem("region_code", "请填写6位行政区划代码",
                                     "a 6-digit region code"))
    try:
        effective = date.fromisoformat(values.get("effective_from", ""))
    except ValueError:
        effective = None
        problems.append(FieldProblem("effective_from", "请填写生效日期（年-月-日）",
                                     "a date, YYYY-MM-DD"))
    value = None
    if name in units:
        value, problem = parse_value(units[name], values.get("value", ""))
        if problem:
            problems.append(problem)
    if problems or effective is None or value is None:
        return None, problems
    return {"name": name, "region_code": region, "effective_from": effective.isoformat(),
            "value": value}, []


def typed_value(unit: str, value: int) -> str:
    """A stored value as it is typed into the form again (yuan with 2 decimals for money)."""
    if unit == "fen":
        return f"{value // 100}.{value % 100:02d}"
    return str(value)


def problems_from_answer(status: int, detail: object) -> list[FieldProblem]:
    """Approval's refusal as problems on the form's fields.

    A 422 names its fields (``loc``); a 409 (retroactive date, unknown figure) and a 403 (a
    region outside the officer's jurisdiction) are about one field too, found from the message
    when approval does not name it: its message is shown as it is, in English, beside the field
    it concerns or else above the form."""
    items = detail if isinstance(detail, list) else [detail]
    found = []
    for item in items:
        loc: list[Any] = []
        message = item
        if isinstance(item, dict):
            loc = list(item.get("loc") or [])
            message = item.get("msg") or item.get("message") or item.get("detail") or ""
            if isinstance(item.get("field"), str):
                loc = [item["field"]]
        text = str(message)[:300]
        name = next((str(part) for part in reversed(loc) if str(part) in FIELDS), "")
        if not name:
            name = _field_named_in(text, status)
        zh = {403: "不在您的管辖范围内：", 409: "未被接受：", 422: "有误："}.get(status, "")
        found.append(FieldProblem(name, zh + text, text))
    return found


def _field_named_in(message: str, status: int) -> str:
    if status == 403:
        return "region_code"
    lowered = message.lower()
    for name, words in (("effective_from", ("effective", "retroactive", "month", "date")),
                        ("name", ("figure", "unknown", "catalogue")),
                        ("region_code", ("region", "jurisdiction")),
                        ("value", ("value", "amount"))):
        if any(word in lowered for word in words):
            return name
    return ""
