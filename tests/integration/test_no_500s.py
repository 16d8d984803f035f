"""Bad input is the caller's mistake, never the server's: each request here once answered 500
(an integer past 64 bits, a day past the calendar's end, a body that is not UTF-8, a 422 that
could not carry the value it echoed). Each must answer 422 naming the field and the reason,
without the value, and store nothing.

Each service is its real app, built by its bootstrap's ``create_app(settings)`` on a database its
own migrations made (SQLite, and PostgreSQL), without its bus (no lifespan), called with tokens
signed by the development key its verifier trusts.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, Table, func, select

from deploy.households import resident_id
from deploy.tokens import DevTokens
from services.approval.bootstrap import create_app as create_approval
from services.audit.adapters.tables import access_log
from services.audit.bootstrap import create_app as create_audit
from services.intake.adapters.tables import bus as intake_bus
from services.intake.adapters.tables import cases
from services.intake.bootstrap import create_app as create_intake
from services.payment.adapters.tables import bank_results, idempotency_keys, runs
from services.payment.bootstrap import create_app as create_payment
from services.payment.entrypoints.http import MAX_BATCH_AMOUNT_FEN
from services.verification.bootstrap import create_app as create_verification
from shared import clock
from shared.auth.principals import Role
from shared.settings import load_settings
from tests.conftest import migrated_engine

CREATE_APP: dict[str, Callable[..., FastAPI]] = {
    "intake": create_intake, "verification": create_verification, "approval": create_approval,
    "payment": create_payment, "audit": create_audit}
REGION = "330282"
BEYOND_64_BITS = 2**63  # 9223372036854775808: one past the largest signed 64-bit integer


@dataclass
class Service:
    http: httpx.AsyncClient
    engine: Engine
    tokens: DevTokens

    def count(self, table: Table) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.fixture
def start(database_url: str, tmp_path: Path) -> Callable[[str], Any]:
    """``async with start(name) as service``: that service's app on a migrated database."""
    @contextlib.asynccontextmanager
    async def running(name: str) -> AsyncIterator[Service]:
        settings = load_settings(env="test", data_dir=tmp_path,
                                 **{f"{name}_database_url": database_url})
        with migrated_engine(database_url, name) as engine:
            app = CREATE_APP[name](settings)
            try:
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                             base_url=f"http://{name}") as http:
                    yield Service(http, engine, DevTokens(settings))
            finally:
                app.state.runtime.engine.dispose()

    return running


def refused(response: httpx.Response, loc: list[str | int], *never_shown: str) -> str:
    """A 422 whose detail names ``loc`` with a reason, and shows none of ``never_shown``."""
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    named = [d for d in detail if d["loc"] == loc]
    assert named and all(d["msg"] for d in named), detail
    assert all("input" not in d and "ctx" not in d for d in detail), detail
    for value in never_shown:
        assert value not in response.text, response.text
    return str(named[0]["msg"])


def admin(service: Service) -> dict[str, str]:
    return service.tokens.headers(Role.ADMINISTRATOR, "admin-1")


# -- every service: /dead-letters ---------------------------------------------------------------

@pytest.mark.parametrize("name", list(CREATE_APP))
async def test_dead_letters_limit_out_of_range_is_a_422_on_every_service(start, name):
    async with start(name) as service:
        for limit in ("-1", "0", "1001", str(BEYOND_64_BITS)):
            answer = await service.http.get("/dead-letters", params={"limit": limit},
                                            headers=admin(service))
            refused(answer, ["query", "limit"], *([limit] if len(limit) > 1 else []))
        answer = await service.http.get("/dead-letters", params={"limit": "1000"},
                                        headers=admin(service))
        assert answer.status_code == 200 and answer.json() == [], answer.text


# -- audit --------------------------------------------------------------------------------------

async def test_audit_records_partition_and_seq_beyond_their_columns_are_422_and_not_logged(start):
    async with start("audit") as audit:
        auditor = audit.tokens.auditor()
        for name, value in (("partition", BEYOND_64_BITS), ("partition", 2**31),
                            ("partition", -1), ("from_seq", BEYOND_64_BITS)):
            answer = await audit.http.get("/records", headers=auditor, params={
                "topic": "onedoor.decisions", name: str(value)})
            refused(answer, ["query", name], str(value))
        assert audit.count(access_log) == 0  # refused before the query was logged
        answer = await audit.http.get("/records", headers=auditor, params={
            "topic": "onedoor.decisions", "partition": str(2**31 - 1),
            "from_seq": str(2**63 - 1)})
        assert answer.status_code == 200 and answer.json() == [], answer.text


async def test_audit_days_past_the_calendar_are_422_and_not_logged(start):
    async with start("audit") as audit:
        auditor = audit.tokens.auditor()
        for url, name in ((f"/recipients/{REGION}", "on"), (f"/cases/{REGION}-X", "as_of"),
                          ("/reports/overdue", "since"), ("/reports/overdue", "until")):
            for day in ("9999-12-31", "9001-01-01", "0001-01-01"):
                answer = await audit.http.get(url, headers=auditor, params={name: day})
                refused(answer, ["query", name], day)
        assert audit.count(access_log) == 0
        answer = await audit.http.get(f"/recipients/{REGION}", headers=auditor,
                                      params={"on": "9000-12-31"})
        assert answer.status_code == 200, answer.text


# -- verification -------------------------------------------------------------------------------

async def test_a_publication_id_beyond_64_bits_is_a_422(start):
    async with start("verification") as verification:
        for value in (BEYOND_64_BITS, 0, -1):
            answer = await verification.http.get(f"/partner-publications/{value}",
                                                 headers=admin(verification))
            refused(answer, ["path", "publication_id"], *([str(value)] if value else []))
        answer = await verification.http.get(f"/partner-publications/{2**63 - 1}",
                                             headers=admin(verification))
        assert answer.status_code == 404, answer.text


# -- payment ------------------------------------------------------------------------------------

def batch(amount_fen: int) -> dict[str, Any]:
    return {"reference": "price-linked-test", "region_code": REGION, "month": "2026-12",
            "programmes": ["dibao"], "amount_fen": amount_fen, "reason": "price-linked subsidy"}


async def test_a_batch_amount_beyond_intakes_bound_is_a_422_and_nothing_is_opened(start):
    async with start("payment") as payment:
        operator = payment.tokens.approver(REGION)
        for amount in (BEYOND_64_BITS, 2**63 - 1, MAX_BATCH_AMOUNT_FEN + 1):
            answer = await payment.http.post("/batches", json=batch(amount), headers={
                **operator, "Idempotency-Key": f"batch-{amount}"})
            refused(answer, ["body", "amount_fen"], str(amount))
        assert payment.count(runs) == 0 and payment.count(idempotency_keys) == 0
        # The bound itself is an amount (previewed: the preview writes nothing).
        answer = await payment.http.post("/batches/preview", json=batch(MAX_BATCH_AMOUNT_FEN),
                                         headers=operator)
        assert answer.status_code == 200, answer.text


async def test_a_bank_result_file_that_is_not_utf8_is_a_422_and_nothing_is_remembered(start):
    async with start("payment") as payment:
        answer = await payment.http.post(
            "/bank-files/results", content=b"\x00\xff\xfe",
            headers={**payment.tokens.approver(REGION), "content-type": "text/csv",
                     "Idempotency-Key": "results-not-utf8"})
        assert "UTF-8" in refused(answer, ["body"], "\\u0000", "\\ufffd", "\ufffd")
        assert payment.count(bank_results) == 0 and payment.count(idempotency_keys) == 0


# -- intake -------------------------------------------------------------------------------------

async def test_intakes_422_carries_neither_nan_nor_a_lone_surrogate_and_stores_nothing(start):
    async with start("intake") as intake:
        async def send(member: dict[str, Any], **temporary: Any) -> httpx.Response:
            body = {"region_code": REGION, "programme": "temporary", "members": [{
                "name": "孙七", "relation": "applicant",
                "consent_signed_on": clock.today().isoformat(),
                "resident_id": resident_id(REGION, date(1958, 6, 6), 51), **member}],
                "temporary": {"kind": "spending", "cause": "illness",
                              "requested_amount_fen": 800_000, **temporary}}
            # As a client may send it: NaN and "\ud800" are what Python's own json module writes.
            return await intake.http.post(
                "/applications", content=json.dumps(body).encode(),
                headers={**intake.tokens.clerk(REGION), "content-type": "application/json"})

        answer = await send({"name": "a\ud800", "disability_grade": "a\ud800"},
                            requested_amount_fen=float("nan"))
        refused(answer, ["body", "temporary", "requested_amount_fen"], "NaN", "nan")
        refused(answer, ["body", "members", 0, "disability_grade"], "\\ud800", "a\\u")
        refused(answer, ["body", "members", 0, "name"])
        # A key that is not a valid string is refused where it stands, and not shown either.
        answer = await send({"x\udfff": 1})
        assert "unicode" in refused(answer, ["body", "members", 0], "\\udfff", "x?")
        assert intake.count(cases) == 0 and intake.count(intake_bus.outbox) == 0
