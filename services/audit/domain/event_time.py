"""An event's time as the archive keeps it for the replay's order: ``ce_time`` as whole
microseconds since the Unix epoch, UTC. An integer sorts alike in every database, is small in an
index, and turns back into the same moment exactly (no float on the way)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared import clock

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(ce_time: str | None) -> int | None:
    """The header's moment, or None when there is none or it is not a time (such a record is
    archived all the same: it is evidence, even if the replay cannot place it)."""
    if ce_time is None:
        return None
    try:
        return of(datetime.fromisoformat(ce_time))
    except ValueError:
        return None


def of(moment: datetime) -> int:
    """A moment in microseconds (one without a zone is UTC, as everywhere in OneDoor)."""
    return (clock.as_utc(moment) - EPOCH) // _MICROSECOND


def moment(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def parsed(text: str) -> datetime:
    """A moment as an event's JSON writes it (ISO 8601; one without a zone is UTC)."""
    return clock.as_utc(datetime.fromisoformat(text))
