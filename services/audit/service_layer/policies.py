"""The policy library a replay re-runs decisions with: the base table and every publication
archived so far (``domain/policies.py``), read from audit's archive.

The live service reads it again for each replay it runs, so a publication archived since the
last one is used without a restart; as long as the policy topic holds no new record, the library
made last time is reused — its tables with it, and the figures in force they have cached — for
the count of that topic's records is one look-up of the primary key, and rebuilding is not.
"""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from services.approval.rules import PolicyTable
from services.audit.adapters import store
from services.audit.domain.policies import PolicyLibrary, Publication
from shared.db import make_engine, reading
from shared.events import catalogue as ev
from shared.events import topics

# Per base table (by identity, the table kept beside it so the identity is not reused):
# (base, the policy topic's record count then, the library made).
_made: dict[int, tuple[PolicyTable, int, PolicyLibrary]] = {}
_lock = threading.Lock()  # HTTP requests run in a pool of threads
_KEEP = 8  # bases kept: the service's own and a few an auditor's command line named


def library(engine: Engine, base: PolicyTable) -> PolicyLibrary:
    """The base amended by every archived publication, in sequence order."""
    with reading(engine) as conn:
        records = store.topic_count(conn, topics.POLICY)
        known = _made.get(id(base))
        if known is not None and known[0] is base and known[1] == records:
            return known[2]
        values = store.topic_values(conn, topics.POLICY, ev.PolicyPublished.type)
    made = PolicyLibrary(base, *_read(values))
    with _lock:
        if len(_made) >= _KEEP:
            _made.clear()
        _made[id(base)] = (base, records, made)
    return made


def library_at(url: str, base: PolicyTable) -> PolicyLibrary:
    """``library`` of the archive at a database URL (a replay shared out between processes)."""
    engine = make_engine(url)
    try:
        return library(engine, base)
    finally:
        engine.dispose()


def _read(values: list[bytes]) -> tuple[list[Publication], int]:
    """The publications, and how many records could not be read as one. Such a record is left
    out and counted, for the summary to show, rather than failing every replay and report: the
    decisions it would have changed then diverge, which names them."""
    found, unreadable = [], 0
    for value in values:
        try:
            found.append(Publication.of(value))
        except ValueError:  # not JSON, or not a PolicyPublished (pydantic's ValidationError)
            unreadable += 1
    return found, unreadable
