"""The window's unit of work: the window publishes no events, so it is ``shared.uow``'s with no
bus behind it (``publish`` refuses, there is no outbox). Sign-in and staff accounts write
through it and commit in one place, as every service does."""

from __future__ import annotations

from sqlalchemy import Engine

from shared.uow import UnitOfWork


def unit_of_work(engine: Engine) -> UnitOfWork:
    """One transaction, committed by ``commit()`` or rolled back."""
    return UnitOfWork(engine, None, "/onedoor/window")
