"""End to end through the running system (issue 22): a city's policy officers raise Cixi's Dibao
standard by 10% — one proposes, another approves — and every recipient is recalculated through
the bus, the next payment cycle pays the new amounts, and the auditor's replay of the archive
re-runs every decision, old and new, with the policy in force when it was made: 0 divergences."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from deploy.households import resident_id
from deploy.supervisor import System
from services.approval.service_layer.policy_admin import first_open_month
from services.verification.bootstrap import demo_token
from shared import clock
from shared.auth.principals import Role
from tests.conftest import wait_until
from tests.e2e.conftest import HOUSEHOLDS, final_cases, payments, submit, tokens
from tests.e2e.test_audit import replay_json

pytestmark = pytest.mark.e2e

CITY = "330200"  # 宁波市: Cixi (330282) is one of its districts
STANDARD = "dibao.monthly_standard_fen"


def officer(system: System, subject: str) -> dict[str, str]:
    return tokens(system).headers(Role.POLICY_OFFICER, subject, CITY)


def call(system: System, method: str, path: str, headers: dict[str, str],
         **kw: Any) -> dict[str, Any]:
    response = httpx.request(method, system.url("approval") + path, headers=headers,
                             timeout=30, **kw)
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_published_rise_is_recalculated_paid_and_replayed(system, tmp_path):
    recipients = [h for h in HOUSEHOLDS[:12] if h.application()["programme"] == "dibao"][:4]
    region = recipients[0].application()["region_code"]
    cases = final_cases(system, [submit(system, h) for h in recipients])
    paid = {cid: c for cid, c in cases.items() if c["status"] == "payment_scheduled"}
    assert len(paid) >= 2, {cid: c["status"] for cid, c in cases.items()}
    month = f"{first_open_month(datetime.now(UTC)):%Y-%m}"

    # One officer proposes; the same officer cannot approve; a second one publishes it.
    a, b = officer(system, "p-001"), officer(system, "p-002")
    standard = call(system, "GET", f"/policy/{region}?programme=dibao", {})[
        "figures"][STANDARD]["value"]
    proposal = call(system, "POST", "/policy/proposals", a, json={
        "name": STANDARD, "region_code": region, "effective_from": f"{month}-01",
        "value": standard * 11 // 10, "source": "慈溪市民政局文件 (e2e)",
        "reason": "the yearly rise, 10%"})
    own = httpx.post(f"{system.url('approval')}/policy/proposals/{proposal['proposal_id']}"
                     "/approve", headers=a, json={}, timeout=30)
    assert own.status_code == 409, own.text
    simulated = call(system, "GET", f"/policy/proposals/{proposal['proposal_id']}/simulation", a)
    published = call(system, "POST", f"/policy/proposals/{proposal['proposal_id']}/approve", b,
                     json={})
    assert published["status"] == "published"

    # Every recipient recalculated, each change explained.
    job_url = f"/policy/recalculations/{published['recalculation_job_id']}"
    job: dict[str, Any] = {}

    def recalculated() -> bool:
        job.update(call(system, "GET", job_url, a))
        return job["status"] == "done"

    wait_until(recalculated, timeout_s=60, interval_s=0.5, what="the recalculation done")
    changes = {h["case_id"]: h for h in job["households"]}
    assert set(paid) <= set(changes)
    for cid, case in paid.items():
        assert changes[cid]["old_monthly_fen"] == case["decision"]["monthly_amount_fen"]
        assert changes[cid]["new_monthly_fen"] > changes[cid]["old_monthly_fen"]
        assert STANDARD in changes[cid]["explanation"]
    assert job["changed"] == simulated["households"]["changed"]
    assert sum(h["new_monthly_fen"] - h["old_monthly_fen"] for h in job["households"]) == (
        simulated["monthly_cost_fen"]["change"])

    # The next cycle pays the new amounts (payment heard BenefitChanged through the bus).
    finance = tokens(system).approver(region)
    pay = system.url("payment")

    def cycle_pays_new_amounts() -> bool:
        started = httpx.post(f"{pay}/cycles", json={"month": month, "region_code": region},
                             headers=finance, timeout=10)
        assert started.status_code == 202, started.text
        run = httpx.get(f"{pay}/cycles/{started.json()['run_id']}", headers=finance,
                        timeout=10).json()
        return run["status"] == "generated"

    wait_until(cycle_pays_new_amounts, timeout_s=60, interval_s=0.5, what="the cycle generated")
    for cid in paid:
        [monthly] = [p for p in payments(system, cid) if p["period"] == month]
        assert monthly["amount_fen"] == changes[cid]["new_monthly_fen"], monthly

    # The auditor's replay: every decision re-run with the policy of its day, from the archive.
    attempt = itertools.count()

    def archived() -> bool:
        _, summary = replay_json(system, "--out", f"sqlite:///{tmp_path}/r{next(attempt)}.db")
        return summary["decisions_rerun"] >= len(cases) + len(paid)

    wait_until(archived, timeout_s=60, interval_s=1, what="the archive holds the new decisions")
    code, summary = replay_json(system, "--out", f"sqlite:///{tmp_path / 'final.db'}")
    assert code == 0 and summary["divergences"] == 0, summary


def test_verification_takes_a_published_threshold_without_a_restart(system):
    """A district's officers lower the large-medical-bill threshold for discovery leads from
    today: verification hears the publication on the bus and judges the next partner file by
    it — no restart, no file edited."""
    town, district = "330282003", "330282"
    reviewer = tokens(system).reviewer(town)
    stranger = resident_id(district, clock.today().replace(year=1957), 7)
    bill = {"record_id": "bill-e2e-threshold", "kind": "large_medical_bill",
            "resident_id": stranger, "amount_fen": 150_000, "as_of": clock.today().isoformat(),
            "town_code": town}
    verification = system.url("verification")

    def send_bill() -> list[dict[str, Any]]:
        sent = httpx.post(f"{verification}/partner-records", json={"records": [bill]},
                          headers={"Authorization": f"Bearer {demo_token('medical_insurance')}"},
                          timeout=30)
        assert sent.status_code == 200, sent.text
        found = httpx.get(f"{verification}/leads", headers=reviewer, timeout=30)
        assert found.status_code == 200, found.text
        return [lead for lead in found.json()["leads"]
                if any(e["record_id"] == bill["record_id"] for e in lead["evidence"])]

    assert send_bill() == []  # ¥1,500 is under the packaged ¥20,000
    a, b = officer(system, "p-011"), officer(system, "p-012")
    proposal = call(system, "POST", "/policy/proposals", a, json={
        "name": "discovery.medical_bill_fen", "region_code": district,
        "effective_from": clock.today().isoformat(), "value": 100_000,
        "source": "慈溪市民政局文件 (e2e)", "reason": "find households sooner"})
    published = call(system, "POST", f"/policy/proposals/{proposal['proposal_id']}/approve", b,
                     json={})
    assert published["status"] == "published" and published["recalculation_job_id"] is None
    leads: list[dict[str, Any]] = []

    def raised() -> bool:
        leads[:] = send_bill()
        return bool(leads)

    wait_until(raised, timeout_s=60, interval_s=0.5, what="a lead under the published threshold")
    [lead] = leads
    assert lead["town_code"] == town and "¥1,500.00" in lead["reason"]
