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
from shared.clock import today

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


def _account(case_id: str) -> str:
    digits = "".join(c for c in case_id if c.isdigit())
    return ("6222" + digits)[-19:]  # a made-up 19-digit card number per case


def register_accounts(client: httpx.Client, holders: dict[str, str], tokens: DevTokens) -> None:
    """The clerk records each household's bank account (kept by payment alone)."""
    for case_id, holder_name in holders.items():
        client.put(f"/cases/{case_id}/account", json={
            "bank_code": "DEMO", "account_number": _account(case_id), "holder_name": holder_name},
            headers={"Idempotency-Key": f"demo-account-{case_id}",
                     **tokens.clerk(case_id[:6])}).raise_for_status()


def run_cycle(client: httpx.Client, district: str, month: str, tokens: DevTokens,
              timeout_s: float) -> dict[str, Any]:
    """The finance office runs the month's cycle for the district: one payment per entitlement,
    once (payments already scheduled when a benefit was decided are not made again)."""
    finance = tokens.approver(district)
    run = client.post("/cycles", json={"month": month, "region_code": district},
                      headers={"Idempotency-Key": f"demo-cycle-{district}-{month}", **finance})
    run.raise_for_status()
    run_id = run.json()["run_id"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found: dict[str, Any] = client.get(f"/cycles/{run_id}", headers=finance).json()
        if found["status"] == "generated":
            return found
        time.sleep(0.3)
    raise TimeoutError(f"cycle {run_id} still generating after {timeout_s} s")


def send_bank_files(client: httpx.Client, district: str, month: str, tokens: DevTokens) -> int:
    """Everything scheduled in the district up to ``month`` goes to the banks now; the pretend
    bank pays every line and its result file is imported. Returns the files sent."""
    finance = tokens.approver(district)
    exported = client.post("/bank-files", headers=finance, json={
        "region_code": district, "up_to_month": month})
    exported.raise_for_status()
    files = exported.json()["files"]
    for file in files:
        disbursement = client.get(f"/bank-files/{file['file_id']}", headers=finance).text
        client.post("/bank-files/results", content=settle(disbursement).encode(),
                    headers={"Content-Type": "text/csv", **finance}).raise_for_status()
    return len(files)


def paid_cases(intake_url: str, case_ids: list[str], timeout_s: float,
               tokens: DevTokens) -> set[str]:
    """The cases whose timeline at intake shows money in the account (已到账)."""
    paid: set[str] = set()
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=intake_url, timeout=10, headers=tokens.service()) as client:
        while time.monotonic() < deadline and len(paid) < len(case_ids):
            for case_id in case_ids:
                if case_id not in paid:
                    timeline = client.get(f"/applications/{case_id}").json()["timeline"]
                    if any("已到账" in entry["summary"] for entry in timeline):
                        paid.add(case_id)
            if len(paid) < len(case_ids):
                time.sleep(0.3)
    return paid


def pay_through_bank(payment_url: str, intake_url: str, holders: dict[str, str],
                     timeout_s: float, tokens: DevTokens) -> set[str]:
    """What the town and the finance office do: register the accounts, run this month's cycle,
    send the banks their files and import their answers. Returns the cases shown paid."""
    if not holders:
        return set()
    month = today().strftime("%Y-%m")
    districts = sorted({case_id[:6] for case_id in holders})  # case ids start with it
    with httpx.Client(base_url=payment_url, timeout=60) as client:
        register_accounts(client, holders, tokens)
        for district in districts:
            run_cycle(client, district, month, tokens, timeout_s)
            send_bank_files(client, district, month, tokens)
    return paid_cases(intake_url, list(holders), timeout_s, tokens)


def run_demo(intake_url: str, approval_url: str, households: list[Household],
             tokens: DevTokens, emergency: Household | None = None, timeout_s: float = 60,
             payment_url: str | None = None) -> str:
    """Submit, let scripted staff review and approve, pay through the bank, follow each case;
    return the summary.

    Dibao cases pass a public notice before the district approves: under `onedoor up` in
    development it lasts 0 days (deploy/demo_policy.toml), so they are approved, paid in this
    month's cycle and shown paid; on a system with the packaged 7 days they stop under notice,
    and the summary says so. The emergency case is paid at once and verified afterwards.
    """
    with httpx.Client(base_url=intake_url, timeout=30) as client:
        case_ids = [submit(client, h, tokens) for h in households]
        urgent = submit(client, emergency, tokens) if emergency else None
    staff = Staff(approval_url, tokens)
    try:
        stages = staff.work(case_ids, until=SETTLED | {"under_notice"}, timeout_s=timeout_s)
        # A notice already over (0 days here) lets the district approve now; a running one is
        # left, and the cases wait under it.
        noticed = [c for c, stage in stages.items() if stage == "under_notice"]
        stages.update(staff.work(noticed, timeout_s=min(timeout_s, 10)))
        if urgent:
            staff.work([urgent], until={"awaiting_review"}, timeout_s=timeout_s)
            staff.act(urgent, "advance", TOWN, note="house fire last night; paid at once")
    finally:
        staff.close()
    cases = follow(intake_url, case_ids, timeout_s, tokens, done=FINAL | {"under_notice"})
    holders = {case_id: household.members[0]["name"]
               for household, case_id in zip(households, case_ids, strict=True)
               if cases.get(case_id, {}).get("status") == "payment_scheduled"}
    if urgent and emergency:
        scheduled = follow(intake_url, [urgent], timeout_s, tokens, done={"payment_scheduled"})
        if scheduled[urgent]["status"] == "payment_scheduled":
            holders[urgent] = emergency.members[0]["name"]
    paid = (pay_through_bank(payment_url, intake_url, holders, timeout_s, tokens)
            if payment_url else set())
    counts: Counter[str] = Counter()
    notice_until = ""
    for household, case_id in zip(households, case_ids, strict=True):
        case = cases.get(case_id, {"status": "unknown"})
        status = case["status"]
        decision = case.get("decision") or {}
        if status == "under_notice":
            entry = next((e for e in reversed(case["timeline"]) if "公示" in e["summary"]), None)
            notice_until = entry["summary"] if entry else ""
            what, counted = "accepted by the town, under public notice", "under_notice"
        elif status == "payment_scheduled":
            amount = f"approved, {_yuan(decision.get('monthly_amount_fen', 0))} yuan/month"
            if case_id in paid:
                what, counted = f"{amount}, paid into the bank account", "paid"
            else:
                what, counted = f"{amount}, payment scheduled", "scheduled"
        elif status == "rejected":
            failed = [r["detail"] for r in decision.get("reasons", [])
                      if not r["passed"] and r["rule"] != "staff_decision"]
            what, counted = "rejected: " + "; ".join(failed), "rejected"
        else:
            what, counted = f"{status} ({stages.get(case_id)})", "other"
        counts[counted] += 1
        print(f"  {case_id}  {household.label:<45} {what}")
    advance_paid = int(urgent in paid) if urgent else 0
    if urgent and emergency:
        fen = (cases.get(urgent) or follow(intake_url, [urgent], 1, tokens)[urgent]).get(
            "decision") or {}
        how = "paid into the bank account" if advance_paid else "not shown paid"
        print(f"  {urgent}  {'emergency: house fire':<45} "
              f"advance {_yuan(fen.get('one_off_amount_fen', 0))} yuan, {how}")
    if notice_until:
        print(f"  ({notice_until})")
    # Lost: a case that reached none of the places the demo expects it to rest.
    lost = counts["other"] + ((1 - advance_paid) if urgent else 0)
    return (f"{len(case_ids)} submitted: {counts['paid']} approved and paid, "
            f"{counts['scheduled']} approved and scheduled, "
            f"{counts['under_notice']} under public notice, "
            f"{counts['rejected']} rejected with reasons; "
            f"{advance_paid} emergency advance paid; {lost} lost")
