"""A publication's lines judged in chunks: in this process, or, for a large file, in a worker
process beside it, so that judging the next lines (parsing, checking, pseudonymising: ~8 µs a
line) runs on a second core while this one writes the last ones to the database.

What crosses between the processes is kept to plain values: the raw lines one way, and the
outcomes back, each upsert as a plain tuple. Pickling a named tuple or a dataclass per line cost
more than judging it in place (an earlier attempt that sent the outcomes as they are was slower
than one process, measured); a plain tuple costs ~0.3 µs there and back. This module imports
only the pure domain, so the worker starts in a fraction of a second.
"""

from __future__ import annotations

import gc
import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from functools import lru_cache, partial
from operator import attrgetter

from services.verification.domain.publication import (
    Delete,
    Outcome,
    Pseudonymise,
    Rejected,
    Upsert,
    judge_lines,
)
from shared.pseudonym import pseudonymiser

Chunk = tuple[int, list[bytes | None]]  # first line number, consecutive raw lines


def judged(chunks: Iterable[Chunk], department: str, columns: tuple[str, ...] | None,
           pseudonym_key: bytes, *, in_worker: bool, ahead: int = 1
           ) -> Iterator[tuple[int, list[Outcome], bool]]:
    """For each chunk, in order: its last line number, its outcomes (blank lines have none), and
    whether the next chunk is judged already (if not, the writer has time to write).

    In a worker, up to ``ahead`` chunks are judged ahead of the one returned: enough to cover
    one transaction's lines while the writer writes it, so that neither waits for the other;
    bounded, so that memory is that many chunks whatever the file's size."""
    if not in_worker:
        for first, raws in chunks:
            lines = judge_lines(department, columns, first, raws, _pseudonymiser(pseudonym_key))
            yield first + len(raws) - 1, [o for o in lines if o is not None], True
        return
    # spawn, not fork: the service's process has threads (the event loop's pool, the bus).
    # The worker only judges lines, which makes no reference cycles, and lives for one file:
    # its cyclic garbage collector is off (it took ~15% of its time, measured).
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                             initializer=gc.disable) as worker:
        pending: deque[tuple[int, Future[Sent]]] = deque()
        try:
            for first, raws in chunks:
                pending.append((first + len(raws) - 1, worker.submit(
                    _judge_sent, department, columns, pseudonym_key, first, raws)))
                if len(pending) > ahead:
                    yield *_received(*pending.popleft()), pending[0][1].done()
            while pending:
                last, outcomes = _received(*pending.popleft())
                yield last, outcomes, not pending or pending[0][1].done()
        finally:
            for _, future in pending:  # the writer stopped (an error): judge no further
                future.cancel()


Sent = tuple[list[tuple[object, ...]], list[Delete | Rejected]]


def _judge_sent(department: str, columns: tuple[str, ...] | None, pseudonym_key: bytes,
                first: int, raws: Sequence[bytes | None]) -> Sent:
    """In the worker: a chunk's outcomes as they travel back — the upserts as plain tuples, the
    rare deletions and rejections apart, as they are; blank lines left out."""
    upserts: list[tuple[object, ...]] = []
    others: list[Delete | Rejected] = []
    for o in judge_lines(department, columns, first, raws, _pseudonymiser(pseudonym_key)):
        if type(o) is Upsert:
            upserts.append(tuple(o))
        elif isinstance(o, Delete | Rejected):  # not None: a blank line
            others.append(o)
    return upserts, others


def _received(last: int, future: Future[Sent]) -> tuple[int, list[Outcome]]:
    """A chunk's outcomes again, in the order of their lines."""
    upserts, others = future.result()
    outcomes: list[Outcome] = list(map(_as_upsert, upserts))  # one C call per line
    if others:
        outcomes += others
        outcomes.sort(key=_LINE)
    return last, outcomes


_as_upsert = partial(tuple.__new__, Upsert)
_LINE = attrgetter("line")


@lru_cache(maxsize=4)  # one keyed HMAC state per key, made once per process
def _pseudonymiser(pseudonym_key: bytes) -> Pseudonymise:
    return pseudonymiser(pseudonym_key)
