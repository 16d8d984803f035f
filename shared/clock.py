"""Dates as the offices see them. Every region OneDoor serves keeps China Standard Time (UTC+8):
a decision taken at 07:00 on the 1st in Cixi belongs to that day and month, not to the previous
one as it would in UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

CHINA = timezone(timedelta(hours=8), "CST")


def local_date(moment: datetime) -> date:
    """The calendar day of a moment in China."""
    return moment.astimezone(CHINA).date()


def today() -> date:
    return local_date(datetime.now(UTC))


def as_utc(moment: datetime) -> datetime:
    """A moment in UTC. One without a zone is taken as UTC: OneDoor writes UTC, and SQLite gives
    moments back without their zone (comparing one with a zone to one without fails)."""
    zone = moment.tzinfo
    if zone is UTC:  # most of them: the replay reads millions
        return moment
    return moment.replace(tzinfo=UTC) if zone is None else moment.astimezone(UTC)
