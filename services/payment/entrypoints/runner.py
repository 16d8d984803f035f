"""Runs generation in the background: a cycle of a million payments takes longer than an HTTP
request should. One thread per run at a time in this process; unfinished runs (a crash, a
restart) are resumed when the service starts.

Several instances of the service may share one PostgreSQL database, and every one of them
resumes the unfinished runs when it starts and starts a run when asked over HTTP: two of them
may want the same run at once. Side by side they would never pay twice (the once-only indexes),
but they would redo and roll back each other's chunks. So they take turns: whoever generates a
run holds a session-level advisory lock named after the run, on a connection of its own, for
the whole generation. Another instance wanting the run waits for the lock, then reads the run
afresh — finished: nothing left to do; still generating (its holder died, its session ended
and PostgreSQL let the lock go): it goes on from the cursor.

On SQLite the service runs as one process, and one thread per run is enough.

The runner is one of the service's supervised jobs (``run``, in ``runtime.jobs``): it resumes
the unfinished runs when the service starts and, when the service stops, asks every run to stop
after the chunk it is in and waits for it. Each chunk is one transaction, so a run stopped there
goes on from its cursor at the next start (here or on another instance); a thread left writing
when the process ends would only have its chunk rolled back — never paid twice, but redone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, text

from services.payment.service_layer import runs
from shared.singleton import advisory_key
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)

# Ours only while this session shows the lock granted (as in shared.singleton): a bigint key
# shows in pg_locks as its high half (classid) and low half (objid), objsubid 1.
_HELD = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_backend_pid() AND classid::bigint = :high AND objid::bigint = :low"
    " AND objsubid = 1)")


class _LockLost(Exception):
    """The run's lock connection is gone: another runner may be generating the run now."""


class _Stopping(Exception):
    """The service is stopping: the run stops after the chunk it has committed."""


# How long a stopping service waits for its runs to finish their chunks (a chunk of 5,000
# payments takes about a second; the service's whole stop allows 15 s for its jobs).
STOP_WAIT_S = 10.0


def run_lock_key(run_id: str) -> int:
    return advisory_key(f"payment-run:{run_id}")


class Runner:
    def __init__(self, uow_factory: Callable[[], UnitOfWork], engine: Engine | None = None,
                 *, poll_s: float = 1.0) -> None:
        """``engine``: the database of the runs, for their locks (found through a unit of
        work when not given). ``poll_s``: how often a runner waiting for a run asks again."""
        self._uow = uow_factory
        self._engine = engine
        self._poll_s = poll_s
        self._lock = threading.Lock()
        self._running: dict[str, threading.Thread] = {}
        self._stopping = threading.Event()

    async def run(self) -> None:
        """The service's job: resume the unfinished runs, then wait; on the way out, stop
        every run after its chunk and wait for them (``STOP_WAIT_S``)."""
        self._stopping.clear()
        await asyncio.to_thread(self.resume_unfinished)
        try:
            await asyncio.Event().wait()  # until the service stops and cancels this job
        finally:
            self._stopping.set()
            await asyncio.shield(asyncio.to_thread(self.join, STOP_WAIT_S))

    def start(self, run_id: str) -> None:
        with self._lock:
            if self._stopping.is_set():
                # The run stays "generating", and the next start of the service resumes it.
                log.info("run %s: not started, the service is stopping", run_id)
                return
            if run_id in self._running and self._running[run_id].is_alive():
                return
            thread = threading.Thread(target=self._generate, args=(run_id,), daemon=True,
                                      name=f"payment-run-{run_id}")
            self._running[run_id] = thread
            thread.start()

    def resume_unfinished(self) -> None:
        with self._uow() as uow:
            unfinished = runs.unfinished(uow.conn)
        for run_id in unfinished:
            log.info("resuming run %s", run_id)
            self.start(run_id)

    def join(self, timeout_s: float | None = None) -> None:
        """Wait for the runs in this process, ``timeout_s`` in all."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for thread in list(self._running.values()):
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        for run_id, thread in list(self._running.items()):
            if thread.is_alive():
                log.warning("run %s still generating its chunk; left to roll back", run_id)

    def _between_chunks(self, _chunks_done: int = 0) -> None:
        if self._stopping.is_set():
            raise _Stopping

    def _generate(self, run_id: str) -> None:
        try:
            engine = self._runs_engine()
            if engine.dialect.name == "postgresql":
                done = self._generate_alone(engine, run_id)
            else:
                done = runs.generate(self._uow, run_id, after_chunk=self._between_chunks)
            log.info("run %s generated: %s payments, %s fen", run_id, done["created_count"],
                     done["created_fen"])
        except _Stopping:
            log.info("run %s stopped after a chunk for the service's stop; it goes on from its "
                     "cursor at the next start", run_id)
        except Exception:
            # The run stays "generating" and shows so; asking for it again (or a restart)
            # resumes it from its cursor.
            log.exception("run %s stopped; it resumes when asked again or on restart", run_id)

    def _runs_engine(self) -> Engine:
        if self._engine is None:
            # The factory's units of work know their engine; one is opened (and rolled back)
            # once per runner to learn it.
            with self._uow() as uow:
                self._engine = uow.conn.engine
        return self._engine

    def _generate_alone(self, engine: Engine, run_id: str) -> dict[str, Any]:
        """Generates the run while holding its lock; a runner that loses the lock's connection
        on the way stops after the chunk it is in and waits its turn again."""
        key = run_lock_key(run_id)
        while True:
            lock = self._wait_for_lock(engine, key, run_id)
            try:
                # runs.generate reads the run afresh: finished by the runner waited for, it
                # answers at once; left half-way, it goes on from the cursor.
                return runs.generate(self._uow, run_id, after_chunk=functools.partial(
                    self._held_and_going_on, lock, key))
            except _LockLost:
                log.warning("run %s: lost its lock's connection; waiting for the lock again",
                            run_id)
            finally:
                _release(lock, key)

    def _held_and_going_on(self, lock: Connection, key: int, chunks_done: int = 0) -> None:
        _check_held(lock, key, chunks_done)
        self._between_chunks(chunks_done)

    def _wait_for_lock(self, engine: Engine, key: int, run_id: str) -> Connection:
        """A connection of its own holding the run's lock, once the holder (if any) lets go."""
        # Autocommit: the connection holds a session lock, never an open transaction (which
        # would pin old row versions for as long as a million payments take).
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            said = False
            # Asked again every poll_s rather than waited for in pg_advisory_lock: a waiter
            # blocked in the server would not notice its own process being gone, and would
            # take the lock for a moment after it.
            while not conn.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                   {"key": key}).scalar_one():
                if not said:
                    log.info("run %s is being generated by another runner; this one waits to "
                             "take over", run_id)
                    said = True
                self._between_chunks()  # a stopping service stops waiting
                time.sleep(self._poll_s)
        except BaseException:
            # Not knowing whether the lock was granted, the session must not go back to the
            # pool: a pooled session holding it would keep every runner from the run.
            _discard(conn)
            raise
        return conn


def _check_held(lock: Connection, key: int, _chunks_done: int = 0) -> None:
    """Raises _LockLost unless the lock's session still holds it (between chunks)."""
    try:
        held = lock.execute(_HELD, {"high": (key >> 32) & 0xFFFF_FFFF,
                                    "low": key & 0xFFFF_FFFF}).scalar_one()
    except Exception as exc:
        raise _LockLost from exc
    if not held:
        raise _LockLost


def _release(lock: Connection, key: int) -> None:
    """Lets the lock go and hands the connection back to the pool — or, when the unlock is not
    certain, closes it (a pooled connection still holding the lock would keep every runner from
    the run for as long as the pool kept it)."""
    try:
        if lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key}).scalar_one():
            lock.close()
            return
    except Exception:
        log.debug("run lock: unlock failed; closing its connection", exc_info=True)
    _discard(lock)


def _discard(conn: Connection) -> None:
    with contextlib.suppress(Exception):
        conn.invalidate()
    with contextlib.suppress(Exception):
        conn.close()
