"""Runs generation in the background: a cycle of a million payments takes longer than an HTTP
request should. One thread per run at a time in this process; unfinished runs (a crash, a
restart) are resumed when the service starts."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from services.payment.service_layer import runs
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)


class Runner:
    def __init__(self, uow_factory: Callable[[], UnitOfWork]) -> None:
        self._uow = uow_factory
        self._lock = threading.Lock()
        self._running: dict[str, threading.Thread] = {}

    def start(self, run_id: str) -> None:
        with self._lock:
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
        for thread in list(self._running.values()):
            thread.join(timeout_s)

    def _generate(self, run_id: str) -> None:
        try:
            done = runs.generate(self._uow, run_id)
            log.info("run %s generated: %s payments, %s fen", run_id, done["created_count"],
                     done["created_fen"])
        except Exception:
            # The run stays "generating" and shows so; asking for it again (or a restart)
            # resumes it from its cursor.
            log.exception("run %s stopped; it resumes when asked again or on restart", run_id)
