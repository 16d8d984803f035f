"""A rise published for next month is not undone by a report that arrives before it starts: a
running benefit is reassessed with the figures of the month its change takes effect."""

from __future__ import annotations

from sqlalchemy import select

from services.approval.adapters.tables import cases
from services.approval.service_layer import recalculation
from services.approval.service_layer.policy_book import PolicyBook
from shared.events import catalogue as ev
from tests.integration.test_approval_workflow import application, deliver, report
from tests.integration.test_policy_administration import (
    BASE,
    NEXT_MONTH,
    approve,
    approved_recipient,
    events_of,
    propose,
    uow_factory,
)
from tests.integration.test_policy_administration import engine as engine


def test_a_report_before_the_rise_starts_keeps_the_rise(engine):
    before = approved_recipient(engine, "e1")
    book = PolicyBook(BASE, engine)
    approve(engine, book, propose(engine, book))
    recalculation.run_pending(uow_factory(engine), engine, book, "w1")
    with engine.connect() as conn:
        risen = conn.execute(select(cases.c.monthly_amount_fen)
                             .where(cases.c.case_id == "e1")).scalar_one()
    assert risen > before
    # New partner data the same day: the same facts, so nothing changes — in particular not
    # back to the old standard, which is still in force today.
    again = application("e1")
    published = deliver(engine, report(again, report_id="report-e1-new-data",
                                       occasion="partner_data"), book.current())
    assessed = next(e for e in published if isinstance(e, ev.CaseAssessed))
    assert assessed.assessed_on == NEXT_MONTH.isoformat()
    assert assessed.monthly_amount_fen == risen
    changes = [v for v in events_of(engine, "e1") if '"change"' in v]
    assert len(changes) == 1  # the rise; no change back
