"""The policy approval decides by: the packaged files, then every figure the bureau published
through the system (issue 22), in publication order.

Each instance keeps the table in memory and asks its database, once per use, for the latest
publication's sequence number (one indexed read of a small table). When another instance has
published since, it adds the new figures — so every instance decides by a figure from the
moment it is published, without a restart, and a decision made inside a transaction sees the
policy as of that transaction.
"""

from __future__ import annotations

import threading

from sqlalchemy import Connection, Engine, func, select

from services.approval.adapters.tables import policy_proposals as proposals
from services.approval.domain.policy import PolicyTable
from shared.policy import published_figure


class PolicyBook:
    def __init__(self, packaged: PolicyTable, engine: Engine | None = None) -> None:
        self.packaged = packaged
        self._engine = engine
        self._table = packaged
        self._sequence = 0
        self._lock = threading.Lock()  # handlers run in worker threads, requests in others

    def bind(self, engine: Engine) -> None:
        """The database to read publications from when no connection is given."""
        self._engine = engine

    def current(self, conn: Connection | None = None) -> PolicyTable:
        """The table with every publication committed so far (as ``conn`` sees them)."""
        if conn is None:
            assert self._engine is not None, "bind() the book to approval's engine first"
            with self._engine.connect() as own:
                return self.current(own)
        latest = conn.execute(select(func.max(proposals.c.sequence))).scalar() or 0
        if latest == self._sequence:
            return self._table
        rows = conn.execute(
            select(proposals.c.proposal_id, proposals.c.name, proposals.c.region_code,
                   proposals.c.effective_from, proposals.c.value, proposals.c.sequence)
            .where(proposals.c.sequence.is_not(None)).order_by(proposals.c.sequence)).all()
        table = self.packaged.amended([
            published_figure(r.proposal_id, r.name, r.region_code, r.effective_from, r.value)
            for r in rows if r.sequence <= latest])
        with self._lock:
            if latest > self._sequence:
                self._table, self._sequence = table, latest
            # Another thread may have read a later publication meanwhile: the later table wins.
            return table if latest == self._sequence else self._table
