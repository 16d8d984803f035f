"""Apache Kafka on this machine: fetched from Maven Central, run in KRaft combined mode.

``deploy/kafka/pom.xml`` lists the broker (``kafka_2.13``) and a logging backend; Maven copies
their runtime jars once into a cache outside the repository (``~/.cache/onedoor/kafka/<pom
hash>``, or ``ONEDOOR_KAFKA_LIBS``). A :class:`KafkaCluster` is N nodes on loopback, each
``process.roles=broker,controller`` with a static voter set, started together: a node says
"Kafka Server started" only once the quorum has unfenced it, so starting them one after another
would wait on each. Nodes are stopped, killed and restarted by pid (the fault-injection checker
kills them at random).

Used by the tests (a 3-node cluster), ``onedoor up --broker kafka`` (one node) and the benches.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from shared.bus.broker import end_processes, free_port
from shared.settings import BrokerKind

POM = Path(__file__).resolve().parent / "kafka" / "pom.xml"
STARTED = "Kafka Server started"



def new_cluster_id() -> str:
    """A random cluster id as Kafka makes one (Uuid.randomUuid): URL-safe base64 of 16 bytes,
    never starting with '-', which the storage tool's argument parser would take for an option
    (one run in sixty-four failed to format its nodes before this)."""
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate

class KafkaUnavailable(RuntimeError):
    """Java or Maven is missing, or the broker would not start; the message says which."""


def kafka_libs() -> Path:
    """The directory of the broker's runtime jars, fetched with Maven on first use."""
    explicit = os.environ.get("ONEDOOR_KAFKA_LIBS")
    if explicit:
        return Path(explicit)
    key = hashlib.sha256(POM.read_bytes()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "onedoor" / "kafka"
    libs = cache / key
    if (libs / ".complete").exists():
        return libs
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            raise KafkaUnavailable(f"Apache Kafka needs {tool} on PATH (Java 17+ and Maven, "
                                   "which fetches the broker from Maven Central)")
    cache.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix="partial-", dir=cache))
    done = subprocess.run(
        ["mvn", "-B", "-q", "-f", str(POM), "dependency:copy-dependencies",
         "-DincludeScope=runtime", f"-DoutputDirectory={partial}"],
        capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise KafkaUnavailable(f"mvn could not fetch Apache Kafka: {done.stdout[-800:]}"
                               f"{done.stderr[-800:]}")
    (partial / ".complete").touch()
    try:
        partial.rename(libs)
    except OSError:  # another process finished first; its copy is as good
        shutil.rmtree(partial, ignore_errors=True)
    return libs


LOG4J2 = """\
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = FILE
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
"""


@dataclass
class Node:
    node_id: int
    port: int
    controller_port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.directory / "server.log"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class KafkaCluster:
    """``nodes`` Apache Kafka nodes in KRaft combined mode on 127.0.0.1, data in ``directory``
    (a temporary one, removed at stop, when not given)."""

    kind: BrokerKind = "kafka"

    def __init__(self, nodes: int = 3, directory: Path | None = None,
                 heap_mb: int = 384, ports: list[int] | None = None) -> None:
        # A given directory is kept across starts (``onedoor up --broker kafka``: the log
        # survives a restart, as a broker's should); its nodes keep their ports in it.
        self._owns_directory = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="onedoor-kafka-"))
        self._heap_mb = heap_mb
        layout = self.directory / "cluster.json"
        if layout.exists():  # the same cluster again: its id and its nodes' ports
            saved = json.loads(layout.read_text())
            self.cluster_id = saved["cluster_id"]
            pairs = [tuple(p) for p in saved["ports"]]
        else:
            self.cluster_id = new_cluster_id()
            client = ports or [free_port() for _ in range(nodes)]
            pairs = [(client[i], free_port()) for i in range(nodes)]
            self.directory.mkdir(parents=True, exist_ok=True)
            layout.write_text(json.dumps({"cluster_id": self.cluster_id, "ports": pairs}))
        self.nodes = [Node(i + 1, port, controller, self.directory / f"node-{i + 1}")
                      for i, (port, controller) in enumerate(pairs)]
        self._libs: Path | None = None

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    @property
    def replication_factor(self) -> int:
        return min(3, len(self.nodes))

    def _properties(self, node: Node) -> str:
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        rf = self.replication_factor
        isr = 2 if rf >= 3 else 1
        return "\n".join([
            "process.roles=broker,controller",
            f"node.id={node.node_id}",
            f"controller.quorum.voters={voters}",
            f"listeners=PLAINTEXT://127.0.0.1:{node.port},"
            f"CONTROLLER://127.0.0.1:{node.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{node.port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={node.directory / 'data'}",
            "num.network.threads=2",
            "num.io.threads=4",
            "num.partitions=3",
            # The project provisions its topics (shared/bus/kafka.py); a typo must not make one.
            "auto.create.topics.enable=false",
            f"default.replication.factor={rf}",
            f"min.insync.replicas={isr}",
            f"offsets.topic.replication.factor={rf}",
            "offsets.topic.num.partitions=10",
            f"transaction.state.log.replication.factor={rf}",
            f"transaction.state.log.min.isr={isr}",
            f"share.coordinator.state.topic.replication.factor={rf}",
            f"share.coordinator.state.topic.min.isr={isr}",
            "group.initial.rebalance.delay.ms=0",
            # Allocated up front; the 128 MiB default does not fit a small heap.
            "log.cleaner.dedupe.buffer.size=8388608",
            "unclean.leader.election.enable=false",
            "",
        ])

    def _java(self, main: str, *args: str, node: Node) -> list[str]:
        assert self._libs is not None
        return ["java", f"-Xmx{self._heap_mb}m", "-Xms64m", "-XX:+UseG1GC",
                "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={node.directory / 'log4j2.properties'}",
                "-cp", f"{self._libs}/*", main, *args]

    def start(self, timeout_s: float = 120.0) -> None:
        """Format every node, start them together, and wait until each says it started."""
        self._libs = kafka_libs()
        for node in self.nodes:
            node.directory.mkdir(parents=True, exist_ok=True)
            (node.directory / "server.properties").write_text(self._properties(node))
            (node.directory / "log4j2.properties").write_text(LOG4J2.format(log=node.log))
            done = subprocess.run(
                self._java("kafka.tools.StorageTool", "format",
                           f"--cluster-id={self.cluster_id}",
                           "-c", str(node.directory / "server.properties"), "--ignore-formatted",
                           node=node),
                capture_output=True, text=True, timeout=120)
            if done.returncode != 0:
                raise KafkaUnavailable(f"formatting node {node.node_id} failed: "
                                       f"{done.stdout[-500:]}{done.stderr[-500:]}")
        for node in self.nodes:
            self._launch(node)
        self.wait_started(self.nodes, timeout_s)

    def _launch(self, node: Node) -> None:
        if node.log.exists():
            node.log.rename(node.log.with_suffix(f".{time.time_ns()}.log"))
        out = open(node.directory / "stdout.log", "ab")  # noqa: SIM115 - the child keeps it
        node.process = subprocess.Popen(
            self._java("kafka.Kafka", str(node.directory / "server.properties"), node=node),
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()

    def wait_started(self, nodes: list[Node], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        waiting = list(nodes)
        while waiting:
            for node in list(waiting):
                if not node.alive():
                    raise KafkaUnavailable(
                        f"Kafka node {node.node_id} exited: {self._tail(node)}")
                if node.log.exists() and STARTED in node.log.read_text(errors="replace"):
                    waiting.remove(node)
            if waiting and time.monotonic() > deadline:
                raise KafkaUnavailable(
                    f"Kafka nodes {[n.node_id for n in waiting]} did not start within "
                    f"{timeout_s:.0f} s: {self._tail(waiting[0])}")
            time.sleep(0.2)

    @staticmethod
    def _tail(node: Node) -> str:
        parts = []
        for name in ("server.log", "stdout.log"):
            path = node.directory / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-600:])
        return " | ".join(parts)

    def kill(self, node: Node, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to one node (by its pid) and wait for it to exit."""
        if node.process is not None:
            end_processes([node.process], sig, grace_s=30)
        node.process = None

    def restart(self, node: Node, timeout_s: float = 120.0) -> None:
        """Start a node that was stopped or killed; its log directory is kept."""
        self.kill(node)
        self._launch(node)
        self.wait_started([node], timeout_s)

    def stop(self) -> None:
        """Kill a throwaway cluster; shut a kept one down in order (SIGTERM), so that its next
        start does not first recover its logs."""
        end_processes([n.process for n in self.nodes if n.process is not None],
                      signal.SIGKILL if self._owns_directory else signal.SIGTERM, grace_s=60)
        for node in self.nodes:
            node.process = None
        if self._owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)
