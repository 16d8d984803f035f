"""A database outage is waited out; only an event's own failure may send it to dead letters."""

import sqlite3

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from shared.bus.consumer import _is_infrastructure_failure


@pytest.mark.parametrize("exc", [
    OperationalError("COMMIT", None, sqlite3.OperationalError("database is locked")),
    sqlite3.OperationalError("disk I/O error"),  # raised raw from inside an engine event
    TimeoutError("no turn to write after 60s"),
])
def test_outages_are_infrastructure(exc):
    assert _is_infrastructure_failure(exc)


@pytest.mark.parametrize("exc", [
    ValueError("bank of the beneficiary does not exist"),
    IntegrityError("INSERT", None, sqlite3.IntegrityError("UNIQUE constraint failed")),
    AttributeError("a bug in a handler"),
])
def test_an_events_own_failures_are_not(exc):
    assert not _is_infrastructure_failure(exc)
