"""Why an early warning or a discovery lead was raised: a code and its figures, and their words.

Verification's monitoring rules give a reason as a *code* (one per kind of reason) and a few
named *parameters* — amounts in fen, counts, months, a share in ‰, a date, a member's
pseudonymous reference; never a name or free text (issue 26). The code and its parameters are
what is stored and what travels on the bus (``EarlyWarningRaised``, ``DiscoveryLeadRaised``);
the words are made here, in the reader's language, by whoever shows them (verification's
``GET /warnings`` and ``GET /leads``). So a change of wording needs no change of data, and an
archived event is read in either language.

Warnings and leads raised before issue 26 kept their words as ``中文 | English`` text; they read
as ``legacy_text``, their stored text shown as it was written, the reader's half of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import Field

Lang = Literal["zh", "en"]
ReasonCode = Literal["medical_spending", "income_loss", "earner_death", "member_death",
                     "repeated_temporary", "medical_hardship_lead", "legacy_text"]
ParamValue = int | str
# What a parameter holds; each is checked by its kind, so no text can hide in one.
Kind = Literal["fen", "count", "permille", "date", "person"]

LEGACY = "legacy_text"
SEPARATOR = " | "  # the legacy text's "中文 | English"
PARAM_NAME = r"^[a-z][a-z_]{0,39}$"
# A date (ISO) or a person's pseudonymous reference (shared.pseudonym): the only strings a
# parameter may hold.
PARAM_TEXT = r"^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|p-[0-9a-f]{32})$"
# ¥100,000,000.00: above any amount a household's reason shows, below any phone (11 digits) or
# resident ID number, which can thus never pass for a figure.
MAX_INT = 10**10
# How the events type the parameters (each then checked against its code's list, by kind).
ReasonParams = dict[Annotated[str, Field(pattern=PARAM_NAME)],
                    Annotated[int, Field(strict=True, ge=0, lt=MAX_INT)]
                    | Annotated[str, Field(strict=True, pattern=PARAM_TEXT)]]
PARAMS_DOC = ("the reason's figures by name, as its code has them (shared/monitoring_reasons.py): "
              "amounts in fen, counts, months, shares in ‰, a date, a member's reference")
LEGACY_DOC = ("the words of a reason raised before issue 26 (reason_code legacy_text), read from "
              "the archive; never written since")
_TEXT_OF: dict[Kind, re.Pattern[str]] = {"date": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
                                         "person": re.compile(r"p-[0-9a-f]{32}")}


@dataclass(frozen=True)
class Reason:
    """One kind of reason: its parameters by kind, and its words in each language."""

    params: Mapping[str, Kind]
    zh: Callable[[Mapping[str, ParamValue]], str]
    en: Callable[[Mapping[str, ParamValue]], str]
    optional: frozenset[str] = field(default_factory=frozenset)


def yuan(fen: ParamValue) -> str:
    """An amount in fen as a person reads it: ¥24,000.00."""
    fen = int(fen)
    return f"¥{fen // 100:,}.{fen % 100:02d}"


def _member(p: Mapping[str, ParamValue]) -> str:
    return str(p["member"])[:12]  # enough to tell the household's members apart


def _share_zh(p: Mapping[str, ParamValue]) -> str:
    if not p["yearly_income_fen"]:
        return "家庭无收入"
    return f"为家庭年收入 {yuan(p['yearly_income_fen'])} 的 {int(p['share_permille']) // 10}%"


def _share_en(p: Mapping[str, ParamValue]) -> str:
    if not p["yearly_income_fen"]:
        return "a household without income"
    return (f"{int(p['share_permille']) // 10}% of the household's yearly income "
            f"{yuan(p['yearly_income_fen'])}")


# By ReasonCode; looked up by whatever code an event carries (a newer producer's too).
REASONS: dict[str, Reason] = {
    "medical_spending": Reason(
        {"months": "count", "total_fen": "fen", "yearly_income_fen": "fen",
         "share_permille": "permille"},
        lambda p: f"{p['months']} 个月内大额医疗支出 {yuan(p['total_fen'])}，{_share_zh(p)}",
        lambda p: (f"large medical bills of {yuan(p['total_fen'])} in {p['months']} months, "
                   f"{_share_en(p)}"),
        # A household without income has no share: every threshold is passed.
        optional=frozenset({"share_permille"})),
    "income_loss": Reason(
        {"member": "person", "was_monthly_fen": "fen", "now_monthly_fen": "fen"},
        lambda p: (f"成员 {_member(p)} 核对月收入由 {yuan(p['was_monthly_fen'])} "
                   f"降至 {yuan(p['now_monthly_fen'])}"),
        lambda p: (f"member {_member(p)}'s verified income fell from "
                   f"{yuan(p['was_monthly_fen'])} to {yuan(p['now_monthly_fen'])} a month")),
    "earner_death": Reason(
        {"member": "person", "died_on": "date", "counted_monthly_fen": "fen"},
        lambda p: (f"成员 {_member(p)} 于 {p['died_on']} 登记死亡，"
                   f"其认定月收入 {yuan(p['counted_monthly_fen'])}"),
        lambda p: (f"member {_member(p)} recorded deceased on {p['died_on']}; "
                   f"counted income {yuan(p['counted_monthly_fen'])} a month")),
    "member_death": Reason(
        {"member": "person", "died_on": "date"},
        lambda p: f"成员 {_member(p)} 于 {p['died_on']} 登记死亡",
        lambda p: f"member {_member(p)} recorded deceased on {p['died_on']}"),
    "repeated_temporary": Reason(
        {"grants": "count", "months": "count"},
        lambda p: f"{p['months']} 个月内获临时救助 {p['grants']} 次",
        lambda p: f"{p['grants']} temporary assistance grants in {p['months']} months"),
    "medical_hardship_lead": Reason(
        {"bills": "count", "total_fen": "fen", "months": "count"},
        lambda p: (f"{p['months']} 个月内大额医疗费用个人负担 {p['bills']} 笔，"
                   f"共 {yuan(p['total_fen'])}"),
        lambda p: (f"{p['bills']} large medical bill(s) of {yuan(p['total_fen'])} in "
                   f"{p['months']} months, personal share")),
    # Raised before issue 26: the words were stored; there are no parameters.
    "legacy_text": Reason({}, lambda p: "", lambda p: ""),
}


def problems(code: str, params: Mapping[str, object]) -> list[str]:
    """What is wrong with these parameters for this code (empty: nothing), naming the
    parameter, never its value."""
    reason = REASONS.get(code)
    if reason is None:
        return ["reason_code: not a known reason"]
    found = []
    unknown = [name for name in params if name not in reason.params]
    if unknown:
        found.append(f"reason_params: {len(unknown)} parameter(s) {code} does not have")
    for name, kind in reason.params.items():
        if name not in params:
            if name not in reason.optional:
                found.append(f"reason_params.{name}: required for {code}")
            continue
        value = params[name]
        if kind in _TEXT_OF:
            if not (isinstance(value, str) and _TEXT_OF[kind].fullmatch(value)
                    and (kind != "date" or _is_date(value))):
                found.append(f"reason_params.{name}: not a {kind}")
        elif isinstance(value, bool) or not isinstance(value, int) \
                or not 0 <= value < MAX_INT:
            found.append(f"reason_params.{name}: not a whole number of {kind}")
    return found


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def check_reason(code: str, params: Mapping[str, object], text: str | None) -> None:
    """For the events: ValueError unless the parameters fit the code, and the text (the words
    of a reason raised before issue 26) comes with ``legacy_text`` only, and always with it."""
    found = problems(code, params)
    if (code == LEGACY) != (text is not None):
        found.append("reason: the words of a legacy_text reason only")
    if found:
        raise ValueError("; ".join(found))


def legacy_reason(data: Any) -> Any:
    """An event's data as archived before issue 26, with its reason as text only: read as a
    ``legacy_text`` reason that keeps its text (composed by code from figures, never typed)."""
    if isinstance(data, dict) and "reason_code" not in data and data.get("reason") is not None:
        return {**data, "reason_code": LEGACY}
    return data


def render(code: str, params: Mapping[str, ParamValue], lang: Lang,
           legacy: str | None = None) -> str:
    """The reason in the reader's language. ``legacy`` is the text a ``legacy_text`` reason
    was stored with (``中文 | English``): its half in ``lang``, or all of it when it has no
    halves. A code this catalogue does not know (a newer producer) shows as the code."""
    if code == LEGACY:
        zh, split, en = (legacy or "").partition(SEPARATOR)
        return (en if lang == "en" else zh) if split else (legacy or "")
    reason = REASONS.get(code)
    if reason is None or problems(code, params):
        return code
    return (reason.en if lang == "en" else reason.zh)(params)


def reader_language(accept_language: str | None) -> Lang:
    """The language asked for by an ``Accept-Language`` header: English when English is
    preferred over Chinese, else Chinese (the default, also with no header)."""
    best: tuple[float, Lang] = (0.0, "zh")
    for part in (accept_language or "").split(","):
        tag, _, weight = part.strip().partition(";")
        lang = tag.strip().lower().split("-")[0]
        if lang not in ("zh", "en"):
            continue
        try:
            q = float(weight.strip()[2:]) if weight.strip().startswith("q=") else 1.0
        except ValueError:
            continue
        if q > best[0]:
            best = (q, "en" if lang == "en" else "zh")
    return best[1]
