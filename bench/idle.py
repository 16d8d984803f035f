"""`make bench`, issue 24's idle item: what the whole stack costs when nothing happens, and how
soon an event moves again after the quiet.

1. Quiet: the system as `make up` runs it (broker, every service, the window, the supervisor's
   watch), ready and left alone; each process's CPU time (/proc: user + system) over ``--quiet``
   seconds, as a share of one core.
2. Wake, on the bus alone: a poller as the services run it (shared/bus/poller.py, the consumer
   options of the broker's kind) on a topic of its own; ``--cases`` times, after ``--gap``
   seconds of quiet, one record published as a relay publishes it (and rings, on the embedded
   broker), timed from the send to the strategy's ``handle``.
3. Wake, through the services: ``--cases`` times, after ``--gap`` seconds of quiet, one case
   submitted at intake. Every record of the cases is read off the bus afterwards, and each hop
   timed from the clocks the records carry: the relay's hop from the event's creation in a unit
   of work (``ce_time``) to its send (the Kafka record's timestamp), the consumer's hop from that
   send to the next service's handler creating its own event (that event's ``ce_time``: the
   handler's own work up to there is in it). Nothing of the bench listens on the bus while the
   system rests, so the quiet figures include no watcher of its own.

``--broker``: the embedded Tansu broker (the default) or a single Apache Kafka node.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from bench.measure import cpu_seconds, machine, processes
from bench.run import submit_all
from deploy.demo import load_partner_data
from deploy.households import make_households
from deploy.kafka_cluster import KafkaCluster
from deploy.supervisor import System
from deploy.tokens import DevTokens
from shared.bus import doorbell
from shared.bus.broker import free_port
from shared.bus.kafka import Cluster, new_producer, start_with_retry
from shared.bus.poller import FETCHER_TIMEOUT_MS, EpochCheck, Poller, fetch_max_wait_ms
from shared.events import topics
from shared.events.envelope import header_map
from shared.settings import SERVICES, Settings


def quiet_minute(pids: dict[str, int], seconds: float) -> dict[str, float]:
    """Each process's share of one core, in per cent, over ``seconds`` of nothing."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    started = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    return {name: 100 * (cpu_seconds(pid) - before[name]) / elapsed
            for name, pid in pids.items()}


@dataclass(frozen=True)
class Hop:
    what: str  # "relay" or "consumer"
    to: str  # the event the hop ends with
    ms: float


async def case_records(bootstrap: str, case_ids: set[str], timeout_s: float = 30.0
                       ) -> dict[str, list[ConsumerRecord]]:
    """Every record of ``case_ids`` on the case topics, read from the start after the fact."""
    consumer = AIOKafkaConsumer(topics.APPLICATIONS, topics.VERIFICATIONS, topics.DECISIONS,
                                bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest")
    await consumer.start()
    found: dict[str, list[ConsumerRecord]] = {c: [] for c in case_ids}
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            if not batches:
                break  # read to the end
            for part in batches.values():
                for record in part:
                    key = (record.key or b"").decode()
                    if key in found:
                        found[key].append(record)
    finally:
        await consumer.stop()
    return found


def hops(records: list[ConsumerRecord]) -> list[Hop]:
    """The relay and consumer hops of one case's records, in the order they happened."""
    timed = []
    for record in records:
        headers = header_map(record.headers or ())
        created = datetime.fromisoformat(headers["ce_time"]).timestamp() * 1000
        timed.append((created, record.timestamp, headers["ce_type"].removeprefix("onedoor.")))
    timed.sort()
    found = []
    for i, (created, sent, kind) in enumerate(timed):
        found.append(Hop("relay", kind, sent - created))
        # The record that set this handler going: the latest one sent before it began.
        causes = [s for _, s, _ in timed[:i] if s <= created]
        if causes:
            found.append(Hop("consumer", kind, created - max(causes)))
    return found


class Seen:
    """A strategy that notes when each record reached it."""

    epoch_check: EpochCheck = "before commit"

    def __init__(self) -> None:
        self.at: dict[bytes, float] = {}
        self.arrived = asyncio.Event()

    async def handle(self, records: list[ConsumerRecord]) -> None:
        now = time.perf_counter()
        for record in records:
            self.at[record.value] = now
        self.arrived.set()


async def bus_wake(settings: Settings, samples: int, gap_s: float) -> list[float]:
    """Milliseconds from a record's send to a resting poller's ``handle``, each after quiet."""
    bootstrap, kind = settings.kafka_bootstrap, settings.broker
    topic = f"bench.idle.{uuid.uuid4().hex[:8]}"
    cluster = Cluster(bootstrap, 1, kind=kind)
    await cluster.ensure_topics([topic])

    def new_consumer() -> AIOKafkaConsumer:  # as EventConsumer makes its own
        return AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, group_id=f"bench-idle-{uuid.uuid4().hex[:8]}",
            enable_auto_commit=False, auto_offset_reset="earliest", metadata_max_age_ms=5000,
            fetch_max_wait_ms=fetch_max_wait_ms(kind, settings.consumer_fetch_max_wait_ms),
            consumer_timeout_ms=FETCHER_TIMEOUT_MS)

    seen = Seen()
    poller = Poller(new_consumer, cluster, seen, who="bench probe")
    task = asyncio.create_task(poller.run())
    producer = new_producer(bootstrap, idempotent=kind == "kafka")
    await start_with_retry(producer, "bench probe")
    took = []
    try:
        while not poller.assignment:
            await asyncio.sleep(0.1)
        for i in range(samples):
            await asyncio.sleep(gap_s)
            value = f"probe-{i}".encode()
            sent = time.perf_counter()
            await producer.send_and_wait(topic, value=value, key=b"probe")
            if kind == "embedded":
                doorbell.ring(bootstrap, [topic])  # as a relay does once its batch is in
            while value not in seen.at:
                seen.arrived.clear()
                await seen.arrived.wait()
            took.append((seen.at[value] - sent) * 1000)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await producer.stop()
        await cluster.close()
    return took


async def wake(system: System, settings: Settings, cases: int, gap_s: float) -> list[Hop]:
    households = make_households(cases, seed=24)
    await asyncio.to_thread(load_partner_data, system.url("verification"), households)
    tokens = DevTokens(settings)
    case_ids: set[str] = set()
    for household in households:
        await asyncio.sleep(gap_s)
        submitted = await submit_all(system.url("intake"), [household], 1, tokens)
        case_ids.update(submitted)
    await asyncio.sleep(3)  # the last case through
    found = await case_records(system.bootstrap, case_ids)
    return [hop for records in found.values() for hop in hops(records)]


def report_quiet(shares: dict[str, float], seconds: float) -> None:
    print(f"quiet {seconds:.0f} s, CPU as % of one core:")
    for name, share in sorted(shares.items(), key=lambda item: -item[1]):
        print(f"  {name:<26} {share:5.2f}%")
    print(f"  {'whole stack':<26} {sum(shares.values()):5.2f}%")


def report_wake(probe: list[float], found: list[Hop], gap_s: float) -> None:
    probe.sort()
    print(f"wake after {gap_s:.0f} s quiet, bus alone, send → handle ({len(probe)}): median "
          f"{statistics.median(probe):.1f} ms, max {probe[-1]:.1f} ms")
    for what in ("relay", "consumer"):
        ms = sorted(h.ms for h in found if h.what == what)
        if ms:
            print(f"wake after {gap_s:.0f} s quiet, case {what} hop ({len(ms)}): median "
                  f"{statistics.median(ms):.0f} ms, max {ms[-1]:.0f} ms")


def watch(system: System, stop: threading.Event) -> None:
    """The supervisor's loop of `onedoor up`, so its cost is in the figure too."""
    while not stop.wait(0.5):
        system.watch_once()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", choices=("embedded", "kafka"), default="embedded")
    parser.add_argument("--quiet", type=float, default=60.0, help="seconds of quiet measured")
    parser.add_argument("--settle", type=float, default=20.0,
                        help="seconds left alone after start before measuring")
    parser.add_argument("--cases", type=int, default=8, help="cases submitted after quiet")
    parser.add_argument("--gap", type=float, default=5.0, help="seconds of quiet before each")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="onedoor-idle-"))
    kafka = None
    ports = {s: free_port() for s in SERVICES}
    if args.broker == "embedded":
        settings = Settings(env="test", data_dir=data_dir)
        system = System(settings=settings, ports=ports, broker_port=free_port())
    else:
        kafka = KafkaCluster(1)
        kafka.start()
        settings = Settings(env="test", data_dir=data_dir, kafka_bootstrap=kafka.bootstrap,
                            broker="kafka")
        system = System(settings=settings, ports=ports)
    print(machine())
    print(f"broker: {args.broker}, data in {data_dir}")
    stop = threading.Event()
    watcher = threading.Thread(target=watch, args=(system, stop), daemon=True)
    try:
        system.start()
        system.wait_ready(90)
        watcher.start()
        time.sleep(args.settle)
        seconds = args.quiet
        report_quiet(quiet_minute(processes(system, kafka), seconds), seconds)
        bus_settings = settings.model_copy(update={"kafka_bootstrap": system.bootstrap})
        probe = asyncio.run(bus_wake(bus_settings, args.cases, args.gap))
        report_wake(probe, asyncio.run(wake(system, settings, args.cases, args.gap)), args.gap)
    finally:
        stop.set()
        system.stop()
        if kafka is not None:
            kafka.stop()


if __name__ == "__main__":
    main()
