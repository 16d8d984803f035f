"""The bus on the real broker and real databases: duplicates, poison events, broker restarts."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from deploy.kafka_cluster import KafkaCluster
from deploy.tokens import DevTokens
from services.intake.bootstrap import create_app as create_intake
from services.intake.service_layer.commands import submit_application
from services.payment.adapters.tables import bus, metadata, payments
from services.payment.bootstrap import create_app as create_payment
from services.payment.service_layer.handlers import on_application_decided
from shared.auth.tokens import load_token_keys
from shared.bus.broker import EmbeddedBroker, free_port
from shared.events import topics
from shared.events.catalogue import ApplicationDecided, CaseStageChanged
from shared.events.envelope import Envelope, to_record
from shared.service import build_runtime, health_router, lifespan
from shared.settings import Settings
from tests.conftest import bus_settings
from tests.integration.busutil import eventually, produce, read_topic, until_assigned
from tests.integration.test_unit_of_work import KEY, application

PAYMENT_MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "payment" / "migrations"


def settings(broker: str | EmbeddedBroker | KafkaCluster, **over: object) -> Settings:
    """A test service's settings on ``broker`` (a broker, or the bootstrap of the embedded one)."""
    base: dict[str, object] = {"env": "test", "consumer_retry_backoff_s": 0.05,
                               "consumer_max_attempts": 3}
    base.update(bus_settings(broker) if not isinstance(broker, str)
                else {"kafka_bootstrap": broker})
    base.update(over)
    return Settings(**base)  # type: ignore[arg-type]


def approval(case_id: str, month: str = "2026-11", **over: object) -> ApplicationDecided:
    fields: dict[str, object] = dict(
        case_id=case_id, decision_id=str(uuid.uuid4()), outcome="approved", programme="dibao",
        # One beneficiary per case: the session's broker may hand this test a record an
        # earlier test handled but had not committed when it stopped (at-least-once), and the
        # same beneficiary paid for the same month there would hold this test's payment.
        region_code="330282", beneficiary_ref=f"p-{case_id}", household_size=1,
        monthly_amount_fen=40_500, start_month=month, policy_version="v", reasons=[],
        decided_at=datetime.now(UTC))
    fields.update(over)
    return ApplicationDecided(**fields)  # type: ignore[arg-type]


def record_of(event: ApplicationDecided, envelope_id: str | None = None):
    envelope = Envelope(data=event, source="/test", **({"id": envelope_id} if envelope_id else {}))
    r = to_record(envelope)
    return r.topic, r.key, r.value, r.headers


def payments_of(engine, case_id: str) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(payments.c.period).where(payments.c.case_id == case_id)
                                 .order_by(payments.c.period)).scalars())


@pytest.fixture
async def payment_runtime(database_url, bus_broker):
    app = create_payment(settings(bus_broker, payment_database_url=database_url))
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        await until_assigned(runtime)
        yield runtime


async def test_a_duplicate_delivery_has_one_effect(payment_runtime, bus_broker):
    case_id = f"330282-dup-{uuid.uuid4().hex[:8]}"
    first = record_of(approval(case_id))
    # Same key, so it comes after the duplicates: a one-off payment on the same case.
    marker = record_of(approval(case_id, programme="temporary", monthly_amount_fen=0,
                                start_month=None, one_off_amount_fen=50_000,
                                decided_at=datetime(2026, 12, 5, 2, tzinfo=UTC)))
    await produce(bus_broker.bootstrap, [first, first, first, marker])
    engine = payment_runtime.engine
    await eventually(lambda: len(payments_of(engine, case_id)) == 2, what="both paid")
    assert payments_of(engine, case_id) == ["2026-11", "2026-12"]
    published = await read_topic(bus_broker.bootstrap, topics.PAYMENTS,
                                 lambda r: r.key == case_id.encode(), want=3, timeout_s=5)
    assert len(published) == 2  # one PaymentScheduled each, none for the duplicates


async def test_event_types_without_a_handler_are_skipped_unread(payment_runtime, bus_broker):
    case_id = f"330282-skip-{uuid.uuid4().hex[:8]}"
    stage = CaseStageChanged(case_id=case_id, sequence=1, from_stage=None,
                             to_stage="awaiting_report", action="submitted", actor="system",
                             changed_at=datetime.now(UTC))
    skipped = record_of(stage)  # type: ignore[arg-type]
    await produce(bus_broker.bootstrap, [skipped, record_of(approval(case_id))])
    engine = payment_runtime.engine
    await eventually(lambda: payments_of(engine, case_id), what="the approval paid")
    with engine.connect() as conn:
        ids = set(conn.execute(select(bus.inbox.c.event_id)).scalars())
    assert dict(skipped[3])["ce_id"].decode() not in ids  # never decoded, so never recorded
    assert payment_runtime.consumer.dead_lettered_total == 0


async def test_poison_records_go_to_the_dead_letter_topic_and_the_partition_moves_on(
        payment_runtime, bus_broker):
    case_id = f"330282-poison-{uuid.uuid4().hex[:8]}"
    good = record_of(approval(case_id))
    topic, key, value, headers = good
    bad_data = (topic, key, value.replace(b'"monthly_amount_fen":40500',
                                          b'"monthly_amount_fen":-1'), headers)
    await produce(bus_broker.bootstrap, [
        (topic, key, b"not json at all", []),  # not a CloudEvent
        bad_data,  # a CloudEvent whose data breaks its schema
        good,
    ])
    await eventually(lambda: payments_of(payment_runtime.engine, case_id) == ["2026-11"],
                     what="the good event after two poison ones")
    dead = await read_topic(bus_broker.bootstrap, topics.DEAD_LETTER,
                            lambda r: r.key == key, want=2)
    reasons = {r.value: dict(r.headers)["dlq_reason"].decode() for r in dead}
    assert len(dead) == 2
    assert "ce_specversion" in reasons[b"not json at all"]
    assert "data invalid" in reasons[bad_data[2]]
    assert "monthly_amount_fen" in reasons[bad_data[2]]
    assert {r.value for r in dead} == {b"not json at all", bad_data[2]}  # original bytes
    assert all(dict(r.headers)["dlq_consumer"] == b"onedoor-payment" for r in dead)


class NoSuchBank(LookupError):
    """A handler's own exception: its words are kept as the dead-letter reason (a builtin's or
    a library's are not, since they quote their input: shared/reasons.py)."""


async def test_an_event_whose_handler_keeps_failing_is_dead_lettered_after_bounded_retries(
        database_url, bus_broker, tmp_path):
    attempts: Counter[str] = Counter()

    def flaky(event, envelope, uow):  # the real handler, except for one case
        attempts[event.case_id] += 1
        if event.case_id.endswith("-fails"):
            raise NoSuchBank("bank of the beneficiary does not exist")
        on_application_decided(event, envelope, uow)

    runtime = build_runtime(
        name="payment", settings=settings(bus_broker, payment_database_url=database_url,
                                          data_dir=tmp_path),
        metadata=metadata, bus=bus, migrations_dir=PAYMENT_MIGRATIONS,
        topics=[topics.DECISIONS], handlers={ApplicationDecided: flaky})
    async with lifespan(runtime):
        await until_assigned(runtime)
        tag = uuid.uuid4().hex[:8]
        failing, fine = f"330282-{tag}-fails", f"330282-{tag}-fine"
        await produce(bus_broker.bootstrap, [record_of(approval(failing)),
                                         record_of(approval(fine))])
        await eventually(lambda: payments_of(runtime.engine, fine) == ["2026-11"],
                         what="the case after the failing one")
        dead = await read_topic(bus_broker.bootstrap, topics.DEAD_LETTER,
                                lambda r: r.key == failing.encode(), want=1)
        with runtime.engine.connect() as conn:
            inbox = conn.execute(select(bus.inbox.c.outcome, bus.inbox.c.reason)
                                 .where(bus.inbox.c.outcome == "dead-lettered")).all()
    assert len(dead) == 1
    assert b"bank of the beneficiary does not exist" in dict(dead[0].headers)["dlq_reason"]
    # One try as part of its batch at most, then exactly max_attempts on its own.
    assert 3 <= attempts[failing] <= 4
    assert payments_of(runtime.engine, failing) == []
    assert [o for o, _ in inbox] == ["dead-lettered"]
    operations = FastAPI()
    operations.include_router(health_router(runtime))
    operations.state.auth_verifier = load_token_keys(runtime.settings)[1]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=operations),
                                 base_url="http://operations") as client:
        # The operators' list: an administrator's, nobody else's.
        assert (await client.get("/dead-letters")).status_code == 401
        tokens = DevTokens(runtime.settings)
        assert (await client.get("/dead-letters",
                                 headers=tokens.clerk("330282"))).status_code == 403
        listed = (await client.get("/dead-letters", headers=tokens.headers(
            "administrator", "ops-1"))).json()
    assert [(d["event_type"], d["topic"]) for d in listed] == \
        [("onedoor.application.decided", topics.DECISIONS)]
    assert "bank of the beneficiary does not exist" in listed[0]["reason"]


async def test_after_a_broker_restart_the_relay_publishes_again(tmp_path):
    broker = EmbeddedBroker(free_port())
    broker.start()
    try:
        app = create_intake(settings(broker.bootstrap,
                                     intake_database_url=f"sqlite:///{tmp_path / 'i.db'}"))
        async with app.router.lifespan_context(app):
            runtime = app.state.runtime
            await until_assigned(runtime)
            with runtime.uow() as uow:
                case_id, _ = submit_application(application(), uow, pseudonym_key=KEY)
            await eventually(lambda: runtime.relay.backlog() == 0, what="first publish")
            before = await read_topic(broker.bootstrap, topics.APPLICATIONS,
                                      lambda r: r.key == case_id.encode(), want=1)
            assert len(before) == 1
            old_epoch = runtime.relay.epoch

            broker.restart()  # the in-memory log is gone
            await eventually(lambda: runtime.relay.epoch not in (None, old_epoch),
                             what="relay noticing the new broker")
            await eventually(lambda: runtime.relay.backlog() == 0, what="re-publish")
            after = await read_topic(broker.bootstrap, topics.APPLICATIONS,
                                     lambda r: r.key == case_id.encode(), want=1)
        assert [dict(r.headers)["ce_id"] for r in after] == \
            [dict(r.headers)["ce_id"] for r in before]
        assert runtime.relay.republished_total >= 1
    finally:
        broker.stop()


@pytest.mark.kafka
async def test_a_kafka_node_killed_mid_stream_loses_no_event_and_pays_no_one_twice(
        tmp_path, kafka_cluster):
    """Replication factor 3, min.insync.replicas 2, acks=all: one of three nodes dies while
    decisions are produced and payments published; every case is paid, once."""
    app = create_payment(settings(kafka_cluster,
                                  payment_database_url=f"sqlite:///{tmp_path / 'p.db'}"))
    tag = uuid.uuid4().hex[:8]
    cases = [f"330282-kill-{tag}-{i}" for i in range(40)]
    victim = kafka_cluster.nodes[1]

    def decided(case_id: str):  # a household of its own: one household is paid once a month
        return record_of(approval(case_id, beneficiary_ref=f"p-{case_id}"))

    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        await until_assigned(runtime)
        await produce(kafka_cluster.bootstrap, [decided(c) for c in cases[:20]])
        await asyncio.to_thread(kafka_cluster.kill, victim)
        try:
            await produce(kafka_cluster.bootstrap, [decided(c) for c in cases[20:]])
            await eventually(lambda: all(payments_of(runtime.engine, c) for c in cases),
                             timeout_s=90, what="every case paid with a node down")
            await eventually(lambda: runtime.relay.backlog() == 0, timeout_s=60,
                             what="every payment event published")
        finally:
            await asyncio.to_thread(kafka_cluster.restart, victim)
        published = await read_topic(kafka_cluster.bootstrap, topics.PAYMENTS,
                                     lambda r: r.key.decode().startswith(f"330282-kill-{tag}"),
                                     want=len(cases), timeout_s=30)
    assert all(payments_of(runtime.engine, c) == ["2026-11"] for c in cases)
    events = {}
    for r in published:
        events.setdefault(r.key.decode(), set()).add(dict(r.headers)["ce_id"])
    assert sorted(events) == sorted(cases)
    assert all(len(ids) == 1 for ids in events.values())  # re-sent, perhaps; never a second event
