"""What the benchmarks share: the machine line, a rate, a process's own memory and CPU, the
stack's processes, a safe URL."""

from __future__ import annotations

import os
import platform
import resource
import sqlite3
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from deploy.kafka_cluster import KafkaCluster
    from deploy.supervisor import System


def machine() -> str:
    model, cpus = "unknown CPU", os.cpu_count()
    try:
        with open("/proc/cpuinfo") as info:
            names = [line.split(":", 1)[1].strip() for line in info
                     if line.startswith("model name")]
        if names:
            model, cpus = names[0], len(names)
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as info:
            kib = int(next(line for line in info if line.startswith("MemTotal:")).split()[1])
        memory = f", {kib / 2**20:.0f} GiB"
    except (OSError, StopIteration):
        pass
    return (f"machine: {model} × {cpus}{memory}, {platform.machine()}, Python "
            f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}")


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}/s" if seconds > 0 else "-"


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _status_mb(field: str, pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) / 1024  # kB
    return 0.0


def peak_mb() -> float:
    """This process's own peak RSS. Not getrusage's ru_maxrss: Linux carries it across exec, so
    in a child it is at least the parent's peak at the fork (the benchmark's setup)."""
    return _status_mb("VmHWM:") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process (this one unless told), in MB."""
    return _status_mb("VmRSS:", pid)


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def processes(system: System, kafka: KafkaCluster | None) -> dict[str, int]:
    """Name → pid of every process of the stack; the supervisor is this one."""
    found = {"supervisor": os.getpid()}
    if system.broker is not None and system.broker.pid is not None:
        found["broker (Tansu)"] = system.broker.pid
    for node in kafka.nodes if kafka else ():
        if node.process is not None:
            found[f"broker (Kafka node {node.node_id})"] = node.process.pid
    for name, child in system.children.items():
        if child.process is not None:
            found[name] = child.process.pid
    return found
