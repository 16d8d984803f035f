"""An assessment's figures as a person reads them: 600.00 元 for ``household_income_fen: 60000``.

Approval names each figure with its unit as the last part of the name (``_fen``, ``_permille``,
``_days``…: the policy catalogue's convention, services/approval/domain/policy.py), and keeps
money in fen and ratios in per mille as integers. The page shows the number in the unit a
reader knows, and keeps the machine name and value for whoever asks for them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_INTEGER = re.compile(r"-?[0-9]+")
_UNITS = (("_fen", "yuan"), ("_permille", "permille"), ("_days", "days"),
          ("_months", "months"), ("_hours", "hours"))


@dataclass(frozen=True)
class Figure:
    name: str  # the machine name, as approval has it ("dibao.monthly_standard_fen")
    raw: str  # the machine value ("100500")
    key: str  # the name's last part, which names its words ("monthly_standard_fen")
    unit: str  # yuan, permille, days, months, hours, age, or "" (a count, a code, text)
    number: str  # the value in that unit ("1,005.00")


def yuan(fen: int) -> str:
    sign, fen = ("-", -fen) if fen < 0 else ("", fen)
    return f"{sign}{fen // 100:,}.{fen % 100:02d}"


def figure(name: str, value: object) -> Figure:
    raw = str(value)
    key = name.rsplit(".", 1)[-1]
    if not _INTEGER.fullmatch(raw):
        return Figure(name, raw, key, "", raw)  # text ("p-73… 600.00"), a code, a flag
    number = int(raw)
    if key.startswith("age"):
        return Figure(name, raw, key, "age", raw)
    for suffix, unit in _UNITS:
        if key.endswith(suffix):
            return Figure(name, raw, key, unit, yuan(number) if unit == "yuan" else raw)
    return Figure(name, raw, key, "", raw)
