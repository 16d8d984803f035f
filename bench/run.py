"""`make bench`: OneDoor end to end on this machine, against the ceiling of its bus.

0. Decisions: pure rule evaluation for every programme, decisions/s (approval's ceiling).
1. Throughput of the automatic path: N households submitted over HTTP as fast as intake takes
   them; cases/s is N over the time from the first submission to the last case's pre-assessment
   (intake → verification → approval, the case put before the town reviewer) on the bus. What
   follows is people's work: review, a 7-day public notice, approval.
2. Latency: cases submitted at a steady rate (default 100/s); submit → pre-assessed latency
   p50/p95/p99, measured by a listener on the decisions topic.
3. Ceiling: the same number of events through four do-nothing hops (consume → produce) on the
   same broker; OneDoor's rate is printed as a fraction of it.

``--broker``: the embedded Tansu broker (the default), a single Apache Kafka node, or a 3-node
Apache Kafka cluster on this machine (RF 3, min.insync.replicas 2); `make bench` runs all three.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx
from aiokafka import AIOKafkaConsumer

from bench.ceiling import HOPS, ceiling
from bench.decisions import decisions_per_second
from bench.measure import cpu_seconds, processes
from deploy.demo import load_partner_data
from deploy.households import Household, make_households
from deploy.kafka_cluster import KafkaCluster
from deploy.supervisor import System
from deploy.tokens import DevTokens
from shared.bus.broker import free_port
from shared.events import topics
from shared.settings import SERVICES, Settings


class Finishes:
    """Listens on the bus for the event that ends each case, and when it arrived."""

    def __init__(self, bootstrap: str) -> None:
        self._consumer = AIOKafkaConsumer(topics.PAYMENTS, topics.DECISIONS,
                                          bootstrap_servers=bootstrap, group_id=None,
                                          auto_offset_reset="latest")
        self.assessed: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            now = time.perf_counter()
            for part in batches.values():
                for record in part:
                    kind = dict(record.headers).get("ce_type", b"")
                    case_id = record.key.decode()
                    if (kind == b"onedoor.case.stage_changed"
                            and b'"to_stage":"awaiting_review"' in record.value):
                        self.assessed.setdefault(case_id, now)  # pre-assessed, before the town

    def done(self, case_ids: list[str]) -> int:
        return sum(1 for c in case_ids if c in self.assessed)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self._consumer.stop()


async def submit_all(url: str, households: list[Household], concurrency: int,
                     tokens: DevTokens, rate: float | None = None) -> dict[str, float]:
    """Submit every household; returns case id → perf_counter time of its submission.

    aiohttp rather than httpx: the load generator shares the machine's two cores with the
    system, and aiohttp spends about a third of the CPU per request that httpx does.
    """
    submitted: dict[str, float] = {}
    applications = [h.application() for h in households]
    bodies = [json.dumps(a).encode() for a in applications]
    # Each taken by a clerk of the household's district, as at a real window.
    signed = [{"Content-Type": "application/json", **tokens.clerk(a["region_code"])}
              for a in applications]
    started = time.perf_counter()
    next_index = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal next_index
        while next_index < len(bodies):
            index, next_index = next_index, next_index + 1
            if rate:
                await asyncio.sleep(max(0.0, started + index / rate - time.perf_counter()))
            at = time.perf_counter()
            async with session.post(url + "/applications", data=bodies[index],
                                    headers=signed[index]) as response:
                if response.status != 201:
                    raise RuntimeError(f"{response.status}: {await response.text()}")
                submitted[(await response.json())["case_id"]] = at

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return submitted


async def wait_done(finishes: Finishes, case_ids: list[str], timeout_s: float) -> float:
    deadline = time.perf_counter() + timeout_s
    while finishes.done(case_ids) < len(case_ids) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    ends = [finishes.assessed.get(c) for c in case_ids]
    return max(e for e in ends if e is not None)


def no_dead_letters(system: System) -> None:
    """Figures count only if no service gave up on any event."""
    for name in SERVICES:
        health = httpx.get(system.url(name) + "/health", timeout=10).json()
        if health["dead_lettered"]:
            raise SystemExit(f"{name} dead-lettered {health['dead_lettered']} events: "
                             "these figures do not count (see its /dead-letters)")


def check_nothing_lost(system: System, case_ids: list[str]) -> None:
    """Figures count only if the work was done: no service gave up on any event, and intake
    (whose case view the bus-level listener does not see) shows every case final."""
    no_dead_letters(system)
    final = {"awaiting_review"}
    deadline = time.monotonic() + 60
    pending = list(case_ids)
    with httpx.Client(base_url=system.url("intake"), timeout=10,
                      headers=DevTokens(system.settings).service()) as client:
        while pending and time.monotonic() < deadline:
            pending = [c for c in pending
                       if client.get(f"/applications/{c}").json()["status"] not in final]
            if pending:
                time.sleep(0.5)
    if pending:
        raise SystemExit(f"intake never showed {len(pending)} cases as final")
    print(f"checked: all {len(case_ids)} cases final at intake, no event dead-lettered")


def print_cpu_per_case(pids: dict[str, int], before: dict[str, float], cases: int) -> None:
    """Each process's CPU time over the throughput run, per case: steadier than the wall clock
    on a shared machine, and it says which process a lever has to move."""
    spent = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    each = ", ".join(f"{name} {1000 * s / cases:.2f}" for name, s in spent.items())
    print(f"CPU per case, ms: {each}; all {1000 * sum(spent.values()) / cases:.2f} "
          "(the supervisor is this bench, its load generator included)")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def bench_system(broker: str, data_dir: Path
                       ) -> tuple[Settings, System, KafkaCluster | None]:
    """The stack a bench runs on, not started yet: on the embedded broker, or on Apache Kafka
    (``kafka``: one node, started here; ``kafka-cluster``: three)."""
    if broker == "embedded":
        settings = Settings(env="test", data_dir=data_dir)
        return settings, System(settings=settings, ports={s: free_port() for s in SERVICES},
                                broker_port=free_port()), None
    kafka = KafkaCluster(1 if broker == "kafka" else 3)
    await asyncio.to_thread(kafka.start)
    settings = Settings(env="test", data_dir=data_dir, kafka_bootstrap=kafka.bootstrap,
                        broker="kafka")
    return settings, System(settings=settings, ports={s: free_port() for s in SERVICES}), kafka


async def main_async(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="onedoor-bench-"))
    settings, system, kafka = await bench_system(args.broker, data_dir)
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, data in {data_dir}")
    print(f"broker: {BROKERS[args.broker]}")
    rate0, _ = decisions_per_second()
    print(f"decisions: {rate0:,.0f}/s pure rule evaluation (every programme, one core)")
    system.start()
    try:
        await asyncio.to_thread(system.wait_ready, 90)
        households = make_households(args.cases + args.rate_cases, seed=7)
        await asyncio.to_thread(load_partner_data, system.url("verification"), households)
        finishes = Finishes(system.bootstrap)
        await finishes.start()
        await asyncio.sleep(1)

        # 1. throughput
        pids = processes(system, kafka)
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        first = households[:args.cases]
        submitted = await submit_all(system.url("intake"), first, args.concurrency,
                                     DevTokens(settings))
        t0 = min(submitted.values())
        t_end = await wait_done(finishes, list(submitted), timeout_s=600)
        done = finishes.done(list(submitted))
        rate = done / (t_end - t0)
        submit_rate = len(submitted) / (max(submitted.values()) - t0)
        print(f"throughput: {done}/{len(submitted)} cases pre-assessed in {t_end - t0:.1f} s "
              f"= {rate:.0f} cases/s end to end (intake accepted {submit_rate:.0f}/s)")
        print_cpu_per_case(pids, cpu_before, done)

        # 2. latency at a steady rate
        paced = households[args.cases:]
        submitted2 = await submit_all(system.url("intake"), paced, 16, DevTokens(settings),
                                      rate=args.rate)
        await wait_done(finishes, list(submitted2), timeout_s=300)
        lat = [(finishes.assessed[c] - t) * 1000 for c, t in submitted2.items()
               if c in finishes.assessed]
        print(f"latency at {args.rate:.0f} cases/s ({len(lat)} cases): submit → pre-assessed"
              f" p50 {pct(lat, 50):.0f} ms, p95 {pct(lat, 95):.0f} ms, "
              f"p99 {pct(lat, 99):.0f} ms, max {max(lat):.0f} ms, "
              f"mean {statistics.mean(lat):.0f} ms")
        await finishes.stop()

        await asyncio.to_thread(check_nothing_lost, system, list(submitted) + list(submitted2))

        # 3. ceiling
        events = args.cases
        ceiling_rate = await ceiling(system.bootstrap, events,
                                     replicas=kafka.replication_factor if kafka else 1,
                                     idempotent=kafka is not None)
        print(f"ceiling: {events} events through {HOPS} do-nothing hops = "
              f"{ceiling_rate:.0f} events/s end to end")
        print(f"OneDoor runs at {rate / ceiling_rate:.1%} of the ceiling of its bus")
    finally:
        system.stop()
        if kafka is not None:
            kafka.stop()


BROKERS = {"embedded": "the embedded Tansu broker (memory), SQLite",
           "kafka": "Apache Kafka, one node (RF 1, acks=all, idempotent producers), SQLite",
           "kafka-cluster": "Apache Kafka, 3 nodes on this machine (RF 3, min.insync.replicas "
                            "2, acks=all, idempotent producers), SQLite"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=3000, help="cases for the throughput run")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=100.0, help="cases/s for the latency run")
    parser.add_argument("--rate-cases", type=int, default=1000)
    parser.add_argument("--broker", choices=tuple(BROKERS), default="embedded")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
