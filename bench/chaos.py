"""`python -m bench.chaos`: N cases through the running system while it kills things, then a
check of what the services and the archive recorded, in the spirit of Jepsen.

Topology (``--broker``):
- ``kafka-cluster`` (the default): a 3-node Apache Kafka cluster (RF 3, min.insync.replicas 2,
  acks=all, idempotent producers) and PostgreSQL, with ``--replicas`` (2) processes of every
  service sharing its database and consumer group;
- ``embedded``: the embedded broker and SQLite, one process per service (service kills only:
  the embedded broker keeps its log in memory, and its restart is tested on its own).

Load: Dibao households (which the system carries by itself as far as the town reviewer's desk,
with the pre-assessment) and, ``--emergency-share`` of them, temporary assistance with an
emergency advance, paid at once and verified after — so money moves during the faults. Each
submission carries an Idempotency-Key and is retried, on the next intake instance, until
intake answers: a window clerk whose request failed presses again.

Faults, every ``--interval`` seconds until the load is in and ``--tail`` seconds after: SIGKILL
of a random broker node (restarted ``--down`` seconds later; one node down at a time, so a
quorum and min.insync.replicas always remain) and of a random service instance (restarted
likewise); every third round a broker is also frozen with SIGSTOP for ``--down`` seconds — its
connections go silent without closing, as in a network partition — then SIGCONT.

The check (bench/chaos_check.py) runs from each service's own records and the audit archive
once the system has settled. Output: exactly one line on stdout, ``N cases, K kills: L lost, D
duplicated effects``; progress on stderr; ``--record FILE`` appends the run as JSON (sizes,
kills, recovery times, the machine). Exits non-zero unless L = D = 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.chaos_check import Verdict, check
from bench.measure import machine
from deploy.demo import load_partner_data
from deploy.households import Household, make_households
from deploy.kafka_cluster import KafkaCluster
from deploy.postgres import LocalPostgres
from deploy.supervisor import System
from deploy.tokens import DevTokens
from shared.bus.broker import free_port
from shared.settings import SERVICES, Settings

EMERGENCY = {"temporary": {"kind": "emergency", "requested_amount_fen": 200_000,
                           "cause": "fire"}}
PER_SEED = 5_000  # households per make_households call (persons are numbered within a call)


def say(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def households(cases: int, emergency_share: float, seed: int) -> list[Household]:
    """Different persons throughout: one with an open case could not apply a second time."""
    made: list[Household] = []
    for start in range(0, cases, PER_SEED):
        made += make_households(min(PER_SEED, cases - start), seed=seed + start)
    rng = random.Random(seed)
    # From households the rules would help, so that the towns' advances go through.
    eligible = [h for h in made if h.expect == "approved"]
    for household in rng.sample(eligible, min(len(eligible), round(cases * emergency_share))):
        household.programme, household.extra = "temporary", dict(EMERGENCY)
        household.label = "emergency"
    return made


@dataclass
class Faults:
    broker_kills: int = 0
    service_kills: int = 0
    freezes: int = 0
    broker_recovery_s: list[float] = field(default_factory=list)
    service_recovery_s: list[float] = field(default_factory=list)

    @property
    def kills(self) -> int:
        return self.broker_kills + self.service_kills


class Injector(threading.Thread):
    """Kills (and restarts) a broker node and a service instance every interval."""

    def __init__(self, system: System, kafka: KafkaCluster | None, rng: random.Random,
                 interval_s: float, down_s: float) -> None:
        super().__init__(name="chaos", daemon=True)
        self.system, self.kafka, self.rng = system, kafka, rng
        self.interval_s, self.down_s = interval_s, down_s
        self.faults = Faults()
        self.stopping = threading.Event()
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            rounds = 0
            while not self.stopping.wait(self.interval_s):
                rounds += 1
                self._round(freeze=self.kafka is not None and rounds % 3 == 0)
        except BaseException as exc:  # reported by the driver: a checker that broke proves nothing
            self.failure = exc

    def _round(self, freeze: bool) -> None:
        kafka = self.kafka
        node = self.rng.choice(kafka.nodes) if kafka else None
        instance = self.rng.choice([c for c in self.system.children.values()
                                    if c.service != "window"])
        if kafka and node is not None:
            kafka.kill(node)
            say(f"  killed Kafka node {node.node_id}")
        self.system.kill(instance.name)
        say(f"  killed {instance.name}")
        time.sleep(self.down_s)
        started = time.monotonic()
        self.system.respawn(instance.name)
        if kafka and node is not None:
            kafka.restart(node)  # waits until it is started
            self.faults.broker_kills += 1
            self.faults.broker_recovery_s.append(round(time.monotonic() - started, 2))
        self._wait_healthy(instance.port)
        self.faults.service_kills += 1
        self.faults.service_recovery_s.append(round(time.monotonic() - started, 2))
        if freeze and self.kafka is not None:
            frozen = self.rng.choice(self.kafka.nodes)
            assert frozen.process is not None
            frozen.process.send_signal(signal.SIGSTOP)
            say(f"  froze Kafka node {frozen.node_id}")
            time.sleep(self.down_s)
            frozen.process.send_signal(signal.SIGCONT)
            self.faults.freezes += 1

    def _wait_healthy(self, port: int, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"the instance on port {port} did not come back in {timeout_s} s")


async def advance(client: httpx.AsyncClient, bases: list[str], tokens: DevTokens,
                  case_id: str, submitted: dict[str, str], timeout_s: float = 900) -> None:
    """The town orders an emergency's advance once the case is before it, as staff would at
    once; retried through the faults. The case counts as "advanced" once approval said yes
    (or shows it already past the town); a case that never reaches the town stays an
    "emergency", which the check then finds stuck."""
    deadline = time.monotonic() + timeout_s
    for attempt in range(1_000_000):
        if time.monotonic() > deadline:
            return
        base = bases[attempt % len(bases)]
        try:
            read = await client.get(f"{base}/cases/{case_id}", headers=tokens.service())
            if read.status_code != 200:
                await asyncio.sleep(0.5)
                continue
            case = read.json()
            if case["stage"] in ("advance_paid", "approved", "follow_up"):
                submitted[case_id] = "advanced"
                return
            if case["stage"] != "awaiting_review":
                await asyncio.sleep(0.5)
                continue
            done = await client.post(
                f"{base}/cases/{case_id}/actions",
                json={"action": "advance", "note": "fire; paid at once (chaos run)"},
                headers=tokens.reviewer(case.get("town_code") or case["region_code"]))
            if done.status_code == 200:
                submitted[case_id] = "advanced"
                return
            if done.status_code == 409:  # the rules refuse it: a person would stop here too
                say(f"  advance of {case_id} refused by the rules")
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.5)


async def submit_all(system: System, load: list[Household], rate: float,
                     tokens: DevTokens, seed: int) -> dict[str, str]:
    """Every household submitted once, whatever fails on the way: case id → kind."""
    bases = system.urls("intake")
    submitted: dict[str, str] = {}
    advances: list[asyncio.Task[None]] = []
    started = time.monotonic()
    queue = list(enumerate(load))

    async def one(client: httpx.AsyncClient, index: int, household: Household) -> None:
        application = household.application()
        headers = {**tokens.clerk(application["region_code"]),
                   "Idempotency-Key": f"chaos-{seed}-{index}"}
        for attempt in range(10_000):
            base = bases[(index + attempt) % len(bases)]
            try:
                response = await client.post(base + "/applications", json=application,
                                             headers=headers)
            except httpx.HTTPError:
                await asyncio.sleep(0.5)
                continue
            if response.status_code == 201:
                case_id = str(response.json()["case_id"])
                if household.programme == "temporary":
                    submitted[case_id] = "emergency"
                    advances.append(asyncio.create_task(advance(
                        client, system.urls("approval"), tokens, case_id, submitted)))
                else:
                    submitted[case_id] = "dibao"
                return
            if response.status_code >= 500 or response.status_code == 429:
                await asyncio.sleep(0.5)
                continue
            raise RuntimeError(f"intake refused household {index}: {response.status_code} "
                               f"{response.text[:300]}")
        raise RuntimeError(f"household {index} never submitted")

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            index, household = queue.pop(0)
            await asyncio.sleep(max(0.0, started + index / rate - time.monotonic()))
            await one(client, index, household)
            if len(submitted) % 500 == 0:
                say(f"  {len(submitted)} submitted")

    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(16)))
        say(f"  all {len(submitted)} submitted; waiting for the towns' advances")
        await asyncio.gather(*advances)
    return submitted


@dataclass
class Topology:
    system: System
    kafka: KafkaCluster | None = None
    postgres: LocalPostgres | None = None

    def stop(self) -> None:
        self.system.stop()
        if self.kafka is not None:
            self.kafka.stop()
        if self.postgres is not None:
            self.postgres.stop()


def start(args: argparse.Namespace, data_dir: Path, kafka_nodes: int = 3) -> Topology:
    """The topology ``args.broker`` names, ``args.replicas`` instances of every service (on
    ``kafka_nodes`` Kafka nodes; bench/rollout.py runs it on one too)."""
    ports = {name: free_port() for name in SERVICES}
    if args.broker == "embedded":
        system = System(settings=Settings(env="test", data_dir=data_dir), ports=ports,
                        broker_port=free_port())
        system.start()
        return Topology(system)
    kafka = KafkaCluster(kafka_nodes)
    postgres = LocalPostgres()
    try:
        kafka.start()
        postgres.start()
        urls: dict[str, Any] = {f"{s}_database_url": postgres.create_database(f"chaos_{s}")
                                for s in SERVICES}
        settings = Settings(env="test", data_dir=data_dir, kafka_bootstrap=kafka.bootstrap,
                            broker="kafka", **urls)
        system = System(settings=settings, ports=ports, replicas=args.replicas)
        system.start()
    except BaseException:
        kafka.stop()
        postgres.stop()
        raise
    return Topology(system, kafka, postgres)


def settle(topology: Topology, submitted: dict[str, str], timeout_s: float) -> Verdict:
    """Check until nothing is missing any more (the system catching up) or the time is up;
    the last verdict is the answer."""
    deadline = time.monotonic() + timeout_s
    while True:
        verdict = check(topology.system, submitted, bootstrap=topology.system.bootstrap)
        if not verdict.lost or verdict.duplicated or time.monotonic() > deadline:
            return verdict
        say(f"  {len(verdict.lost)} not there yet, e.g. {verdict.lost[0]}; again in 10 s")
        time.sleep(10)


def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    data_dir = Path(tempfile.mkdtemp(prefix="onedoor-chaos-"))
    load = households(args.cases, args.emergency_share, args.seed)
    say(f"chaos: {args.cases} cases on {args.broker}, replicas {args.replicas}, "
        f"a fault every {args.interval} s")
    topology = start(args, data_dir)
    record: dict[str, object] = {}
    try:
        system = topology.system
        system.wait_ready(timeout_s=180)
        load_partner_data(system.url("verification"), load)
        injector = Injector(system, topology.kafka, rng, args.interval, args.down)
        began = time.monotonic()
        injector.start()
        submitted = asyncio.run(submit_all(system, load, args.rate, DevTokens(system.settings),
                                           args.seed))
        submitted_s = time.monotonic() - began
        time.sleep(args.tail)
        injector.stopping.set()
        injector.join()
        if injector.failure is not None:
            raise injector.failure
        last_fault = time.monotonic()
        for child in system.children.values():  # anything down for another reason
            system.respawn(child.name)
        verdict = settle(topology, submitted, args.settle_timeout)
        faults = injector.faults
        record = {"cases": len(submitted), "broker": args.broker, "replicas": args.replicas,
                  # Emergencies whose advance the town ordered, and those it could not.
                  "advanced": sum(k == "advanced" for k in submitted.values()),
                  "emergencies_not_advanced": sum(k == "emergency"
                                                  for k in submitted.values()),
                  "submitted_s": round(submitted_s, 1),
                  "settled_after_last_fault_s": round(time.monotonic() - last_fault, 1),
                  **asdict(faults), "kills": faults.kills, "lost": verdict.lost[:20],
                  "duplicated": verdict.duplicated[:20], "machine": machine(),
                  "line": verdict.line(len(submitted), faults.kills)}
        print(verdict.line(len(submitted), faults.kills), flush=True)
        for line in verdict.lost[:20] + verdict.duplicated[:20]:
            say(f"  {line}")
        return 0 if not verdict.lost and not verdict.duplicated else 1
    finally:
        topology.stop()
        if args.record and record:
            with open(args.record, "a") as out:
                out.write(json.dumps(record) + "\n")
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--broker", choices=("kafka-cluster", "embedded"),
                        default="kafka-cluster")
    parser.add_argument("--replicas", type=int, default=None,
                        help="instances per service (default 2 on kafka-cluster, 1 embedded)")
    parser.add_argument("--emergency-share", type=float, default=0.1)
    parser.add_argument("--rate", type=float, default=40.0, help="submissions per second")
    parser.add_argument("--interval", type=float, default=4.0, help="seconds between faults")
    parser.add_argument("--down", type=float, default=3.0, help="seconds a victim stays down")
    parser.add_argument("--tail", type=float, default=10.0,
                        help="seconds of faults after the last submission")
    parser.add_argument("--settle-timeout", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--record", help="append the run as one JSON line to this file")
    parser.add_argument("--keep", action="store_true", help="keep the data directory (logs)")
    args = parser.parse_args()
    if args.replicas is None:
        args.replicas = 2 if args.broker == "kafka-cluster" else 1
    if args.seed is None:
        args.seed = int.from_bytes(os.urandom(4), "big") % 1_000_000
    # A SIGTERM (timeout, kill) ends the run through its finally: the broker nodes and the
    # PostgreSQL server run in sessions of their own and would outlive it otherwise.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(run(args))


if __name__ == "__main__":
    main()
