"""Verification's consumer on the real broker: it reads the decisions topic too, acts on the
events about recipients and reviews, and only records the others in its inbox."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from services.verification.adapters.repositories.households import HouseholdRepository
from services.verification.adapters.repositories.recipients import RecipientRepository
from services.verification.adapters.repositories.reports import ReportRepository
from services.verification.adapters.tables import bus
from services.verification.bootstrap import create_app
from shared.events.base import Event
from shared.events.catalogue import CaseStageChanged
from shared.events.envelope import Envelope, to_record
from shared.events.topics import VERIFICATIONS
from tests.integration.busutil import eventually, produce, until_assigned
from tests.integration.test_bus import settings
from tests.integration.test_verification_reassessment import application, approved, review


@pytest.fixture
async def verification(database_url, bus_broker):
    app = create_app(settings(bus_broker, verification_database_url=database_url))
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        await until_assigned(runtime)
        yield runtime


def record(event: Event, envelope_id: str):
    r = to_record(Envelope(data=event, source="/test", id=envelope_id))
    return r.topic, r.key, r.value, r.headers


async def test_decisions_make_a_recipient_and_a_review_makes_a_second_report(verification,
                                                                             bus_broker):
    case_id = f"330282-20261122-{uuid.uuid4().hex[:12]}"
    engine = verification.engine

    def occasions() -> list[str]:
        with engine.connect() as conn:
            return [r.occasion for r in ReportRepository(conn).of_case(case_id)]

    await produce(bus_broker.bootstrap,
                  [record(application(case_id, wage=30_000), f"e-app-{case_id}")])
    await eventually(lambda: occasions() == ["application"], what="the application's report")
    stage = CaseStageChanged(case_id=case_id, sequence=1, from_stage=None,
                             to_stage="awaiting_review", action="assess", actor="system",
                             changed_at=datetime.now(UTC))
    await produce(bus_broker.bootstrap, [record(stage, f"e-stage-{case_id}"),
                                     record(approved(case_id), f"e-approved-{case_id}"),
                                     record(review(case_id), f"e-review-{case_id}")])
    await eventually(lambda: occasions() == ["application", "periodic_review"],
                     what="the review's report")
    with engine.connect() as conn:
        assert RecipientRepository(conn).is_active(case_id)
        inbox = set(conn.execute(select(bus.inbox.c.event_id, bus.inbox.c.outcome)
                                 .where(bus.inbox.c.event_id.like(f"%{case_id}"))))
    assert {(f"e-{e}-{case_id}", "processed") for e in ("approved", "review")} <= inbox
    # A stage change has no handler here: skipped unread, so not in the inbox either.
    assert not any(event_id == f"e-stage-{case_id}" for event_id, _ in inbox)


async def test_an_application_without_an_adults_consent_is_withheld_saying_who_must_sign(
        verification, bus_broker):
    """Intake refuses such a form (422), so this is the defence behind it: verification looks
    at no partner data and, rather than dead-letter the event (the case then waited at approval
    until it was overdue), publishes why it may not check the household, and who must sign."""
    case_id = f"330282-20261122-{uuid.uuid4().hex[:12]}"
    unsigned = application(case_id, wage=30_000)
    son = unsigned.members[1]
    unsigned = unsigned.model_copy(update={"members": [
        unsigned.members[0], son.model_copy(update={"consent_signed": False})]})
    event_id = f"e-unsigned-{case_id}"
    await produce(bus_broker.bootstrap, [record(unsigned, event_id)])
    engine = verification.engine

    def outcome() -> str | None:
        with engine.connect() as conn:
            return conn.execute(select(bus.inbox.c.outcome).where(
                bus.inbox.c.event_id == event_id)).scalar()

    assert await eventually(outcome, what="the application handled") == "processed"
    with engine.connect() as conn:
        assert ReportRepository(conn).of_case(case_id) == []
        # Kept, for the consent the town records later (ConsentRecorded).
        assert HouseholdRepository(conn).area(case_id) == ("330282", None)
        sent = conn.execute(select(bus.outbox.c.topic, bus.outbox.c.headers, bus.outbox.c.value)
                            .where(bus.outbox.c.key == case_id.encode())).all()
    assert [(t, dict(json.loads(h))["ce_type"]) for t, h, _ in sent] == [
        (VERIFICATIONS, "onedoor.verification.withheld")]
    withheld = json.loads(bytes(sent[0][2]))
    assert (withheld["reason"], withheld["member_refs"]) == ("consent_missing", [son.person_ref])
