"""SQLite's writers queue on a lock of the process: every write lands, and no failure leaks it."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from services.intake.adapters.tables import idempotency_keys
from shared.db import reading
from tests.conftest import migrated_engine


def test_concurrent_writers_all_land(tmp_path):
    from datetime import UTC, datetime

    with migrated_engine(f"sqlite:///{tmp_path / 'w.db'}", "intake") as engine:
        errors: list[BaseException] = []

        def write(worker: int) -> None:
            try:
                for i in range(50):
                    with engine.begin() as conn:
                        conn.execute(insert(idempotency_keys).values(
                            key=f"{worker}-{i}", request_hash="h", case_id="c",
                            created_at=datetime.now(UTC)))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(w,)) for w in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        with reading(engine) as conn:
            count = conn.execute(select(func.count()).select_from(idempotency_keys)).scalar_one()
        assert errors == [] and count == 600


def test_a_failed_transaction_releases_the_writer_lock(tmp_path):
    from datetime import UTC, datetime

    row = {"key": "k", "request_hash": "h", "case_id": "c", "created_at": datetime.now(UTC)}
    outcome: list[object] = []

    def scenario(engine) -> None:  # type: ignore[no-untyped-def]
        with engine.begin() as conn:
            conn.execute(insert(idempotency_keys).values(**row))
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert(idempotency_keys).values(**row))
        with pytest.raises(RuntimeError), engine.begin() as conn:
            conn.execute(insert(idempotency_keys).values(**{**row, "key": "k2"}))
            raise RuntimeError("handler failed")
        broken = engine.connect()  # a connection that dies inside its transaction
        broken.begin()
        broken.execute(insert(idempotency_keys).values(**{**row, "key": "k4"}))
        broken.invalidate()
        broken.close()
        with engine.begin() as conn:  # blocks if a failure above kept the lock
            conn.execute(insert(idempotency_keys).values(**{**row, "key": "k3"}))
        with reading(engine) as conn:
            outcome.append(set(conn.execute(select(idempotency_keys.c.key)).scalars()))

    with migrated_engine(f"sqlite:///{tmp_path / 'w.db'}", "intake") as engine:
        worker = threading.Thread(target=scenario, args=(engine,), daemon=True)
        worker.start()
        worker.join(20)
        assert not worker.is_alive(), "the writer lock was not released by a failed transaction"
    assert outcome == [{"k", "k3"}]
