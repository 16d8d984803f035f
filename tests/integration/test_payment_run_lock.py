"""One payment run, one runner at a time: instances of payment sharing a PostgreSQL database take
turns at a run (an advisory lock named after it), and when the one generating it dies, the one
waiting finishes it — each household paid once, the cursor never sent back."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select, text

from services.payment.adapters.repository import PaymentRepository
from services.payment.adapters.tables import bus, entitlements, ledger, payments
from services.payment.entrypoints.runner import Runner, run_lock_key
from services.payment.service_layer import runs
from shared.uow import UnitOfWork
from tests.conftest import ROOT, migrated_engine, wait_until

REGION = "330282"
MONTH = "2026-12"

# One instance of payment with a runner, as bootstrap makes it: resumes what is unfinished (as
# at start-up) or starts the run (as POST /cycles does). Its chunks are small and, after each,
# it pauses: a run that takes long enough to be met half-way. Its events carry its name as
# their source, to tell which instance wrote what. It says its pid once imported, then goes.
_INSTANCE = """
import logging, os, sys, time
logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                    format="%(name)s %(levelname)s %(message)s")
from services.payment.adapters.tables import bus
from services.payment.entrypoints.runner import Runner
from services.payment.service_layer import runs
from shared.db import make_engine
from shared.uow import UnitOfWork

url, run_id, name, how, chunk, pause = sys.argv[1:7]
generate = runs.generate


def slowly(uow_factory, run_id, **kwargs):
    after = kwargs.pop("after_chunk", None)

    def after_chunk(done):
        if after is not None:
            after(done)
        time.sleep(float(pause))

    return generate(uow_factory, run_id, chunk=int(chunk), after_chunk=after_chunk, **kwargs)


runs.generate = slowly
engine = make_engine(url)
runner = Runner(lambda: UnitOfWork(engine, bus, f"/runner/{name}"))
print(os.getpid(), flush=True)
if how == "resume":
    runner.resume_unfinished()
else:
    runner.start(run_id)
runner.join()
"""


def case(n: int) -> str:
    return f"{REGION}-20261101-{n:012d}"


def seed(engine: Engine, households: int) -> str:
    """``households`` running entitlements and the month's cycle, opened: its run id."""
    with engine.begin() as conn:
        conn.execute(insert(entitlements), [{
            "case_id": case(n), "programme": "dibao", "beneficiary_ref": f"p-{n}",
            "region_code": REGION, "start_month": "2026-10", "last_month": None,
            "periods": json.dumps([["2026-10", "active", 50_000 + n, None]]),
            "household_size": 1, "updated_at": datetime.now(UTC)}
            for n in range(1, households + 1)])
        return str(runs.open_cycle(conn, MONTH, REGION, datetime.now(UTC))["run_id"])


class Instance:
    """A payment instance in a process of its own; its log goes to a file (a pipe nobody
    reads would fill up and stall it)."""

    def __init__(self, tmp_path: Path, url: str, run_id: str, name: str, how: str, *,
                 chunk: int, pause_s: float) -> None:
        self.name = name
        self._log = tmp_path / f"{name}.log"
        with self._log.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _INSTANCE, url, run_id, name, how, str(chunk),
                 str(pause_s)], cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True)

    def started(self) -> int:
        """Its pid, once it has imported everything and is about to ask for the run."""
        assert self.process.stdout is not None
        return int(self.process.stdout.readline())

    def ended_well(self, timeout_s: float = 240) -> str:
        """Its log, once it has ended of itself, without an error."""
        self.process.wait(timeout=timeout_s)
        log = self.log()
        assert self.process.returncode == 0, log
        return log

    def log(self) -> str:
        return self._log.read_text()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextlib.contextmanager
def instances(*made: Instance) -> Iterator[None]:
    """Kills whichever of them is still running on the way out."""
    try:
        yield
    finally:
        for instance in made:
            instance.kill()


def gave_up(log: str) -> bool:
    return "Traceback" in log or "stopped" in log or "ERROR" in log


def written_by(engine: Engine) -> Counter[str]:
    """The month's payment events, counted by the instance whose runner wrote them."""
    with engine.connect() as conn:
        rows = conn.execute(select(bus.outbox.c.value, bus.outbox.c.headers)).all()
    return Counter(dict(json.loads(headers))["ce_source"] for value, headers in rows
                   if json.loads(value).get("period") == MONTH)


def paid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(payments).where(
            payments.c.period == MONTH)).scalar_one())


def assert_paid_once(engine: Engine, run_id: str, households: int) -> None:
    with engine.connect() as conn:
        per_case = conn.execute(select(payments.c.case_id, func.count()).where(
            payments.c.period == MONTH).group_by(payments.c.case_id)).all()
        entries = conn.execute(select(func.count()).select_from(ledger).where(
            ledger.c.period == MONTH)).scalar_one()
        done = runs.run(conn, run_id)
    assert len(per_case) == households and {count for _case, count in per_case} == {1}
    assert entries == households
    assert sum(written_by(engine).values()) == households  # one event per payment
    assert done is not None and done["status"] == "generated"
    assert (done["created_count"], done["created_fen"]) == (
        households, sum(50_000 + n for n in range(1, households + 1)))
    assert done["cursor"] == case(households)


@pytest.mark.postgres
def test_two_instances_asked_for_one_run_take_turns(postgres_url, tmp_path):
    households = 2_000
    with migrated_engine(postgres_url, "payment") as engine:
        run_id = seed(engine, households)
        # As two instances starting together (one resuming, one asked over HTTP), in chunks of
        # 100 that would meet on many chunks if the two went side by side.
        first = Instance(tmp_path, postgres_url, run_id, "a", "resume", chunk=100, pause_s=0)
        second = Instance(tmp_path, postgres_url, run_id, "b", "start", chunk=100, pause_s=0)
        with instances(first, second):
            first.started()
            second.started()
            logs = [first.ended_well(), second.ended_well()]
        assert not any(gave_up(log) for log in logs), logs
        assert_paid_once(engine, run_id, households)
        # One generated the run; the other, let in once it was done, found nothing to do.
        assert len(written_by(engine)) == 1, written_by(engine)


@pytest.mark.postgres
def test_when_the_instance_generating_a_run_is_killed_the_waiting_one_finishes_it(
        postgres_url, tmp_path):
    households = 5_000
    with migrated_engine(postgres_url, "payment") as engine:
        run_id = seed(engine, households)
        # 100 chunks of 50, with a pause after each: ten seconds and more to meet it half-way.
        with contextlib.ExitStack() as stack:
            holder = Instance(tmp_path, postgres_url, run_id, "holder", "start", chunk=50,
                              pause_s=0.1)
            stack.callback(holder.kill)
            holder.started()
            wait_until(lambda: paid(engine) >= 200, timeout_s=120, what="the holder's chunks")
            # Started only now, so that the holder is the one generating.
            waiter = Instance(tmp_path, postgres_url, run_id, "waiter", "resume", chunk=50,
                              pause_s=0)
            stack.callback(waiter.kill)
            waiter.started()
            time.sleep(3)  # the waiter asks for the run meanwhile, and waits
            assert written_by(engine)["/runner/waiter"] == 0  # never side by side
            holder.kill()
            with engine.connect() as conn:
                status = conn.execute(text("SELECT status FROM disbursement_runs")).scalar()
            assert status == "generating" and paid(engine) < households, (
                "the holder finished before it could be killed: make the run longer")
            log = waiter.ended_well()
        assert not gave_up(log), log
        assert_paid_once(engine, run_id, households)
        # Each wrote part of it: the holder up to its death, the waiter the rest.
        by = written_by(engine)
        assert by["/runner/holder"] > 0 and by["/runner/waiter"] > 0, by


@pytest.mark.postgres
def test_a_chunk_committed_behind_another_generator_leaves_the_cursor_where_it_was(
        postgres_url, monkeypatch):
    with migrated_engine(postgres_url, "payment") as engine:
        run_id = seed(engine, 30)
        add_many_once = PaymentRepository.add_many_once

        def overtaken(self: PaymentRepository, *args: Any, **kwargs: Any) -> Any:
            # While this chunk is being written, another generator commits its way to the end.
            with engine.begin() as other:
                other.execute(text("UPDATE disbursement_runs SET cursor = :last"),
                              {"last": case(30)})
            return add_many_once(self, *args, **kwargs)

        monkeypatch.setattr(PaymentRepository, "add_many_once", overtaken)
        assert runs._next_chunk(lambda: UnitOfWork(engine, bus, "/test"), run_id, 10) is None
        with engine.connect() as conn:
            assert runs.run(conn, run_id)["cursor"] == case(30)  # type: ignore[index]


@pytest.mark.postgres
def test_a_runner_whose_lock_connection_is_killed_takes_the_lock_again_and_finishes(
        postgres_url, monkeypatch, caplog):
    households = 1_000
    with migrated_engine(postgres_url, "payment") as engine:
        run_id = seed(engine, households)
        generate = runs.generate

        def slowly(uow_factory: Any, run_id: str, **kwargs: Any) -> dict[str, Any]:
            after = kwargs.pop("after_chunk")

            def after_chunk(done: int) -> None:
                after(done)
                time.sleep(0.05)

            return generate(uow_factory, run_id, chunk=20, after_chunk=after_chunk, **kwargs)

        monkeypatch.setattr(runs, "generate", slowly)
        runner = Runner(lambda: UnitOfWork(engine, bus, "/test"), engine, poll_s=0.1)
        key = run_lock_key(run_id)

        def holder() -> int | None:
            with engine.connect() as conn:
                return conn.execute(text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND database = (SELECT oid FROM pg_database"
                    "                 WHERE datname = current_database())"
                    " AND classid::bigint = :high AND objid::bigint = :low"),
                    {"high": (key >> 32) & 0xFFFF_FFFF, "low": key & 0xFFFF_FFFF}).scalar()

        with caplog.at_level("INFO", logger="services.payment.entrypoints.runner"):
            runner.start(run_id)
            pid = wait_until(holder, timeout_s=60, what="the runner's lock")
            wait_until(lambda: paid(engine) >= 100, timeout_s=60, what="some chunks")
            with engine.connect() as conn:  # as an administrator, or a database restart, might
                assert conn.execute(text("SELECT pg_terminate_backend(:pid)"),
                                    {"pid": pid}).scalar()
            runner.join(120)
        assert "lost its lock's connection" in caplog.text
        assert "stopped" not in caplog.text
        assert_paid_once(engine, run_id, households)
