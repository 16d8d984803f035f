"""Background jobs that must run once per service, not once per instance.

Several processes of a service share its PostgreSQL database. Some of their background work has
to have one doer: audit's hash chains have one writer, and two live-source workers would ask
the partners twice for the same case. :func:`run_singleton` makes the instances elect that doer
through the database they already share: a session-level advisory lock, held on a connection of
its own for as long as the job runs. The others retry every few seconds; when the holder dies
its session ends, PostgreSQL lets the lock go, and one of them takes over.

A holder that is alive but whose lock connection is gone (killed by an administrator, a
database restart) no longer holds the lock, and another instance may take it: so the holder
checks its connection every few seconds and, once it is gone, cancels its job and goes back to
waiting its turn. A new holder waits two such intervals before it starts, so that an old holder
in that position has stopped first. (Work the old holder had handed to a thread finishes in that
thread: cancelling the task cannot stop it. A job whose writes must never overlap keeps its
transactions shorter than the wait.)

On SQLite a service runs as one process (one writer at a time, a file on one machine): the job
just runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]

# The lock is ours only while this session shows it granted: a plain "SELECT 1" would also
# answer on a connection the driver had silently replaced by a new session without the lock.
# A bigint key shows in pg_locks as its high half (classid) and low half (objid), objsubid 1.
_STILL_HELD = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_backend_pid() AND classid::bigint = :high AND objid::bigint = :low"
    " AND objsubid = 1)")


def advisory_key(name: str) -> int:
    """A stable PostgreSQL advisory-lock key for ``name``: the first 8 bytes of its SHA-256, as
    a signed 64-bit integer (Python's hash() changes from one process to the next)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


async def run_singleton(engine: Engine, name: str, job: Job, *, retry_s: float = 2.0,
                        check_s: float = 2.0) -> None:
    """Runs ``job`` in at most one instance of the service at a time.

    PostgreSQL: waits for the advisory lock named ``name`` (asking again every ``retry_s``),
    waits ``2 * check_s`` more, then runs the job while the lock is held, checking the lock's
    connection every ``check_s``; when the connection is lost the job is cancelled and, after
    ``retry_s``, the wait starts again. The job returning or raising releases the lock and
    ends this call the same way (a supervisor around it restarts it and it waits its turn
    again). SQLite: runs the job.
    """
    if engine.dialect.name != "postgresql":
        await job()
        return
    key = advisory_key(name)
    standing_by = False  # said once per wait, not every retry_s
    while True:
        try:
            lock = await asyncio.to_thread(_try_lock, engine, key)
        except Exception:
            # The database unreachable: stand by like the others until it answers.
            log.warning("%s: cannot ask for its lock", name, exc_info=not standing_by)
            lock = None
        if lock is None:
            if not standing_by:
                log.info("%s runs in another instance; this one stands by", name)
                standing_by = True
            await asyncio.sleep(retry_s)
            continue
        standing_by = False
        try:
            # An old holder whose connection was killed under it learns so within check_s
            # (and the time its check takes): wait longer, so that its job has stopped
            # before ours starts.
            await asyncio.sleep(2 * check_s)
            if await asyncio.to_thread(_still_held, lock, key):
                log.info("%s runs in this instance", name)
                if await _run_while_held(lock, key, job, check_s):
                    return
            log.warning("%s: lost the lock's connection; standing by to take it again", name)
        finally:
            # In a thread that runs to its end even when this task is cancelled meanwhile.
            await asyncio.to_thread(_release, lock, key)
        # The others first: the instance whose connection was killed is the one in trouble,
        # and asking again at once it would often win back the lock it just lost.
        await asyncio.sleep(retry_s)


async def _run_while_held(lock: Connection, key: int, job: Job, check_s: float) -> bool:
    """Runs the job until it ends (True; its error is raised) or the lock is lost (False)."""
    task = asyncio.ensure_future(job())
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=check_s)
            if done:
                task.result()  # the job's error, if it failed
                return True
            if not await asyncio.to_thread(_still_held, lock, key):
                return False
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _try_lock(engine: Engine, key: int) -> Connection | None:
    """A connection holding the lock, or None when another session holds it."""
    # Autocommit: the connection holds a session lock, never an open transaction (which would
    # pin old row versions for as long as the job runs).
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        if conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar_one():
            return conn
    except BaseException:
        # Not knowing whether the lock was granted, the session must not go back to the pool.
        conn.invalidate()
        conn.close()
        raise
    conn.close()
    return None


def _still_held(lock: Connection, key: int) -> bool:
    try:
        held = lock.execute(_STILL_HELD, {"high": (key >> 32) & 0xFFFF_FFFF,
                                          "low": key & 0xFFFF_FFFF}).scalar_one()
    except Exception:
        log.warning("advisory lock: its connection is gone", exc_info=True)
        return False
    return bool(held)


def _release(lock: Connection, key: int) -> None:
    """Lets the lock go and hands the connection back to the pool — or, when the unlock is not
    certain, closes it: a pooled connection still holding the lock would keep every instance
    from the job for as long as the pool kept it."""
    try:
        if lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key}).scalar_one():
            lock.close()
            return
    except Exception:
        log.debug("advisory lock: unlock failed; closing its connection", exc_info=True)
    with contextlib.suppress(Exception):
        lock.invalidate()
    with contextlib.suppress(Exception):
        lock.close()
