"""Policy figures as versioned data: by region (with inheritance) and effective date.

A figure set for a city holds for its districts unless a district sets its own; a figure at
``000000`` is the national default. The figure in force on a day is the one with the latest
``effective_from`` not after that day, at the most specific region that has one.
"""

from __future__ import annotations

import functools
import hashlib
import re
import tomllib
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path

# Every figure a policy file may set: name → (meaning, 中文). Money in fen; ratios in permille
# (‰, so 1.5× is 1500); yes/no as 1/0. Names are "<programme>.<figure>".
FIGURES: dict[str, tuple[str, str]] = {
    "workflow.public_notice_days": ("days a proposed recipient is publicly noticed", "公示天数"),
    "workflow.town_review_working_days": ("working days the town has to review",
                                          "镇街审核时限(工作日)"),
    "workflow.district_approval_working_days": ("working days the district has to approve",
                                                "区县审批时限(工作日)"),
    "workflow.town_delegated_approval": ("1 when the town approves in the district's name",
                                         "审批权委托下放镇街"),
    "workflow.emergency_advance_hours": ("hours within which an emergency advance is paid",
                                         "急难先行救助时限(小时)"),
    "dibao.monthly_standard_fen": ("Dibao standard per person per month", "低保标准(元/人·月)"),
    "dibao.max_real_estate": ("most properties a recipient household may own", "住房套数上限"),
    "dibao.max_vehicles": ("most vehicles a recipient household may own", "机动车辆上限"),
    "dibao.deposit_limit_months": ("deposits may not exceed standard × members × months",
                                   "存款上限(标准×人数×月数)"),
    "dibao.employment_cost_deduction_fen": ("deducted monthly from each working member's "
                                            "earnings", "就业成本扣减(元/人·月)"),
    "dibao.elderly_age": ("age from which a member counts as elderly", "老年人年龄"),
    "dibao.addon_elderly_permille": ("extra for an elderly member, ‰ of the standard",
                                     "分类施保: 老年人(‰标准)"),
    "dibao.addon_disabled_permille": ("extra for a disabled member, ‰ of the standard",
                                      "分类施保: 残疾人(‰标准)"),
    "dibao.addon_minor_permille": ("extra for a member under 18, ‰ of the standard",
                                   "分类施保: 未成年人(‰标准)"),
    "dibao.gradual_exit_months": ("months a benefit continues after income rises from work",
                                  "低保渐退期(月)"),
    "tekun.basic_standard_fen": ("extreme-hardship basic living standard per month",
                                 "特困人员基本生活标准(元/月)"),
    "tekun.standard_multiple_permille": ("basic living standard as ‰ of the Dibao standard, "
                                         "where no amount is set", "特困基本生活标准(‰低保标准)"),
    "tekun.min_working_age": ("age below which a person has no work ability", "劳动年龄下限"),
    "tekun.care_full_fen": ("monthly care subsidy, fully self-caring", "照料护理: 全自理"),
    "tekun.care_partial_fen": ("monthly care subsidy, partly self-caring", "照料护理: 半自理"),
    "tekun.care_none_fen": ("monthly care subsidy, not self-caring", "照料护理: 全护理"),
    "marginal.income_multiple_permille": ("upper income bound as ‰ of the Dibao standard",
                                          "低保边缘收入上限(‰低保标准)"),
    "temporary.yearly_cap_fen": ("most temporary assistance per household per calendar year",
                                 "临时救助年度累计上限"),
    "temporary.normal_ceiling_fen": ("most per case without one case, one discussion",
                                     "临时救助单次常规上限(超出须一事一议)"),
    "temporary.town_approval_limit_fen": ("most per case the town approves itself",
                                          "镇街小额临时救助审批额度"),
    "temporary.medical_spending_months": ("months rigid medical spending is spread over",
                                          "刚性医疗支出分摊月数"),
    "temporary.income_multiple_permille": ("spending-type: income after rigid spending must be "
                                           "below this ‰ of the Dibao standard",
                                           "支出型: 收入上限(‰低保标准)"),
    "disability.living_subsidy_fen": ("monthly living subsidy per disabled member of a Dibao or "
                                      "marginal household", "困难残疾人生活补贴(元/人·月)"),
    "disability.nursing_subsidy_fen": ("monthly nursing subsidy per severely disabled person",
                                       "重度残疾人护理补贴(元/人·月)"),
    "disability.nursing_max_grade": ("grades up to this one count as severe", "护理补贴残疾等级"),
}
# The first release knew only Dibao, with unprefixed names; its files still load.
_OLD_NAMES = {"monthly_standard_fen", "max_real_estate", "max_vehicles", "deposit_limit_months"}
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

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.region}/{self.effective_from.isoformat()}"


@functools.lru_cache(maxsize=4096)  # a handful of regions, asked for every figure of every case
def region_chain(region: str) -> tuple[str, ...]:
    """The region, its city, its province, then the national default."""
    chain = [region, region[:4] + "00", region[:2] + "0000", NATIONAL]
    return tuple(dict.fromkeys(chain))


@dataclass(frozen=True)
class PolicyTable:
    figures: tuple[Figure, ...]
    # Extra days off and make-up working days (调休), for stage time limits in working days.
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        index: dict[tuple[str, str], list[Figure]] = {}
        for f in sorted(self.figures, key=lambda f: f.effective_from, reverse=True):
            index.setdefault((f.name, f.region), []).append(f)
        object.__setattr__(self, "_index", index)  # newest first, per (name, region)
        # The table never changes, so an answer once found holds: a replay asks the same few
        # (figure, region, day) questions for thousands of cases.
        object.__setattr__(self, "_found", {})

    def figure(self, name: str, region: str, on: date) -> Figure | None:
        found: dict[tuple[str, str, date], Figure | None] = self._found  # type: ignore[attr-defined]
        key = (name, region, on)
        if key in found:
            return found[key]
        index: dict[tuple[str, str], list[Figure]] = self._index  # type: ignore[attr-defined]
        answer = None
        for level in region_chain(region):
            answer = next((f for f in index.get((name, level), ()) if f.effective_from <= on),
                          None)
            if answer is not None:
                break
        if len(found) < 100_000:  # bounded: days × figures × regions of one long replay
            found[key] = answer
        return answer

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


def parse_policy(text: str, origin: str = "<policy>") -> PolicyTable:
    """Validate a whole policy file; any problem refuses all of it, naming every bad entry."""
    return parse_policies([(text, origin)])


def parse_policies(files: list[tuple[str, str]]) -> PolicyTable:
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
        _parse_figures(entries, origin, figures, seen, problems)
    if not figures and not problems:
        problems.append(f"{', '.join(o for _, o in files)}: no figures")
    if holidays & workdays:
        problems.append("calendar: days both holiday and working day: "
                        + ", ".join(sorted(d.isoformat() for d in holidays & workdays)))
    if problems:
        raise PolicyError("; ".join(problems))
    return PolicyTable(tuple(figures), frozenset(holidays), frozenset(workdays))


def _parse_figures(entries: list[dict[str, object]], origin: str, figures: list[Figure],
                   seen: set[tuple[str, str, date]], problems: list[str]) -> None:
    for i, entry in enumerate(entries):
        where = f"{origin}: figure #{i + 1}"
        name, region = entry.get("name"), entry.get("region")
        if not isinstance(name, str):
            problems.append(f"{where}: name must be a string, got {name!r}")
            continue
        if name in _OLD_NAMES:
            name = f"dibao.{name}"
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
        if name not in FIGURES:
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
        figures.append(Figure(name, region, effective, value, source,  # type: ignore[arg-type]
                              default=entry.get("default") is True))


def load_policy(*paths: Path) -> PolicyTable:
    """Load policy files — or every ``*.toml`` in a directory — as one table."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.toml")) if path.is_dir() else [path])
    return parse_policies([(f.read_text(encoding="utf-8"), str(f)) for f in files])
