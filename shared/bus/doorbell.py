"""The doorbell: how a reader of the embedded broker learns, without asking it, that something
was written.

Tansu does not answer a waiting fetch when a record arrives: it looks at its log when the fetch
comes in and then again after half the remaining wait, a quarter, and so on. A long wait there
delays a record by up to half of it, and a short one (20 ms) keeps every reader asking fifty
times a second, broker and reader both busy for a system that has nothing to do. So on the
embedded broker, which serves one machine only, a writer rings after its records are in the log,
and a reader with nothing to read stops fetching until the bell rings (or a while has passed,
for writers that do not ring: partners, tools).

The bell is a directory of Unix datagram sockets, one per broker address: a reader binds one
there and waits for it to be readable; a ring is one datagram to each, naming the topics written
(so that a reader of other topics rests on without asking the broker; a ring naming none is for
every reader). A socket whose reader is gone refuses the datagram and is removed. Losing a ring
costs latency, never a record: a reader that rests still looks again after its longest rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import tempfile
import uuid
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)


def bell_directory(bootstrap: str) -> Path:
    """Where the readers of the broker at ``bootstrap`` wait (the machine's temporary
    directory: the embedded broker serves this machine only)."""
    name = bootstrap.split(",")[0].replace(":", "-").replace("/", "-")
    return Path(tempfile.gettempdir()) / f"onedoor-doorbell-{name}"


def ring(bootstrap: str, topics: Iterable[str] = ()) -> None:
    """Tell every reader of the broker at ``bootstrap`` that records were written to ``topics``
    (to any, when none are named)."""
    directory = bell_directory(bootstrap)
    message = "\n".join(sorted(set(topics))).encode()
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return  # nobody listens
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.setblocking(False)
        for name in names:
            path = directory / name
            try:
                sender.sendto(message, str(path))
            except BlockingIOError:
                pass  # its reader has rings waiting already
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(OSError):
                    path.unlink()  # a reader that is gone
            except OSError as exc:
                log.debug("doorbell %s: %s", path, exc)


class Doorbell:
    """One reader's bell on the broker at ``bootstrap``; opened in its event loop."""

    def __init__(self, bootstrap: str) -> None:
        self._directory = bell_directory(bootstrap)
        self._path: Path | None = None
        self._socket: socket.socket | None = None
        self._rung = asyncio.Event()
        self._topics: set[str] = set()  # named by the rings not yet taken
        self._any = False  # a ring named no topic

    def open(self) -> None:
        self._path = self._directory / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.setblocking(False)
        for attempt in range(3):
            self._directory.mkdir(mode=0o700, exist_ok=True)
            try:
                listener.bind(str(self._path))
                break
            except FileNotFoundError:  # the last reader removed the directory meanwhile
                if attempt == 2:
                    listener.close()
                    raise
        self._socket = listener
        asyncio.get_running_loop().add_reader(listener.fileno(), self._on_ring)

    def _on_ring(self) -> None:
        self._drain()
        self._rung.set()

    def _drain(self) -> None:
        assert self._socket is not None
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while True:
                message = self._socket.recv(65536)
                if message:
                    self._topics.update(message.decode(errors="replace").split("\n"))
                else:
                    self._any = True

    def clear(self) -> None:
        """Forget the rings so far: what they announced is in the log by now."""
        if self._socket is not None:
            self._drain()
        self._forget()

    def take(self, topics: set[str]) -> bool:
        """Whether the rings since the last ``take`` or ``clear`` named one of ``topics`` (or
        none at all); forgets them. Rings not yet read off the socket are kept for the next
        ``wait``."""
        for_these = self._any or not self._topics.isdisjoint(topics)
        self._forget()
        return for_these

    def _forget(self) -> None:
        self._topics.clear()
        self._any = False
        self._rung.clear()

    async def wait(self, timeout_s: float) -> bool:
        """Until the bell rings (True) or ``timeout_s`` has passed (False)."""
        try:
            await asyncio.wait_for(self._rung.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._socket.fileno())
            self._socket.close()
            self._socket = None
        if self._path is not None:
            with contextlib.suppress(OSError):
                self._path.unlink()
            with contextlib.suppress(OSError):
                self._directory.rmdir()  # the last reader's; not while others wait there
            self._path = None
