"""Payment's HTTP API: a case's payments and account; monthly cycles and batch subsidies. The
banks' routes (bank files out and results in, re-issues, reconciliation and the ledger) are in
banks.py; what the routes share, in requests.py.

Every mutating request accepts an ``Idempotency-Key`` header (service_layer/commands.py). Account
numbers are masked in every answer; only a disbursement file carries them, for its bank.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.payment.adapters.repository import PaymentRepository
from services.payment.entrypoints.requests import (
    MONTH,
    REGION,
    AccountClerk,
    IdempotencyKey,
    Month,
    Operator,
    Reader,
    RegionCode,
    case_in_reach,
    once,
    payment_out,
    region_in_reach,
    respond,
    run_in_reach,
    runner_of,
    utc,
    vault_of,
)
from services.payment.service_layer import banking, commands, runs
from shared.db import reading
from shared.http import CheckedRoute
from shared.inputs import FreeText, TextLine
from shared.service import Runtime

router = APIRouter(route_class=CheckedRoute, tags=["payments"])


# -- a case -------------------------------------------------------------------------------------

@router.get("/cases/{case_id}/payments",
            summary="A case's payments, its monthly entitlement (or null) and its account, masked")
def case_payments(case_id: str, rt: Runtime, request: Request, who: Reader) -> dict[str, Any]:
    case_in_reach(rt, case_id, who, request)
    with reading(rt.engine) as conn:
        repo = PaymentRepository(conn)
        entitlement = repo.entitlement(case_id)
        shown = None
        if entitlement is not None:
            shown = {**asdict(entitlement), "status": entitlement.status,
                     "monthly_amount_fen": entitlement.monthly_amount_fen,
                     "end_month": entitlement.end_month}
        return {"case_id": case_id,
                "payments": [payment_out(p) for p in repo.for_case(case_id)],
                "entitlement": shown,
                "account": banking.shown_account(repo.account(case_id))}


class AccountIn(BaseModel):
    bank_code: str = Field(pattern=r"^[0-9A-Z]{3,20}$", examples=["ICBC"],
                           description="the bank's code, as in the bank file's name")
    account_number: TextLine = Field(min_length=1, max_length=60)
    holder_name: TextLine = Field(min_length=1, max_length=120)


@router.put("/cases/{case_id}/account",
            summary="Register or correct the bank account a case is paid into (answer masked)")
def put_account(case_id: str, body: AccountIn, request: Request, rt: Runtime, who: AccountClerk,
                idempotency_key: IdempotencyKey = None) -> JSONResponse:
    case_in_reach(rt, case_id, who, request)
    vault = vault_of(request)

    def action(uow: Any) -> tuple[int, Any]:
        try:
            return 200, banking.register_account(uow, vault, case_id, body.bank_code,
                                                 body.account_number, body.holder_name)
        except ValueError as exc:
            field = "account_number" if "account" in str(exc).lower() else "holder_name"
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=[
                {"type": "value_error", "loc": ["body", field], "msg": str(exc)}]) from exc

    return respond(*once(rt, who, f"PUT /cases/{case_id}/account", idempotency_key,
                         commands.fingerprint(case_id, body.model_dump()), action))


# -- monthly cycles and batch subsidies ---------------------------------------------------------

class CycleIn(BaseModel):
    month: Month
    region_code: RegionCode


@router.get("/cycles/preview", summary="What a month's cycle would pay, without writing anything")
def preview_cycle(month: Annotated[str, Query(pattern=MONTH)],
                  region_code: Annotated[str, Query(pattern=REGION)],
                  rt: Runtime, request: Request, who: Operator) -> dict[str, Any]:
    region_in_reach(who, region_code, request)
    with reading(rt.engine) as conn:
        return runs.preview(conn, "cycle", month, region_code)


@router.post("/cycles", status_code=status.HTTP_202_ACCEPTED,
             summary="Generate a month's cycle for a region: one payment per entitlement, once")
def generate_cycle(body: CycleIn, request: Request, rt: Runtime, who: Operator,
                   idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Answers at once with the run; it generates in the background (GET /cycles/{run_id}).
    Asking again for the same month and region creates nothing new — and resumes a run that
    stopped half-way."""
    region_in_reach(who, body.region_code, request)
    def action(uow: Any) -> tuple[int, Any]:
        return 202, _run_out(runs.open_cycle(uow.conn, body.month, body.region_code,
                                             datetime.now(UTC)))

    code, answer = once(rt, who, "POST /cycles", idempotency_key,
                        commands.fingerprint(body.model_dump()), action)
    runner_of(request).start(answer["run_id"])
    return respond(code, answer)


@router.get("/cycles/{run_id}", summary="A cycle or batch run: its status and what it created")
@router.get("/batches/{run_id}", summary="A batch run", include_in_schema=False)
def get_run(run_id: str, rt: Runtime, request: Request, who: Operator) -> dict[str, Any]:
    return _run_out(run_in_reach(rt, run_id, who, request))


# A one-off subsidy per household or member: bounded as intake bounds a one-off request
# (services/intake/entrypoints/schemas.py, MAX_TEMPORARY_REQUEST_FEN) — far above any real
# subsidy, low enough to catch an amount typed in fen twice over, and its totals (times every
# household of a district) far inside the database's 64-bit integers.
MAX_BATCH_AMOUNT_FEN = 100_000_000  # 1,000,000 yuan


class BatchIn(BaseModel):
    reference: str = Field(pattern=r"^[0-9A-Za-z._-]{3,60}$",
                           examples=["qingdao-price-linked-2020-03"],
                           description="the authority's reference: one reference, one subsidy")
    region_code: RegionCode
    month: Month
    programmes: list[Literal["dibao", "tekun", "marginal", "disability", "orphan"]] = Field(
        min_length=1)
    amount_fen: int = Field(gt=0, le=MAX_BATCH_AMOUNT_FEN,
                            description="per household, or per member (basis)")
    basis: Literal["household", "member"] = "household"
    reason: FreeText = Field(min_length=1, max_length=500)

    def terms(self) -> runs.BatchTerms:
        return runs.BatchTerms(
            reference=self.reference, region_code=self.region_code, month=self.month,
            programmes=tuple(sorted(set(self.programmes))), amount_fen=self.amount_fen,
            basis=self.basis, reason=self.reason)


@router.post("/batches/preview", summary="What a batch subsidy would pay, writing nothing")
def preview_batch(body: BatchIn, rt: Runtime, request: Request, who: Operator
                  ) -> dict[str, Any]:
    region_in_reach(who, body.region_code, request)
    with reading(rt.engine) as conn:
        return runs.preview(conn, "batch", body.month, body.region_code, body.terms())


@router.post("/batches", status_code=status.HTTP_202_ACCEPTED,
             summary="A one-off subsidy to every recipient household of some programmes "
                     "(e.g. the price-linked subsidy, 物价联动补贴)")
def generate_batch(body: BatchIn, request: Request, rt: Runtime, who: Operator,
                   idempotency_key: IdempotencyKey = None) -> JSONResponse:
    region_in_reach(who, body.region_code, request)
    def action(uow: Any) -> tuple[int, Any]:
        try:
            return 202, _run_out(runs.open_batch(uow.conn, body.terms(), datetime.now(UTC)))
        except runs.RunRefused as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc

    code, answer = once(rt, who, "POST /batches", idempotency_key,
                        commands.fingerprint(body.model_dump()), action)
    runner_of(request).start(answer["run_id"])
    return respond(code, answer)


def _run_out(row: dict[str, Any]) -> dict[str, Any]:
    return {k: utc(v) for k, v in row.items() if k != "cursor"}
