"""Banks (银行代发): accounts, disbursement files out, result files in, a failed payment
re-issued once.

Accounts are sealed at rest (adapters/vault.py) and only their last four digits are ever shown.
A disbursement file takes every scheduled payment of a region up to a month that has an account,
one file per bank, and marks them exported with a sealed copy of the account as it was — so the
file can be produced again byte for byte, even after the account is corrected. A result file is
applied line by line; the same file twice changes nothing, and a line that contradicts what was
recorded is rejected, not applied.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from sqlalchemy import Connection, and_, exists, func, insert, literal, select, update

from services.payment.adapters.payments import NewPayment, as_new_payment
from services.payment.adapters.repository import PaymentRepository
from services.payment.adapters.tables import accounts, bank_files, bank_results, ledger, payments
from services.payment.adapters.vault import (
    AccountVault,
    mask,
    masked_last4,
    normalise_account,
    normalise_holder,
)
from services.payment.domain.bankfile.cells import FORMULA_STARTERS
from services.payment.domain.bankfile.disbursement import BankLine, disbursement_chunks
from services.payment.domain.bankfile.results import parse_results
from services.payment.domain.failures import failure_code
from services.payment.service_layer.handlers import scheduled_event
from shared import clock, metrics
from shared.events.catalogue import PaymentSettled
from shared.events.envelope import new_id
from shared.uow import UnitOfWork


class Refused(ValueError):
    """A request the state of the payment does not allow (HTTP 409)."""


class NotFound(LookupError):
    """No such payment or file (HTTP 404)."""


# -- accounts ---------------------------------------------------------------------------------

def register_account(uow: UnitOfWork, vault: AccountVault, case_id: str, bank_code: str,
                     account_number: str, holder_name: str) -> dict[str, Any]:
    """Registers or corrects the account a case is paid into. ValueError (HTTP 422) for a
    malformed number or name; the message never repeats them."""
    number = normalise_account(account_number)
    holder = normalise_holder(holder_name)
    if holder.startswith(FORMULA_STARTERS):
        # The bank file would refuse it at export time; better to say so at the window.
        raise ValueError("holder name: may not start with = + - or @")
    sealed, sealed_holder = (vault.seal(number, bound_to=case_id),
                             vault.seal(holder, bound_to=case_id))
    now = datetime.now(UTC)
    version = PaymentRepository(uow.conn).put_account(case_id, bank_code, sealed, number[-4:],
                                                       sealed_holder, now)
    return {"case_id": case_id, "bank_code": bank_code, "account": mask(number),
            "version": version, "updated_at": now.isoformat()}


def shown_account(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"bank_code": row["bank_code"], "account": masked_last4(row["account_last4"]),
            "version": row["version"], "updated_at": clock.as_utc(row["updated_at"]).isoformat()}


# -- disbursement files -----------------------------------------------------------------------

def _due(region_code: str, up_to_month: str) -> Any:
    return and_(payments.c.region_code == region_code, payments.c.status == "scheduled",
                payments.c.period <= up_to_month)


def export(uow: UnitOfWork, region_code: str, up_to_month: str,
           run_id: str | None) -> dict[str, Any]:
    """One disbursement file per bank for the scheduled payments of a region up to a month.
    Set-based: a million payments are a few statements, not a million round trips."""
    conn = uow.conn
    now = datetime.now(UTC)
    has_account = exists().where(accounts.c.case_id == payments.c.case_id)
    banks = conn.execute(
        select(accounts.c.bank_code).distinct()
        .where(accounts.c.case_id.in_(select(payments.c.case_id).where(
            _due(region_code, up_to_month))))
        .order_by(accounts.c.bank_code)).scalars().all()
    files = []
    for bank_code in banks:
        file_id = new_id()
        # UPDATE … FROM accounts (SQLite 3.33+, PostgreSQL): the due payments, read through the
        # (region, status, period) index, each joined to its account by primary key.
        conn.execute(update(payments)
                     .where(_due(region_code, up_to_month),
                            accounts.c.case_id == payments.c.case_id,
                            accounts.c.bank_code == bank_code)
                     .values(status="exported", bank_file_id=file_id, bank_code=bank_code,
                             account_sealed=accounts.c.account_sealed,
                             holder_sealed=accounts.c.holder_sealed, exported_at=now))
        conn.execute(insert(ledger).from_select(
            ["at", "payment_id", "case_id", "region_code", "programme", "kind", "period",
             "from_state", "to_state", "amount_fen", "ref"],
            select(literal(now), payments.c.payment_id, payments.c.case_id,
                   payments.c.region_code, payments.c.programme, payments.c.kind,
                   payments.c.period, literal("scheduled"), literal("exported"),
                   payments.c.amount_fen, literal(file_id))
            .where(payments.c.bank_file_id == file_id)))
        count, total = conn.execute(select(func.count(), func.sum(payments.c.amount_fen))
                                    .where(payments.c.bank_file_id == file_id)).one()
        if count == 0:
            # Another export took these payments between our reading and our writing
            # (PostgreSQL re-checks the status under the row lock): no empty file.
            continue
        conn.execute(insert(bank_files).values(
            file_id=file_id, run_id=run_id, region_code=region_code, bank_code=bank_code,
            record_count=count, total_fen=total, created_at=now))
        files.append({"file_id": file_id, "bank_code": bank_code, "record_count": count,
                      "total_fen": int(total)})
    if files:  # the metric of payments sent, by programme, counted once this commits
        sent = payments.c.bank_file_id.in_([f["file_id"] for f in files])
        metrics.payments_sent(uow, dict(conn.execute(select(payments.c.programme, func.count())
                                                     .where(sent).group_by(payments.c.programme)).all()))
    # What could not go: no account registered. It stays scheduled for the next file.
    waiting = conn.execute(
        select(payments.c.case_id, func.count(), func.sum(payments.c.amount_fen))
        .where(_due(region_code, up_to_month), ~has_account)
        .group_by(payments.c.case_id).order_by(payments.c.case_id)).all()
    return {"region_code": region_code, "up_to_month": up_to_month, "run_id": run_id,
            "files": files,
            "without_account": {"payments": sum(r[1] for r in waiting),
                                "amount_fen": int(sum(r[2] for r in waiting)),
                                "cases": [r[0] for r in waiting[:200]]}}


def bank_file(conn: Connection, file_id: str) -> dict[str, Any]:
    row = conn.execute(select(bank_files).where(bank_files.c.file_id == file_id)
                       ).mappings().first()
    if row is None:
        raise NotFound(f"no bank file {file_id}")
    return dict(row)


def write_file(conn: Connection, vault: AccountVault, file_id: str, out: TextIO) -> None:
    """Writes a disbursement file to ``out`` (``file_chunks``, written as they come)."""
    for chunk in file_chunks(conn, vault, file_id):
        out.write(chunk)


def file_chunks(conn: Connection, vault: AccountVault, file_id: str) -> Iterator[str]:
    """A disbursement file, chunk by chunk: the only place account numbers leave their seal,
    for the bank that pays into them. Streams, so a million lines need no more memory than a
    few; a generator, so a reader who stops reading (a download cut off) stops it."""
    head = bank_file(conn, file_id)
    rows = conn.execution_options(yield_per=5_000).execute(
        select(payments.c.payment_id, payments.c.case_id, payments.c.account_sealed,
               payments.c.holder_sealed, payments.c.amount_fen, payments.c.programme,
               payments.c.period)
        .where(payments.c.bank_file_id == file_id).order_by(payments.c.payment_id))

    def lines() -> Iterator[BankLine]:
        for r in rows:
            yield BankLine(payment_id=r.payment_id,
                           account_number=vault.open(r.account_sealed, bound_to=r.case_id),
                           holder_name=vault.open(r.holder_sealed, bound_to=r.case_id),
                           amount_fen=r.amount_fen, programme=r.programme, period=r.period)

    yield from disbursement_chunks(
        file_id=file_id, bank_code=head["bank_code"], cycle_id=head["run_id"],
        created_at=clock.as_utc(head["created_at"]), record_count=head["record_count"],
        total_fen=head["total_fen"], lines=lines())


# -- result files ------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Line:
    line_no: int
    payment_id: str
    outcome: str
    detail: str | None = None


def import_results(uow: UnitOfWork, content: bytes, *,
                   check_region: Callable[[str], None]) -> dict[str, Any]:
    """Applies a bank's result file. FileRefused (HTTP 422) when the file as a whole cannot be
    trusted; otherwise a report of the lines applied, unchanged and rejected (with reasons).
    ``check_region`` is given the region of the file the results answer, before anything is
    applied, and raises when the importer may not act there."""
    digest = hashlib.sha256(content).hexdigest()
    conn = uow.conn
    # newline="": the csv module alone decides where a record ends (splitlines would also break
    # on characters such as U+2028 inside a field).
    parsed = parse_results(io.StringIO(content.decode("utf-8-sig"), newline=""))
    head = bank_file(conn, parsed.file_id)
    check_region(head["region_code"])  # before the stored answer too: it names payments
    seen = conn.execute(select(bank_results.c.report).where(bank_results.c.sha256 == digest)
                        ).scalar()
    if seen is not None:
        return {**json.loads(seen), "already_imported": True}
    if head["bank_code"] != parsed.bank_code:
        raise Refused(f"file {parsed.file_id} went to bank {head['bank_code']}, "
                      f"not {parsed.bank_code}")
    now = datetime.now(UTC)
    rejected = [_Line(p.line_no, p.payment_id or "", "rejected", p.reason)
                for p in parsed.problems]
    applied: list[_Line] = []
    unchanged: list[_Line] = []
    repo = PaymentRepository(conn)
    for line in parsed.lines:
        row = repo.payment(line.payment_id, for_update=True)
        if row is None or row["bank_file_id"] != parsed.file_id:
            rejected.append(_Line(line.line_no, line.payment_id, "rejected",
                                  "not a payment of this file"))
            continue
        if row["amount_fen"] != line.amount_fen:
            rejected.append(_Line(line.line_no, line.payment_id, "rejected",
                                  f"amount {line.amount_fen} fen, the file sent "
                                  f"{row['amount_fen']} fen"))
            continue
        recorded = "failed" if row["status"] == "reissued" else row["status"]
        if recorded == line.outcome:
            unchanged.append(_Line(line.line_no, line.payment_id, "unchanged"))
            continue
        if row["status"] != "exported":
            rejected.append(_Line(line.line_no, line.payment_id, "rejected",
                                  f"already recorded as {row['status']}"))
            continue
        conn.execute(update(payments).where(payments.c.payment_id == line.payment_id).values(
            status=line.outcome, settled_at=now, failure_reason=line.reason,
            bank_reference=line.bank_reference))
        new = as_new_payment(row)
        repo.move([new], "exported", line.outcome, now, ref=parsed.file_id)
        uow.publish(PaymentSettled(
            case_id=row["case_id"], payment_id=line.payment_id,
            programme=row["programme"], period=row["period"], kind=row["kind"],
            amount_fen=row["amount_fen"], outcome=line.outcome,
            reason_code=failure_code(line.reason), bank_file_id=parsed.file_id,
            settled_at=now))
        applied.append(_Line(line.line_no, line.payment_id, line.outcome))
    report = {
        "file_id": parsed.file_id, "bank_code": parsed.bank_code, "sha256": digest,
        "applied": {"paid": sum(x.outcome == "paid" for x in applied),
                    "failed": sum(x.outcome == "failed" for x in applied)},
        "unchanged": len(unchanged),
        "rejected": [{"line": x.line_no, "payment_id": x.payment_id or None,
                      "reason": x.detail} for x in sorted(rejected, key=lambda x: x.line_no)],
    }
    conn.execute(insert(bank_results).values(sha256=digest, file_id=parsed.file_id,
                                             report=json.dumps(report), imported_at=now))
    return {**report, "already_imported": False}


# -- re-issue ---------------------------------------------------------------------------------

def _corrected(vault: AccountVault, row: dict[str, Any], account: dict[str, Any] | None) -> bool:
    """Whether the case's account now differs from the one the bank refused: what matters is
    the account, not when someone last saved it (the same number saved again is no correction;
    a correction saved while the file was still at the bank is one)."""
    if account is None:
        return False
    case_id = row["case_id"]
    sent = (row["bank_code"], vault.open(row["account_sealed"], bound_to=case_id),
            vault.open(row["holder_sealed"], bound_to=case_id))
    now = (account["bank_code"], vault.open(account["account_sealed"], bound_to=case_id),
           vault.open(account["holder_sealed"], bound_to=case_id))
    return now != sent


def reissue(uow: UnitOfWork, vault: AccountVault, payment_id: str) -> dict[str, Any]:
    """Pays a failed payment again, once, into the corrected account."""
    repo = PaymentRepository(uow.conn)
    row = repo.payment(payment_id, for_update=True)
    if row is None:
        raise NotFound(f"no payment {payment_id}")
    if row["status"] == "reissued":
        raise Refused(f"payment {payment_id} was re-issued already")
    if row["status"] != "failed":
        raise Refused(f"payment {payment_id} is {row['status']}: only a failed payment is "
                      "re-issued")
    if row["reissue_of"] is not None:
        # Twice failed: something other than a typo is wrong. The district looks, not a retry.
        raise Refused(f"payment {payment_id} is itself a re-issue that failed; it is not "
                      "re-issued again")
    if not _corrected(vault, row, repo.account(row["case_id"])):
        raise Refused(f"correct the account of case {row['case_id']} before re-issuing "
                      f"payment {payment_id}: the bank refused it ({row['failure_reason']})")
    now = datetime.now(UTC)
    original = as_new_payment(row)
    new = NewPayment(payment_id=new_id(), payment=original.payment,
                     decision_id=row["decision_id"], run_id=row["run_id"],
                     reissue_of=payment_id)
    uow.conn.execute(update(payments).where(payments.c.payment_id == payment_id)
                     .values(status="reissued"))
    uow.conn.execute(insert(payments), {
        **{c: row[c] for c in ("case_id", "programme", "kind", "period", "amount_fen",
                               "beneficiary_ref", "region_code", "decision_id", "run_id",
                               "tops_up_to_fen")},  # a back pay's re-issue tops up the same
        "payment_id": new.payment_id, "status": "scheduled", "scheduled_at": now,
        "reissue_of": payment_id})
    repo.move([new], "failed", "scheduled", now, ref=payment_id)
    uow.publish(scheduled_event(new, now))
    return {"payment_id": new.payment_id, "reissue_of": payment_id, "status": "scheduled",
            "amount_fen": row["amount_fen"], "period": row["period"]}
