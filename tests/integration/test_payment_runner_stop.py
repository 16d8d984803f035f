"""A payment run is one of the service's supervised jobs (issue 23): a service that stops stops
its runs after the chunk they are in, rather than leaving threads writing as the process ends,
and its next start goes on from the cursor — every household paid once — on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from services.payment.adapters.tables import bus
from services.payment.entrypoints.runner import Runner
from services.payment.service_layer import runs
from shared.uow import UnitOfWork
from tests.conftest import migrated_engine
from tests.integration.test_payment_run_lock import assert_paid_once, paid, seed

HOUSEHOLDS = 600


@pytest.fixture
def slow_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 20, a pause after each: a run takes seconds, so a stop lands inside it."""
    generate = runs.generate

    def slowly(uow_factory: Any, run_id: str, **kwargs: Any) -> dict[str, Any]:
        after = kwargs.pop("after_chunk", None)

        def after_chunk(done: int) -> None:
            time.sleep(0.05)
            if after is not None:
                after(done)

        return generate(uow_factory, run_id, chunk=20, after_chunk=after_chunk, **kwargs)

    monkeypatch.setattr(runs, "generate", slowly)


def status(engine: Any, run_id: str) -> str:
    with engine.connect() as conn:
        found = runs.run(conn, run_id)
    assert found is not None
    return str(found["status"])


async def until(check: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"no {what} after {timeout_s} s"
        await asyncio.sleep(0.05)


@pytest.mark.usefixtures("slow_chunks")
def test_a_stopping_service_pauses_its_run_between_chunks_and_the_next_start_finishes_it(
        database_url):
    with migrated_engine(database_url, "payment") as engine:
        run_id = seed(engine, HOUSEHOLDS)  # opened, not generated: as a crash would leave it

        def uow() -> UnitOfWork:
            return UnitOfWork(engine, bus, "/test")

        async def first_life() -> int:
            runner = Runner(uow, engine, poll_s=0.1)
            job = asyncio.create_task(runner.run())  # the start resumes the unfinished run
            await until(lambda: paid(engine) >= 100, 60, "chunks paid")
            job.cancel()  # the service stops (shared/service.py cancels its jobs)
            with pytest.raises(asyncio.CancelledError):
                await job
            stopped_at = paid(engine)
            await asyncio.sleep(0.5)
            assert paid(engine) == stopped_at  # nothing written after the job ended
            return stopped_at

        stopped_at = asyncio.run(first_life())
        assert 100 <= stopped_at < HOUSEHOLDS and stopped_at % 20 == 0  # whole chunks only
        assert status(engine, run_id) == "generating"

        async def second_life() -> None:
            runner = Runner(uow, engine, poll_s=0.1)
            job = asyncio.create_task(runner.run())
            await until(lambda: status(engine, run_id) != "generating", 120, "the run's end")
            job.cancel()
            with pytest.raises(asyncio.CancelledError):
                await job

        asyncio.run(second_life())
        assert status(engine, run_id) == "generated"
        assert_paid_once(engine, run_id, HOUSEHOLDS)


def test_a_stopping_runner_starts_no_new_run(database_url, caplog):
    with migrated_engine(database_url, "payment") as engine:
        runner = Runner(lambda: UnitOfWork(engine, bus, "/test"), engine)

        async def stop() -> None:
            job = asyncio.create_task(runner.run())
            await asyncio.sleep(0.2)
            job.cancel()
            with pytest.raises(asyncio.CancelledError):
                await job

        asyncio.run(stop())
        run_id = seed(engine, 5)
        with caplog.at_level("INFO", logger="services.payment.entrypoints.runner"):
            runner.start(run_id)
        assert "the service is stopping" in caplog.text
        runner.join(5)
        assert paid(engine) == 0 and status(engine, run_id) == "generating"
