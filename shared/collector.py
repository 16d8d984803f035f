"""Fewer runs of Python's cyclic garbage collector while a bulk job runs in a server process.

A bulk job (a partner's file of millions of lines) makes and drops large lists and many small
objects per batch; the collector, run every 700 new objects and now and then over the whole
heap, took a fifth of a bulk ingestion's time (measured: 4.6 µs of 17.5 µs a line). The
collector is not turned off — other requests' garbage is still collected, only less often —
and its thresholds come back when the last job running ends.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

# Objects made between two young collections while a bulk job runs (Python's default: 700).
BULK_THRESHOLD = 100_000

_lock = threading.Lock()
_running = 0
_before: tuple[int, int, int] | None = None


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Within: the young generation is collected every BULK_THRESHOLD new objects."""
    global _running, _before
    with _lock:
        if _running == 0:
            _before = gc.get_threshold()
            gc.set_threshold(max(BULK_THRESHOLD, _before[0]), *_before[1:])
        _running += 1
    try:
        yield
    finally:
        with _lock:
            _running -= 1
            if _running == 0 and _before is not None:
                gc.set_threshold(*_before)
                _before = None
