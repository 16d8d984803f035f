"""The time-limit dashboard (时限, issue 26) as the window shows it: approval's counts turned into
the rows of the page's tables and what its two charts plot, and verification's waiting reports
counted by town.

Approval counts every case and computes every time; nothing is recounted here but the list of
reports verification is waiting for (it has no count of its own, and its list is short: a case
waits there only while a partner department's live source does not answer).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared import clock

BUCKETS = ("within", "near", "past", "untimed")
PENDING_LIMIT = 1000  # verification's longest page; a full page means "at least"


def stages_shown(answer: Mapping[str, Any]) -> list[str]:
    """The stages with a limit, always, and the others when they hold or held a case: seven
    columns of which four are empty would hide the two that matter."""
    timed = list(answer.get("timed_stages") or [])
    total = (answer.get("total") or {}).get("stages") or {}
    return [s for s in answer.get("stages") or [] if s in timed or (
        total.get(s, {}).get("open") or total.get(s, {}).get("completed"))]


def days_text(value: object, lang: str) -> str:
    """Days with one decimal, "2.5 天"; a dash when no case left the stage."""
    if not isinstance(value, int | float):
        return "—"
    return f"{value:.1f} {'days' if lang == 'en' else '天'}"


@dataclass(frozen=True)
class Waiting:
    """Reports verification waits for, in one town: how many, since when, and missing whom."""

    count: int
    oldest_days: float


def pending_by_town(pending: list[Any], now: datetime) -> dict[str, Waiting]:
    """Verification's waiting reports by town ("" for those of a district known by no town)."""
    found: dict[str, list[float]] = {}
    for item in pending:
        if not isinstance(item, dict):
            continue
        try:
            since = clock.as_utc(datetime.fromisoformat(str(item.get("since"))))
        except ValueError:
            continue
        place = str(item.get("town_code") or item.get("region_code") or "")
        found.setdefault(place, []).append((now - since).total_seconds() / 86400)
    return {place: Waiting(len(waits), max(waits)) for place, waits in sorted(found.items())}


def pending_by_department(pending: list[Any]) -> list[tuple[str, int]]:
    """How many waiting reports miss each department's answer, most first."""
    counted: Counter[str] = Counter()
    for item in pending:
        if isinstance(item, dict):
            for missing in item.get("missing") or []:
                if isinstance(missing, dict) and missing.get("department"):
                    counted[str(missing["department"])] += 1
    return counted.most_common()


def chart_data(answer: Mapping[str, Any], words: Mapping[str, str],
               stage_name: Callable[[str], str], lang: str) -> dict[str, Any]:
    """What static/dashboard_charts.js draws, its words in the reader's language: the open cases
    of each stage split by their limit (stacked bars), and the 90 days' trend (lines)."""
    stages = stages_shown(answer)
    total = (answer.get("total") or {}).get("stages") or {}
    trend = answer.get("trend") or {}
    past = trend.get("past") or {}
    timed = [s for s in answer.get("timed_stages") or [] if s in past]
    return {
        "lang": lang, "words": dict(words),
        "stages": {"labels": [stage_name(s) for s in stages],
                   **{b: [int(total.get(s, {}).get(b) or 0) for s in stages] for b in BUCKETS}},
        "trend": {"labels": [str(d)[5:] for d in trend.get("days") or []],  # "MM-DD"
                  "open": [int(n) for n in trend.get("open") or []],
                  "past": [{"label": f"{words.get('past', '')}: {stage_name(s)}",
                            "stage": s, "data": [int(n) for n in past[s]]} for s in timed]},
    }


def trend_rows(answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The trend as a table, newest day first: the days when something was open or late."""
    trend = answer.get("trend") or {}
    days, opened = trend.get("days") or [], trend.get("open") or []
    past = trend.get("past") or {}
    rows = []
    for i, day in enumerate(days):
        late = {stage: counts[i] for stage, counts in past.items()}
        if opened[i] or any(late.values()):
            rows.append({"day": day, "open": opened[i], "past": late})
    return rows[::-1]


def calendar_years(answer: Mapping[str, Any]) -> tuple[list[int], list[int]]:
    """The years whose holidays are loaded with the State Council's make-up working days, and
    those with the statutory holidays alone (provisional until the notice is loaded)."""
    calendar = answer.get("calendar") or {}
    holidays = [int(y) for y in calendar.get("holiday_years") or []]
    full = [int(y) for y in calendar.get("workday_years") or []]
    return [y for y in holidays if y in full], [y for y in holidays if y not in full]
