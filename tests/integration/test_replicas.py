"""Two or more processes of one service on one PostgreSQL database: they migrate it once however
many start together, run each background job in one of them at a time (and take it over when
that one dies), and never pay anyone twice when they generate the same cycle at once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, func, insert, select, text

from services.payment.adapters.tables import bus, entitlements, ledger, payments
from services.payment.service_layer import runs
from services.verification.bootstrap import _demo_credentials, create_app
from shared.db import make_engine
from shared.migrations import upgrade
from shared.settings import Settings
from shared.singleton import advisory_key, run_singleton
from tests.conftest import ROOT, migrated_engine, wait_until

INSTANCES = 6
ROUNDS = 3
PAYMENT_MIGRATIONS = ROOT / "services" / "payment" / "migrations"


# -- starting together: one migration ---------------------------------------------------------


def at_once(imports: str, body: str) -> str:
    """A script that imports, says it is ready, then waits for the word to go: all instances
    then ask the database at the same moment (starting Python and importing take longer than
    a migration)."""
    return f"""
import logging, sys, time
from pathlib import Path
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
{imports}
ready, go = Path(sys.argv[1]), Path(sys.argv[2])
ready.touch()
while not go.exists():
    time.sleep(0.001)
{body}
"""


_MIGRATE = at_once("from shared.migrations import upgrade",
                   "upgrade(sys.argv[3], Path(sys.argv[4]))")


@contextlib.contextmanager
def together(script: str, tmp_path: Path,
             *argvs: list[str]) -> Iterator[list[subprocess.Popen[str]]]:
    """Processes running ``script``, one per argument list, let go at once when all are up."""
    go = tmp_path / "go"
    readies = [tmp_path / f"ready-{n}" for n in range(len(argvs))]
    children = [subprocess.Popen([sys.executable, "-c", script, str(ready), str(go), *argv],
                                 cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
                for ready, argv in zip(readies, argvs, strict=True)]
    try:
        wait_until(lambda: all(r.exists() for r in readies), timeout_s=120,
                   what="every instance up")
        go.touch()
        yield children
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
            child.communicate()


def finished(children: list[subprocess.Popen[str]], timeout_s: float = 180) -> list[str]:
    """Each child's log, once all ended well."""
    logs = []
    for child in children:
        _out, err = child.communicate(timeout=timeout_s)
        assert child.returncode == 0, err
        logs.append(err)
    return logs


@pytest.mark.postgres
def test_instances_starting_together_migrate_the_database_once(postgres_url, tmp_path):
    config = Config()
    config.set_main_option("script_location", str(PAYMENT_MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        # Several rounds: now and then one instance is through before the others look, and a
        # round without a lock passes (measured: one in four with six instances).
        for round_ in range(ROUNDS):
            if round_:  # the database as new
                with engine.connect() as conn:
                    conn.execute(text("DROP SCHEMA public CASCADE"))
                    conn.execute(text("CREATE SCHEMA public"))
            (tmp_path / str(round_)).mkdir()
            with together(_MIGRATE, tmp_path / str(round_),
                          *[[postgres_url, str(PAYMENT_MIGRATIONS)]] * INSTANCES) as children:
                logs = finished(children)
            with engine.connect() as conn:
                versions = conn.execute(text("SELECT version_num FROM alembic_version"))
                assert list(versions.scalars()) == [scripts.get_current_head()]
            # Every revision applied by exactly one instance; the others found it at head.
            for revision in scripts.walk_revisions():
                applied = sum(f"-> {revision.revision}," in log for log in logs)
                assert applied == 1, (revision.revision, logs)
    finally:
        engine.dispose()


# -- background jobs: one instance at a time ---------------------------------------------------

class Instance:
    """One instance's view of a job: whether it runs here now, and how often it started."""

    def __init__(self, name: str, running: set[str], overlaps: list[set[str]]) -> None:
        self.name, self._running, self._overlaps = name, running, overlaps
        self.starts = 0

    async def job(self) -> None:
        self.starts += 1
        self._running.add(self.name)
        try:
            while True:
                if len(self._running) > 1:
                    self._overlaps.append(set(self._running))
                await asyncio.sleep(0.02)
        finally:
            self._running.discard(self.name)


def holder(admin: Engine, name: str) -> int | None:
    """The backend that holds the job's lock, seen from another session."""
    key = advisory_key(name)
    with admin.connect() as conn:
        return conn.execute(text(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND classid::bigint = :high AND objid::bigint = :low"),
            {"high": (key >> 32) & 0xFFFF_FFFF, "low": key & 0xFFFF_FFFF}).scalar()


async def until(predicate, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout_s}s waiting for {what}"
        await asyncio.sleep(0.05)


@pytest.mark.postgres
async def test_a_job_runs_in_one_instance_and_moves_when_its_connection_is_killed(
        postgres_url):
    engines = [make_engine(postgres_url) for _ in range(2)]
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    running: set[str] = set()
    overlaps: list[set[str]] = []
    first, second = Instance("first", running, overlaps), Instance("second", running, overlaps)
    # The first instance checks its connection often; the second, on taking over, waits two of
    # its own (longer) intervals: long enough for the first to notice, whatever the machine's
    # load. Having lost the lock, the first asks again only after the second had its chance.
    loops = [asyncio.create_task(run_singleton(engines[0], "replica-test", first.job,
                                               retry_s=2.0, check_s=0.2))]
    try:
        await until(lambda: running == {"first"}, 30, "the first instance to run the job")
        loops.append(asyncio.create_task(run_singleton(engines[1], "replica-test", second.job,
                                                       retry_s=0.1, check_s=1.0)))
        await asyncio.sleep(2)  # the second asks ~20 times meanwhile
        assert running == {"first"} and second.starts == 0
        pid = await asyncio.to_thread(holder, admin, "replica-test")
        assert pid is not None
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        await until(lambda: running == {"second"}, 10, "the second to take over")
        assert overlaps == []  # never both at once, not even during the takeover
        await asyncio.sleep(3)  # the first, asking again meanwhile, stands by
        assert (first.starts, second.starts, running) == (1, 1, {"second"})
    finally:
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        admin.dispose()
        for engine in engines:
            engine.dispose()
    assert running == set()


@pytest.mark.postgres
async def test_a_job_that_ends_or_fails_lets_the_lock_go(postgres_url):
    engine = make_engine(postgres_url)
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")

    async def done() -> None:
        await asyncio.sleep(0.3)  # past a check of its connection

    async def fails() -> None:
        raise RuntimeError("the job's own error")

    try:
        await run_singleton(engine, "replica-test", done, retry_s=0.1, check_s=0.1)
        assert await asyncio.to_thread(holder, admin, "replica-test") is None
        with pytest.raises(RuntimeError, match="the job's own error"):  # for supervised()
            await run_singleton(engine, "replica-test", fails, retry_s=0.1, check_s=0.1)
        assert await asyncio.to_thread(holder, admin, "replica-test") is None
    finally:
        admin.dispose()
        engine.dispose()


# Writes a heartbeat with its own pid while it runs the job; reports its pid on stdout first.
_HEARTBEAT = """
import asyncio, os, sys
from sqlalchemy import text
from shared.db import make_engine
from shared.singleton import run_singleton
engine = make_engine(sys.argv[1])
print(os.getpid(), flush=True)

async def beat() -> None:
    while True:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO beats (pid) VALUES (:pid)"), {"pid": os.getpid()})
        await asyncio.sleep(0.05)

asyncio.run(run_singleton(engine, "replica-heartbeat", beat, retry_s=0.2, check_s=0.5))
"""


@pytest.mark.postgres
def test_a_killed_instance_s_job_is_taken_over_by_another_process(postgres_url):
    engine = make_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE beats (n serial PRIMARY KEY, pid int NOT NULL)"))

    def beating() -> list[int]:
        with engine.connect() as conn:
            return list(conn.execute(text(
                "SELECT DISTINCT pid FROM (SELECT pid FROM beats ORDER BY n DESC LIMIT 5) b")
            ).scalars())

    children = [subprocess.Popen([sys.executable, "-c", _HEARTBEAT, postgres_url], cwd=ROOT,
                                 stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        pids = [int(child.stdout.readline()) for child in children]  # type: ignore[union-attr]
        wait_until(beating, timeout_s=60, what="a heartbeat")
        time.sleep(1.5)  # both up, asking for the lock
        leader = beating()
        assert len(leader) == 1 and leader[0] in pids
        with engine.connect() as conn:
            writers = conn.execute(text("SELECT count(DISTINCT pid) FROM beats")).scalar()
        assert writers == 1  # the other never ran the job
        killed = children[pids.index(leader[0])]
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        start = time.monotonic()
        wait_until(lambda: beating() == [p for p in pids if p != leader[0]], timeout_s=30,
                   interval_s=0.05, what="the other instance's heartbeat")
        assert time.monotonic() - start < 10
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
            child.communicate()
        engine.dispose()


async def test_on_sqlite_the_job_just_runs(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'service.db'}")
    ran: list[bool] = []

    async def job() -> None:
        ran.append(True)

    try:
        await asyncio.wait_for(run_singleton(engine, "replica-test", job), timeout=5)
    finally:
        engine.dispose()
    assert ran == [True]


# -- payment: two instances generating one cycle -----------------------------------------------

REGION = "330282"
HOUSEHOLDS = 2_000

# One instance of payment: resumes what is unfinished (as at start-up) or starts the run (as
# POST /cycles does), in chunks of 100 so that the two meet on many chunks.
_PAYMENT_INSTANCE = at_once("""
import functools
from services.payment.adapters.tables import bus
from services.payment.entrypoints.runner import Runner
from services.payment.service_layer import runs
from shared.db import make_engine
from shared.uow import UnitOfWork
runs.generate = functools.partial(runs.generate, chunk=100)
engine = make_engine(sys.argv[3])
runner = Runner(lambda: UnitOfWork(engine, bus, "/replica"))
""", """
if sys.argv[5] == "resume":
    runner.resume_unfinished()
else:
    runner.start(sys.argv[4])
runner.join()
""")


@pytest.mark.postgres
def test_two_instances_generating_one_cycle_at_once_pay_each_household_once(postgres_url,
                                                                          tmp_path):
    with migrated_engine(postgres_url, "payment") as engine:
        with engine.begin() as conn:
            conn.execute(insert(entitlements), [{
                "case_id": f"{REGION}-20261101-{n:012d}", "programme": "dibao",
                "beneficiary_ref": f"p-{n}", "region_code": REGION, "start_month": "2026-10",
                "last_month": None,
                "periods": json.dumps([["2026-10", "active", 50_000 + n, None]]),
                "household_size": 1, "updated_at": datetime.now(UTC)}
                for n in range(1, HOUSEHOLDS + 1)])
            run_id = runs.open_cycle(conn, "2026-12", REGION, datetime.now(UTC))["run_id"]
        with together(_PAYMENT_INSTANCE, tmp_path, [postgres_url, run_id, "resume"],
                      [postgres_url, run_id, "start"]) as children:
            # Both end well as processes: the run's lock lets one generate while the other
            # waits (tests/integration/test_payment_run_lock.py); never money twice.
            finished(children)
        with engine.connect() as conn:
            paid = conn.execute(select(payments.c.case_id, func.count()).where(
                payments.c.period == "2026-12").group_by(payments.c.case_id)).all()
            entries = conn.execute(select(func.count()).select_from(ledger).where(
                ledger.c.period == "2026-12")).scalar_one()
            events = [v for v in map(json.loads, conn.execute(select(bus.outbox.c.value))
                                     .scalars()) if v.get("period") == "2026-12"]
            done = runs.run(conn, run_id)
    assert len(paid) == HOUSEHOLDS and {count for _case, count in paid} == {1}
    assert entries == HOUSEHOLDS and len(events) == HOUSEHOLDS
    assert done is not None and done["status"] == "generated"
    assert (done["created_count"], done["created_fen"]) == (
        HOUSEHOLDS, sum(50_000 + n for n in range(1, HOUSEHOLDS + 1)))


def test_instances_starting_together_set_the_demo_credentials_once(postgres_url, tmp_path):
    """Two verification instances starting at once each set the demo partner credentials; the
    second waits for the first and updates them instead of dying on the unique key (CI saw
    it: the second instance exited at start)."""
    runtimes = [create_app(Settings(env="test", data_dir=tmp_path,
                                    verification_database_url=postgres_url)).state.runtime
                for _ in range(2)]
    upgrade(postgres_url, ROOT / "services" / "verification" / "migrations")
    for _ in range(5):
        with runtimes[0].engine.begin() as conn:
            conn.execute(text("DELETE FROM partner_credentials"))
        start = threading.Barrier(2)
        failures: list[BaseException] = []

        threads = [threading.Thread(target=_begin_together, args=(r, start, failures))
                   for r in runtimes]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert failures == []
    for runtime in runtimes:
        runtime.engine.dispose()


def _begin_together(runtime, start: threading.Barrier,  # type: ignore[no-untyped-def]
                    failures: list[BaseException]) -> None:
    start.wait()
    try:
        _demo_credentials(runtime, production=False)
    except BaseException as exc:
        failures.append(exc)
