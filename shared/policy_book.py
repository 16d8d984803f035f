"""A service's live policy: its packaged figures, then every figure the bureau published through
the system (issue 22), in publication order.

Approval keeps the publications in its proposals table; verification keeps the ones it reads in
a table of its own, filled from ``PolicyPublished`` (services never share tables). Either way
each instance keeps the table in memory and asks its database, once per use, for the latest
publication's sequence number (one indexed read of a small table). When another instance — or
the consumer — has stored a publication since, it adds the new figures: every instance decides
by a figure from the moment it is stored, without a restart, and a decision made inside a
transaction sees the policy as of that transaction.
"""

from __future__ import annotations

import threading

from sqlalchemy import Connection, Engine, Table, func, select

from shared.policy import PolicyTable, published_figure


class PolicyBook:
    """``publications``: a table with ``proposal_id``, ``name``, ``region_code``,
    ``effective_from``, ``value`` and ``sequence`` (null until published)."""

    def __init__(self, packaged: PolicyTable, publications: Table,
                 engine: Engine | None = None) -> None:
        self.packaged = packaged
        self._publications = publications
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
            assert self._engine is not None, "bind() the book to the service's engine first"
            with self._engine.connect() as own:
                return self.current(own)
        c = self._publications.c
        latest = conn.execute(select(func.max(c.sequence))).scalar() or 0
        if latest == self._sequence:
            return self._table
        rows = conn.execute(
            select(c.proposal_id, c.name, c.region_code, c.effective_from, c.value, c.sequence)
            .where(c.sequence.is_not(None)).order_by(c.sequence)).all()
        table = self.packaged.amended([
            published_figure(r.proposal_id, r.name, r.region_code, r.effective_from, r.value)
            for r in rows if r.sequence <= latest])
        with self._lock:
            if latest > self._sequence:
                self._table, self._sequence = table, latest
            # Another thread may have read a later publication meanwhile: the later table wins.
            return table if latest == self._sequence else self._table
