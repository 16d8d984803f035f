"""A monthly payment cycle for a whole region and its bank files: time and peak memory.

``python -m bench.payment_cycle --recipients 1000000`` (part of ``make bench``, where
``PAYMENT_RECIPIENTS=...`` lowers the size). Issue 5's direction: a cycle for 1,000,000
recipients and its bank files in under 2 minutes on this machine.

Setup (timed on its own, not part of the figure): a fresh payment database (a temporary SQLite
file, or ``--database-url`` for an empty one, e.g. PostgreSQL) brought up by payment's own
migrations; N entitlements in one region with varied amounts, household sizes, start months and
schedules — a few percent suspended, resumed, in gradual exit, terminated, changed in amount or not
started yet — so the cycle has to work out the amount in force for the month; and a bank account
for ~99% of the cases, spread over the banks and sealed with the AccountVault as register_account
seals them. Written in chunks, so setup memory stays bounded.

Measured, in a fresh interpreter (so that its peak RSS is the phase's own, not the setup's):

1. generate — ``runs.open_cycle`` + ``runs.generate``, the service's code path: chunks of
   payments, their ledger entries and their PaymentScheduled outbox events, each chunk one
   transaction. No relay runs, so the outbox rows stay in the table (in the service the relay
   publishes them concurrently, on the same cores).
2. export — ``banking.export`` for the cycle's region and month in one unit of work, committed:
   one file per bank, the payments marked exported with a sealed copy of their account, and a
   ledger entry each.
3. write files — ``banking.write_file`` for every bank file into a file on disk: each account
   and holder name opened from its seal, each line checked, the control totals checked.

The figures count only if the work was done: every paying entitlement paid once with the amount
the domain model gives for the month, one ledger entry and one outbox event per payment, and the
files' control totals equal to the scheduled payments of the cases with an account (the rest,
without an account, stays scheduled). Otherwise the bench refuses to print figures.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bench.measure import machine, peak_mb, rate, rss_mb, safe_url
from services.payment.adapters.tables import (
    accounts,
    bus,
    entitlements,
    ledger,
    payments,
)
from services.payment.adapters.vault import AccountVault
from services.payment.domain.model import Entitlement, Period, next_month, previous_month
from services.payment.service_layer import banking, runs
from shared.bulk import insert_rows
from shared.db import make_engine, reading
from shared.migrations import upgrade
from shared.uow import UnitOfWork

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = ROOT / "services" / "payment" / "migrations"
REGION = "330282"  # 慈溪市
MONTH = "2026-12"
BANKS = ("ICBC", "ABC", "BOC", "CCB", "BOCOM", "PSBC", "CMB", "NBCB")
DIRECTION_S = 120.0  # issue 5: under 2 minutes on this machine
SETUP_CHUNK = 20_000
# Not a secret: the key of a throw-away database.
BENCH_KEY = "onedoor bench account key, not a secret"

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华慧建国红霞平刚桂兰玉珍凤文辉鹏飞"


# -- setup ------------------------------------------------------------------------------------

def _months_back(month: str, n: int) -> str:
    for _ in range(n):
        month = previous_month(month)
    return month


def _months_on(month: str, n: int) -> str:
    for _ in range(n):
        month = next_month(month)
    return month


def _schedule(rng: random.Random, start: str, amount: int) -> tuple[Period, ...]:
    """A schedule as payment's handlers would have written it from decisions and benefit
    changes: mostly a plain running benefit, a few percent with a change that matters (or not
    yet) in the cycle's month."""
    first = Period(start, "active", amount)
    # A month of change between the month after the start and two months after the cycle.
    later = _months_on(start, 1 + rng.randrange(6))
    r = rng.random()
    if r < 0.88 or later > _months_on(MONTH, 2):
        return (first,)
    if r < 0.92:  # amount changed
        return (first, Period(later, "active", _amount(rng)))
    if r < 0.945:  # suspended
        return (first, Period(later, "suspended", amount))
    if r < 0.955:  # suspended, then resumed with a new amount
        back = _months_on(later, 1 + rng.randrange(3))
        return (first, Period(later, "suspended", amount), Period(back, "active", _amount(rng)))
    if r < 0.975:
        # Gradual exit (渐退): a lower amount until an end month, which may be before the cycle.
        end = _months_on(later, rng.randrange(6))
        return (first, Period(later, "exiting", max(1_000, amount // 2), end))
    # Terminated: the last month paid is the one before the termination.
    return (first, Period(later, "terminated", amount, previous_month(later)))


def _amount(rng: random.Random) -> int:
    return rng.randrange(20_000, 300_000)


def _entitlement(rng: random.Random, i: int, at: datetime) -> Entitlement:
    r = rng.random()
    programme = "dibao" if r < 0.80 else "tekun" if r < 0.88 else "disability"
    # Started in the last four years; 1% only next month (approved, not yet paying).
    start = _months_on(MONTH, 1) if rng.random() < 0.01 else _months_back(MONTH,
                                                                           rng.randrange(48))
    if programme == "disability":
        amount = rng.choice((10_000, 15_000, 20_000, 30_000))
    elif programme == "tekun":
        amount = rng.randrange(150_000, 260_000)
    else:
        amount = _amount(rng)
    periods = _schedule(rng, start, amount)
    # As intake makes them: region, day, 12 hex digits (here unique by construction).
    case_id = f"{REGION}-{start.replace('-', '')}15-{rng.getrandbits(24):06x}{i:06x}"
    return Entitlement(case_id=case_id, programme=programme,
                       beneficiary_ref=f"p-{rng.getrandbits(104):026x}{i:06x}",
                       region_code=REGION, start_month=start, periods=periods, updated_at=at,
                       household_size=rng.randint(1, 5))


def _row(e: Entitlement) -> dict[str, Any]:
    return {"case_id": e.case_id, "programme": e.programme,
            "beneficiary_ref": e.beneficiary_ref, "region_code": e.region_code,
            "start_month": e.start_month,
            "periods": json.dumps([[p.from_month, p.status, p.amount_fen, p.end_month]
                                   for p in e.periods]),
            "last_month": e.last_month, "household_size": e.household_size,
            "updated_at": e.updated_at}


def setup(url: str, n: int, banks: tuple[str, ...], seed: int = 5) -> dict[str, Any]:
    """Migrates an empty payment database and fills it; answers with what the cycle should
    pay, worked out with the domain model, and the setup's timings."""
    t0 = time.perf_counter()
    upgrade(url, MIGRATIONS)
    migrated = time.perf_counter() - t0
    engine = make_engine(url)
    vault = AccountVault(BENCH_KEY)
    rng = random.Random(seed)
    at = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    expected = {"payments": 0, "fen": 0, "with_account": 0, "with_account_fen": 0,
                "accounts": 0}
    kinds: Counter[str] = Counter()
    sealing = 0.0
    t1 = time.perf_counter()
    try:
        with reading(engine) as conn:
            if conn.execute(select(func.count()).select_from(entitlements)).scalar_one():
                raise SystemExit(f"{safe_url(url)} already has entitlements: the bench needs an "
                                 "empty payment database")
        for lo in range(0, n, SETUP_CHUNK):
            rows, account_rows = [], []
            for i in range(lo, min(n, lo + SETUP_CHUNK)):
                e = _entitlement(rng, i, at)
                rows.append(_row(e))
                amount = e.amount_for(MONTH)
                kinds["paying" if amount > 0 else "not paying"] += 1
                if amount > 0:
                    expected["payments"] += 1
                    expected["fen"] += amount
                if rng.random() >= 0.99:
                    continue  # no account registered yet: the payment waits for the next file
                number = f"6{rng.randrange(10**17, 10**18)}"
                holder = (rng.choice(_SURNAMES) + rng.choice(_GIVEN)
                          + (rng.choice(_GIVEN) if rng.random() < 0.7 else ""))
                s = time.perf_counter()
                sealed = vault.seal(number, bound_to=e.case_id)
                sealed_holder = vault.seal(holder, bound_to=e.case_id)
                sealing += time.perf_counter() - s
                account_rows.append({
                    "case_id": e.case_id, "bank_code": rng.choice(banks),
                    "account_sealed": sealed, "account_last4": number[-4:],
                    "holder_sealed": sealed_holder, "version": 1, "updated_at": at})
                expected["accounts"] += 1
                if amount > 0:
                    expected["with_account"] += 1
                    expected["with_account_fen"] += amount
            with engine.begin() as conn:
                insert_rows(conn, entitlements, rows)
                insert_rows(conn, accounts, account_rows)
    finally:
        engine.dispose()
    filled = time.perf_counter() - t1
    return {"expected": expected, "kinds": dict(kinds), "migrate_s": migrated,
            "fill_s": filled, "sealing_s": sealing}


# -- the measured phase (a child process) -----------------------------------------------------





def _trailer(path: Path) -> tuple[int, int]:
    """The record count and control total of a written file, from its last line."""
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - 200))
        last = f.read().decode("utf-8").rstrip("\r\n").rsplit("\r\n", 1)[-1]
    kind, count, total = last.split(",")
    if kind != "T":
        raise SystemExit(f"{path.name} has no trailer: the file is incomplete")
    return int(count), int(total)


def measure(url: str, out_dir: Path) -> dict[str, Any]:
    """Generates the cycle, exports it and writes its files; answers with timings and counts."""
    rss_start = rss_mb()
    engine = make_engine(url)
    vault = AccountVault(BENCH_KEY)

    def uow() -> UnitOfWork:
        return UnitOfWork(engine, bus, "/onedoor/payment")

    t0 = time.perf_counter()
    with engine.begin() as conn:
        run_id = runs.open_cycle(conn, MONTH, REGION, datetime.now(UTC))["run_id"]
    done = runs.generate(uow, run_id)
    t1 = time.perf_counter()
    peak_generate = peak_mb()
    with uow() as u:
        exported = banking.export(u, REGION, MONTH, run_id)
        u.commit()
    t2 = time.perf_counter()
    peak_export = peak_mb()
    files = []
    for f in exported["files"]:
        path = out_dir / f"onedoor-{f['bank_code']}-{f['file_id']}.csv"
        with reading(engine) as conn, path.open("w", encoding="utf-8", newline="") as out:
            banking.write_file(conn, vault, f["file_id"], out)
        files.append({**f, "path": str(path)})
    t3 = time.perf_counter()
    peak = peak_mb()

    # Counts, after the clock: what the figures stand for.
    for f in files:
        f["trailer_count"], f["trailer_fen"] = _trailer(Path(f["path"]))
        f["bytes"] = Path(f["path"]).stat().st_size
    with reading(engine) as conn:
        by_status = {s: (int(c), int(t)) for s, c, t in conn.execute(
            select(payments.c.status, func.count(), func.sum(payments.c.amount_fen))
            .where(payments.c.run_id == run_id).group_by(payments.c.status))}
        moves = {f"{a}->{b}": (int(c), int(t)) for a, b, c, t in conn.execute(
            select(ledger.c.from_state, ledger.c.to_state, func.count(),
                   func.sum(ledger.c.amount_fen))
            .group_by(ledger.c.from_state, ledger.c.to_state))}
        outbox = conn.execute(select(func.count()).select_from(bus.outbox)).scalar_one()
        ledger_rows = conn.execute(select(func.count()).select_from(ledger)).scalar_one()
    engine.dispose()
    return {"generate_s": t1 - t0, "export_s": t2 - t1, "write_s": t3 - t2, "total_s": t3 - t0,
            "rss_start_mb": rss_start, "peak_generate_mb": peak_generate,
            "peak_export_mb": peak_export, "peak_mb": peak,
            "run": {k: done[k] for k in ("status", "created_count", "created_fen")},
            "files": files, "without_account": {k: exported["without_account"][k]
                                                for k in ("payments", "amount_fen")},
            "by_status": by_status, "moves": moves, "outbox": outbox, "ledger": ledger_rows}


def _child(args: argparse.Namespace) -> None:
    out_dir = Path(args.out_dir)
    if args.profile:
        profiler = cProfile.Profile()
        result = profiler.runcall(measure, args.database_url, out_dir)
        profiler.dump_stats(args.profile)
    else:
        result = measure(args.database_url, out_dir)
    print(json.dumps(result))


# -- checks and report ------------------------------------------------------------------------

def check(expected: dict[str, int], m: dict[str, Any]) -> list[str]:
    """What must hold for the figures to count; the problems, if any."""
    problems = []

    def want(what: str, got: Any, wanted: Any) -> None:
        # Through JSON a tuple comes back as a list: compare as plain values.
        if json.loads(json.dumps(got)) != json.loads(json.dumps(wanted)):
            problems.append(f"{what}: {got} (expected {wanted})")

    count, fen = expected["payments"], expected["fen"]
    want("run", (m["run"]["status"], m["run"]["created_count"], m["run"]["created_fen"]),
         ("generated", count, fen))
    in_db = [sum(v[i] for v in m["by_status"].values()) for i in (0, 1)]
    want("payments of the cycle in the database (count, fen)", tuple(in_db), (count, fen))
    want("ledger approved->scheduled (count, fen)", tuple(m["moves"].get(
        "approved->scheduled", (0, 0))), (count, fen))
    want("outbox events (one PaymentScheduled per payment)", m["outbox"], count)
    files_count = sum(f["trailer_count"] for f in m["files"])
    files_fen = sum(f["trailer_fen"] for f in m["files"])
    want("bank files' control totals (records, fen) = scheduled payments with an account",
         (files_count, files_fen), (expected["with_account"], expected["with_account_fen"]))
    want("bank files' trailers = their headers",
         [(f["trailer_count"], f["trailer_fen"]) for f in m["files"]],
         [(f["record_count"], f["total_fen"]) for f in m["files"]])
    want("payments exported (count, fen)", m["by_status"].get("exported", (0, 0)),
         (files_count, files_fen))
    want("ledger scheduled->exported (count, fen)", tuple(m["moves"].get(
        "scheduled->exported", (0, 0))), (files_count, files_fen))
    want("left scheduled without an account (count, fen)",
         (m["without_account"]["payments"], m["without_account"]["amount_fen"]),
         (count - expected["with_account"], fen - expected["with_account_fen"]))
    want("ledger entries", m["ledger"], count + files_count)
    return problems








def report(n: int, banks: int, url: str, s: dict[str, Any], m: dict[str, Any]) -> None:
    e = s["expected"]
    paid, files = e["payments"], m["files"]
    lines = sum(f["trailer_count"] for f in files)
    size = sum(f["bytes"] for f in files) / 2**20
    print(f"cycle {MONTH} for region {REGION}: {n:,} entitlements, {paid:,} paying this month "
          f"({n - paid:,} suspended, ended or not started); {e['accounts']:,} accounts over "
          f"{banks} banks; database {make_url(url).get_backend_name()}")
    print(f"setup (not measured): migrate {s['migrate_s']:.1f} s, entitlements and accounts "
          f"{s['fill_s']:.1f} s (of which sealing {2 * e['accounts']:,} values "
          f"{s['sealing_s']:.1f} s)")
    print(f"  generate     {m['generate_s']:7.1f} s  {paid:,} payments "
          f"= {rate(paid, m['generate_s'])} (+ {paid:,} ledger entries, {m['outbox']:,} "
          "outbox events)")
    print(f"  export       {m['export_s']:7.1f} s  {len(files)} bank files, {lines:,} payments "
          f"= {rate(lines, m['export_s'])} (+ {lines:,} ledger entries)")
    print(f"  write files  {m['write_s']:7.1f} s  {lines:,} lines, {size:,.0f} MB "
          f"= {rate(lines, m['write_s'])}")
    if n >= 1_000_000:
        verdict = ("PASS: within" if m["total_s"] < DIRECTION_S else "FAIL: over")
        verdict += f" the direction (< {DIRECTION_S:.0f} s for 1,000,000 recipients)"
    else:
        verdict = (f"not judged: the direction (< {DIRECTION_S:.0f} s) is for 1,000,000 "
                   "recipients")
    print(f"  total        {m['total_s']:7.1f} s  {rate(paid, m['total_s'])} — {verdict}")
    print(f"  peak RSS     {m['peak_mb']:7.0f} MB (interpreter and imports {m['rss_start_mb']:.0f}"
          f" MB; peak after generate {m['peak_generate_mb']:.0f}, after export "
          f"{m['peak_export_mb']:.0f}, after the files {m['peak_mb']:.0f})")
    print(f"checked: {paid:,} payments once each with the amount in force, one ledger entry and "
          f"one outbox event each; files' control totals = the {e['with_account']:,} payments "
          f"with an account ({e['with_account_fen']:,} fen); {paid - e['with_account']:,} "
          "without one stay scheduled")


# -- main -------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=1_000_000,
                        help="entitlements in the region (default 1,000,000, issue 5's figure)")
    parser.add_argument("--database-url", help="an empty database to use (default: a SQLite "
                        "file in a temporary directory, removed afterwards)")
    parser.add_argument("--banks", type=int, default=4, choices=range(1, len(BANKS) + 1),
                        metavar=f"1..{len(BANKS)}")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory (database and bank files)")
    parser.add_argument("--profile", metavar="FILE",
                        help="cProfile the measured phase into FILE (its timings then include "
                             "the profiler's overhead)")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        _child(args)
        return

    work = Path(tempfile.mkdtemp(prefix="onedoor-bench-cycle-"))
    url = args.database_url or f"sqlite:///{work / 'payment.db'}"
    print(machine())
    try:
        s = setup(url, args.recipients, BANKS[:args.banks])
        files_dir = work / "bank-files"
        files_dir.mkdir()
        command = [sys.executable, "-m", "bench.payment_cycle", "--measure",
                   "--database-url", url, "--out-dir", str(files_dir)]
        if args.profile:
            command += ["--profile", str(Path(args.profile).resolve())]
        child = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        if child.returncode != 0:
            raise SystemExit(f"the measured phase failed (exit {child.returncode})")
        m = json.loads(child.stdout.strip().splitlines()[-1])
        problems = check(s["expected"], m)
        if problems:
            raise SystemExit("these figures do not count:\n  " + "\n  ".join(problems))
        report(args.recipients, args.banks, url, s, m)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
