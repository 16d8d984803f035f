"""A figure published late, taking effect in the past (issue 22: back pay, 补发), on a real
database: it may reach back within the current year and never behind the figure it replaces,
through the same four eyes; it reaches back only in the household's favour — a rise from its
month, anything against the household from the first open month (no clawback)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from services.approval.adapters.tables import cases, recalculated
from services.approval.service_layer import policy_admin, recalculation
from services.approval.service_layer.policy_admin import ProposalRefused
from services.approval.service_layer.policy_book import PolicyBook
from shared import clock
from shared.events import catalogue as ev
from tests.integration.test_policy_administration import (
    BASE,
    BODY,
    NEXT_MONTH,
    NOW,
    A,
    approve,
    approved_recipient,
    events_of,
    propose,
    uow_factory,
)
from tests.integration.test_policy_administration import api as api
from tests.integration.test_policy_administration import engine as engine

THIS_MONTH = clock.local_date(NOW).replace(day=1)
OPEN = f"{NEXT_MONTH:%Y-%m}"


def changes(engine, case_id: str) -> list[ev.BenefitChanged]:
    return [ev.BenefitChanged.model_validate_json(v) for v in events_of(engine, case_id)
            if '"change"' in v]


def amount(engine, case_id: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(cases.c.monthly_amount_fen)
                                .where(cases.c.case_id == case_id)).scalar_one())


def test_a_figure_reaches_back_within_the_year_never_before_it_nor_behind_what_it_replaces(
        engine):
    book = PolicyBook(BASE, engine)
    year_start = date(clock.local_date(NOW).year, 1, 1)
    with pytest.raises(ProposalRefused, match="current year") as refused:
        propose(engine, book, effective=year_start - timedelta(days=1))
    assert refused.value.field == "effective_from"
    assert policy_admin.is_retroactive(THIS_MONTH, NOW)
    assert not policy_admin.is_retroactive(NEXT_MONTH, NOW)
    # From the first day of the year (the figure it replaces took effect in 2021): proposed,
    # and published only by a second officer.
    first = propose(engine, book, effective=year_start, value=105_000)
    with pytest.raises(ProposalRefused, match="four eyes"):
        approve(engine, book, first, officer=A)
    approve(engine, book, first)
    # A later figure within the year; nothing may then reach behind it.
    later = propose(engine, book, effective=THIS_MONTH, value=107_000)
    approve(engine, book, later)
    with pytest.raises(ProposalRefused, match=r"it replaces|current year") as behind:
        propose(engine, book, effective=THIS_MONTH - timedelta(days=1), value=108_000)
    assert behind.value.field == "effective_from"


def test_a_retroactive_rise_reaches_back_and_a_retroactive_cut_waits_for_the_open_month(
        engine):
    book = PolicyBook(BASE, engine)
    old = approved_recipient(engine, "b1")
    # Published today, in force from the first of this month: a month that may have been paid.
    approve(engine, book, propose(engine, book, effective=THIS_MONTH, value=110_550))
    recalculation.run_pending(uow_factory(engine), engine, book, "w1")
    [rise] = changes(engine, "b1")
    risen = amount(engine, "b1")
    assert risen > old
    assert (rise.change, rise.effective_month, rise.monthly_amount_fen) == (
        "amount_changed", f"{THIS_MONTH:%Y-%m}", risen)  # back to its month: back pay
    assert "补发" in rise.reason

    # A correction downwards for the same day, below where the household started.
    approve(engine, book, propose(engine, book, effective=THIS_MONTH, value=90_000))
    recalculation.run_pending(uow_factory(engine), engine, book, "w1")
    rise_again, cut = changes(engine, "b1")
    assert rise_again == rise
    assert cut.change == "amount_changed" and cut.monthly_amount_fen < old
    assert cut.effective_month == OPEN  # the first open month only: no clawback
    assert "no clawback" in cut.reason
    with engine.connect() as conn:
        said = [r.explanation for r in conn.execute(select(recalculated.c.explanation))]
    assert len(said) == 2


def test_the_api_marks_a_retroactive_proposal_and_its_simulation(api):
    officer, other = api.officer("p-a"), api.officer("p-b")
    body = {**BODY, "effective_from": THIS_MONTH.isoformat()}
    made = api.post("/policy/proposals", headers=officer, json=body)
    assert made.status_code == 201, made.text
    shown = made.json()
    assert (shown["retroactive"], shown["back_pay_from"], shown["first_open_month"]) == (
        True, f"{THIS_MONTH:%Y-%m}", OPEN)
    simulated = api.get(f"/policy/proposals/{shown['proposal_id']}/simulation",
                        headers=officer).json()
    assert simulated["retroactive"] is True and simulated["back_pay_from"] == shown[
        "back_pay_from"]
    published = api.post(f"/policy/proposals/{shown['proposal_id']}/approve", headers=other,
                         json={})
    assert published.status_code == 200 and published.json()["retroactive"] is True
    ahead = api.post("/policy/proposals", headers=officer, json=BODY).json()
    assert (ahead["retroactive"], ahead["back_pay_from"]) == (False, None)
