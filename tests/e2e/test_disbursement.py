"""End to end through the running system: an approved Dibao household's next monthly payment goes
to the bank in a disbursement file, fails on a closed account, is re-issued once into the
corrected account, is paid, and the month reconciles to the fen."""

from __future__ import annotations

import asyncio
import io

import httpx
import pytest

from deploy.bank_simulator import SIMULATED_FAILURE, settle
from services.payment.domain.bankfile.disbursement import DisbursementFile, parse_disbursement
from services.payment.domain.model import next_month
from shared.events import topics
from tests.conftest import wait_until
from tests.e2e.conftest import HOUSEHOLDS, final_cases, payments, submit, tokens
from tests.integration.busutil import read_topic

pytestmark = pytest.mark.e2e

BANK = "ICBC"
CLOSED_ACCOUNT = "6222 0202 0011 2233 445"  # as a clerk types it, in groups
CORRECTED_ACCOUNT = "6217000010009876543"


def digits(account: str) -> str:
    return account.replace(" ", "")


def intake_timeline(system, case_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    response = httpx.get(f"{system.url('intake')}/applications/{case_id}",
                         headers=tokens(system).clerk(case_id[:6]), timeout=10)
    assert response.status_code == 200, response.text
    return [e["summary"] for e in response.json()["timeline"]]


def download(system, file_id: str) -> tuple[str, DisbursementFile]:  # type: ignore[no-untyped-def]
    response = httpx.get(f"{system.url('payment')}/bank-files/{file_id}",
                         headers=finance(system), timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    text = response.content.decode("utf-8")
    return text, parse_disbursement(io.StringIO(text, newline=""))


def finance(system) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The district's finance work (cycles, bank files, re-issues): its approver's."""
    return tokens(system).approver(HOUSEHOLDS[0].application()["region_code"])


def import_results(system, result: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    response = httpx.post(f"{system.url('payment')}/bank-files/results",
                          content=result.encode("utf-8"),
                          headers={"Content-Type": "text/csv", **finance(system)}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_failed_payment_is_corrected_reissued_paid_and_reconciled(system):
    household = HOUSEHOLDS[0]  # elderly pensioner living alone, Dibao
    application = household.application()
    assert application["programme"] == "dibao"
    region = application["region_code"]
    holder = next(m["name"] for m in household.members if m["relation"] == "applicant")
    pay = system.url("payment")
    clerk, office = tokens(system).clerk(region), finance(system)

    # Approved, with its first monthly payment scheduled.
    case_id = submit(system, household)
    case = final_cases(system, [case_id])[case_id]
    assert case["status"] == "payment_scheduled", case
    [first] = payments(system, case_id)
    amount = case["decision"]["monthly_amount_fen"]
    assert first["period"] == case["decision"]["start_month"] and first["amount_fen"] == amount
    month = next_month(first["period"])

    # The town registers the account; the answer shows only its last four digits.
    registered = httpx.put(f"{pay}/cases/{case_id}/account", json={
        "bank_code": BANK, "account_number": CLOSED_ACCOUNT, "holder_name": holder},
        headers=clerk, timeout=10)
    assert registered.status_code == 200, registered.text
    assert registered.json()["account"] == "**** " + digits(CLOSED_ACCOUNT)[-4:]
    assert digits(CLOSED_ACCOUNT) not in registered.text

    # Next month's cycle for the region: one payment for the case, once.
    started = httpx.post(f"{pay}/cycles", json={"month": month, "region_code": region},
                         headers=office, timeout=10)
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    run: dict = {}  # type: ignore[type-arg]

    def generated() -> bool:
        run.update(httpx.get(f"{pay}/cycles/{run_id}", headers=office, timeout=10).json())
        return run["status"] == "generated"

    wait_until(generated, timeout_s=60, interval_s=0.2, what=f"cycle {run_id} generated")
    assert run["month"] == month and run["region_code"] == region
    assert run["created_count"] == 1 and run["created_fen"] == amount, run
    [monthly] = [p for p in payments(system, case_id) if p["period"] == month]
    assert monthly["amount_fen"] == amount and monthly["status"] == "scheduled", monthly
    again = httpx.post(f"{pay}/cycles", json={"month": month, "region_code": region},
                       headers=office, timeout=10)
    assert again.status_code == 202 and again.json()["run_id"] == run_id, again.text
    wait_until(lambda: httpx.get(f"{pay}/cycles/{run_id}", headers=office,
                                 timeout=10).json()["status"] == "generated",
               timeout_s=60, what="the cycle asked again is generated")
    assert len(payments(system, case_id)) == 2  # nothing new

    # Bank files for the cycle: everything scheduled up to the month (the first month too).
    exported = httpx.post(f"{pay}/cycles/{run_id}/bank-files", headers=office, timeout=30)
    assert exported.status_code == 200, exported.text
    [file] = exported.json()["files"]
    assert file["bank_code"] == BANK
    assert exported.json()["without_account"]["payments"] == 0
    text, disbursement = download(system, file["file_id"])
    assert disbursement.file_id == file["file_id"] and disbursement.bank_code == BANK
    assert disbursement.cycle_id == run_id
    [line] = [ln for ln in disbursement.lines if ln.payment_id == monthly["payment_id"]]
    assert (line.account_number, line.holder_name, line.amount_fen, line.programme,
            line.period) == (digits(CLOSED_ACCOUNT), holder, amount, "dibao", month)
    assert first["payment_id"] in {ln.payment_id for ln in disbursement.lines}
    # The control total and count, in the header, the trailer and the export's answer.
    total = sum(ln.amount_fen for ln in disbursement.lines)
    assert (disbursement.record_count, disbursement.total_fen) == \
        (len(disbursement.lines), total) == (file["record_count"], file["total_fen"])
    assert text.endswith(f"T,{file['record_count']},{file['total_fen']}\r\n")

    # The bank refuses the month's line: the account is closed.
    result = settle(text, fail=lambda ln: SIMULATED_FAILURE
                    if ln.payment_id == monthly["payment_id"] else None)
    report = import_results(system, result)
    assert report["applied"] == {"paid": file["record_count"] - 1, "failed": 1}, report
    assert report["rejected"] == [] and not report["already_imported"]
    assert import_results(system, result)["already_imported"] is True  # the same file twice

    # The timeline says which kind of refusal; the bank's own words stay in payment.
    failed_entry = f"for {month}, 账户已销户 account closed"
    wait_until(lambda: any(s.startswith("发放失败 payment failed") and failed_entry in s
                           for s in intake_timeline(system, case_id)),
               timeout_s=60, interval_s=0.3, what="intake shows the failed payment")
    shown = httpx.get(f"{pay}/cases/{case_id}/payments", headers=office, timeout=10).json()
    assert [p["failure_reason"] for p in shown["payments"]
            if p["payment_id"] == monthly["payment_id"]] == [SIMULATED_FAILURE]

    # Not re-issued into the same closed account; corrected, it is re-issued — once.
    reissue_url = f"{pay}/payments/{monthly['payment_id']}/reissue"
    refused = httpx.post(reissue_url, headers=office, timeout=10)
    assert refused.status_code == 409 and "correct the account" in refused.text, refused.text
    corrected = httpx.put(f"{pay}/cases/{case_id}/account", json={
        "bank_code": BANK, "account_number": CORRECTED_ACCOUNT, "holder_name": holder},
        headers=clerk, timeout=10)
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["version"] == registered.json()["version"] + 1
    reissued = httpx.post(reissue_url, headers=office, timeout=10)
    assert reissued.status_code == 201, reissued.text
    assert reissued.json()["reissue_of"] == monthly["payment_id"]
    assert reissued.json()["amount_fen"] == amount and reissued.json()["period"] == month
    assert httpx.post(reissue_url, headers=office, timeout=10).status_code == 409  # once only

    # Out again at once, into the corrected account; the bank pays it.
    urgent = httpx.post(f"{pay}/bank-files", json={"region_code": region, "up_to_month": month},
                        headers=office, timeout=30)
    assert urgent.status_code == 200, urgent.text
    [second_file] = urgent.json()["files"]
    text, disbursement = download(system, second_file["file_id"])
    [line] = disbursement.lines
    assert (line.payment_id, line.account_number, line.amount_fen, line.period) == (
        reissued.json()["payment_id"], CORRECTED_ACCOUNT, amount, month)
    assert (disbursement.record_count, disbursement.total_fen) == (1, amount)
    report = import_results(system, settle(text))
    assert report["applied"] == {"paid": 1, "failed": 0}, report

    wait_until(lambda: any(s.startswith("已到账 paid") and f"for {month}" in s
                           for s in intake_timeline(system, case_id)),
               timeout_s=60, interval_s=0.3, what="intake shows the month paid")
    statuses = {p["payment_id"]: p["status"] for p in payments(system, case_id)}
    assert statuses == {first["payment_id"]: "paid", monthly["payment_id"]: "reissued",
                        reissued.json()["payment_id"]: "paid"}, statuses

    # The month reconciles to the fen: entitled = scheduled = paid, nothing failed or pending.
    reconciled = httpx.get(f"{pay}/reconciliation",
                           params={"month": month, "region_code": region}, headers=office,
                           timeout=10)
    assert reconciled.status_code == 200, reconciled.text
    body = reconciled.json()
    failing = [c for c in body["checks"] if not c["ok"]]
    assert body["balanced"] is True and not failing, failing
    assert body["totals"] == {"entitled_fen": amount, "scheduled_fen": amount,
                              "paid_fen": amount, "failed_fen": 0, "pending_fen": 0,
                              "payments": 1}, body["totals"]
    assert body["differences_count"] == 0

    # No account digits on the bus: not in any payment event's data nor its headers.
    secrets = [digits(a).encode() for a in (CLOSED_ACCOUNT, CORRECTED_ACCOUNT)]
    secrets += [s[:-4] for s in secrets]  # all but the last four, shown in the mask
    # scheduled ×3 (first month, cycle, re-issue) and settled ×3 (paid, failed, paid)
    records = asyncio.run(read_topic(system.bootstrap, topics.PAYMENTS, lambda r: True,
                                     want=6))
    ours = [r for r in records if r.key == case_id.encode()]
    kinds = sorted(dict(r.headers)["ce_type"].decode() for r in ours)
    assert kinds == ["onedoor.payment.scheduled"] * 3 + ["onedoor.payment.settled"] * 3, kinds
    for record in records:
        carried = [record.value, *(v for _, v in record.headers)]
        assert not any(s in part for s in secrets for part in carried), record.headers
