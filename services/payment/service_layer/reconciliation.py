"""Reconciliation (对账) of a month in a region, for finance officers and auditors.

Three records are compared, each kept separately: what the entitlements say the month owes,
the payments table (one row per payment and its status), and the append-only ledger (every
movement of money between states). They must agree to the fen:

* approved entitlements for the month = monthly payments scheduled for it (each case, each fen);
* scheduled = paid + failed + pending, where pending = not yet sent + at the bank + held;
* the ledger's balance in each state = the payments in that status;
* each bank file's control total and count = the payments it carries.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, func, select

from services.payment.adapters.repository import PaymentRepository
from services.payment.adapters.tables import bank_files, ledger, payments

STATES = ("scheduled", "exported", "held", "paid", "failed")
_MAX_LISTED = 100


def reconcile(conn: Connection, month: str, region_code: str) -> dict[str, Any]:
    entitled, duplicates, owed_by_case = _entitled(conn, month, region_code)
    in_month = (payments.c.period == month) & (payments.c.region_code == region_code)

    # The payments table: obligations (first issues) and where each payment stands now.
    obligations: dict[tuple[str, str], int] = defaultdict(int)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    by_status: dict[tuple[str, str, str], int] = defaultdict(int)
    paid_by_case: dict[str, int] = defaultdict(int)
    for kind, programme, status, first, case_id, amount in conn.execute(
            select(payments.c.kind, payments.c.programme, payments.c.status,
                   payments.c.reissue_of.is_(None), payments.c.case_id, payments.c.amount_fen)
            .where(in_month)):
        if first:
            obligations[(kind, programme)] += amount
            counts[(kind, programme)] += 1
            if kind == "monthly":
                paid_by_case[case_id] += amount
        if status != "reissued":  # its money moved on to the re-issue
            by_status[(kind, programme, status)] += amount

    # The ledger: balance per state = what moved in − what moved out.
    balance: dict[tuple[str, str, str], int] = defaultdict(int)
    approved: dict[tuple[str, str], int] = defaultdict(int)
    for kind, programme, from_state, to_state, amount in conn.execute(
            select(ledger.c.kind, ledger.c.programme, ledger.c.from_state, ledger.c.to_state,
                   func.sum(ledger.c.amount_fen))
            .where(ledger.c.period == month, ledger.c.region_code == region_code)
            .group_by(ledger.c.kind, ledger.c.programme, ledger.c.from_state,
                      ledger.c.to_state)):
        balance[(kind, programme, to_state)] += int(amount)
        balance[(kind, programme, from_state)] -= int(amount)
        if from_state == "approved":
            approved[(kind, programme)] += int(amount)

    checks: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    row: dict[str, Any]
    keys = sorted(set(obligations) | set(approved) | {("monthly", p) for p in entitled})
    for kind, programme in keys:
        states = {s: balance[(kind, programme, s)] for s in STATES}
        row = {"kind": kind, "programme": programme,
               "entitled_fen": entitled.get(programme) if kind == "monthly" else None,
               "scheduled_fen": obligations[(kind, programme)],
               "payments": counts[(kind, programme)],
               "paid_fen": states["paid"], "failed_fen": states["failed"],
               "pending_fen": states["scheduled"] + states["exported"] + states["held"],
               "not_sent_fen": states["scheduled"], "at_bank_fen": states["exported"],
               "held_fen": states["held"]}
        rows.append(row)
        label = f"{kind} {programme}"
        if kind == "monthly":
            checks.append(_check(f"{label}: approved entitlements = scheduled",
                                 row["entitled_fen"] or 0, row["scheduled_fen"]))
        checks.append(_check(f"{label}: scheduled = paid + failed + pending",
                             row["scheduled_fen"],
                             row["paid_fen"] + row["failed_fen"] + row["pending_fen"]))
        checks.append(_check(f"{label}: ledger approved = payments scheduled",
                             approved[(kind, programme)], row["scheduled_fen"]))
        for state in STATES:
            checks.append(_check(f"{label}: ledger {state} = payments {state}",
                                 states[state], by_status[(kind, programme, state)]))
    checks.extend(_bank_file_checks(conn, month, region_code))
    differences = _differences(owed_by_case, paid_by_case)
    totals = {k: sum(r[k] or 0 for r in rows) for k in (
        "scheduled_fen", "paid_fen", "failed_fen", "pending_fen", "payments")}
    totals["entitled_fen"] = sum(entitled.values())
    return {"month": month, "region_code": region_code, "balanced": all(c["ok"] for c in checks),
            "rows": rows, "totals": totals, "checks": checks,
            "differences": differences[:_MAX_LISTED], "differences_count": len(differences),
            "duplicate_entitlements": duplicates[:_MAX_LISTED]}


def as_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    columns = ["kind", "programme", "entitled_fen", "scheduled_fen", "payments", "paid_fen",
               "failed_fen", "pending_fen", "not_sent_fen", "at_bank_fen", "held_fen"]
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["month", report["month"], "region_code", report["region_code"],
                     "balanced", str(report["balanced"]).lower()])
    writer.writerow(columns)
    for row in report["rows"]:
        writer.writerow(["" if row[c] is None else row[c] for c in columns])
    writer.writerow([])
    writer.writerow(["check", "ok", "expected_fen", "actual_fen"])
    for check in report["checks"]:
        writer.writerow([check["name"], str(check["ok"]).lower(), check["expected_fen"],
                         check["actual_fen"]])
    return out.getvalue()


def _check(name: str, expected: int, actual: int) -> dict[str, Any]:
    return {"name": name, "ok": expected == actual, "expected_fen": expected,
            "actual_fen": actual}


def _entitled(conn: Connection, month: str, region_code: str
              ) -> tuple[dict[str, int], list[dict[str, Any]], dict[str, int]]:
    """In one pass over the region's entitlements: what they owe for the month per programme —
    once per household and programme, as the payments are (a second entitlement of the same
    household is listed) — and what each case owes."""
    owed: dict[str, int] = defaultdict(int)
    by_case: dict[str, int] = {}
    seen: dict[tuple[str, str], str] = {}
    duplicates = []
    for e in PaymentRepository(conn).each_entitlement(region_code, month):
        amount = e.amount_for(month)
        by_case[e.case_id] = amount
        if amount <= 0:
            continue
        key = (e.beneficiary_ref, e.programme)
        if key in seen:
            duplicates.append({"case_id": e.case_id, "paid_through": seen[key],
                               "programme": e.programme, "amount_fen": amount})
            continue
        seen[key] = e.case_id
        owed[e.programme] += amount
    return dict(owed), duplicates, by_case


def _differences(owed_by_case: dict[str, int],
                 paid_by_case: dict[str, int]) -> list[dict[str, Any]]:
    """Cases whose monthly payment differs from what their entitlement owes for the month."""
    out = [{"case_id": c, "entitled_fen": owed, "scheduled_fen": paid_by_case.get(c, 0)}
           for c, owed in owed_by_case.items() if owed != paid_by_case.get(c, 0)]
    out.extend({"case_id": c, "entitled_fen": 0, "scheduled_fen": paid}
               for c, paid in sorted(paid_by_case.items()) if c not in owed_by_case)
    return out


def _bank_file_checks(conn: Connection, month: str, region_code: str) -> list[dict[str, Any]]:
    """The files that carried any of the month's payments: each file's control total and count
    against all the payments it carries (a file may carry several months)."""
    of_month = (select(payments.c.bank_file_id).distinct()
                .where(payments.c.region_code == region_code, payments.c.period == month,
                       payments.c.bank_file_id.is_not(None)))
    carried = {
        file_id: (int(n), int(total)) for file_id, n, total in conn.execute(
            select(payments.c.bank_file_id, func.count(), func.sum(payments.c.amount_fen))
            .where(payments.c.bank_file_id.in_(of_month))
            .group_by(payments.c.bank_file_id))}
    checks = []
    for f in conn.execute(select(bank_files).where(bank_files.c.file_id.in_(of_month))
                          .order_by(bank_files.c.created_at)).mappings():
        n, total = carried.get(f["file_id"], (0, 0))
        checks.append(_check(f"bank file {f['file_id']} ({f['bank_code']}): control total",
                             int(f["total_fen"]), total))
        checks.append(_check(f"bank file {f['file_id']} ({f['bank_code']}): record count",
                             int(f["record_count"]), n))
    return checks
