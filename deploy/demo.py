"""The demo: sample households through the public HTTP API of a running system."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx

from deploy.households import Household
from services.verification.bootstrap import demo_token

FINAL = {"payment_scheduled", "rejected", "undecidable"}


def load_partner_data(verification_url: str, households: list[Household],
                      chunk: int = 2000) -> int:
    """Each demo department publishes its records for these households."""
    by_dept: dict[str, list[dict[str, Any]]] = {}
    for household in households:
        for dept, records in household.partner_records.items():
            by_dept.setdefault(dept, []).extend(records)
    sent = 0
    with httpx.Client(base_url=verification_url, timeout=60) as client:
        for dept, records in by_dept.items():
            for start in range(0, len(records), chunk):
                response = client.post(
                    "/partner-records", json={"records": records[start:start + chunk]},
                    headers={"Authorization": f"Bearer {demo_token(dept)}"})
                response.raise_for_status()
                sent += response.json()["accepted"]
    return sent


def submit(client: httpx.Client, household: Household) -> str:
    response = client.post("/applications", json=household.application())
    response.raise_for_status()
    return str(response.json()["case_id"])


def follow(intake_url: str, case_ids: list[str], timeout_s: float) -> dict[str, dict[str, Any]]:
    """Poll intake until every case reaches a final status, or the time is up."""
    cases: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=intake_url, timeout=10) as client:
        waiting = list(case_ids)
        while waiting and time.monotonic() < deadline:
            still = []
            for case_id in waiting:
                case = client.get(f"/applications/{case_id}").json()
                cases[case_id] = case
                if case["status"] not in FINAL:
                    still.append(case_id)
            waiting = still
            if waiting:
                time.sleep(0.3)
    return cases


def run_demo(intake_url: str, households: list[Household], timeout_s: float = 60) -> str:
    """Submit, follow, print each case; return the summary line."""
    with httpx.Client(base_url=intake_url, timeout=30) as client:
        case_ids = [submit(client, h) for h in households]
    cases = follow(intake_url, case_ids, timeout_s)
    counts: Counter[str] = Counter()
    for household, case_id in zip(households, case_ids, strict=True):
        case = cases.get(case_id, {"status": "unknown"})
        status = case["status"]
        counts[status] += 1
        decision = case.get("decision") or {}
        if status == "payment_scheduled":
            fen = decision.get("monthly_amount_fen", 0)
            what = f"approved, {fen // 100}.{fen % 100:02d} yuan/month, payment scheduled"
        elif status == "rejected":
            failed = [r["detail"] for r in decision.get("reasons", []) if not r["passed"]]
            what = "rejected: " + "; ".join(failed)
        else:
            what = status
        print(f"  {case_id}  {household.label:<45} {what}")
    approved = counts["payment_scheduled"] + counts["approved"]
    lost = len(case_ids) - sum(counts[s] for s in FINAL)
    return (f"{len(case_ids)} submitted, {approved} approved, {counts['rejected']} rejected, "
            f"{counts['payment_scheduled']} payments scheduled, {lost} lost")
