"""The time-limit dashboard (时限, issue 26): the statute, measured, for a reader's reach.

Per town and district: how many cases each open stage holds and, for the stages with a statutory
limit, how many are within it, near it (its last 20%: from ``stage_since`` to ``due_at``) or past
it; how long each stage took (median and 90th percentile) over the last 90 days; and, day by
day, how many cases were past their limit.

The limits are the workflow's own: ``cases.due_at`` is set when a case enters a stage (town
review 15 working days, or 24 hours for an emergency; district approval 10 working days), in
working days of the policy's calendar (calendar.toml: holidays and make-up working days). Nothing
here re-decides them for an open case. For a stage left in the last 90 days the limit it had is
recomputed with the same functions and calendar (stage changes do not store it), for the trend.

The open cases are counted in SQL (a city holds ~100k cases, few of them open); the stage times
come from the stage changes of the last 90 days, a bounded set, summed up here.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Float, and_, case, func, literal, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from services.approval.adapters.tables import cases, stage_changes
from services.approval.domain.policy import PolicyTable
from services.approval.domain.workflow import (
    ActionRefused,
    Rules,
    add_working_days,
    town_review_due,
)
from shared import clock
from shared.sql import within

# The stages a case waits in before its decision (or after an advance), in workflow order.
OPEN_STAGES = ("awaiting_report", "awaiting_review", "returned", "under_notice",
               "awaiting_approval", "advance_paid", "follow_up")
# The stages with a statutory limit in cases.due_at. The public notice's end is a period the
# public has, not a limit on staff (the case list never calls it overdue either); the wait for
# the report is verification's, whose live sources have their own limits.
TIMED = ("awaiting_review", "awaiting_approval")
BUCKETS = ("within", "near", "past", "untimed")
NEAR_SHARE = 0.2  # "near": the last fifth of the time the stage allows
WINDOW_DAYS = 90


class _Days(FunctionElement[float]):
    """A moment as days since 1970 (a float), so that SQL can take a share of a stage's span."""

    name = "onedoor_days"
    type = Float()
    inherit_cache = True


@compiles(_Days, "sqlite")
def _days_sqlite(element: _Days, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps moments as UTC text; julianday reads it (day 2440587.5 is 1970-01-01).
    return f"(julianday({compiler.process(element.clauses, **kw)}) - 2440587.5)"


@compiles(_Days)
def _days_postgresql(element: _Days, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) / 86400.0)"


def _reach(jurisdiction: str, area: str) -> Any:
    """The reader's jurisdiction, narrowed to the area asked: a list is filtered, not refused."""
    return and_(within(jurisdiction, cases.c.region_code, cases.c.town_code),
                within(area, cases.c.region_code, cases.c.town_code))


def open_counts(conn: Connection, jurisdiction: str, area: str,
                now: datetime) -> list[dict[str, Any]]:
    """(region, town, stage, bucket, count) of the open cases, counted by the database."""
    c = cases.c
    now_days = now.timestamp() / 86400
    span_left = _Days(c.due_at) - literal(NEAR_SHARE) * (_Days(c.due_at) - _Days(c.stage_since))
    bucket = case(
        (or_(c.due_at.is_(None), c.stage.not_in(TIMED)), "untimed"),
        (c.due_at < now, "past"),
        (span_left <= now_days, "near"),
        else_="within").label("bucket")
    # Grouped outside: PostgreSQL would not see a CASE with bound values in GROUP BY as the one
    # selected (each use binds its own parameters).
    inner = (select(c.region_code, c.town_code, c.stage, bucket)
             .where(c.stage.in_(OPEN_STAGES), _reach(jurisdiction, area)).subquery())
    q = (select(inner.c.region_code, inner.c.town_code, inner.c.stage, inner.c.bucket,
                func.count().label("n"))
         .group_by(inner.c.region_code, inner.c.town_code, inner.c.stage, inner.c.bucket))
    return [dict(r) for r in conn.execute(q).mappings()]


@dataclass(frozen=True)
class Stay:
    """One stay of a case in a stage: entered, left (None: still there), and its limit."""

    stage: str
    region_code: str
    town_code: str | None
    emergency: bool
    entered: datetime
    left: datetime | None
    due: datetime | None = None

    @property
    def days(self) -> float:
        assert self.left is not None
        return (self.left - self.entered).total_seconds() / 86400


def stays_left(conn: Connection, jurisdiction: str, area: str,
               since: datetime) -> list[Stay]:
    """The stays in an open stage that ended since ``since``. A stay ends at a change from its
    stage to another; it began at the last change into it (a change from a stage to itself, an
    objection during the notice, neither begins nor ends one)."""
    leave, enter = stage_changes, stage_changes.alias("entry")
    entered = (select(func.max(enter.c.at))
               .where(enter.c.case_id == leave.c.case_id, enter.c.sequence < leave.c.sequence,
                      enter.c.to_stage == leave.c.from_stage,
                      or_(enter.c.from_stage.is_(None), enter.c.from_stage != enter.c.to_stage))
               .scalar_subquery())
    q = (select(leave.c.from_stage, entered.label("entered"), leave.c.at, cases.c.region_code,
                cases.c.town_code, cases.c.emergency)
         .join(cases, cases.c.case_id == leave.c.case_id)
         .where(leave.c.at >= since, leave.c.from_stage.in_(OPEN_STAGES),
                leave.c.from_stage != leave.c.to_stage, _reach(jurisdiction, area)))
    return [Stay(r.from_stage, r.region_code, r.town_code, bool(r.emergency),
                 clock.as_utc(r.entered), clock.as_utc(r.at))
            for r in conn.execute(q) if r.entered is not None]


def stays_open(conn: Connection, jurisdiction: str, area: str) -> list[Stay]:
    """The cases in a stage with a limit now, with the limit the workflow set."""
    c = cases.c
    q = (select(c.stage, c.region_code, c.town_code, c.emergency, c.stage_since, c.due_at)
         .where(c.stage.in_(TIMED), c.due_at.is_not(None), _reach(jurisdiction, area)))
    return [Stay(r.stage, r.region_code, r.town_code, bool(r.emergency),
                 clock.as_utc(r.stage_since), None, clock.as_utc(r.due_at))
            for r in conn.execute(q)]


def statutory_due(stay: Stay, table: PolicyTable) -> datetime | None:
    """The limit a stay had: what the workflow computed when the case entered the stage."""
    rules = Rules(table, stay.region_code, clock.local_date(stay.entered))
    try:
        if stay.stage == "awaiting_review":
            return town_review_due(stay.entered, rules, stay.emergency)
        return add_working_days(
            stay.entered, rules.value("workflow.district_approval_working_days"), table)
    except ActionRefused:  # no figure in force there then: no limit to measure against
        return None


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile: a stay that really happened, never an interpolation."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(share * len(ordered))) - 1]


def _durations(stays: Iterable[Stay]) -> dict[str, float | int | None]:
    days = [s.days for s in stays]
    if not days:
        return {"completed": 0, "median_days": None, "p90_days": None}
    return {"completed": len(days), "median_days": round(statistics.median(days), 2),
            "p90_days": round(percentile(days, 0.9), 2)}


def trend(stays: list[Stay], now: datetime, days: int = WINDOW_DAYS) -> dict[str, Any]:
    """Per day of the last ``days`` (China dates): the cases in a stage with a limit at the end
    of the day (now, for today), and of them those past their limit, per stage."""
    today = clock.local_date(now)
    first = today - timedelta(days=days - 1)
    # Each stay adds 1 over a run of days: +1 where the run starts, -1 after it ends, summed
    # up once at the end (a long stay costs no more than a short one).
    open_runs = [0] * (days + 1)
    past_runs = {stage: [0] * (days + 1) for stage in TIMED}

    def index(day: date) -> int:
        return (day - first).days

    def run(runs: list[int], start: int, end: int) -> None:
        start, end = max(0, start), min(end, days - 1)
        if start <= end:
            runs[start] += 1
            runs[end + 1] -= 1

    for stay in stays:
        start = index(clock.local_date(stay.entered))
        # Still in the stage at the end of a day means it left on a later day.
        end = days - 1 if stay.left is None else index(clock.local_date(stay.left)) - 1
        run(open_runs, start, end)
        if stay.due is not None and stay.due < now:  # else not past its limit on a day shown
            run(past_runs[stay.stage], max(start, index(clock.local_date(stay.due))), end)
    return {"days": [(first + timedelta(days=i)).isoformat() for i in range(days)],
            "open": list(itertools.accumulate(open_runs[:days])),
            "past": {stage: list(itertools.accumulate(runs[:days]))
                     for stage, runs in past_runs.items()}}


def _area(region_code: str, town_code: str | None) -> dict[str, Any]:
    return {"region_code": region_code, "town_code": town_code, "open": 0, "near": 0, "past": 0,
            "stages": {stage: {**dict.fromkeys(("open", *BUCKETS), 0),
                               **_durations(())} for stage in OPEN_STAGES}}


def summary(conn: Connection, table: PolicyTable, jurisdiction: str, area: str,
            now: datetime | None = None) -> dict[str, Any]:
    """The dashboard for a reader of ``jurisdiction``, narrowed to ``area`` ("" for all)."""
    now = now or datetime.now(UTC)
    since = now - timedelta(days=WINDOW_DAYS)
    towns: dict[tuple[str, str | None], dict[str, Any]] = {}
    districts: dict[str, dict[str, Any]] = {}
    reach = area or jurisdiction  # "" everywhere, a district's 6 digits or a town's 9
    total = _area(reach[:6], reach if len(reach) == 9 else None)

    def places(region: str, town: str | None) -> list[dict[str, Any]]:
        if (region, town) not in towns:  # made once: a row is asked for each case or stay
            towns[(region, town)] = _area(region, town)
        if region not in districts:
            districts[region] = _area(region, None)
        return [towns[(region, town)], districts[region], total]

    for row in open_counts(conn, jurisdiction, area, now):
        for place in places(row["region_code"], row["town_code"]):
            counts = place["stages"][row["stage"]]
            counts[row["bucket"]] += row["n"]
            counts["open"] += row["n"]
            place["open"] += row["n"]
            if row["bucket"] in ("near", "past"):
                place[row["bucket"]] += row["n"]
    left = stays_left(conn, jurisdiction, area, since)
    grouped: dict[int, dict[str, list[Stay]]] = defaultdict(lambda: defaultdict(list))
    for stay in left:
        for place in places(stay.region_code, stay.town_code):
            grouped[id(place)][stay.stage].append(stay)
    for place in [*towns.values(), *districts.values(), total]:
        for stage, done in grouped[id(place)].items():
            place["stages"][stage].update(_durations(done))
    # Each recomputed limit is the same for a region, stage and day (or hour, in an emergency).
    dues: dict[tuple[Any, ...], datetime | None] = {}
    timed = stays_open(conn, jurisdiction, area)
    for stay in left:
        if stay.stage in TIMED:
            key = (stay.stage, stay.region_code, stay.emergency,
                   stay.entered if stay.emergency else clock.local_date(stay.entered))
            if key not in dues:
                dues[key] = statutory_due(stay, table)
            timed.append(replace(stay, due=dues[key]))
    return {
        "as_of": now.isoformat(), "jurisdiction": jurisdiction, "area": area,
        "stages": list(OPEN_STAGES), "timed_stages": list(TIMED), "near_share": NEAR_SHARE,
        "window_days": WINDOW_DAYS,
        "total": total,
        "districts": [districts[k] for k in sorted(districts)],
        "towns": [towns[k] for k in sorted(towns, key=lambda k: (k[0], k[1] or ""))],
        "trend": trend(timed, now),
        "calendar": calendar_of(table),
    }


def calendar_of(table: PolicyTable) -> dict[str, list[int]]:
    """The years whose holidays are loaded, and those with the State Council's make-up working
    days too: a year with holidays alone is the statutory days, before its notice."""
    return {"holiday_years": sorted({d.year for d in table.holidays}),
            "workday_years": sorted({d.year for d in table.workdays})}


CSV_COLUMNS = ("level", "region_code", "town_code", "stage", "open", "within", "near", "past",
               "no_limit", "completed_90d", "median_days", "p90_days")


def as_csv(result: dict[str, Any]) -> str:
    """One line per place and stage that holds or held a case: the whole reach, each district,
    each town ("" for the cases of a district known by no town)."""
    lines = [",".join(CSV_COLUMNS)]
    levels = [("all", [result["total"]]), ("district", result["districts"]),
              ("town", result["towns"])]
    for level, places in levels:
        for place in places:
            for stage in OPEN_STAGES:
                s = place["stages"][stage]
                if not (s["open"] or s["completed"]):
                    continue
                lines.append(",".join(str(v) for v in (
                    level, place["region_code"], place["town_code"] or "", stage, s["open"],
                    s["within"], s["near"], s["past"], s["untimed"], s["completed"],
                    "" if s["median_days"] is None else s["median_days"],
                    "" if s["p90_days"] is None else s["p90_days"])))
    return "\n".join(lines) + "\n"
