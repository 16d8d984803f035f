"""The chaos checker (bench/chaos_check.py) on a real running system: clean after a quiet run,
and it names exactly what was tampered with afterwards."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from bench.chaos_check import Verdict, check
from deploy.households import make_emergency
from deploy.supervisor import System
from services.intake.adapters.tables import timeline
from services.payment.adapters.tables import ledger, payments
from shared.db import make_engine
from tests.conftest import wait_until
from tests.e2e.conftest import HOUSEHOLDS, start_system, submit, tokens

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def system(tmp_path_factory) -> Iterator[System]:  # type: ignore[no-untyped-def]
    running = start_system(tmp_path_factory.mktemp("chaos-check"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def submitted(system: System) -> dict[str, str]:
    cases = {submit(system, household): "dibao" for household in HOUSEHOLDS[:5]}
    cases[submit(system, make_emergency(seed=20261123))] = "emergency"
    return cases


def stage(system: System, case_id: str) -> str | None:
    response = httpx.get(f"{system.url('approval')}/cases/{case_id}",
                         headers=tokens(system).service(), timeout=10)
    return response.json().get("stage") if response.status_code == 200 else None


def settled(system: System, submitted: dict[str, str], timeout_s: float = 120) -> Verdict:
    """The checker once the system has caught up (the archiver last): a clean verdict, or the
    last one when the time is up."""
    deadline = time.monotonic() + timeout_s
    while True:
        verdict = check(system, submitted, bootstrap=system.bootstrap)
        if not (verdict.lost or verdict.duplicated) or time.monotonic() > deadline:
            return verdict
        time.sleep(1)


def test_a_quiet_run_is_clean(system: System, submitted: dict[str, str]) -> None:
    wait_until(lambda: all(stage(system, c) == "awaiting_review" for c in submitted),
               timeout_s=120, interval_s=0.5, what="every case before the town reviewer")
    verdict = settled(system, submitted)
    assert (verdict.lost, verdict.duplicated) == ([], []), verdict
    assert verdict.line(6, 0) == "6 cases, 0 kills: 0 lost, 0 duplicated effects"


def test_an_advance_paid_by_the_town_is_clean_too(system: System,
                                                  submitted: dict[str, str]) -> None:
    """Staff's one step beyond the automatic stages, so that payment and its ledger hold rows
    for the checker to judge."""
    [urgent] = [c for c, kind in submitted.items() if kind == "emergency"]
    answer = httpx.post(f"{system.url('approval')}/cases/{urgent}/actions",
                        json={"action": "advance", "note": "house fire"},
                        headers=tokens(system).reviewer(urgent[:6]), timeout=10)
    assert answer.status_code == 200, answer.text
    verdict = settled(system, submitted)
    assert (verdict.lost, verdict.duplicated) == ([], []), verdict
    assert stage(system, urgent) in ("advance_paid", "approved")


def test_tampering_is_reported_exactly(system: System, submitted: dict[str, str]) -> None:
    [urgent] = [c for c, kind in submitted.items() if kind == "emergency"]
    dibao = next(c for c, kind in submitted.items() if kind == "dibao")
    pay = make_engine(system.settings.database_url("payment"))
    with pay.begin() as conn:
        [paid] = conn.execute(select(payments).where(payments.c.case_id == urgent)).mappings()
    # A second payment for the case and month: the database itself refuses it.
    with pytest.raises(IntegrityError, match="UNIQUE"), pay.begin() as conn:
        conn.execute(insert(payments).values({**paid, "payment_id": str(uuid.uuid4())}))
    # So the amount is counted twice where nothing refuses it: a second entry out of "approved".
    with pay.begin() as conn:
        conn.execute(insert(ledger).values(
            at=datetime.now(UTC), payment_id=paid["payment_id"], case_id=urgent,
            region_code=paid["region_code"], programme=paid["programme"], kind=paid["kind"],
            period=paid["period"], from_state="approved", to_state=paid["status"],
            amount_fen=paid["amount_fen"]))
    pay.dispose()
    # A stage change shown twice in intake's timeline (the same event id cannot be: the key).
    take = make_engine(system.settings.database_url("intake"))
    with take.begin() as conn:
        entry = conn.execute(select(timeline).where(
            timeline.c.case_id == dibao,
            timeline.c.event_type == "onedoor.case.stage_changed")).mappings().first()
        assert entry is not None
        with pytest.raises(IntegrityError), conn.begin_nested():
            conn.execute(insert(timeline).values(dict(entry)))
        conn.execute(insert(timeline).values({**entry, "event_id": str(uuid.uuid4())}))
    take.dispose()
    ghost = "330282-20260101-000000000000"

    verdict = check(system, {**submitted, ghost: "dibao"}, bootstrap=system.bootstrap)

    assert verdict.lost == [f"case {ghost} (dibao): unknown to intake"], verdict
    assert len(verdict.duplicated) == 2, verdict
    timeline_line, ledger_line = sorted(verdict.duplicated)
    assert ledger_line.startswith(f"ledger: payment {paid['payment_id']} of case {urgent}")
    assert timeline_line.startswith(f"intake timeline: onedoor.case.stage_changed of case "
                                    f"{dibao}")
    assert verdict.line(7, 0) == "7 cases, 0 kills: 1 lost, 2 duplicated effects"
