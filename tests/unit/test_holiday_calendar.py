"""The packaged national holiday calendar (issue 26): time limits in working days skip the 2026
holidays of the State Council's notice and count its weekend working days; 2027 has its
statutory holidays until its notice is loaded."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.approval.domain.policy import load_policy
from services.approval.domain.workflow import add_working_days
from tests.unit.test_programmes import POLICY_DIR

TABLE = load_policy(POLICY_DIR)


def working_days(year: int) -> int:
    day, count = date(year, 1, 1), 0
    while day.year == year:
        count += TABLE.is_working_day(day)
        day += timedelta(days=1)
    return count


def test_2026_has_the_working_days_of_the_notice() -> None:
    # 365 days − 104 weekend days − 19 weekday holidays + 6 weekend days worked.
    assert working_days(2026) == 248


@pytest.mark.parametrize(("day", "working"), [
    ("2026-01-02", False), ("2026-01-04", True),  # 元旦; Sunday worked
    ("2026-02-14", True), ("2026-02-23", False), ("2026-02-24", True), ("2026-02-28", True),
    ("2026-04-06", False), ("2026-05-05", False), ("2026-05-09", True),
    ("2026-06-19", False), ("2026-09-20", True), ("2026-09-25", False),
    ("2026-10-07", False), ("2026-10-08", True), ("2026-10-10", True), ("2026-10-11", False),
    ("2027-01-01", False), ("2027-02-08", False), ("2027-04-05", False), ("2027-06-09", False),
    ("2027-09-15", False), ("2027-10-01", False), ("2027-10-04", True),
])
def test_a_day_is_working_as_the_calendar_says(day: str, working: bool) -> None:
    assert TABLE.is_working_day(date.fromisoformat(day)) is working


def test_a_town_review_begun_before_the_spring_festival_ends_after_it() -> None:
    # Fri 13 Feb 2026, 10:00 in China: 15 working days, the Saturday 14th and 28th among them,
    # 15–23 Feb off.
    start = datetime(2026, 2, 13, 2, 0, tzinfo=UTC)
    due = add_working_days(start, 15, TABLE)
    # 14 Feb, 24–28 Feb, 2–6 Mar, 9–12 Mar: the 15th is Thursday 12 March, to its last second.
    assert due == datetime(2026, 3, 12, 15, 59, 59, tzinfo=UTC)
    without = load_policy(*[f for f in sorted(POLICY_DIR.glob("*.toml"))
                            if f.name != "calendar.toml"])
    assert add_working_days(start, 15, without) < due  # the calendar moved it
