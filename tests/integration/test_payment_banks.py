"""Banks and reconciliation through payment's HTTP API, on SQLite and PostgreSQL: accounts sealed
and masked, cycles, disbursement files a bank can read, result files applied once, a failed
payment re-issued once, idempotency keys, and a reconciliation that adds up to the fen.

The app is wired as bootstrap wires it, minus Kafka: the outbox rows stay in the database, where
the tests read them."""

from __future__ import annotations

import csv
import io
import json
import random
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text

from deploy.bank_simulator import SIMULATED_FAILURE, settle
from deploy.tokens import DevTokens
from services.payment.adapters.tables import accounts, bank_files, bank_results, bus, ledger
from services.payment.adapters.tables import payments as payments_table
from services.payment.adapters.vault import AccountVault, SealBroken
from services.payment.domain.bankfile.disbursement import BankLine, parse_disbursement
from services.payment.domain.bankfile.results import write_results
from services.payment.entrypoints import banks, http
from services.payment.entrypoints.runner import Runner
from services.payment.service_layer import runs
from services.payment.service_layer.handlers import on_application_decided, on_benefit_changed
from shared.auth.tokens import load_token_keys
from shared.events.catalogue import (
    ApplicationDecided,
    BenefitChanged,
    DecisionReason,
    PolicyParameter,
)
from shared.events.envelope import Envelope
from shared.service import unprocessable_without_input as _without_input
from shared.settings import load_settings
from shared.uow import UnitOfWork
from tests.conftest import migrated_engine

REGION = "330282"
NOV, DEC = "2026-11", "2026-12"
CYCLE_DEC = f"cycle:{DEC}:{REGION}"
CAP_FEN = 3_000_000  # the yearly temporary-assistance cap approval applied (seed 002)


# -- wiring -------------------------------------------------------------------------------------

@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with migrated_engine(database_url, "payment") as engine:
        yield engine


class Payment:
    """Payment's HTTP API as a finance office uses it, on a real database."""

    def __init__(self, engine: Engine, data_dir: Path) -> None:
        self.engine = engine
        settings = load_settings(env="test", data_dir=data_dir)
        runtime = SimpleNamespace(engine=engine, uow=lambda: UnitOfWork(engine, bus, "/test"))
        app = FastAPI()
        app.include_router(http.router)
        app.include_router(banks.router)
        app.add_exception_handler(RequestValidationError, _without_input)  # type: ignore[arg-type]
        app.state.runtime = runtime  # what shared.service.current_runtime reads
        app.state.vault = AccountVault("test-secret")
        app.state.runner = Runner(runtime.uow)
        app.state.auth_verifier = load_token_keys(settings)[1]
        self.app = app
        # The district's finance office runs cycles, bank files and reconciliation; accounts
        # are registered by a clerk at the window (clerk_headers).
        tokens = DevTokens(settings)
        self.clerk_headers = tokens.clerk(REGION)
        self.http = TestClient(app, headers=tokens.approver(REGION))

    def wait_for_runs(self) -> None:
        # Cycles and batches generate on a background thread; answers come before the payments.
        self.app.state.runner.join(30)

    def put_account(self, n: int, number: str, bank: str = "ICBC", holder: str | None = None,
                    key: str | None = None) -> Any:
        return self.http.put(f"/cases/{case(n)}/account",
                             headers={**_key(key), **self.clerk_headers}, json={
            "bank_code": bank, "account_number": number, "holder_name": holder or holder_of(n)})

    def cycle(self, month: str, key: str | None = None) -> dict[str, Any]:
        answer = self.http.post("/cycles", headers=_key(key),
                                json={"month": month, "region_code": REGION})
        assert answer.status_code == 202, answer.text
        self.wait_for_runs()
        return self.run(answer.json()["run_id"])

    def run(self, run_id: str) -> dict[str, Any]:
        answer = self.http.get(f"/cycles/{run_id}")
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    def export_cycle(self, run_id: str, key: str | None = None) -> dict[str, Any]:
        answer = self.http.post(f"/cycles/{run_id}/bank-files", headers=_key(key))
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    def export_now(self, up_to_month: str, key: str | None = None) -> Any:
        return self.http.post("/bank-files", headers=_key(key),
                              json={"region_code": REGION, "up_to_month": up_to_month})

    def download(self, file_id: str) -> str:
        answer = self.http.get(f"/bank-files/{file_id}")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/csv")
        return answer.text

    def send_results(self, result_file: str, key: str | None = None) -> Any:
        return self.http.post("/bank-files/results", content=result_file.encode(),
                              headers={"content-type": "text/csv", **_key(key)})

    def reissue(self, payment_id: str, key: str | None = None) -> Any:
        return self.http.post(f"/payments/{payment_id}/reissue", headers=_key(key))

    def case_payments(self, n: int) -> dict[str, Any]:
        answer = self.http.get(f"/cases/{case(n)}/payments")
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    def reconcile(self, month: str) -> dict[str, Any]:
        answer = self.http.get("/reconciliation", params={"month": month, "region_code": REGION})
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]


@pytest.fixture
def api(engine: Engine, tmp_path: Path) -> Iterator[Payment]:
    service = Payment(engine, tmp_path)
    yield service
    service.wait_for_runs()  # no generator thread outlives its database


def _key(key: str | None) -> dict[str, str]:
    return {} if key is None else {"Idempotency-Key": key}


# -- cases, decisions and accounts -------------------------------------------------------------

def case(n: int) -> str:
    return f"{REGION}-20261101-{n:012d}"


def holder_of(n: int) -> str:
    return f"王秀英{n}"


def account_for(n: int, version: int = 1) -> str:
    """A 19-digit account number, different per case and per correction."""
    return f"62{version:02d}{n:011d}{(n * 37 + version) % 10_000:04d}"


def masked(number: str) -> str:
    return "**** " + number[-4:]


def approve(engine: Engine, n: int, amount_fen: int = 81_000, month: str = NOV,
            programme: str = "dibao", size: int = 2) -> None:
    """Payment handles approval's decision: a monthly entitlement from ``month``, whose first
    month is scheduled at once."""
    event = ApplicationDecided(
        case_id=case(n), decision_id=f"d{n}", outcome="approved", programme=programme,  # type: ignore[arg-type]
        region_code=REGION, beneficiary_ref=f"p-{n}", household_size=size,
        monthly_amount_fen=amount_fen, start_month=month, policy_version="v", reasons=[],
        decided_at=datetime(int(month[:4]), int(month[5:]), 10, 2, 0, tzinfo=UTC))
    _handle(engine, event, on_application_decided)


def approve_temporary(engine: Engine, n: int, amount_fen: int) -> None:
    """A temporary-assistance one-off decided in December (China time), carrying the yearly cap
    payment checks again; each household its own, so none is held."""
    cap = PolicyParameter(name="temporary.yearly_cap_fen", value=CAP_FEN, region="370200",
                          effective_from="2020-01-01", source="seed 002")
    event = ApplicationDecided(
        case_id=case(n), decision_id=f"d{n}", outcome="approved", programme="temporary",
        region_code=REGION, beneficiary_ref=f"p-{n}", household_size=1, monthly_amount_fen=0,
        start_month=None, policy_version="v", one_off_amount_fen=amount_fen,
        member_refs=[f"p-{n}"],
        reasons=[DecisionReason(rule="yearly_cap", passed=True, detail="within the cap",
                                parameters=[cap])],
        decided_at=datetime(2026, 12, 5, 2, 0, tzinfo=UTC))
    _handle(engine, event, on_application_decided)


def suspend(engine: Engine, n: int, from_month: str, programme: str = "dibao") -> None:
    event = BenefitChanged(
        case_id=case(n), change="suspended", programme=programme,  # type: ignore[arg-type]
        beneficiary_ref=f"p-{n}", effective_month=from_month, end_month=None,
        monthly_amount_fen=0, reason="test", changed_at=datetime(2026, 11, 20, 2, tzinfo=UTC))
    _handle(engine, event, on_benefit_changed)


def _handle(engine: Engine, event: Any, handler: Callable[..., None]) -> None:
    with UnitOfWork(engine, bus, "/test") as uow:
        handler(event, Envelope(data=event, source="/test"), uow)
        uow.commit()


# -- reading the database directly (what the API must not be trusted to tell) -----------------

def payment_rows(engine: Engine, **where: Any) -> list[dict[str, Any]]:
    query = select(payments_table).order_by(payments_table.c.case_id, payments_table.c.period,
                                            payments_table.c.kind)
    for column, value in where.items():
        query = query.where(payments_table.c[column] == value)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def status_of(engine: Engine) -> dict[str, str]:
    return {p["payment_id"]: p["status"] for p in payment_rows(engine)}


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def outbox_values(engine: Engine, event_type: str | None = None) -> list[bytes]:
    with engine.connect() as conn:
        rows = conn.execute(select(bus.outbox.c.headers, bus.outbox.c.value)
                            .order_by(bus.outbox.c.id)).all()
    return [bytes(value) for headers, value in rows
            if event_type is None or ["ce_type", event_type] in json.loads(headers)]


def settled_events(engine: Engine) -> list[dict[str, Any]]:
    return [json.loads(v) for v in outbox_values(engine, "onedoor.payment.settled")]


def parsed(file_text: str) -> Any:
    # newline="": the csv module alone decides where a record ends, as the layout says.
    return parse_disbursement(io.StringIO(file_text, newline=""))


def failing(accounts_closed: set[str]) -> Callable[[BankLine], str | None]:
    """The bank refuses every line paying into one of these accounts (closed)."""
    return lambda line: SIMULATED_FAILURE if line.account_number in accounts_closed else None


def bank_answer(file_id: str, bank_code: str,
                lines: list[tuple[dict[str, Any], str]]) -> str:
    """A result file written by hand: (payment row, "PAID" | "FAILED") per line — for answers
    the simulator does not give (a partial answer, a contradiction)."""
    out = io.StringIO(newline="")
    write_results(out, file_id=file_id, bank_code=bank_code, lines=[
        (p["payment_id"], p["amount_fen"], outcome,
         SIMULATED_FAILURE if outcome == "FAILED" else None, None) for p, outcome in lines])
    return out.getvalue()


# -- 1. accounts --------------------------------------------------------------------------------

def test_an_account_is_answered_and_shown_masked_and_stored_sealed(api, engine):
    approve(engine, 1)
    number = "6222020200112233445"
    answer = api.put_account(1, "6222 0202 0011 2233 445")  # as a clerk types it, in groups
    assert answer.status_code == 200, answer.text
    assert {k: answer.json()[k] for k in ("case_id", "bank_code", "account", "version")} == {
        "case_id": case(1), "bank_code": "ICBC", "account": "**** 3445", "version": 1}
    assert number not in answer.text and "0011 2233" not in answer.text
    shown = api.http.get(f"/cases/{case(1)}/payments")
    assert shown.json()["account"]["account"] == "**** 3445"
    assert shown.json()["account"]["version"] == 1
    assert number not in shown.text

    # Malformed numbers: 422 naming the field, and never the digits that were sent back.
    for bad in ("6222 0202 0011 22X3", "622202021", "6" * 61, "６２２２٣٤٥٦٧٨٩０１２"):
        refused = api.put_account(1, bad)
        assert refused.status_code == 422, (bad, refused.text)
        assert [e["loc"] for e in refused.json()["detail"]] == [["body", "account_number"]]
        assert "62220202" not in refused.text and "666666" not in refused.text
        assert bad not in refused.text
    refused = api.put_account(1, number, holder="王秀英\n伪造的日志行")
    assert refused.status_code == 422
    assert [e["loc"] for e in refused.json()["detail"]] == [["body", "holder_name"]]
    assert "伪造" not in refused.text and number not in refused.text
    formula = api.put_account(1, number, holder="=HYPERLINK(\"http://x\")")
    assert formula.status_code == 422
    assert [e["loc"] for e in formula.json()["detail"]] == [["body", "holder_name"]]
    # None of the refused attempts touched the account.
    assert api.case_payments(1)["account"]["version"] == 1

    # At rest: sealed, bound to its case; only the last four digits in clear.
    with engine.connect() as conn:
        row = conn.execute(select(accounts)).mappings().one()
    assert row["account_last4"] == "3445"
    for digits in (number, number[:10], number[-10:]):
        assert digits not in row["account_sealed"]
    assert holder_of(1) not in row["holder_sealed"]
    vault = api.app.state.vault
    assert vault.open(row["account_sealed"], bound_to=case(1)) == number
    with pytest.raises(SealBroken):  # a token copied into another case's row does not open
        vault.open(row["account_sealed"], bound_to=case(2))

    # Full-width digits from a Chinese input method are the same number.
    approve(engine, 2)
    wide = api.put_account(2, "６２２２ ０２０２ ００１１ ２２３３ ４４５")
    assert (wide.status_code, wide.json()["account"]) == (200, "**** 3445")


# -- 2. cycles ----------------------------------------------------------------------------------

def test_a_cycle_is_previewed_then_generated_once_and_asking_again_creates_nothing(api, engine):
    for n in range(1, 5):
        approve(engine, n, amount_fen=50_000 + n * 1_001)
    approve(engine, 5, amount_fen=77_777, month=DEC)  # its December is paid at approval
    approve(engine, 6, month="2027-01")  # starts later: nothing in December
    december = sum(50_000 + n * 1_001 for n in range(1, 5))

    preview = api.http.get("/cycles/preview", params={"month": DEC, "region_code": REGION})
    assert preview.status_code == 200
    assert (preview.json()["payments"], preview.json()["amount_fen"]) == (5, december + 77_777)
    assert preview.json()["already_scheduled"] == {"payments": 1, "amount_fen": 77_777}
    assert count(engine, payments_table) == 6  # a preview writes nothing

    answer = api.http.post("/cycles", json={"month": DEC, "region_code": REGION})
    assert answer.status_code == 202
    assert answer.json()["run_id"] == CYCLE_DEC
    api.wait_for_runs()
    run = api.run(CYCLE_DEC)
    assert (run["status"], run["created_count"], run["created_fen"]) == (
        "generated", 4, december)
    assert "cursor" not in run
    assert {p["case_id"]: p["amount_fen"] for p in payment_rows(engine, period=DEC)} == {
        **{case(n): 50_000 + n * 1_001 for n in range(1, 5)}, case(5): 77_777}

    payments_before, events_before = count(engine, payments_table), count(engine, bus.outbox)
    again = api.cycle(DEC)
    assert (again["status"], again["created_count"], again["created_fen"]) == (
        "generated", 4, december)
    assert count(engine, payments_table) == payments_before
    assert count(engine, bus.outbox) == events_before
    assert api.http.get("/cycles/preview", params={"month": DEC, "region_code": REGION}
                        ).json()["already_scheduled"] == {"payments": 5,
                                                          "amount_fen": december + 77_777}

    assert api.http.get("/cycles/cycle:2031-01:330282").status_code == 404
    assert api.http.post("/cycles", json={"month": "2026-13", "region_code": REGION}
                         ).status_code == 422


# -- 3. disbursement files ----------------------------------------------------------------------

def test_a_cycle_is_exported_one_file_per_bank_that_reads_back_and_is_reproducible(api, engine):
    amounts = {n: 60_000 + n * 333 for n in range(1, 6)}
    for n, amount in amounts.items():
        approve(engine, n, amount_fen=amount)
    api.cycle(DEC)  # November (paid at approval) and December for each case
    banks = {1: "ICBC", 2: "ICBC", 3: "ICBC", 4: "ABC"}  # case 5 has no account yet
    holders = {1: holder_of(1), 2: 'Li, "Ming"', 3: "阿依古丽·买买提", 4: holder_of(4)}
    for n, bank in banks.items():
        answer = api.put_account(n, account_for(n), bank=bank, holder=holders[n])
        assert answer.status_code == 200, answer.text

    export = api.export_cycle(CYCLE_DEC)
    assert [(f["bank_code"], f["record_count"], f["total_fen"]) for f in export["files"]] == [
        ("ABC", 2, 2 * amounts[4]),
        ("ICBC", 6, 2 * (amounts[1] + amounts[2] + amounts[3]))]
    assert export["without_account"] == {"payments": 2, "amount_fen": 2 * amounts[5],
                                         "cases": [case(5)]}
    assert {p["status"] for p in payment_rows(engine, case_id=case(5))} == {"scheduled"}
    assert {p["status"] for p in payment_rows(engine) if p["case_id"] != case(5)} == {
        "exported"}

    downloaded = {}
    for f in export["files"]:
        text_ = api.download(f["file_id"])
        downloaded[f["file_id"]] = text_
        carried = payment_rows(engine, bank_file_id=f["file_id"])
        disbursement = parsed(text_)  # refuses a file whose lines do not add up
        assert (disbursement.file_id, disbursement.bank_code, disbursement.cycle_id) == (
            f["file_id"], f["bank_code"], CYCLE_DEC)
        assert disbursement.record_count == len(carried) == f["record_count"]
        assert disbursement.total_fen == sum(p["amount_fen"] for p in carried) == f["total_fen"]
        case_of = {p["payment_id"]: p["case_id"] for p in carried}
        assert sorted(case_of) == sorted(line.payment_id for line in disbursement.lines)
        for line in disbursement.lines:
            n = int(case_of[line.payment_id][-12:])
            # The bank gets the whole number, and only for its own customers.
            assert (line.account_number, line.holder_name) == (account_for(n), holders[n])
            assert banks[n] == f["bank_code"]
    # The sealed copies a file is made from are no clearer than the account itself.
    for p in payment_rows(engine):
        if p["account_sealed"] is not None:
            assert account_for(int(p["case_id"][-12:])) not in p["account_sealed"]
    assert account_for(1) not in api.http.get(f"/cases/{case(1)}/payments").text

    # The account is corrected after the file went out: the file is still the file that went.
    assert api.put_account(1, account_for(1, version=2)).json()["version"] == 2
    for file_id, first in downloaded.items():
        assert api.http.get(f"/bank-files/{file_id}").content == first.encode()
    assert api.case_payments(1)["account"]["account"] == masked(account_for(1, version=2))

    # Nothing left with an account; case 5 waits until it has one, then goes in a file of its own.
    assert api.export_cycle(CYCLE_DEC)["files"] == []
    api.put_account(5, account_for(5), bank="ABC")
    # A run still generating has no files yet (opened here without its generator).
    with engine.begin() as conn:
        runs.open_cycle(conn, "2027-01", REGION, datetime.now(UTC))
    still = api.http.post(f"/cycles/cycle:2027-01:{REGION}/bank-files")
    assert still.status_code == 409 and "generating" in still.json()["detail"]
    later = api.export_now(DEC)
    assert [(f["bank_code"], f["record_count"], f["total_fen"]) for f in later.json()["files"]
            ] == [("ABC", 2, 2 * amounts[5])]
    assert later.json()["without_account"] == {"payments": 0, "amount_fen": 0, "cases": []}
    assert api.http.get("/bank-files/no-such-file").status_code == 404
    assert api.http.post("/cycles/cycle:2031-01:330282/bank-files").status_code == 404


# -- 4. result files ----------------------------------------------------------------------------

def test_bank_results_apply_once_and_contradicting_or_truncated_files_are_refused(api, engine):
    banks = {n: "ICBC" if n <= 4 else "ABC" for n in range(1, 9)}
    for n, bank in banks.items():
        approve(engine, n, amount_fen=40_000 + n)
        api.put_account(n, account_for(n), bank=bank)
    export = api.export_now(NOV)
    assert export.status_code == 200
    files = {f["bank_code"]: f for f in export.json()["files"]}
    icbc, abc = files["ICBC"]["file_id"], files["ABC"]["file_id"]
    by_case = {p["case_id"]: p for p in payment_rows(engine)}

    # ICBC pays all but cases 2 and 4, whose accounts are closed.
    result = settle(api.download(icbc), fail=failing({account_for(2), account_for(4)}))
    events_before = count(engine, bus.outbox)
    report = api.send_results(result)
    assert report.status_code == 200, report.text
    assert {k: report.json()[k] for k in (
        "file_id", "bank_code", "applied", "unchanged", "rejected", "already_imported")} == {
        "file_id": icbc, "bank_code": "ICBC", "applied": {"paid": 2, "failed": 2},
        "unchanged": 0, "rejected": [], "already_imported": False}
    rows = {p["case_id"]: p for p in payment_rows(engine)}
    assert {n: rows[case(n)]["status"] for n in range(1, 5)} == {
        1: "paid", 2: "failed", 3: "paid", 4: "failed"}
    assert rows[case(2)]["failure_reason"] == SIMULATED_FAILURE
    assert rows[case(1)]["bank_reference"] is not None
    assert {rows[case(n)]["status"] for n in range(5, 9)} == {"exported"}

    # One PaymentSettled per line, with the bank's reason — and nothing of the account.
    events = settled_events(engine)
    assert count(engine, bus.outbox) == events_before + 4
    assert sorted((e["payment_id"], e["outcome"], e["amount_fen"], e["bank_file_id"])
                  for e in events) == sorted(
        (by_case[case(n)]["payment_id"], "failed" if n in (2, 4) else "paid", 40_000 + n, icbc)
        for n in range(1, 5))
    for value in outbox_values(engine):
        for n in banks:
            assert account_for(n).encode() not in value
            assert account_for(n)[:12].encode() not in value

    # The same file again: its first report, and nothing else happens.
    statuses, ledger_entries = status_of(engine), count(engine, ledger)
    again = api.send_results(result)
    assert again.status_code == 200
    assert again.json() == {**report.json(), "already_imported": True}
    assert status_of(engine) == statuses
    assert count(engine, bus.outbox) == events_before + 4
    assert count(engine, ledger) == ledger_entries

    # ABC's answer arrives cut short (no trailer): refused whole, nothing of it applied.
    full = settle(api.download(abc))
    truncated = full[:full.rindex("T,")]
    refused = api.send_results(truncated)
    assert refused.status_code == 422
    assert any("truncated" in e["msg"] for e in refused.json()["detail"])
    assert status_of(engine) == statuses
    assert count(engine, bus.outbox) == events_before + 4
    assert count(engine, bank_results) == 1

    # ABC answers in two parts; the second contradicts the first for case 6.
    rows = {p["case_id"]: p for p in payment_rows(engine)}
    first = api.send_results(bank_answer(abc, "ABC", [(rows[case(5)], "PAID"),
                                                      (rows[case(6)], "FAILED")]))
    assert first.json()["applied"] == {"paid": 1, "failed": 1}
    second = api.send_results(bank_answer(abc, "ABC", [
        (rows[case(6)], "PAID"), (rows[case(7)], "PAID"), (rows[case(8)], "FAILED")]))
    assert second.status_code == 200, second.text
    assert second.json()["applied"] == {"paid": 1, "failed": 1}
    [rejected] = second.json()["rejected"]
    assert (rejected["line"], rejected["payment_id"]) == (2, rows[case(6)]["payment_id"])
    assert "already recorded as failed" in rejected["reason"]
    after = {p["case_id"]: p["status"] for p in payment_rows(engine)}
    assert [after[case(n)] for n in range(5, 9)] == ["paid", "failed", "paid", "failed"]
    assert len(settled_events(engine)) == 8  # one per payment, none for the rejected line

    # Lines that do not belong: another amount than was sent, another file's payment. Each is
    # rejected with its reason; a file sent to one bank is not answered by another.
    statuses = status_of(engine)
    odd = api.send_results(bank_answer(icbc, "ICBC", [
        ({**rows[case(1)], "amount_fen": rows[case(1)]["amount_fen"] + 1}, "PAID"),
        (rows[case(5)], "PAID")]))
    assert odd.status_code == 200, odd.text
    assert odd.json()["applied"] == {"paid": 0, "failed": 0}
    assert [(r["line"], r["reason"]) for r in odd.json()["rejected"]] == [
        (2, "amount 40002 fen, the file sent 40001 fen"), (3, "not a payment of this file")]
    assert api.send_results(bank_answer(icbc, "ABC", [(rows[case(1)], "PAID")])
                            ).status_code == 409
    assert status_of(engine) == statuses
    assert len(settled_events(engine)) == 8

    # Nothing was lost or counted twice on the way.
    assert api.reconcile(NOV)["balanced"] is True


# -- 5. re-issue --------------------------------------------------------------------------------

def test_a_failed_payment_is_reissued_once_after_its_account_is_corrected(api, engine):
    for n in (1, 2):
        approve(engine, n, amount_fen=81_000 + n)
        api.put_account(n, account_for(n))
    [file_] = api.export_now(NOV).json()["files"]
    api.send_results(settle(api.download(file_["file_id"]), fail=failing({account_for(1)})))
    failed = payment_rows(engine, case_id=case(1))[0]
    paid = payment_rows(engine, case_id=case(2))[0]
    assert (failed["status"], paid["status"]) == ("failed", "paid")

    # Re-issuing into the account the bank refused would fail again.
    refused = api.reissue(failed["payment_id"])
    assert refused.status_code == 409
    assert "correct the account" in refused.json()["detail"]
    assert api.reissue(paid["payment_id"]).status_code == 409  # only a failed one
    assert api.reissue("no-such-payment").status_code == 404

    assert api.put_account(1, account_for(1, version=2)).json()["version"] == 2
    answer = api.reissue(failed["payment_id"])
    assert answer.status_code == 201, answer.text
    reissue = answer.json()
    assert {k: reissue[k] for k in ("reissue_of", "status", "amount_fen", "period")} == {
        "reissue_of": failed["payment_id"], "status": "scheduled", "amount_fen": 81_001,
        "period": NOV}
    statuses = {p["payment_id"]: (p["status"], p["reissue_of"])
                for p in api.case_payments(1)["payments"]}
    assert statuses == {failed["payment_id"]: ("reissued", None),
                        reissue["payment_id"]: ("scheduled", failed["payment_id"])}
    again = api.reissue(failed["payment_id"])
    assert again.status_code == 409 and "re-issued already" in again.json()["detail"]

    # The re-issue goes out to the corrected account, and fails at the bank too.
    [second_file] = api.export_now(NOV).json()["files"]
    text_ = api.download(second_file["file_id"])
    [line] = parsed(text_).lines
    assert (line.payment_id, line.account_number) == (reissue["payment_id"],
                                                      account_for(1, version=2))
    report = api.send_results(settle(text_, fail=failing({account_for(1, version=2)})))
    assert report.json()["applied"] == {"paid": 0, "failed": 1}
    # Even with the account corrected once more, a twice-failed payment is for a person to look at.
    api.put_account(1, account_for(1, version=3))
    twice = api.reissue(reissue["payment_id"])
    assert twice.status_code == 409 and "itself a re-issue" in twice.json()["detail"]
    assert api.reissue(failed["payment_id"]).status_code == 409

    with engine.connect() as conn:
        reissues = conn.execute(select(payments_table.c.reissue_of, func.count())
                                .where(payments_table.c.reissue_of.is_not(None))
                                .group_by(payments_table.c.reissue_of)).all()
    assert [tuple(r) for r in reissues] == [(failed["payment_id"], 1)]
    report = api.reconcile(NOV)
    assert report["balanced"] is True
    assert (report["totals"]["scheduled_fen"], report["totals"]["paid_fen"],
            report["totals"]["failed_fen"]) == (81_001 + 81_002, 81_002, 81_001)


def test_a_reissue_needs_another_account_not_a_later_save_of_the_same_one(api, engine):
    approve(engine, 1)
    api.put_account(1, account_for(1))
    [file_] = api.export_now(NOV).json()["files"]
    disbursement = api.download(file_["file_id"])
    # The town corrects the account while the file is still at the bank.
    api.put_account(1, account_for(1, version=2))
    api.send_results(settle(disbursement, fail=failing({account_for(1)})))
    failed = payment_rows(engine, case_id=case(1))[0]
    assert api.reissue(failed["payment_id"]).status_code == 201

    approve(engine, 2)
    api.put_account(2, account_for(2))
    [file_] = api.export_now(NOV).json()["files"]
    api.send_results(settle(api.download(file_["file_id"]), fail=failing({account_for(2)})))
    refused = payment_rows(engine, case_id=case(2), status="failed")[0]
    # Saving the refused number again is no correction.
    api.put_account(2, account_for(2))
    assert api.reissue(refused["payment_id"]).status_code == 409


# -- 5b. the same request at the same moment ---------------------------------------------------

def test_racing_requests_export_reissue_and_apply_results_once(api, engine):
    """Two clerks press the button at once, or a client retries before the first answer: the
    database, not luck, keeps it to one re-issue and one application of a result file."""
    for n in range(1, 21):
        approve(engine, n, amount_fen=70_000 + n)
        api.put_account(n, account_for(n), bank="ICBC" if n <= 3 else "ABC")

    # Every payment goes in exactly one file, however many exports run at once.
    exports = race(lambda: api.export_now(NOV), 6)
    assert [r.status_code for r in exports] == [200] * 6
    files = [f for r in exports for f in r.json()["files"]]
    assert sorted((f["bank_code"], f["record_count"]) for f in files) == [("ABC", 17),
                                                                          ("ICBC", 3)]
    assert count(engine, bank_files) == 2
    [file_] = [f for f in files if f["bank_code"] == "ICBC"]
    result = settle(api.download(file_["file_id"]), fail=failing({account_for(1)}))

    imports = race(lambda: api.send_results(result), 6)
    assert [r.status_code for r in imports] == [200] * 6
    assert sorted(r.json()["already_imported"] for r in imports) == [False] + [True] * 5
    assert len(settled_events(engine)) == 3
    assert count(engine, bank_results) == 1
    assert sorted(p["status"] for p in payment_rows(engine) if p["bank_code"] == "ICBC") == [
        "failed", "paid", "paid"]

    [failed] = payment_rows(engine, case_id=case(1))
    api.put_account(1, account_for(1, version=2))
    reissues = race(lambda: api.reissue(failed["payment_id"]), 6)
    assert sorted(r.status_code for r in reissues) == [201] + [409] * 5
    assert len(payment_rows(engine, reissue_of=failed["payment_id"])) == 1
    assert api.reconcile(NOV)["balanced"] is True


def race(request: Callable[[], Any], n: int) -> list[Any]:
    """``n`` threads making the same request at the same moment."""
    barrier = threading.Barrier(n)

    def go() -> Any:
        barrier.wait()
        return request()

    with ThreadPoolExecutor(n) as pool:
        return [f.result() for f in [pool.submit(go) for _ in range(n)]]


# -- 6. idempotency keys ------------------------------------------------------------------------

def test_an_idempotency_key_answers_the_original_and_refuses_another_request(api, engine):
    for n in (1, 2):
        approve(engine, n)
    # An account: the same request twice with one key is one registration.
    first = api.put_account(1, account_for(1), key="acc-1")
    second = api.put_account(1, account_for(1), key="acc-1")
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json() == first.json()
    assert first.json()["version"] == 1
    other = api.put_account(1, account_for(1, version=2), key="acc-1")
    assert other.status_code == 409
    with engine.connect() as conn:
        assert conn.execute(select(accounts.c.version)).scalar_one() == 1
    assert api.case_payments(1)["account"]["account"] == masked(account_for(1))
    api.put_account(2, account_for(2), bank="ABC", key="acc-2")

    # Bank files: asked twice with one key, one set of files.
    first = api.export_now(NOV, key="export-1")
    second = api.export_now(NOV, key="export-1")
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert len(first.json()["files"]) == 2
    assert count(engine, bank_files) == 2
    assert api.export_now(DEC, key="export-1").status_code == 409
    assert count(engine, bank_files) == 2

    # Results, then a re-issue, each sent twice with a key.
    icbc = next(f["file_id"] for f in first.json()["files"] if f["bank_code"] == "ICBC")
    result = settle(api.download(icbc), fail=failing({account_for(1)}))
    imported = api.send_results(result, key="results-1")
    assert api.send_results(result, key="results-1").json() == imported.json()
    assert api.send_results(result + "\r\n", key="results-1").status_code == 409
    [failed] = payment_rows(engine, case_id=case(1))
    api.put_account(1, account_for(1, version=2), key="acc-1-fix")
    reissued = api.reissue(failed["payment_id"], key="reissue-1")
    replay = api.reissue(failed["payment_id"], key="reissue-1")
    assert (reissued.status_code, replay.status_code) == (201, 201)
    assert replay.json() == reissued.json()
    assert len(payment_rows(engine, reissue_of=failed["payment_id"])) == 1

    # A cycle: the key belongs to its first request.
    api.cycle(DEC, key="cycle-1")
    assert api.http.post("/cycles", headers={"Idempotency-Key": "cycle-1"},
                         json={"month": "2027-01", "region_code": REGION}).status_code == 409


# -- 7. reconciliation to the fen ---------------------------------------------------------------

@dataclass
class Population:
    """What the test created, kept on its own so the expected figures do not come from the
    service under test."""

    # case -> (programme, monthly amount, start month, household size)
    monthly: dict[int, tuple[str, int, str, int]] = field(default_factory=dict)
    suspended: set[int] = field(default_factory=set)  # from December
    temporary: dict[int, int] = field(default_factory=dict)  # case -> one-off amount
    bank: dict[int, str] = field(default_factory=dict)  # cases with an account
    closed: set[int] = field(default_factory=set)  # accounts the bank refuses
    corrected: set[int] = field(default_factory=set)  # closed, then corrected and re-issued
    batch_per_member: int = 0

    def obligations(self, month: str) -> Iterator[tuple[int, str, str, int]]:
        """(case, kind, programme, amount) of every first-issue payment of the month."""
        for n, (programme, amount, start, size) in self.monthly.items():
            pays = start <= month and not (n in self.suspended and month >= DEC)
            if pays:
                yield n, "monthly", programme, amount
            if pays and month == DEC:
                yield n, "batch", programme, self.batch_per_member * size
        if month == DEC:
            for n, amount in self.temporary.items():
                yield n, "one_off", "temporary", amount

    def expected(self, month: str, reissues_paid: bool = False) -> dict[tuple[str, str], dict]:
        rows: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for n, kind, programme, amount in self.obligations(month):
            row = rows[(kind, programme)]
            row["payments"] += 1
            row["scheduled_fen"] += amount
            if n not in self.bank:
                state = "pending_fen"  # no account: never sent
            elif n not in self.closed:
                state = "paid_fen"
            elif n not in self.corrected:
                state = "failed_fen"
            else:
                state = "paid_fen" if reissues_paid else "pending_fen"
            row[state] += amount
        return {k: {f: v[f] for f in ("payments", "scheduled_fen", "paid_fen", "failed_fen",
                                      "pending_fen")} for k, v in rows.items()}


def generate_population(engine: Engine, rng: random.Random) -> Population:
    pop = Population(batch_per_member=2_345)
    for n in range(1, 201):
        programme = "tekun" if n % 3 == 0 else "dibao"
        amount, size = rng.randint(20_000, 150_000), rng.randint(1, 6)
        start = NOV if rng.random() < 0.6 else DEC
        approve(engine, n, amount_fen=amount, month=start, programme=programme, size=size)
        pop.monthly[n] = (programme, amount, start, size)
    # A few November recipients are suspended from December: nothing for them in December.
    for n in rng.sample([n for n, m in pop.monthly.items() if m[2] == NOV], 6):
        suspend(engine, n, DEC, programme=pop.monthly[n][0])
        pop.suspended.add(n)
    for n in range(201, 207):
        pop.temporary[n] = rng.randint(50_000, 900_000)
        approve_temporary(engine, n, pop.temporary[n])
    return pop


def check_report(report: dict[str, Any], expected: dict[tuple[str, str], dict],
                 entitled: dict[str, int]) -> None:
    assert report["balanced"] is True, [c for c in report["checks"] if not c["ok"]]
    assert all(c["ok"] for c in report["checks"])
    rows = {(r["kind"], r["programme"]): r for r in report["rows"]}
    assert set(rows) == set(expected)
    for key, figures in expected.items():
        assert {f: rows[key][f] for f in figures} == figures, key
        row = rows[key]
        assert row["scheduled_fen"] == row["paid_fen"] + row["failed_fen"] + row["pending_fen"]
        if key[0] == "monthly":
            assert row["entitled_fen"] == entitled[key[1]] == row["scheduled_fen"]
    totals = report["totals"]
    for f in ("payments", "scheduled_fen", "paid_fen", "failed_fen", "pending_fen"):
        assert totals[f] == sum(e[f] for e in expected.values()), f
    assert totals["scheduled_fen"] == (totals["paid_fen"] + totals["failed_fen"]
                                       + totals["pending_fen"])
    assert totals["entitled_fen"] == sum(entitled.values())
    assert report["differences"] == [] and report["differences_count"] == 0


def test_reconciliation_adds_up_to_the_fen_on_a_generated_population(api, engine):
    rng = random.Random(20261201)
    pop = generate_population(engine, rng)

    # The office's month: December's cycle, the price-linked subsidy, accounts for most.
    expected_cycle = sum(1 for n, m in pop.monthly.items()
                         if m[2] == NOV and n not in pop.suspended)
    assert api.cycle(DEC)["created_count"] == expected_cycle
    batch = api.http.post("/batches", json={
        "reference": "price-linked-2026-12", "region_code": REGION, "month": DEC,
        "programmes": ["dibao", "tekun"], "amount_fen": pop.batch_per_member,
        "basis": "member", "reason": "CPI trigger"})
    assert batch.status_code == 202, batch.text
    api.wait_for_runs()
    assert api.run(batch.json()["run_id"])["status"] == "generated"
    for n in [*pop.monthly, *pop.temporary]:
        if rng.random() < 0.9:
            pop.bank[n] = rng.choice(["ICBC", "ABC"])
            assert api.put_account(n, account_for(n), bank=pop.bank[n]).status_code == 200
    pop.closed = set(rng.sample(sorted(pop.bank), 14))

    # The banks pay, except into closed accounts.
    export = api.export_cycle(CYCLE_DEC)
    assert {f["bank_code"] for f in export["files"]} == {"ICBC", "ABC"}
    assert set(export["without_account"]["cases"]) == {
        case(n) for n in [*pop.monthly, *pop.temporary] if n not in pop.bank}
    closed_numbers = {account_for(n) for n in pop.closed}
    for f in export["files"]:
        report = api.send_results(settle(api.download(f["file_id"]),
                                         fail=failing(closed_numbers)))
        assert report.status_code == 200 and report.json()["rejected"] == []

    # Half the closed accounts are corrected and their failed payments re-issued.
    pop.corrected = set(sorted(pop.closed)[::2])
    for n in sorted(pop.corrected):
        api.put_account(n, account_for(n, version=2), bank=pop.bank[n])
        for p in api.case_payments(n)["payments"]:
            if p["status"] == "failed":
                assert api.reissue(p["payment_id"]).status_code == 201

    entitled = {
        month: {prog: sum(a for _, k, p, a in pop.obligations(month) if k == "monthly"
                          and p == prog) for prog in ("dibao", "tekun")}
        for month in (NOV, DEC)}
    for month in (NOV, DEC):
        check_report(api.reconcile(month), pop.expected(month), entitled[month])
    # The figures this test expects are not empty by accident.
    december = pop.expected(DEC)
    assert set(december) == {("monthly", "dibao"), ("monthly", "tekun"), ("batch", "dibao"),
                             ("batch", "tekun"), ("one_off", "temporary")}
    assert all(sum(e[f] for e in december.values()) > 0
               for f in ("paid_fen", "failed_fen", "pending_fen"))

    # CSV, for the auditors: the same figures, balanced.
    answer = api.http.get("/reconciliation",
                          params={"month": DEC, "region_code": REGION, "format": "csv"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    records = list(csv.reader(io.StringIO(answer.text, newline="")))
    assert records[0] == ["month", DEC, "region_code", REGION, "balanced", "true"]
    columns = records[1]
    table_rows = records[2:records.index([])]
    by_key = {(r[0], r[1]): dict(zip(columns, r, strict=True)) for r in table_rows}
    for (kind, programme), figures in december.items():
        assert int(by_key[(kind, programme)]["scheduled_fen"]) == figures["scheduled_fen"]
        assert int(by_key[(kind, programme)]["paid_fen"]) == figures["paid_fen"]
    checks = records[records.index([]) + 2:]
    assert checks and all(c[1] == "true" for c in checks)

    # The re-issues go out and are paid: the money moves from pending to paid, still balanced.
    for f in api.export_now(DEC).json()["files"]:
        api.send_results(settle(api.download(f["file_id"])))
    for month in (NOV, DEC):
        check_report(api.reconcile(month), pop.expected(month, reissues_paid=True),
                     entitled[month])

    # Someone changes a paid amount behind the ledger's back: one fen is enough to show.
    tampered = next(p for p in payment_rows(engine, period=DEC, kind="monthly",
                                            programme="dibao", status="paid"))
    with engine.begin() as conn:
        conn.execute(text("UPDATE payments SET amount_fen = amount_fen + 1 "
                          "WHERE payment_id = :p"), {"p": tampered["payment_id"]})
    report = api.reconcile(DEC)
    assert report["balanced"] is False
    wrong = {c["name"]: c["actual_fen"] - c["expected_fen"]
             for c in report["checks"] if not c["ok"]}
    file_check = f"bank file {tampered['bank_file_id']} ({tampered['bank_code']}): control total"
    assert {name: abs(diff) for name, diff in wrong.items()} == {
        "monthly dibao: approved entitlements = scheduled": 1,
        "monthly dibao: scheduled = paid + failed + pending": 1,
        "monthly dibao: ledger approved = payments scheduled": 1,
        "monthly dibao: ledger paid = payments paid": 1,
        file_check: 1}
    assert report["differences"] == [{"case_id": tampered["case_id"],
                                      "entitled_fen": tampered["amount_fen"],
                                      "scheduled_fen": tampered["amount_fen"] + 1}]
    # November's own figures are untouched; the bank file checks cover the region's files,
    # and this file carried November's payments too, so it shows there as well.
    november = api.reconcile(NOV)
    assert [c["name"] for c in november["checks"] if not c["ok"]] == [file_check]
    csv_text = api.http.get("/reconciliation", params={
        "month": DEC, "region_code": REGION, "format": "csv"}).text
    assert csv_text.splitlines()[0].endswith("balanced,false")


# -- 8. batch subsidies -------------------------------------------------------------------------

def test_a_batch_reference_reused_with_other_terms_is_refused(api, engine):
    approve(engine, 1, size=3)
    approve(engine, 2, programme="tekun", size=1)
    terms = {"reference": "price-linked-2026-12", "region_code": REGION, "month": DEC,
             "programmes": ["dibao", "tekun"], "amount_fen": 5_000, "basis": "member",
             "reason": "CPI trigger"}
    preview = api.http.post("/batches/preview", json=terms)
    assert (preview.json()["payments"], preview.json()["amount_fen"]) == (2, 20_000)
    first = api.http.post("/batches", json=terms)
    assert first.status_code == 202
    api.wait_for_runs()
    run = api.http.get(f"/batches/{first.json()['run_id']}").json()
    assert (run["status"], run["created_count"], run["created_fen"]) == ("generated", 2, 20_000)

    for change in ({"amount_fen": 6_000}, {"basis": "household"}, {"programmes": ["dibao"]},
                   {"month": "2027-01"}):
        refused = api.http.post("/batches", json={**terms, **change})
        assert refused.status_code == 409, change
        assert "other terms" in refused.json()["detail"]
    # The same terms again: accepted, and nothing new.
    assert api.http.post("/batches", json=terms).status_code == 202
    api.wait_for_runs()
    assert [(p["case_id"], p["amount_fen"]) for p in payment_rows(engine, kind="batch")] == [
        (case(1), 15_000), (case(2), 5_000)]


def test_a_download_cut_off_gives_its_read_connection_back(api, engine, monkeypatch):
    """The file is a generator the response pulls: a client who stops reading stops it, and
    the connection it read with goes back to the pool (issue 23)."""
    from services.payment.domain.bankfile import disbursement
    from services.payment.entrypoints import banks as payment_banks

    monkeypatch.setattr(disbursement, "CHUNK_CHARS", 150)  # a chunk every line or two
    for n in range(1, 6):
        approve(engine, n)
        assert api.put_account(n, account_for(n)).status_code == 200
    api.cycle(DEC)
    [file] = api.export_cycle(CYCLE_DEC)["files"]
    runtime = api.app.state.runtime
    pulled = payment_banks._streamed(runtime, api.app.state.vault, file["file_id"])
    first = next(pulled)
    assert first.startswith("H,") and engine.pool.checkedout() == 1
    next(pulled)  # the client reads a little more, then goes away
    pulled.close()
    assert engine.pool.checkedout() == 0
    # Read to the end, the chunks make the whole file.
    whole = "".join(payment_banks._streamed(runtime, api.app.state.vault, file["file_id"]))
    assert whole == api.download(file["file_id"]) and parsed(whole).record_count == 10
    assert engine.pool.checkedout() == 0
