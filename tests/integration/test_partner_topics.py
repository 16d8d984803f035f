"""Partner departments publishing to their Kafka topic, on the real broker: lines judged as in a
file, applied with the reports they cause, refused ones dead-lettered with the reason and without
the line (it holds a resident ID number)."""

from __future__ import annotations

import json
import uuid
from datetime import date

from sqlalchemy import select

from deploy.households import resident_id
from services.verification.adapters.tables import bus, partner_records
from services.verification.entrypoints.partner_topics import GROUP, topic_of
from shared.events.topics import DEAD_LETTER
from tests.integration.busutil import eventually, produce
from tests.integration.test_verification_bus import verification  # noqa: F401 (the fixture)


def line(**fields: object) -> bytes:
    return json.dumps(fields).encode()


async def test_lines_on_a_department_topic_are_judged_applied_and_refused_ones_dead_lettered(
        verification, bus_broker):  # noqa: F811
    engine = verification.engine
    tag = uuid.uuid4().hex[:8]
    person = resident_id("330282", date(1971, 4, 4), 5)
    wrong = person[:-1] + ("0" if person[-1] != "0" else "1")
    topic = topic_of("hr_social_security")
    await produce(bus_broker.bootstrap, [
        (topic, b"k", line(record_id=f"w-{tag}", kind="wage", resident_id=person,
                           amount_fen=210_000, as_of="2026-11-30"), []),
        (topic, b"k", line(record_id=f"x-{tag}", kind="wage", resident_id=wrong,
                           amount_fen=1, as_of="2026-11-30"), []),
        (topic, b"k", line(record_id=f"v-{tag}", kind="vehicle", resident_id=person,
                           amount_fen=1, as_of="2026-11-30"), []),
        (topic, b"k", line(op="delete", record_id=f"gone-{tag}"), []),
    ])

    def stored() -> list:
        with engine.connect() as conn:
            return conn.execute(select(partner_records.c.record_id, partner_records.c.amount_fen)
                                .where(partner_records.c.record_id.like(f"%-{tag}"))).all()

    def dead() -> list:
        with engine.connect() as conn:
            rows = conn.execute(select(bus.outbox.c.value, bus.outbox.c.headers)
                                .where(bus.outbox.c.topic == DEAD_LETTER)).all()
        found = [(value, dict(json.loads(headers))) for value, headers in rows]
        return [(v, h) for v, h in found if h.get("dlq_topic") == topic]

    assert await eventually(lambda: stored() == [(f"w-{tag}", 210_000)], what="the wage")
    refused = await eventually(lambda: len(dead()) >= 2 and dead(), what="two dead letters")
    reasons = sorted(h["dlq_reason"] for _, h in refused)
    assert reasons[0].startswith("kind: vehicle is published by public_security")
    assert reasons[1].startswith("resident_id: the check character")
    assert all(value == b"" and h["dlq_consumer"] == GROUP for value, h in refused)
    assert all(person not in json.dumps(h) and wrong not in json.dumps(h) for _, h in refused)
