"""Issue 24's memory item: each service process under 200 MB RSS, flat over a soak at a steady
rate (30 minutes at 100 cases/s by default; `python -m bench.soak --minutes 30`).

The system as `make up` runs it (embedded broker or one Apache Kafka node, SQLite) takes
households at the window at ``--rate`` cases/s, submitted a minute at a time, for ``--minutes``.
Every ``--every`` seconds each process's resident memory (``VmRSS``) and CPU time are read from
/proc; every minute one line gives the cases submitted and pre-assessed, that minute's latency
(submit → pre-assessed, seen on the bus) and each process's RSS and its CPU share over the
minute. At the end:

- the figures count only if the work was done: every case pre-assessed on the bus and in
  intake's own database, no service dead-lettered anything;
- per process, RSS after the warm-up (the first sixth of the soak), at the end, its peak, and
  its slope after the warm-up (least squares, MB per 10 minutes): memory that grows with the
  cases served is a leak, memory that levels off is a cache filling up.

The broker is listed too but is not a service: Tansu keeps every record in memory (it has no
other storage), so its RSS grows with the traffic by design.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.measure import cpu_seconds, machine, processes, rss_mb
from bench.run import Finishes, bench_system, no_dead_letters, pct, submit_all
from deploy.demo import load_partner_data
from deploy.households import make_households
from deploy.supervisor import System
from deploy.tokens import DevTokens
from shared.settings import Settings

LIMIT_MB = 200.0


@dataclass
class Series:
    """One process's samples: seconds since the soak began, RSS in MB, CPU seconds."""

    at: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def after(self, t: float) -> tuple[list[float], list[float]]:
        kept = [(a, r) for a, r in zip(self.at, self.rss, strict=True) if a >= t]
        return [a for a, _ in kept], [r for _, r in kept]

    def slope_per_10_min(self, warm_s: float) -> float:
        at, rss = self.after(warm_s)
        if len(at) < 3:
            return 0.0
        return statistics.linear_regression(at, rss).slope * 600


class Sampler:
    def __init__(self, pids: dict[str, int], every_s: float) -> None:
        self.pids = pids
        self.every_s = every_s
        self.series = {name: Series() for name in pids}
        self.t0 = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> None:
        now = time.monotonic() - self.t0
        for name, pid in self.pids.items():
            series = self.series[name]
            series.at.append(now)
            series.rss.append(rss_mb(pid))
            series.cpu.append(cpu_seconds(pid))

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.every_s)

    def start(self) -> None:
        self.t0 = time.monotonic()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        self.sample()


def intake_statuses(settings: Settings) -> dict[str, str]:
    """Case id → status, read from intake's own SQLite file after the soak (read-only)."""
    path = settings.database_url("intake").removeprefix("sqlite:///")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return dict(db.execute("SELECT case_id, status FROM cases").fetchall())


def check_work_done(system: System, settings: Settings, finishes: Finishes,
                    case_ids: list[str]) -> None:
    missing = len(case_ids) - finishes.done(case_ids)
    if missing:
        raise SystemExit(f"{missing} cases never seen pre-assessed on the bus")
    no_dead_letters(system)
    statuses = intake_statuses(settings)
    behind = [c for c in case_ids if statuses.get(c) != "awaiting_review"]
    if behind:
        raise SystemExit(f"intake does not show {len(behind)} cases as pre-assessed")
    print(f"checked: all {len(case_ids):,} cases pre-assessed on the bus and in intake's "
          "database, no event dead-lettered")


def minute_line(minute: int, sampler: Sampler, finishes: Finishes,
                submitted: dict[str, float], chunk: dict[str, float]) -> str:
    """The minute's cases and latency, then each process's RSS and its CPU over the minute (as
    a share of one core): a process that works harder as the data grows shows here first."""
    lat = [(finishes.assessed[c] - t) * 1000 for c, t in chunk.items()
           if c in finishes.assessed]
    done = finishes.done(list(submitted))
    latency = (f"p50 {pct(lat, 50):.0f} p99 {pct(lat, 99):.0f} ms ({len(lat)} of {len(chunk)})"
               if lat else "none done yet")
    sampler.sample()
    shown = []
    for name, series in sampler.series.items():
        if name == "supervisor":
            continue
        back = next((i for i in range(len(series.at) - 1, -1, -1)
                     if series.at[-1] - series.at[i] >= 55), 0)
        seconds = series.at[-1] - series.at[back]
        share = 100 * (series.cpu[-1] - series.cpu[back]) / seconds if seconds else 0.0
        shown.append(f"{name.split(' ')[0]} {series.rss[-1]:.0f}/{share:.0f}")
    return (f"minute {minute:3d}: {len(submitted):,} submitted, {done:,} pre-assessed; "
            f"this minute's cases {latency}\n             RSS MB/CPU %: {' '.join(shown)}")


def report(sampler: Sampler, warm_s: float) -> bool:
    print(f"\n{'process':<22} {'after warm-up':>14} {'end':>8} {'peak':>8} "
          f"{'slope MB/10 min':>16} {'CPU s':>8}")
    within = True
    for name, series in sampler.series.items():
        _, rss = series.after(warm_s)
        start = rss[0] if rss else series.rss[0]
        print(f"{name:<22} {start:>11.0f} MB {series.rss[-1]:>5.0f} MB {max(series.rss):>5.0f} MB"
              f" {series.slope_per_10_min(warm_s):>+16.1f} {series.cpu[-1] - series.cpu[0]:>8.0f}")
        if name != "supervisor" and not name.startswith("broker") and max(series.rss) >= LIMIT_MB:
            within = False
    return within


async def soak(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="onedoor-soak-"))
    settings, system, kafka = await bench_system(args.broker, data_dir)
    print(machine())
    per_minute = round(args.rate * 60)
    total = per_minute * args.minutes
    print(f"soak: {args.minutes} min at {args.rate:.0f} cases/s ({total:,} cases), broker "
          f"{args.broker}, SQLite, data in {data_dir}")
    system.start()
    try:
        await asyncio.to_thread(system.wait_ready, 90)
        households = make_households(total, seed=11)
        started = time.perf_counter()
        records = await asyncio.to_thread(load_partner_data, system.url("verification"),
                                          households)
        print(f"partner data: {records:,} records for {total:,} households in "
              f"{time.perf_counter() - started:.0f} s (not part of the soak)")
        finishes = Finishes(system.bootstrap)
        await finishes.start()
        sampler = Sampler(processes(system, kafka), args.every)
        sampler.start()
        tokens = DevTokens(settings)
        submitted: dict[str, float] = {}
        for minute in range(args.minutes):
            chunk = await submit_all(system.url("intake"),
                                     households[minute * per_minute:(minute + 1) * per_minute],
                                     16, tokens, rate=args.rate)
            submitted.update(chunk)
            print(minute_line(minute + 1, sampler, finishes, submitted, chunk), flush=True)
        case_ids = list(submitted)
        deadline = time.monotonic() + 300
        while finishes.done(case_ids) < len(case_ids) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        await sampler.stop()
        await finishes.stop()
        lat = [(finishes.assessed[c] - t) * 1000 for c, t in submitted.items()
               if c in finishes.assessed]
        print(f"latency over the soak ({len(lat):,} cases): p50 {pct(lat, 50):.0f} ms, "
              f"p99 {pct(lat, 99):.0f} ms, max {max(lat):.0f} ms")
        await asyncio.to_thread(check_work_done, system, settings, finishes, case_ids)
        within = report(sampler, warm_s=args.minutes * 60 / 6)
        print(f"every service process under {LIMIT_MB:.0f} MB RSS throughout: "
              f"{'yes' if within else 'NO'}")
    finally:
        system.stop()
        if kafka is not None:
            kafka.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--rate", type=float, default=100.0, help="cases/s")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--broker", choices=("embedded", "kafka"), default="embedded")
    asyncio.run(soak(parser.parse_args()))


if __name__ == "__main__":
    main()
