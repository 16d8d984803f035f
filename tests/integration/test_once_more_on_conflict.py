"""The one retry every idempotent request shares (intake's applications, payment's mutations):
work refused for a unique key runs once more — and finds the winner's row — and a second
refusal is raised, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select
from sqlalchemy.exc import IntegrityError

from shared.db import make_engine
from shared.uow import once_more_on_conflict

metadata = MetaData()
keys = Table("keys", metadata, Column("key", String(20), primary_key=True),
             Column("answer", Integer, nullable=False))


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(keys).values(key="k", answer=7))  # the winner's, already committed
    yield engine
    engine.dispose()


def test_the_loser_of_a_race_finds_the_winners_answer(engine):
    attempts = []

    def attempt() -> int:
        attempts.append(1)
        with engine.begin() as conn:
            if len(attempts) == 1:  # its look-up ran before the winner committed: it inserts
                conn.execute(insert(keys).values(key="k", answer=8))
            return int(conn.execute(select(keys.c.answer).where(keys.c.key == "k")).scalar_one())

    assert once_more_on_conflict(attempt) == 7
    assert len(attempts) == 2


def test_a_second_refusal_is_raised(engine):
    attempts = []

    def attempt() -> int:
        attempts.append(1)
        with engine.begin() as conn:
            conn.execute(insert(keys).values(key="k", answer=9))
        return 9

    with pytest.raises(IntegrityError):
        once_more_on_conflict(attempt)
    assert len(attempts) == 2
    with engine.connect() as conn:
        assert conn.execute(select(keys.c.answer)).scalars().all() == [7]
