"""`python -m bench.rollout`: a rolling restart of every instance of every service while
households come in, and not one request failed, not one event lost.

Topology: bench.chaos's on Apache Kafka (3 nodes, or ``--kafka-nodes 1`` for a quicker run) and
PostgreSQL, two instances (``--replicas``) of every service, the window among them.

Load: bench.chaos's households (Dibao, and ``--emergency-share`` of them temporary assistance
whose advance the town orders through approval), submitted at ``--rate`` a second from before
the first restart until ``--tail`` seconds after the last; and for each case, reads of it from
intake, verification, approval and payment, with the audit archive's checkpoints and the window's
sign-in page now and then — so that every service answers HTTP throughout its own restart.

The rollout, service after service, instance after instance, as a Kubernetes rolling update with
readiness probes does it: SIGTERM (the instance answers readiness 503 "draining" at once and goes
on serving for ``shutdown_drain_s``, then shuts down gracefully: open requests answered, its
consumer leaves the group, its relay publishes what is committed; shared/health.py,
shared/service.py), a new process in its place, and the next only once that one is ready.

The client side is the load balancer (:class:`Balancer`): it polls every instance's
``/health/ready`` every ``--poll`` seconds and sends a request only to one that said ready. It
tries another ready instance when a connection could not be made — the request never reached a
process, which is what nginx's ``proxy_next_upstream error`` and Envoy's connect-failure retry
do; submissions carry an Idempotency-Key besides — and never retries after a response. A failed
request is any answer outside what the domain may say (201 for a submission; 404 for a read of a
case some service has not heard of yet; 409 for an advance the rules refuse), any transport
error after the connection was made (a reset, a read timeout), and a request no ready instance
was there for.

Then bench.chaos's check (bench/chaos_check.py: no case lost, no effect twice, nobody paid
twice) once the system has settled. Output: one line on stdout, ``N cases, R restarts: F failed
requests, L lost, D duplicated effects``; progress on stderr; ``--record FILE`` appends the run
as JSON. Exits non-zero unless F = L = D = 0 and no instance had to be killed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.chaos import households, say, settle, start
from bench.measure import machine
from deploy.demo import load_partner_data
from deploy.households import Household
from deploy.supervisor import Restart, System
from deploy.tokens import DevTokens
from shared.settings import SERVICES

READ_EVERY_S = 1.0  # a case's reads follow its submission by this much


@dataclass
class Tally:
    """Requests sent through the balancer, and how they ended."""

    sent: Counter[str] = field(default_factory=Counter)  # by service
    failed: Counter[str] = field(default_factory=Counter)
    # Connections refused or not made, and the request sent to another instance instead.
    connect_retries: int = 0
    failures: list[str] = field(default_factory=list)  # the first ones, for the record

    def fail(self, service: str, what: str) -> None:
        self.failed[service] += 1
        if len(self.failures) < 20:
            self.failures.append(f"{service} {what}")
            say(f"  FAILED: {service} {what}")


class Balancer:
    """A client that sends each request to an instance that said it was ready, as a load
    balancer with health checks does (see the module's docstring)."""

    def __init__(self, system: System, client: httpx.AsyncClient, poll_s: float) -> None:
        self.system, self.client, self.poll_s = system, client, poll_s
        self.ready: dict[str, set[str]] = {s: set(system.urls(s)) for s in SERVICES}
        self.tally = Tally()
        self._turn = itertools.count()

    async def watch(self) -> None:
        """Polls every instance's readiness, until cancelled."""
        async def ready(base: str) -> bool:
            try:
                answer = await self.client.get(base + "/health/ready", timeout=1.0)
            except httpx.HTTPError:
                return False
            return answer.status_code == 200

        while True:
            for service in SERVICES:
                bases = self.system.urls(service)
                answers = await asyncio.gather(*(ready(b) for b in bases))
                self.ready[service] = {b for b, ok in zip(bases, answers, strict=True) if ok}
            await asyncio.sleep(self.poll_s)

    async def send(self, service: str, method: str, path: str, *, expect: Iterable[int],
                   **request: Any) -> httpx.Response | None:
        """The answer, or None when the request failed (counted in the tally)."""
        self.tally.sent[service] += 1
        route = f"{method} {path.split('/')[1]}"
        tried: set[str] = set()
        while True:
            candidates = sorted(self.ready[service] - tried)
            if not candidates:
                self.tally.fail(service, f"{route}: no ready instance"
                                + (" answered" if tried else ""))
                return None
            base = candidates[next(self._turn) % len(candidates)]
            try:
                response = await self.client.request(method, base + path, **request)
            except httpx.ConnectError:  # refused or not made: it never reached a process
                tried.add(base)
                self.tally.connect_retries += 1
                continue
            except httpx.HTTPError as exc:
                self.tally.fail(service, f"{route}: {type(exc).__name__} from {base}")
                return None
            if response.status_code not in expect:
                self.tally.fail(service, f"{route}: {response.status_code} from {base} "
                                         f"{response.text[:200]}")
                return None
            return response


class Load:
    """Households submitted at a steady rate until told to stop, each case then read from the
    services, and emergencies' advances ordered by the town."""

    def __init__(self, balancer: Balancer, tokens: DevTokens, load: list[Household],
                 rate: float, seed: int) -> None:
        self.lb, self.tokens, self.load, self.rate, self.seed = (balancer, tokens, load, rate,
                                                                 seed)
        self.submitted: dict[str, str] = {}  # case id → kind, as bench.chaos_check reads it
        self.stopping = asyncio.Event()
        self._followers: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        started = time.monotonic()
        for index, household in enumerate(self.load):
            if self.stopping.is_set():
                break
            await asyncio.sleep(max(0.0, started + index / self.rate - time.monotonic()))
            self._follow(self._submit(index, household))
        else:
            say(f"  all {len(self.load)} households submitted before the rollout ended "
                "(raise --max-cases)")
        await asyncio.gather(*list(self._followers))

    def _follow(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._followers.add(task)
        task.add_done_callback(self._followers.discard)

    async def _submit(self, index: int, household: Household) -> None:
        application = household.application()
        headers = {**self.tokens.clerk(application["region_code"]),
                   "Idempotency-Key": f"rollout-{self.seed}-{index}"}
        answer = await self.lb.send("intake", "POST", "/applications", json=application,
                                    headers=headers, expect={201})
        if answer is None:
            return
        case_id = str(answer.json()["case_id"])
        emergency = household.programme == "temporary"
        self.submitted[case_id] = "emergency" if emergency else "dibao"
        if len(self.submitted) % 100 == 0:
            say(f"  {len(self.submitted)} submitted")
        await asyncio.sleep(READ_EVERY_S)
        await self._read(index, case_id)
        if emergency:
            await self._advance(case_id)

    async def _read(self, index: int, case_id: str) -> None:
        service = self.tokens.service()
        reads = [self.lb.send("intake", "GET", f"/applications/{case_id}", headers=service,
                              expect={200}),
                 self.lb.send("verification", "GET", f"/reports/{case_id}", headers=service,
                              expect={200, 404}),
                 self.lb.send("approval", "GET", f"/cases/{case_id}", headers=service,
                              expect={200, 404}),
                 self.lb.send("payment", "GET", f"/cases/{case_id}/payments", headers=service,
                              expect={200, 404}),
                 self.lb.send("window", "GET", "/sign-in", expect={200})]
        if index % 10 == 0:  # the archive's own access log records each
            reads.append(self.lb.send("audit", "GET", "/checkpoints",
                                      headers=self.tokens.auditor(), expect={200}))
        await asyncio.gather(*reads)

    async def _advance(self, case_id: str, timeout_s: float = 300) -> None:
        """As bench.chaos's advance, through the balancer: the town orders it once the case is
        before it; "advanced" once approval said yes or shows it past the town."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            read = await self.lb.send("approval", "GET", f"/cases/{case_id}",
                                      headers=self.tokens.service(), expect={200, 404})
            case = read.json() if read is not None and read.status_code == 200 else None
            if case is not None and case["stage"] in ("advance_paid", "approved", "follow_up"):
                self.submitted[case_id] = "advanced"
                return
            if case is not None and case["stage"] == "awaiting_review":
                done = await self.lb.send(
                    "approval", "POST", f"/cases/{case_id}/actions",
                    json={"action": "advance", "note": "fire; paid at once (rollout run)"},
                    headers=self.tokens.reviewer(case.get("town_code") or case["region_code"]),
                    expect={200, 409})
                if done is not None and done.status_code == 200:
                    self.submitted[case_id] = "advanced"
                    return
                if done is not None:  # 409: the rules refuse it, a person would stop here too
                    say(f"  advance of {case_id} refused by the rules")
                    return
            await asyncio.sleep(0.5)


def rollout(system: System, services: list[str], grace_s: float) -> list[Restart]:
    """Every instance of each service restarted in turn, the next once the last is ready."""
    done = []
    for service in services:
        for child in system.instances(service):
            restart = system.restart(child.name, grace_s=grace_s)
            say(f"  restarted {restart.name}: stopped in {restart.stop_s} s, ready "
                f"{restart.ready_s} s later" + (" (KILLED after the grace period)"
                                                 if restart.forced else ""))
            done.append(restart)
    return done


async def drive(system: System, args: argparse.Namespace, load: list[Household]
                ) -> tuple[dict[str, str], list[Restart], Tally, float]:
    async with httpx.AsyncClient(timeout=30) as client:
        balancer = Balancer(system, client, args.poll)
        watching = asyncio.create_task(balancer.watch())
        traffic = Load(balancer, DevTokens(system.settings), load, args.rate, args.seed)
        loading = asyncio.create_task(traffic.run())
        await asyncio.sleep(args.warmup)
        began = time.monotonic()
        restarts = await asyncio.to_thread(rollout, system, args.services, args.grace)
        rolled_s = time.monotonic() - began
        await asyncio.sleep(args.tail)
        traffic.stopping.set()
        await loading
        watching.cancel()
    return traffic.submitted, restarts, balancer.tally, rolled_s


def run(args: argparse.Namespace) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="onedoor-rollout-"))
    load = households(args.max_cases, args.emergency_share, args.seed)
    say(f"rollout: {', '.join(args.services)} ({args.replicas} instances each) on "
        f"{args.kafka_nodes} Kafka node(s), {args.rate} submissions a second")
    args.broker = "kafka-cluster"
    topology = start(args, data_dir, kafka_nodes=args.kafka_nodes)
    record: dict[str, object] = {}
    try:
        system = topology.system
        system.wait_ready(timeout_s=180)
        load_partner_data(system.url("verification"), load)
        submitted, restarts, tally, rolled_s = asyncio.run(drive(system, args, load))
        verdict = settle(topology, submitted, args.settle_timeout)
        failed = sum(tally.failed.values())
        forced = [r.name for r in restarts if r.forced]
        line = (f"{len(submitted)} cases, {len(restarts)} restarts: {failed} failed requests, "
                f"{len(verdict.lost)} lost, {len(verdict.duplicated)} duplicated effects")
        record = {"bench": "rollout", "cases": len(submitted), "restarts": len(restarts),
                  "kafka_nodes": args.kafka_nodes, "replicas": args.replicas,
                  "rate": args.rate, "poll_s": args.poll,
                  "drain_s": system.settings.shutdown_drain_s,
                  "advanced": sum(k == "advanced" for k in submitted.values()),
                  "requests": sum(tally.sent.values()), "by_service": dict(tally.sent),
                  "failed_requests": failed, "failures": tally.failures,
                  "connect_retries": tally.connect_retries, "rollout_s": round(rolled_s, 1),
                  "instances": [asdict(r) for r in restarts], "killed": forced,
                  "lost": verdict.lost[:20], "duplicated": verdict.duplicated[:20],
                  "machine": machine(), "line": line}
        print(line, flush=True)
        say(f"  {sum(tally.sent.values())} requests ({dict(tally.sent)}), "
            f"{tally.connect_retries} sent again after a refused connection; "
            f"rollout took {rolled_s:.0f} s")
        for what in verdict.lost[:20] + verdict.duplicated[:20] + forced:
            say(f"  {what}")
        clean = not failed and not verdict.lost and not verdict.duplicated and not forced
        return 0 if clean else 1
    finally:
        topology.stop()
        if args.record and record:
            with open(args.record, "a") as out:
                out.write(json.dumps(record) + "\n")
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rollout", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", nargs="+", choices=SERVICES, default=list(SERVICES),
                        help="whose instances to restart, in this order (default: all)")
    parser.add_argument("--kafka-nodes", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--rate", type=float, default=3.0, help="submissions per second")
    parser.add_argument("--max-cases", type=int, default=1500,
                        help="households prepared; the load ends with the rollout")
    parser.add_argument("--emergency-share", type=float, default=0.1)
    parser.add_argument("--poll", type=float, default=0.2,
                        help="seconds between the balancer's readiness polls")
    parser.add_argument("--grace", type=float, default=30.0,
                        help="seconds an instance has to stop after SIGTERM before it is killed")
    parser.add_argument("--warmup", type=float, default=3.0,
                        help="seconds of load before the first restart")
    parser.add_argument("--tail", type=float, default=3.0,
                        help="seconds of load after the last instance is ready again")
    parser.add_argument("--settle-timeout", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--record", help="append the run as one JSON line to this file")
    parser.add_argument("--keep", action="store_true", help="keep the data directory (logs)")
    args = parser.parse_args()
    if args.seed is None:
        args.seed = int.from_bytes(os.urandom(4), "big") % 1_000_000
    # As bench.chaos: a SIGTERM ends the run through its finally, which stops the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(run(args))


if __name__ == "__main__":
    main()
