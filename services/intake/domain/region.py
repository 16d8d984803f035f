"""Region codes (行政区划代码, GB/T 2260): six digits, province + city + county."""

from __future__ import annotations

import re

_PROVINCES = {
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
    "65", "71", "81", "82",
}


def region_problem(code: str) -> str | None:
    """Why this is not the code of a county-level region (where cases are handled), or None."""
    if not re.fullmatch(r"[0-9]{6}", code):
        return "must be a 6-digit administrative division code (GB/T 2260)"
    if code[:2] not in _PROVINCES:
        return f"{code[:2]} is not a province-level code"
    if code[4:] == "00":
        return "must name a district or county (the last two digits are not 00)"
    return None


def town_problem(town: str, region: str) -> str | None:
    """Why this is not the 9-digit code of a town or street (乡镇/街道) of ``region``, or None."""
    if not re.fullmatch(r"[0-9]{9}", town):
        return "must be a 9-digit town or street code (乡镇/街道)"
    if not town.startswith(region):
        return f"town {town} is not in region {region}"
    if town.endswith("000"):
        return "must name a town or street (the last three digits are not 000)"
    return None
