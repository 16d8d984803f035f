"""Policy figures as versioned data: by region (with inheritance) and effective date.

A figure set for a city holds for its districts unless a district sets its own; a figure at
``000000`` is the national default. The figure in force on a day is the one with the latest
``effective_from`` not after that day, at the most specific region that has one.

Each service that reads figures names the ones it knows (a ``Known`` mapping: name → meaning,
中文) and keeps its own files: approval its programmes' standards, verification its monitoring
indicators. A name not known to the reader refuses the whole file, so a misspelt figure is never
silently ignored.
"""

from __future__ import annotations

import functools
import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

Known = Mapping[str, tuple[str, str]]  # figure name → (meaning, 中文)
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
    default: bool = False  # not a seed fact: a placeholder each region must set

    @cached_property  # named in every assessment's policy version: made once per figure
    def ref(self) -> str:
        return f"{self.name}@{self.region}/{self.effective_from.isoformat()}"


@functools.lru_cache(maxsize=4096)  # a handful of regions, asked for every figure of every case
def region_chain(region: str) -> tuple[str, ...]:
    """The region, its city, its province, then the national default."""
    chain = [region, region[:4] + "00", region[:2] + "0000", NATIONAL]
    return tuple(dict.fromkeys(chain))


class _InForce:
    """What is in force for a region on a day, found in a table's figures and remembered: the
    table never changes, so an answer, once found, holds — and a replay asks about the same few
    region-days for thousands of cases."""

    def __init__(self, figures: tuple[Figure, ...]) -> None:
        self.index: dict[tuple[str, str], list[Figure]] = {}  # newest first, per (name, region)
        for f in sorted(figures, key=lambda f: f.effective_from, reverse=True):
            self.index.setdefault((f.name, f.region), []).append(f)
        self.names = tuple(dict.fromkeys(f.name for f in figures))
        self.found: dict[tuple[str, date], dict[str, Figure]] = {}

    def __call__(self, region: str, on: date) -> dict[str, Figure]:
        found = self.found.get((region, on))
        if found is not None:
            return found
        found = {}
        for name in self.names:
            for level in region_chain(region):
                answer = next((f for f in self.index.get((name, level), ())
                               if f.effective_from <= on), None)
                if answer is not None:
                    found[name] = answer
                    break
        if len(self.found) >= 20_000:  # bounded: a service runs for years, one day after another
            self.found.clear()
        self.found[(region, on)] = found
        return found


@dataclass(frozen=True)
class PolicyTable:
    figures: tuple[Figure, ...]
    # Extra days off and make-up working days (调休), for stage time limits in working days.
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    # Derived from the figures and remembered: not part of what the table is (its equality,
    # hash and repr), and never given.
    _in_force: _InForce = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_in_force", _InForce(self.figures))  # frozen: set once, here

    def figure(self, name: str, region: str, on: date) -> Figure | None:
        return self._in_force(region, on).get(name)

    def in_force(self, region: str, on: date) -> Mapping[str, Figure]:
        """Every figure in force for a region on a day, by name (read-only: it is shared)."""
        return self._in_force(region, on)

    def amended(self, figures: tuple[Figure, ...] | list[Figure]) -> PolicyTable:
        """This table with published figures added, in publication order: a figure for the same
        name, region and effective date as one already here replaces it (a correction made
        before it took effect). Approval and the audit replay both build tables this way, so
        the same publications give the same ``version``."""
        by_key = {(f.name, f.region, f.effective_from): f for f in self.figures}
        for f in figures:
            by_key[(f.name, f.region, f.effective_from)] = f
        return PolicyTable(tuple(by_key.values()), self.holidays, self.workdays)

    def current(self, conn: Any = None) -> PolicyTable:
        """A table is its own source of policy (``PolicySource``): fixed figures, for tests,
        tools and benchmarks; a service runs on a ``PolicyBook``, which adds publications."""
        return self

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    @cached_property  # stored with every assessment: computed once per table, not per case
    def version(self) -> str:
        """A digest of every figure and the calendar: two tables decide alike iff equal."""
        text = "\n".join(sorted(f"{f.ref}={f.value}" for f in self.figures))
        text += "|" + ",".join(sorted(d.isoformat() for d in self.holidays))
        text += "|" + ",".join(sorted(d.isoformat() for d in self.workdays))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class PolicySource(Protocol):
    """Where a service reads its figures: the table in force as ``conn`` (a database
    connection, or None for a fresh one) sees the publications (shared/policy_book.py)."""

    def current(self, conn: Any = None) -> PolicyTable: ...


def parse_policies(files: list[tuple[str, str]], known: Known,
                   renames: Mapping[str, str] | None = None) -> PolicyTable:
    """Validate several policy files (text, origin) as one table; any problem refuses them all."""
    problems: list[str] = []
    figures: list[Figure] = []
    holidays: set[date] = set()
    workdays: set[date] = set()
    seen: set[tuple[str, str, date]] = set()
    for text, origin in files:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            problems.append(f"{origin}: not valid TOML: {exc}")
            continue
        unknown = sorted(set(data) - {"figure", "calendar"})
        if unknown:
            problems.append(f"{origin}: unknown section(s) {', '.join(unknown)}")
        calendar = data.get("calendar", {})
        if not isinstance(calendar, dict):
            problems.append(f"{origin}: calendar must be a table ([calendar])")
            calendar = {}
        wrong = sorted(set(calendar) - {"holidays", "workdays"})
        if wrong:  # a misspelt key would silently drop every holiday in it
            problems.append(f"{origin}: unknown calendar key(s) {', '.join(wrong)}")
        for key, into in (("holidays", holidays), ("workdays", workdays)):
            days = calendar.get(key, [])
            for day in days if isinstance(days, list) else [days]:
                if type(day) is not date:
                    problems.append(f"{origin}: calendar.{key} must hold dates, got {day!r}")
                else:
                    into.add(day)
        entries = data.get("figure", [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            problems.append(f"{origin}: figures must be [[figure]] tables")
            continue
        _parse_figures(entries, origin, figures, seen, problems, known, renames or {})
    if not figures and not problems:
        problems.append(f"{', '.join(o for _, o in files)}: no figures")
    if holidays & workdays:
        problems.append("calendar: days both holiday and working day: "
                        + ", ".join(sorted(d.isoformat() for d in holidays & workdays)))
    if problems:
        raise PolicyError("; ".join(problems))
    return PolicyTable(tuple(figures), frozenset(holidays), frozenset(workdays))


def _parse_figures(entries: list[dict[str, object]], origin: str, figures: list[Figure],
                   seen: set[tuple[str, str, date]], problems: list[str], known: Known,
                   renames: Mapping[str, str]) -> None:
    for i, entry in enumerate(entries):
        where = f"{origin}: figure #{i + 1}"
        name, region = entry.get("name"), entry.get("region")
        if not isinstance(name, str):
            problems.append(f"{where}: name must be a string, got {name!r}")
            continue
        name = renames.get(name, name)
        unknown_keys = sorted(set(entry) - {"name", "region", "effective_from", "value",
                                            "source", "default"})
        if unknown_keys:
            problems.append(f"{where}: unknown key(s) {', '.join(unknown_keys)}")
        effective, value = entry.get("effective_from"), entry.get("value")
        source = entry.get("source")
        if source is not None and (not isinstance(source, str) or not source.strip()):
            problems.append(f"{where}: source must be a non-empty text, got {source!r}")
            source = ""
        elif source is None and entry.get("default") is True:
            source = "default to be set by the region"
        if name not in known:
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
        assert (isinstance(region, str) and isinstance(effective, date)
                and isinstance(value, int) and isinstance(source, str)), "checked above"
        key = (name, region, effective)
        if key in seen:
            problems.append(f"{where}: {name} for {region} from {effective} is set twice")
            continue
        seen.add(key)
        figures.append(Figure(name, region, effective, value, source,
                              default=entry.get("default") is True))


def load_policy(paths: list[Path], known: Known,
                renames: Mapping[str, str] | None = None) -> PolicyTable:
    """Load policy files — or every ``*.toml`` in a directory — as one table."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.toml")) if path.is_dir() else [path])
    return parse_policies([(f.read_text(encoding="utf-8"), str(f)) for f in files], known, renames)


def published_figure(proposal_id: str, name: str, region: str, effective_from: date,
                     value: int) -> Figure:
    """A figure the bureau published through the system. Its source names the proposal, not
    the document the officer typed (that text stays with approval), so it may travel in a
    decision's trace."""
    return Figure(name, region, effective_from, value, f"published: policy proposal {proposal_id}")
