"""A service's shutdown (shared.service.lifespan) ends within its deadline even when one of its
background tasks, or a client's close, will not: it logs what it left behind and goes on."""

import asyncio
import logging
import threading
import time
from pathlib import Path
from types import SimpleNamespace

from shared import service
from shared.service import lifespan, supervised

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "intake" / "migrations"


class _Stubborn:
    """A relay whose run, once cancelled, waits on its way out for an hour, and a cluster whose
    close does: as a Kafka client's stop waiting on a broker that does not answer."""

    async def run(self) -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(3600)

    async def close(self) -> None:
        await asyncio.sleep(3600)


def test_shutdown_leaves_behind_what_will_not_stop(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(service, "STOP_DEADLINE_S", 0.3)
    stubborn = _Stubborn()
    disposed = []
    runtime = SimpleNamespace(
        name="intake", migrations_dir=MIGRATIONS, relay=stubborn, cluster=stubborn,
        consumer=None, tasks=[], jobs=[],
        settings=SimpleNamespace(database_url=lambda _: f"sqlite:///{tmp_path / 'i.db'}"),
        engine=SimpleNamespace(dispose=lambda: disposed.append(True)))

    async def go() -> float:
        async with lifespan(runtime):  # type: ignore[arg-type]
            runtime.tasks.append(supervised("well-behaved", lambda: asyncio.sleep(3600)))
            await asyncio.sleep(0.05)
            started = time.monotonic()
        return time.monotonic() - started

    took: list[float] = []
    with caplog.at_level(logging.ERROR, logger="shared.service"):
        # On a thread of its own, so that a shutdown that hangs fails here rather than hangs.
        runner = threading.Thread(target=lambda: took.append(asyncio.run(go())), daemon=True)
        runner.start()
        runner.join(timeout=20)
    assert not runner.is_alive(), "the shutdown did not end"
    assert took[0] < 2.0  # the deadline twice (tasks, then the cluster), not an hour
    assert disposed == [True]
    messages = [r.getMessage() for r in caplog.records]
    assert any("intake-relay did not stop" in m for m in messages), messages
    assert any("intake cluster admin did not close" in m for m in messages), messages
    assert not any("well-behaved" in m for m in messages)  # it stopped when asked
