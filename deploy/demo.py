"""The demo: sample households through the public HTTP API of a running system."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx

from deploy.bank_simulator import settle
from deploy.households import Household
from deploy.staff import SETTLED, TOWN, Staff
from deploy.tokens import DevTokens
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


def submit(client: httpx.Client, household: Household, tokens: DevTokens) -> str:
    """Taken at the window by a clerk of the household's district."""
    application = household.application()
    response = client.post("/applications", json=application,
                           headers=tokens.clerk(application["region_code"]))
    response.raise_for_status()
    return str(response.json()["case_id"])


def follow(intake_url: str, case_ids: list[str], timeout_s: float, tokens: DevTokens,
           done: set[str] = FINAL) -> dict[str, dict[str, Any]]:
    """Poll intake until every case reaches one of ``done``, or the time is up."""
    cases: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=intake_url, timeout=10, headers=tokens.service()) as client:
        waiting = list(case_ids)
        while waiting and time.monotonic() < deadline:
            still = []
            for case_id in waiting:
                case = client.get(f"/applications/{case_id}").json()
                cases[case_id] = case
                if case["status"] not in done:
                    still.append(case_id)
            waiting = still
            if waiting:
                time.sleep(0.3)
    return cases


def _yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"


def pay_through_bank(payment_url: str, intake_url: str, case_id: str, holder_name: str,
                     timeout_s: float, tokens: DevTokens) -> bool:
    """What the town and the finance office do for an emergency advance: register the account,
    send the bank a file now (not at month's end), and import the bank's answer. True once
    intake's timeline shows the money paid."""
    digits = "".join(c for c in case_id if c.isdigit())
    account = ("6222" + digits)[-19:]  # a made-up 19-digit card number per case
    district = case_id[:6]  # case ids start with their district's code
    clerk, finance = tokens.clerk(district), tokens.approver(district)
    with httpx.Client(base_url=payment_url, timeout=60) as client:
        client.put(f"/cases/{case_id}/account", json={
            "bank_code": "DEMO", "account_number": account, "holder_name": holder_name},
            headers={"Idempotency-Key": f"demo-account-{case_id}", **clerk}).raise_for_status()
        payments = client.get(f"/cases/{case_id}/payments", headers=clerk).json()["payments"]
        if not payments:
            return False
        exported = client.post("/bank-files", headers=finance, json={
            "region_code": district, "up_to_month": payments[0]["period"]}).json()
        for file in exported["files"]:
            disbursement = client.get(f"/bank-files/{file['file_id']}", headers=finance).text
            result = settle(disbursement)  # the pretend bank pays every line
            client.post("/bank-files/results", content=result.encode(),
                        headers={"Content-Type": "text/csv", **finance}).raise_for_status()
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=intake_url, timeout=10, headers=tokens.service()) as client:
        while time.monotonic() < deadline:
            timeline = client.get(f"/applications/{case_id}").json()["timeline"]
            if any("已到账" in entry["summary"] for entry in timeline):
                return True
            time.sleep(0.3)
    return False


def run_demo(intake_url: str, approval_url: str, households: list[Household],
             tokens: DevTokens, emergency: Household | None = None, timeout_s: float = 60,
             payment_url: str | None = None) -> str:
    """Submit, let scripted staff review and approve, follow each case; return the summary.

    Dibao cases stop under public notice (7 days by the packaged policy): the district approves
    after it. The emergency case is paid at once and verified afterwards.
    """
    with httpx.Client(base_url=intake_url, timeout=30) as client:
        case_ids = [submit(client, h, tokens) for h in households]
        urgent = submit(client, emergency, tokens) if emergency else None
    staff = Staff(approval_url, tokens)
    try:
        stages = staff.work(case_ids, until=SETTLED | {"under_notice"}, timeout_s=timeout_s)
        if urgent:
            staff.work([urgent], until={"awaiting_review"}, timeout_s=timeout_s)
            staff.act(urgent, "advance", TOWN, note="house fire last night; paid at once")
    finally:
        staff.close()
    cases = follow(intake_url, case_ids, timeout_s, tokens,
                   done=FINAL | {"under_notice", "approved"})
    counts: Counter[str] = Counter()
    notice_until = ""
    for household, case_id in zip(households, case_ids, strict=True):
        case = cases.get(case_id, {"status": "unknown"})
        status = case["status"]
        counts[status] += 1
        decision = case.get("decision") or {}
        if status == "under_notice":
            entry = next((e for e in reversed(case["timeline"]) if "公示" in e["summary"]), None)
            notice_until = entry["summary"] if entry else ""
            what = "accepted by the town, under public notice"
        elif status in ("approved", "payment_scheduled"):
            what = f"approved, {_yuan(decision.get('monthly_amount_fen', 0))} yuan/month"
        elif status == "rejected":
            failed = [r["detail"] for r in decision.get("reasons", [])
                      if not r["passed"] and r["rule"] != "staff_decision"]
            what = "rejected: " + "; ".join(failed)
        else:
            what = f"{status} ({stages.get(case_id)})"
        print(f"  {case_id}  {household.label:<45} {what}")
    paid = 0
    if urgent and emergency:
        case = follow(intake_url, [urgent], timeout_s, tokens,
                      done={"payment_scheduled"})[urgent]
        paid = int(case["status"] == "payment_scheduled")
        if paid and payment_url:
            paid = int(pay_through_bank(payment_url, intake_url, urgent,
                                        emergency.members[0]["name"], timeout_s, tokens))
        fen = (case.get("decision") or {}).get("one_off_amount_fen", 0)
        how = "paid into the bank account" if paid and payment_url else case["status"]
        print(f"  {urgent}  {'emergency: house fire':<45} advance {_yuan(fen)} yuan, {how}")
    if notice_until:
        print(f"  ({notice_until})")
    settled = counts["under_notice"] + counts["rejected"] + counts["approved"] \
        + counts["payment_scheduled"]
    lost = len(case_ids) - settled + ((1 - paid) if urgent else 0)
    return (f"{len(case_ids)} submitted: {counts['under_notice']} under public notice, "
            f"{counts['rejected']} rejected with reasons; "
            f"{paid} emergency advance paid; {lost} lost")
