"""Every read of the archive is itself recorded: who asked, for what, with which query."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from services.audit.adapters import store
from shared.uow import UnitOfWork


def log_read(uow_factory: Callable[[], UnitOfWork], reader: str, what: str,
             query: dict[str, Any]) -> None:
    """``reader`` is "role:subject"; the query holds what the reader asked, never an answer."""
    with uow_factory() as uow:
        store.log_access(uow.conn, reader, what, query, datetime.now(UTC))
        uow.commit()
