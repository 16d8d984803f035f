"""Group commit: the commands of concurrent requests run in one transaction, each in a savepoint
of its own.

A request that commits alone pays for a transaction (on SQLite: the process's write lock, BEGIN
IMMEDIATE, COMMIT) and for two hops between threads (the request's worker thread, then the
event loop woken to answer). Under load those were about a third of intake's CPU (py-spy during
a 100 cases/s soak). Here the requests that arrive while one group is being written wait for
the next, which takes them all: one hop to a thread, one transaction, one outbox insert, one
wake-up of the relay.

What each request sees does not change:
- its work runs in its own savepoint: an error (a refused application, a unique key another
  request took) undoes its own writes and reaches its own caller, and the others go on;
- its answer is given only once the whole group has committed: no caller hears "done" for work
  that could still be lost, and if the commit fails every caller of the group hears why;
- its work runs in its caller's context (``contextvars``): the trace its events carry and the
  case its log lines name are its own request's, not the group's first.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from shared import metrics
from shared.uow import Savepoint, UnitOfWork

T = TypeVar("T")

# A command: given a factory of units of work, does its work in one or more of them (a second
# when the first meets a unique key: shared/uow.py's once_more_on_conflict) and answers.
Command = Callable[[Callable[[], UnitOfWork]], T]


@dataclass
class _Queued:
    command: Command[Any]
    context: contextvars.Context
    answer: asyncio.Future[Any]


class GroupCommit:
    """Runs ``service``'s commands in groups, one group at a time, each group in one unit of
    work from ``uow_factory``. ``most``: the largest group, so that one transaction never holds
    the write lock for long while the consumers wait."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork], service: str,
                 most: int = 64) -> None:
        self._uow_factory = uow_factory
        self._service = service
        self._most = most
        self._queue: list[_Queued] = []
        self._writer: asyncio.Task[None] | None = None
        self.groups_committed = 0  # for tests and the curious: how many transactions it took

    async def run(self, command: Command[T]) -> T:
        """``command``'s answer once its group has committed (or the error it raised)."""
        loop = asyncio.get_running_loop()
        queued = _Queued(command, contextvars.copy_context(), loop.create_future())
        self._queue.append(queued)
        if self._writer is None or self._writer.done():
            # In a context of its own: not the first caller's (each command runs in its own).
            self._writer = loop.create_task(self._write(), context=contextvars.Context())
        answer: T = await queued.answer
        return answer

    async def _write(self) -> None:
        while self._queue:
            group, self._queue = self._queue[:self._most], self._queue[self._most:]
            try:
                outcomes = await asyncio.to_thread(self._apply, group)
            except BaseException:  # cancelled at shutdown: nobody waits in vain
                for queued in group:
                    queued.answer.cancel()
                raise
            for queued, (ok, value) in zip(group, outcomes, strict=True):
                if queued.answer.done():  # its caller went away (a client disconnected)
                    continue
                if ok:
                    queued.answer.set_result(value)
                else:
                    queued.answer.set_exception(value)

    def _apply(self, group: list[_Queued]) -> list[tuple[bool, Any]]:
        """(True, answer) or (False, error) for each command, in order."""
        try:
            with self._uow_factory() as whole:
                # Begun before the first command: when the database cannot begin (SQLite's
                # writer's turn never came, PostgreSQL is down), every caller hears it now,
                # not each in turn after a wait of its own.
                whole.conn  # noqa: B018
                outcomes = [self._one(whole, queued) for queued in group]
                whole.commit()
        except Exception as exc:  # the transaction as a whole failed: nothing of it was kept
            return [(False, exc)] * len(group)
        self.groups_committed += 1
        metrics.GROUP_COMMIT_COMMANDS.labels(self._service).observe(len(group))
        return outcomes

    @staticmethod
    def _one(whole: UnitOfWork, queued: _Queued) -> tuple[bool, Any]:
        try:
            return True, queued.context.run(queued.command, lambda: Savepoint(whole))
        except Exception as exc:
            return False, exc
