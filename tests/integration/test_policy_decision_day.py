"""A case still in the workflow when a published figure takes effect is decided with the figures
of its decision day (issue 22): pre-assessed before a raise, decided after the raise's first day,
it is paid the raised amount from the start; decided before that day, it is paid the old amount
until the raise's month and the raised one from it. Approval's events go on to payment (its own
handlers, its own database) and to the auditor's replay, which re-runs every assessment and
finds nothing to say."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from services.approval.adapters.tables import bus, cases
from services.approval.domain.workflow import ActionRefused
from services.approval.service_layer.policy_book import PolicyBook
from services.audit.domain.policies import PolicyLibrary, Publication
from services.audit.domain.replay import Replay
from services.payment.adapters.repository import PaymentRepository
from services.payment.adapters.tables import bus as payment_bus
from services.payment.service_layer.handlers import on_application_decided, on_benefit_changed
from shared import clock
from shared.events import catalogue as ev
from shared.events.envelope import Envelope
from shared.uow import UnitOfWork
from tests.conftest import PostgresDatabases, migrated_engine
from tests.integration.test_approval_workflow import (
    DISTRICT,
    SURVEY,
    TOWN,
    application,
    deliver,
    perform,
    report,
)
from tests.integration.test_approval_workflow import engine as engine
from tests.integration.test_policy_administration import (
    BASE,
    NEXT_MONTH,
    NOW,
    STANDARD,
    approve,
    propose,
)

RAISED = 110_550
MONTH = f"{NEXT_MONTH:%Y-%m}"


@pytest.fixture
def payment_engine(database_url, tmp_path):
    """Payment's own database, of the same kind as approval's."""
    if database_url.startswith("sqlite"):
        with migrated_engine(f"sqlite:///{tmp_path / 'payment.db'}", "payment") as e:
            yield e
        return
    dbs = PostgresDatabases()
    try:
        with migrated_engine(dbs.create(), "payment") as e:
            yield e
    finally:
        dbs.drop_all()


# What intake and verification published for the cases (approval's outbox holds the rest).
INPUTS: list[ev.Event] = []


def pre_assessed(engine, case_id: str) -> int:
    """A Dibao household through the town's review to its public notice, with the packaged
    standard; its pre-assessed amount."""
    app = application(case_id)
    found = report(app, report_id=f"report-{case_id}")
    INPUTS[:] = [app, found]
    deliver(engine, app, BASE)
    [assessed] = [e for e in deliver(engine, found, BASE) if isinstance(e, ev.CaseAssessed)]
    perform(engine, case_id, "accept", TOWN, BASE, home_survey=SURVEY, now=NOW)
    return assessed.monthly_amount_fen


def outbox(engine) -> list[tuple[str, str, bytes]]:
    """Everything approval published, in order: (type, case id, value)."""
    with engine.connect() as conn:
        rows = conn.execute(select(bus.outbox.c.headers, bus.outbox.c.key, bus.outbox.c.value)
                            .order_by(bus.outbox.c.id)).all()
    out = []
    for r in rows:
        headers = dict(json.loads(r.headers))
        out.append((headers["ce_type"], bytes(r.key).decode(), bytes(r.value)))
    return out


def replayed(engine, at: datetime) -> Replay:
    """The auditor's replay over approval's events, with the policy of each assessment's
    day rebuilt from the archived publications."""
    events = [(e.type, e.case_id, e.model_dump_json().encode()) for e in INPUTS]
    events += outbox(engine)
    library = PolicyLibrary(BASE, [Publication.of(v) for t, _, v in events
                                   if t == ev.PolicyPublished.type])
    fold = Replay(library)
    for i, (event_type, case_id, value) in enumerate(events):
        fold.apply(event_type, case_id, at + timedelta(microseconds=i), None, value)
    return fold


def to_payment(engine, payment_engine) -> None:
    """Approval's decisions and benefit changes, delivered to payment's own handlers."""
    for event_type, _, value in outbox(engine):
        model = {ev.ApplicationDecided.type: ev.ApplicationDecided,
                 ev.BenefitChanged.type: ev.BenefitChanged}.get(event_type)
        if model is None:
            continue
        event = model.model_validate_json(value)
        handler: Any = (on_application_decided if model is ev.ApplicationDecided
                        else on_benefit_changed)
        with UnitOfWork(payment_engine, payment_bus, "/test") as uow:
            handler(event, Envelope(data=event, source="/test"), uow)
            uow.commit()


def raise_published(engine) -> PolicyBook:
    book = PolicyBook(BASE, engine)
    approve(engine, book, propose(engine, book, value=RAISED))
    return book


def no_divergence(fold: Replay) -> None:
    kinds = [f.kind for f in fold.findings]
    assert "divergence" not in kinds and "decision_differs" not in kinds, fold.findings
    assert "payment_without_approval" not in kinds, fold.findings
    assert all(c.divergences == 0 for c in fold.cases.values())


def test_pre_assessed_before_a_raise_and_decided_after_its_first_day_gets_the_raise(
        engine, payment_engine):
    old = pre_assessed(engine, "a1")
    book = raise_published(engine)
    after = datetime.combine(NEXT_MONTH, time(10), tzinfo=clock.CHINA) + timedelta(days=2)
    _, published = perform(engine, "a1", "approve", DISTRICT, book.current(), now=after)
    assessed = [e for e in published if isinstance(e, ev.CaseAssessed)]
    [decided] = [e for e in published if isinstance(e, ev.ApplicationDecided)]
    # Assessed again on the decision day, before the decision, which takes that amount.
    assert [a.assessed_on for a in assessed] == [clock.local_date(after).isoformat()]
    assert published.index(assessed[0]) < published.index(decided)
    assert decided.monthly_amount_fen == assessed[0].monthly_amount_fen > old
    assert decided.start_month == MONTH
    assert f"{STANDARD}@330282/{NEXT_MONTH.isoformat()}" in (decided.policy_version or "")
    assert not [e for e in published if isinstance(e, ev.BenefitChanged)]

    to_payment(engine, payment_engine)
    with payment_engine.connect() as conn:
        e = PaymentRepository(conn).entitlement("a1")
    assert e is not None and e.amount_for(MONTH) == decided.monthly_amount_fen
    no_divergence(replayed(engine, after))


def test_decided_before_the_raise_starts_is_paid_the_old_amount_then_the_raise(
        engine, payment_engine):
    old = pre_assessed(engine, "b1")
    book = raise_published(engine)
    before = NOW + timedelta(days=8)  # the notice is over; the raise is published, not started
    assert clock.local_date(before) < NEXT_MONTH
    _, published = perform(engine, "b1", "approve", DISTRICT, book.current(), now=before)
    [decided] = [e for e in published if isinstance(e, ev.ApplicationDecided)]
    [later] = [e for e in published if isinstance(e, ev.CaseAssessed)]
    [change] = [e for e in published if isinstance(e, ev.BenefitChanged)]
    start = decided.start_month
    assert decided.monthly_amount_fen == old  # the policy of its day has not moved
    assert later.assessed_on == NEXT_MONTH.isoformat()
    assert (change.change, change.effective_month, change.monthly_amount_fen) == (
        "amount_changed", MONTH, later.monthly_amount_fen)
    assert later.monthly_amount_fen > old
    assert published.index(decided) < published.index(change)

    to_payment(engine, payment_engine)
    with payment_engine.connect() as conn:
        e = PaymentRepository(conn).entitlement("b1")
    assert e is not None
    assert start is not None and start < MONTH
    assert e.amount_for(start) == old
    assert e.amount_for(MONTH) == later.monthly_amount_fen
    no_divergence(replayed(engine, before))


def test_a_decision_whose_figures_did_not_move_is_not_assessed_again(engine):
    pre_assessed(engine, "c1")
    _, published = perform(engine, "c1", "approve", DISTRICT, BASE,
                           now=NOW + timedelta(days=8))
    assert not [e for e in published if isinstance(e, ev.CaseAssessed)]
    assert [e.outcome for e in published if isinstance(e, ev.ApplicationDecided)] == [
        "approved"]


def test_an_approval_the_decision_day_figures_refuse_keeps_the_assessment_that_refused_it(
        engine):
    """A cut in force on the decision day makes the household ineligible: the approval is
    refused (ineligible: return or reject), and the decision day's assessment is kept and
    published all the same, so that the case shows the figures that refused it."""
    pre_assessed(engine, "d1")
    book = PolicyBook(BASE, engine)
    approve(engine, book, propose(engine, book, value=50_000))  # below the pension of 600 yuan
    after = datetime.combine(NEXT_MONTH, time(10), tzinfo=clock.CHINA) + timedelta(days=2)
    with pytest.raises(ActionRefused) as refused:
        perform(engine, "d1", "approve", DISTRICT, book.current(), now=after)
    assert refused.value.code == "ineligible"
    assessed = [ev.CaseAssessed.model_validate_json(v) for t, case_id, v in outbox(engine)
                if t == ev.CaseAssessed.type and case_id == "d1"]
    assert [(a.assessed_on, a.eligible) for a in assessed][-1] == (
        clock.local_date(after).isoformat(), False)
    with engine.connect() as conn:
        row = conn.execute(select(cases.c.stage, cases.c.assessment_id)
                           .where(cases.c.case_id == "d1")).one()
    assert row.stage == "under_notice"  # nothing decided
    assert row.assessment_id == assessed[-1].assessment_id
    assert not [t for t, case_id, _ in outbox(engine)
                if case_id == "d1" and t == ev.ApplicationDecided.type]
