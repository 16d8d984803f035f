"""Policy figures as versioned data: by region (with inheritance) and effective date.

A figure set for a city holds for its districts unless a district sets its own; a figure at
``000000`` is the national default. The figure in force on a day is the one with the latest
``effective_from`` not after that day, at the most specific region that has one.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

DIBAO_FIGURES = {
    "monthly_standard_fen": "Dibao standard per person per month, in fen",
    "max_real_estate": "most properties a recipient household may own",
    "max_vehicles": "most vehicles a recipient household may own",
    "deposit_limit_months": "deposits may not exceed standard × members × this many months",
}
NATIONAL = "000000"


class PolicyError(ValueError):
    """A policy file that cannot be used; nothing of it is loaded."""


@dataclass(frozen=True)
class Figure:
    name: str
    region: str
    effective_from: date
    value: int
    source: str  # where the figure comes from, or why it is a default

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.region}/{self.effective_from.isoformat()}"


def region_chain(region: str) -> list[str]:
    """The region, its city, its province, then the national default."""
    chain = [region, region[:4] + "00", region[:2] + "0000", NATIONAL]
    return list(dict.fromkeys(chain))


@dataclass(frozen=True)
class PolicyTable:
    figures: tuple[Figure, ...]

    def figure(self, name: str, region: str, on: date) -> Figure | None:
        for level in region_chain(region):
            candidates = [f for f in self.figures
                          if f.name == name and f.region == level and f.effective_from <= on]
            if candidates:
                return max(candidates, key=lambda f: f.effective_from)
        return None


def parse_policy(text: str, origin: str = "<policy>") -> PolicyTable:
    """Validate a whole policy file; any problem refuses all of it, naming every bad entry."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{origin}: not valid TOML: {exc}") from exc
    problems: list[str] = []
    figures: list[Figure] = []
    seen: set[tuple[str, str, date]] = set()
    for i, entry in enumerate(data.get("figure", [])):
        where = f"{origin}: figure #{i + 1}"
        name, region = entry.get("name"), entry.get("region")
        effective, value = entry.get("effective_from"), entry.get("value")
        source = entry.get("source") or (
            "default to be set by the region" if entry.get("default") is True else None)
        if name not in DIBAO_FIGURES:
            problems.append(f"{where}: unknown figure {name!r}")
        if not isinstance(region, str) or not re.fullmatch(r"[0-9]{6}", region):
            problems.append(f"{where}: region must be a 6-digit code, got {region!r}")
        if type(effective) is not date:  # a TOML datetime is a date subclass, and wrong here
            problems.append(f"{where}: effective_from must be a date, got {effective!r}")
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            problems.append(f"{where}: value must be a whole number ≥ 0, got {value!r}")
        if source is None:
            problems.append(f"{where}: needs a source, or default = true")
        if problems and problems[-1].startswith(where):
            continue
        key = (name, region, effective)
        if key in seen:
            problems.append(f"{where}: {name} for {region} from {effective} is set twice")
            continue
        seen.add(key)
        figures.append(Figure(name, region, effective, value, source))  # type: ignore[arg-type]
    if not figures and not problems:
        problems.append(f"{origin}: no figures")
    if problems:
        raise PolicyError("; ".join(problems))
    return PolicyTable(tuple(figures))


def load_policy(path: Path) -> PolicyTable:
    return parse_policy(path.read_text(encoding="utf-8"), origin=str(path))
