"""Runs the whole system on one machine: a broker, the services and the window.

The broker is the embedded Tansu (``broker_port``), an Apache Kafka cluster of ``kafka_nodes``
nodes the supervisor starts itself (deploy/kafka_cluster.py), or neither, when
``settings.kafka_bootstrap`` points at a cluster run by someone else. Each service is its own
uvicorn process, as in production, given its own settings and secrets and no other service's
(shared/service_settings.py); the supervisor restarts a child that dies (and a broker: the
embedded one's restart the outbox relays recover from), and stops everything cleanly on Ctrl-C.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from deploy.child_environment import child_environment
from deploy.kafka_cluster import KafkaCluster
from shared import logs
from shared.bus.broker import EmbeddedBroker, end_processes, free_port
from shared.migrations import upgrade
from shared.settings import SERVICES, Settings

log = logging.getLogger("onedoor.supervisor")
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORTS = {"intake": 8001, "verification": 8002, "approval": 8003, "payment": 8004,
                 "audit": 8005, "window": 8000}


@dataclass
class Child:
    """One process of a service: the first is named after the service, the next ``payment-2``
    and so on (their logs likewise)."""

    name: str
    port: int
    service: str = ""
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0


@dataclass(frozen=True)
class Restart:
    """How one instance's graceful restart went: seconds from SIGTERM to its exit, and from its
    new start to ready; ``forced`` when it had to be killed."""

    name: str
    stop_s: float
    ready_s: float
    forced: bool


@dataclass
class System:
    """The running system. ``broker`` and ``kafka`` are None when an external cluster is
    configured; ``kafka_ports`` are the Kafka nodes' client ports (free ones when not given).
    ``replicas`` processes of every service share its database and consumer group (PostgreSQL
    only: SQLite has one writer); the first listens on ``ports``, the others on free ports."""

    settings: Settings
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    broker_port: int | None = None
    kafka_nodes: int = 0
    kafka_ports: list[int] | None = None
    replicas: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)
    broker: EmbeddedBroker | None = None
    kafka: KafkaCluster | None = None
    children: dict[str, Child] = field(default_factory=dict)
    log_file: logging.Handler | None = None

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise ValueError("replicas must be 1 or more")
        on_sqlite = [s for s in SERVICES
                     if self.settings.database_url(s).startswith("sqlite")]
        if self.replicas > 1 and on_sqlite:
            raise ValueError(
                f"{self.replicas} instances of a service need PostgreSQL: SQLite has one writer "
                f"and is one file on one machine ({', '.join(on_sqlite)} on SQLite); give each "
                "service a PostgreSQL URL (ONEDOOR_<SERVICE>_DATABASE_URL) or "
                "--database postgresql")
        self.instance_ports = {
            service: [self.ports[service], *(free_port() for _ in range(self.replicas - 1))]
            for service in SERVICES}

    def url(self, service: str) -> str:
        """The first instance's address."""
        return f"http://127.0.0.1:{self.ports[service]}"

    def urls(self, service: str) -> list[str]:
        """Every instance's address: a client spreads its calls over them."""
        return [f"http://127.0.0.1:{port}" for port in self.instance_ports[service]]

    def instances(self, service: str) -> list[Child]:
        return [c for c in self.children.values() if c.service == service]

    @property
    def log_dir(self) -> Path:
        return self.settings.data_dir / "logs"

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # The supervisor's own lines (restarts), as the services write theirs.
        if self.log_file is None:
            self.log_file = logs.to_file(log, self.log_dir / "supervisor.log", "supervisor")
        if self.broker_port is not None:
            self.broker = EmbeddedBroker(self.broker_port, self.log_dir / "broker.log")
            self.broker.start()
        elif self.kafka_nodes:
            self.kafka = KafkaCluster(self.kafka_nodes, ports=self.kafka_ports,
                                      directory=self.settings.data_dir / "kafka")
            self.kafka.start()
        for name in SERVICES:
            upgrade(self.settings.database_url(name),
                    ROOT / "services" / name / "migrations")
        for name in SERVICES:
            for number, port in enumerate(self.instance_ports[name], start=1):
                child = Child(name if number == 1 else f"{name}-{number}", port, name)
                self.children[child.name] = child
                self._spawn(child)

    def environment(self, service: str) -> dict[str, str]:
        """What a service's processes start with (deploy/child_environment.py)."""
        return child_environment(
            self.settings, service, bootstrap=self.bootstrap, broker_kind=self.broker_kind,
            urls={name: self.urls(name) for name in SERVICES}, extra_env=self.extra_env)

    @property
    def bootstrap(self) -> str:
        if self.broker:
            return self.broker.bootstrap
        return self.kafka.bootstrap if self.kafka else self.settings.kafka_bootstrap

    @property
    def broker_kind(self) -> str:
        if self.broker:
            return "embedded"
        return "kafka" if self.kafka else self.settings.broker

    def _spawn(self, child: Child) -> None:
        out = open(self.log_dir / f"{child.name}.log", "ab")  # noqa: SIM115
        child.process = subprocess.Popen(
            # uvicorn's command line, with a server that rests when idle (deploy/serve.py).
            [sys.executable, "-m", "deploy.serve", f"services.{child.service}.bootstrap:create_app",
             "--factory", "--host", "127.0.0.1", "--port", str(child.port),
             # uvicorn's own lines too go through the service's JSON lines (shared/logs.py),
             # and its access log is off: each service logs its requests by route, not by URL.
             "--log-level", "info", "--no-access-log"],
            cwd=ROOT, env=self.environment(child.service), stdout=out, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout_s: float = 60.0, names: Iterable[str] | None = None) -> None:
        """Until every instance (or those ``names``) answers /health/ready with 200: its
        database answers and is migrated, the broker answers, its consumer holds partitions
        (shared/health.py)."""
        deadline = time.monotonic() + timeout_s
        pending = set(self.children if names is None else names)
        why: dict[str, object] = {}
        while pending and time.monotonic() < deadline:
            for name in sorted(pending):
                child = self.children[name]
                self._check_alive(name)
                try:
                    answer = httpx.get(f"http://127.0.0.1:{child.port}/health/ready", timeout=5)
                    why[name] = answer.json().get("checks")
                except (httpx.HTTPError, ValueError, AttributeError):
                    continue
                if answer.status_code == 200:
                    pending.discard(name)
            time.sleep(0.2)
        if pending:
            reasons = "; ".join(f"{name} {why.get(name, 'no answer')}" for name in sorted(pending))
            raise TimeoutError(f"not ready after {timeout_s}s: {reasons} (logs in {self.log_dir})")

    def _check_alive(self, name: str) -> None:
        child = self.children[name]
        if child.process is not None and child.process.poll() is not None:
            tail = (self.log_dir / f"{name}.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{name} exited with {child.process.returncode}:\n{tail}")

    def watch_once(self) -> None:
        """Restart whatever died, with a backoff so a child that cannot start does not spin."""
        if self.broker is not None and not self.broker.alive():
            log.warning("embedded broker died; restarting it (publishers will re-send)")
            self.broker.start()
        if self.kafka is not None:
            for node in self.kafka.nodes:
                if not node.alive():
                    log.warning("Kafka node %d died; restarting it", node.node_id)
                    self.kafka.restart(node)
        now = time.monotonic()
        for child in self.children.values():
            if child.process is not None and child.process.poll() is None:
                continue
            if child.process is not None:
                log.warning("%s exited with %s; restarting", child.name,
                            child.process.returncode)
                child.process = None
                child.restarts += 1
                child.next_start = now + min(2 ** child.restarts, 30)
            if now >= child.next_start:
                self._spawn(child)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to one instance (``payment``, ``payment-2``) and wait for it to exit; it
        stays down until :meth:`respawn` or :meth:`watch_once` starts it again."""
        child = self.children[name]
        if child.process is not None:
            end_processes([child.process], sig)

    def restart(self, name: str, grace_s: float = 30.0, ready_s: float = 120.0) -> Restart:
        """One step of a rolling restart: SIGTERM to one instance, which takes itself out of
        rotation (readiness answers 503 while it drains, shared/health.py) and shuts down
        gracefully; then a new process in its place, waited for until it is ready. Killed
        only if it has not exited after ``grace_s`` (a Kubernetes grace period), and then
        said so: that is no longer a graceful restart."""
        child = self.children[name]
        began = time.monotonic()
        forced = False
        if child.process is not None and child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
            try:
                child.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                log.error("%s did not stop within %.0f s of SIGTERM; killed", name, grace_s)
                child.process.kill()
                child.process.wait()
                forced = True
        stopped = time.monotonic()
        child.process = None
        self._spawn(child)
        self.wait_ready(ready_s, names=[name])
        return Restart(name, round(stopped - began, 2), round(time.monotonic() - stopped, 2),
                       forced)

    def respawn(self, name: str) -> None:
        """Start an instance that is down now, without the watcher's backoff."""
        child = self.children[name]
        if child.process is None or child.process.poll() is not None:
            child.process = None
            self._spawn(child)

    def stop(self) -> None:
        end_processes([c.process for c in self.children.values() if c.process is not None])
        self.children.clear()
        if self.broker is not None:
            self.broker.stop()
        if self.kafka is not None:
            self.kafka.stop()
        if self.log_file is not None:
            log.removeHandler(self.log_file)
            self.log_file.close()
            self.log_file = None
