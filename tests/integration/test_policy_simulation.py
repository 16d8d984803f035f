"""Simulation before publication (issue 22 §4): what a figure would change, computed without
writing anything — and the same figures as the recalculation that publishing it then runs."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from services.approval.adapters.tables import cases, metadata, recalculated
from services.approval.service_layer import recalculation, simulation
from services.approval.service_layer.policy_book import PolicyBook
from shared.policy import published_figure
from tests.integration.test_approval_workflow import application, deliver, report
from tests.integration.test_policy_administration import (
    BASE,
    BODY,
    NEXT_MONTH,
    STANDARD,
    approve,
    approved_recipient,
    propose,
    uow_factory,
)
from tests.integration.test_policy_administration import api as api
from tests.integration.test_policy_administration import engine as engine

RISE = simulation.Change(STANDARD, "330282", NEXT_MONTH, 110_550)


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in metadata.sorted_tables}


def simulate(engine, change=RISE):
    book = PolicyBook(BASE, engine)
    figure = published_figure("what-if", change.name, change.region_code,
                              change.effective_from, change.value)
    with engine.connect() as conn:
        return simulation.simulate(conn, book.current(conn), change, figure, datetime.now(UTC))


def test_a_simulation_writes_nothing_and_foretells_the_recalculation(engine):
    old = {cid: approved_recipient(engine, cid) for cid in ("r1", "r2", "r3")}
    # An applicant refused this year at 1,060 yuan a month: under a 1,105.50 standard, eligible.
    near = application("a1", incomes=(106_000,))
    deliver(engine, near, BASE)
    deliver(engine, report(near, report_id="report-a1"), BASE)
    approved_recipient(engine, "far", region="330281")  # another district: not reached
    before = counts(engine)
    result = simulate(engine)
    assert counts(engine) == before  # nothing written
    assert result["population"] == {"recipients": 3, "applications": 1}
    assert result["households"] == {"newly_eligible": 1, "newly_ineligible": 0, "changed": 3,
                                    "unchanged": 0, "undecided": 0}
    assert result["monthly_cost_fen"]["before"] == sum(old.values())
    assert result["figure"]["value_now"] == 100_500
    bars = result["distribution"]["bins"]
    assert sum(b["before"] for b in bars) == 3 and sum(b["after"] for b in bars) == 4

    # Publish it for real: the recalculation finds exactly what the simulation said.
    book = PolicyBook(BASE, engine)
    approve(engine, book, propose(engine, book))
    recalculation.run_pending(uow_factory(engine), engine, book, "w1")
    with engine.connect() as conn:
        rows = conn.execute(select(recalculated)).all()
        paid = dict(conn.execute(select(cases.c.case_id, cases.c.monthly_amount_fen)
                                 .where(cases.c.case_id.in_(old))).all())
    assert len([r for r in rows if r.outcome != "unchanged"]) == result["households"]["changed"]
    assert sum(paid.values()) == result["monthly_cost_fen"]["after"]
    assert sum(r.new_monthly_fen - r.old_monthly_fen for r in rows) == (
        result["monthly_cost_fen"]["change"])
    [town] = result["by_town"]
    assert town["change_fen"] == result["monthly_cost_fen"]["change"] > 0


def test_households_shared_among_processes_come_to_the_same_answer(engine, monkeypatch):
    """The path a large population takes (PARALLEL_FROM households and more): worker processes,
    each with chunks of the households, whose tallies are summed — exactly what one process
    finds, town by town and bar by bar."""
    for cid, incomes in (("p1", (60_000,)), ("p2", (95_000,)), ("p3", (10_000, 20_000)),
                         ("p4", (100_000,))):
        approved_recipient(engine, cid, incomes=incomes)
    near = application("p5", incomes=(106_000,))
    deliver(engine, near, BASE)
    deliver(engine, report(near, report_id="report-p5"), BASE)
    monkeypatch.setattr(simulation, "PARALLEL_FROM", 1)
    monkeypatch.setattr(simulation, "CHUNK", 2)  # three chunks over two workers
    book = PolicyBook(BASE, engine)
    figure = published_figure("what-if", RISE.name, RISE.region_code, RISE.effective_from,
                              RISE.value)
    answers = []
    for workers in (1, 2):
        with engine.connect() as conn:
            found = simulation.simulate(conn, book.current(conn), RISE, figure,
                                        datetime.now(UTC), workers=workers)
        found.pop("took_ms")
        answers.append(found)
    assert answers[0] == answers[1]
    assert answers[0]["population"] == {"recipients": 4, "applications": 1}

    def no_processes(*args: object, **kwargs: object) -> None:
        raise OSError("no processes here")

    # Where no process can be started, it is answered in this one: the same answer.
    monkeypatch.setattr(simulation, "ProcessPoolExecutor", no_processes)
    with engine.connect() as conn:
        alone = simulation.simulate(conn, book.current(conn), RISE, figure, datetime.now(UTC),
                                    workers=2)
    alone.pop("took_ms")
    assert alone == answers[0]


def test_a_lower_figure_foretells_who_would_lose_the_benefit(engine):
    approved_recipient(engine, "t1", incomes=(95_000,))
    approved_recipient(engine, "t2", incomes=(10_000,))
    result = simulate(engine, simulation.Change(STANDARD, "330282", NEXT_MONTH, 90_000))
    assert result["households"]["newly_ineligible"] == 1
    assert result["households"]["changed"] == 1
    assert result["monthly_cost_fen"]["change"] < 0


def test_the_api_answers_a_simulation_as_json_and_csv(api):
    officer = api.officer("p-a")
    what_if = {k: BODY[k] for k in ("name", "region_code", "effective_from", "value")}
    answer = api.post("/policy/simulations", headers=officer, json=what_if)
    assert answer.status_code == 200, answer.text
    assert answer.json()["population"] == {"recipients": 0, "applications": 0}
    csv = api.post("/policy/simulations?format=csv", headers=officer, json=what_if)
    assert csv.status_code == 200 and csv.text.startswith("town_code,recipients,")
    assert api.post("/policy/simulations", headers=officer, json={
        **what_if, "name": "dibao.nope"}).json()["detail"][0]["loc"] == ["body", "name"]
    assert api.post("/policy/simulations", headers=officer, json={
        **what_if, "region_code": "370202"}).status_code == 403
    made = api.post("/policy/proposals", headers=officer, json=BODY).json()
    of_proposal = api.get(f"/policy/proposals/{made['proposal_id']}/simulation",
                          headers=officer)
    assert of_proposal.status_code == 200
    assert of_proposal.json()["figure"]["value"] == BODY["value"]
