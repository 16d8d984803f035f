"""The outbox row is written in the same transaction as the state change — or not at all."""

from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from deploy.households import resident_id
from services.intake.adapters.tables import bus, cases
from services.intake.domain.model import Application, InvalidApplication, Member
from services.intake.service_layer import commands
from shared.events.envelope import KafkaRecord
from shared.resident_id import parse_resident_id
from shared.uow import UnitOfWork
from tests.conftest import migrated_engine

KEY = b"test-key"


@pytest.fixture
def engine(database_url):
    with migrated_engine(database_url, "intake") as engine:
        yield engine


def application(region: str = "330282", sequence: int = 5) -> Application:
    rid = parse_resident_id(resident_id("330282", date(1970, 3, 3), sequence),
                            today=date.today())
    return Application(region, "dibao", (Member("李四", rid, "applicant",
                                                consent_signed_on=date.today()),))


def counts(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (conn.execute(select(func.count()).select_from(cases)).scalar_one(),
                conn.execute(select(func.count()).select_from(bus.outbox)).scalar_one())


def test_commit_writes_state_and_event_together_and_wakes_the_relay(engine):
    woken = []
    with UnitOfWork(engine, bus, "/test", on_commit=lambda: woken.append(1)) as uow:
        case_id, created = commands.submit_application(application(), uow, pseudonym_key=KEY)
    assert created and case_id.startswith("330282-")
    assert counts(engine) == (1, 1)
    assert woken == [1]
    with engine.connect() as conn:
        row = conn.execute(select(bus.outbox)).mappings().one()
    assert row["topic"] == "onedoor.applications" and row["key"] == case_id.encode()
    assert row["published_at"] is None
    assert "李四".encode() not in row["value"] and b"19700303" not in row["value"]


def test_an_outbox_write_that_fails_takes_the_state_change_with_it(engine):
    with UnitOfWork(engine, bus, "/test") as uow:
        commands.submit_application(application(), uow, pseudonym_key=KEY)
    assert counts(engine) == (1, 1)
    with engine.connect() as conn:
        taken = conn.execute(select(bus.outbox.c.event_id)).scalar_one()
    # Stage a record whose event id is already in the outbox: the commit's outbox insert fails,
    # and the second case must not be stored without its event.
    record = KafkaRecord(topic="onedoor.applications", key=b"k", value=b"{}", headers=[])
    with pytest.raises(IntegrityError), UnitOfWork(engine, bus, "/test") as uow:
        uow.publish_record(taken, record)
        commands.submit_application(application(sequence=7), uow, pseudonym_key=KEY)
    assert counts(engine) == (1, 1)


def test_an_invalid_application_leaves_nothing(engine):
    with pytest.raises(InvalidApplication), UnitOfWork(engine, bus, "/test") as uow:
        commands.submit_application(application(region="330200"), uow, pseudonym_key=KEY)
    assert counts(engine) == (0, 0)


def test_idempotency_key_returns_the_original_case(engine):
    with UnitOfWork(engine, bus, "/test") as uow:
        first, _ = commands.submit_application(application(), uow, pseudonym_key=KEY,
                                               idempotency_key="k1", request_hash="h1")
    with UnitOfWork(engine, bus, "/test") as uow:
        again, created = commands.submit_application(application(), uow, pseudonym_key=KEY,
                                                     idempotency_key="k1", request_hash="h1")
    assert (again, created) == (first, False)
    with pytest.raises(commands.IdempotencyConflict), UnitOfWork(engine, bus, "/t") as uow:
        commands.submit_application(application(), uow, pseudonym_key=KEY,
                                    idempotency_key="k1", request_hash="other body")
    assert counts(engine) == (1, 1)
