"""Payment's HTTP API: a case's payments and account; monthly cycles and batch subsidies;
bank files out and results in; re-issues; reconciliation and the ledger.

Every mutating request accepts an ``Idempotency-Key`` header (see idempotency.py). Account
numbers are masked in every answer; only a disbursement file carries them, for its bank.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from services.payment.adapters.repository import PaymentRepository
from services.payment.adapters.tables import case_areas, ledger, payments
from services.payment.adapters.vault import AccountVault
from services.payment.domain.bankfile.cells import FileRefused
from services.payment.entrypoints.runner import Runner
from services.payment.service_layer import banking, commands, reconciliation, runs
from shared import clock
from shared.auth.dependencies import access_log, check_jurisdiction, require
from shared.auth.principals import Principal, area_of
from shared.db import reading
from shared.http import CheckedRoute
from shared.inputs import FreeText, TextLine
from shared.service import Runtime, ServiceRuntime
from shared.sql import within
from shared.uow import UnitOfWork

router = APIRouter(route_class=CheckedRoute, tags=["payments"])

MONTH = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
REGION = r"^[0-9]{6}$"
AREA = r"^([0-9]{6}|[0-9]{9})$"  # a district, or a town within it
Month = Annotated[str, Field(pattern=MONTH, examples=["2026-12"])]
RegionCode = Annotated[str, Field(pattern=REGION, examples=["330282"])]
IdempotencyKey = Annotated[str | None, Header(max_length=200)]
PaymentStatus = Literal["scheduled", "held", "exported", "paid", "failed", "reissued"]
Reader = Annotated[Principal, Depends(require("case.read"))]
AccountClerk = Annotated[Principal, Depends(require("payment.account.write"))]
# Cycles, batches, bank files out and results in, re-issues: the district's payment work.
Operator = Annotated[Principal, Depends(require("payment.run"))]
BankFileReader = Annotated[Principal, Depends(require("payment.bank_file.read"))]
Reconciler = Annotated[Principal, Depends(require("payment.reconcile"))]
# Columns that never leave the service: the sealed account copied into an exported payment.
_SEALED = ("account_sealed", "holder_sealed")


def _vault(request: Request) -> AccountVault:
    vault: AccountVault = request.app.state.vault
    return vault


def _runner(request: Request) -> Runner:
    runner: Runner = request.app.state.runner
    return runner


def _answer(code: int, body: Any) -> JSONResponse:
    return JSONResponse(status_code=code, content=body)


def once(rt: ServiceRuntime, who: Principal, scope: str, key: str | None, request_hash: str,
         action: commands.Action, *,
         remembered: Callable[[UnitOfWork, Any], None] | None = None) -> tuple[int, Any]:
    """``commands.once`` under the caller's keys; a key reused for another request is a 409."""
    try:
        return commands.once(rt.uow, who.key_scope, scope, key, request_hash, action,
                             remembered=remembered)
    except commands.KeyReused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            detail="Idempotency-Key was already used for a different request"
                            ) from exc


def _payment_out(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _utc(v) for k, v in row.items() if k not in _SEALED}


def _case_in_reach(rt: ServiceRuntime, case_id: str, who: Principal, request: Request) -> None:
    """A logged 403 for a case outside the caller's jurisdiction. Payment learns where a case
    is handled from its decision: before that, only staff of every region may ask (and see
    nothing), others get a 404."""
    with reading(rt.engine) as conn:
        area = PaymentRepository(conn).area(case_id)
    if area is None:
        if who.jurisdiction == "":
            return
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            detail=f"no payment decision for case {case_id} yet")
    check_jurisdiction(who, area_of(*area), request=request)


def _region_in_reach(who: Principal, region_code: str, request: Request) -> None:
    check_jurisdiction(who, region_code, request=request)


def _utc(value: Any) -> Any:
    # SQLite gives back a timestamp's digits without its zone; they were stored in UTC.
    return clock.as_utc(value).isoformat() if isinstance(value, datetime) else value


# -- a case -------------------------------------------------------------------------------------

@router.get("/cases/{case_id}/payments",
            summary="A case's payments, its monthly entitlement (or null) and its account, masked")
def case_payments(case_id: str, rt: Runtime, request: Request, who: Reader) -> dict[str, Any]:
    _case_in_reach(rt, case_id, who, request)
    with reading(rt.engine) as conn:
        repo = PaymentRepository(conn)
        entitlement = repo.entitlement(case_id)
        shown = None
        if entitlement is not None:
            shown = {**asdict(entitlement), "status": entitlement.status,
                     "monthly_amount_fen": entitlement.monthly_amount_fen,
                     "end_month": entitlement.end_month}
        return {"case_id": case_id,
                "payments": [_payment_out(p) for p in repo.for_case(case_id)],
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
    _case_in_reach(rt, case_id, who, request)
    vault = _vault(request)

    def action(uow: Any) -> tuple[int, Any]:
        try:
            return 200, banking.register_account(uow, vault, case_id, body.bank_code,
                                                 body.account_number, body.holder_name)
        except ValueError as exc:
            field = "account_number" if "account" in str(exc).lower() else "holder_name"
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=[
                {"type": "value_error", "loc": ["body", field], "msg": str(exc)}]) from exc

    return _answer(*once(rt, who, f"PUT /cases/{case_id}/account", idempotency_key,
                         commands.fingerprint(case_id, body.model_dump()), action))


# -- monthly cycles and batch subsidies ---------------------------------------------------------

class CycleIn(BaseModel):
    month: Month
    region_code: RegionCode


@router.get("/cycles/preview", summary="What a month's cycle would pay, without writing anything")
def preview_cycle(month: Annotated[str, Query(pattern=MONTH)],
                  region_code: Annotated[str, Query(pattern=REGION)],
                  rt: Runtime, request: Request, who: Operator) -> dict[str, Any]:
    _region_in_reach(who, region_code, request)
    with reading(rt.engine) as conn:
        return runs.preview(conn, "cycle", month, region_code)


@router.post("/cycles", status_code=status.HTTP_202_ACCEPTED,
             summary="Generate a month's cycle for a region: one payment per entitlement, once")
def generate_cycle(body: CycleIn, request: Request, rt: Runtime, who: Operator,
                   idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Answers at once with the run; it generates in the background (GET /cycles/{run_id}).
    Asking again for the same month and region creates nothing new — and resumes a run that
    stopped half-way."""
    _region_in_reach(who, body.region_code, request)
    def action(uow: Any) -> tuple[int, Any]:
        return 202, _run_out(runs.open_cycle(uow.conn, body.month, body.region_code,
                                             datetime.now(UTC)))

    code, answer = once(rt, who, "POST /cycles", idempotency_key,
                        commands.fingerprint(body.model_dump()), action)
    _runner(request).start(answer["run_id"])
    return _answer(code, answer)


@router.get("/cycles/{run_id}", summary="A cycle or batch run: its status and what it created")
@router.get("/batches/{run_id}", summary="A batch run", include_in_schema=False)
def get_run(run_id: str, rt: Runtime, request: Request, who: Operator) -> dict[str, Any]:
    return _run_out(_run_in_reach(rt, run_id, who, request))


def _run_in_reach(rt: ServiceRuntime, run_id: str, who: Principal,
                  request: Request) -> dict[str, Any]:
    with reading(rt.engine) as conn:
        found = runs.run(conn, run_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no run {run_id}")
    _region_in_reach(who, found["region_code"], request)
    return found


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
    _region_in_reach(who, body.region_code, request)
    with reading(rt.engine) as conn:
        return runs.preview(conn, "batch", body.month, body.region_code, body.terms())


@router.post("/batches", status_code=status.HTTP_202_ACCEPTED,
             summary="A one-off subsidy to every recipient household of some programmes "
                     "(e.g. the price-linked subsidy, 物价联动补贴)")
def generate_batch(body: BatchIn, request: Request, rt: Runtime, who: Operator,
                   idempotency_key: IdempotencyKey = None) -> JSONResponse:
    _region_in_reach(who, body.region_code, request)
    def action(uow: Any) -> tuple[int, Any]:
        try:
            return 202, _run_out(runs.open_batch(uow.conn, body.terms(), datetime.now(UTC)))
        except runs.RunRefused as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc

    code, answer = once(rt, who, "POST /batches", idempotency_key,
                        commands.fingerprint(body.model_dump()), action)
    _runner(request).start(answer["run_id"])
    return _answer(code, answer)


def _run_out(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _utc(v) for k, v in row.items() if k != "cursor"}


# -- banks --------------------------------------------------------------------------------------

class ExportIn(BaseModel):
    region_code: RegionCode
    up_to_month: Month


@router.post("/cycles/{run_id}/bank-files",
             summary="Disbursement files, one per bank, for a cycle's region and month")
def export_cycle(run_id: str, rt: Runtime, request: Request, who: Operator,
                 idempotency_key: IdempotencyKey = None) -> JSONResponse:
    found = _run_in_reach(rt, run_id, who, request)
    if found["status"] != "generated":
        raise HTTPException(status.HTTP_409_CONFLICT,
                            detail=f"run {run_id} is still {found['status']}")
    return _answer(*once(rt, who, f"POST /cycles/{run_id}/bank-files", idempotency_key,
                         commands.fingerprint(run_id), lambda uow: (200, banking.export(
                             uow, found["region_code"], found["month"], run_id))))


@router.post("/bank-files",
             summary="Disbursement files now, for everything scheduled in a region up to a "
                     "month (urgent one-offs, emergency advances)")
def export_now(body: ExportIn, rt: Runtime, request: Request, who: Operator,
               idempotency_key: IdempotencyKey = None) -> JSONResponse:
    _region_in_reach(who, body.region_code, request)
    return _answer(*once(rt, who, "POST /bank-files", idempotency_key,
                         commands.fingerprint(body.model_dump()),
                         lambda uow: (200, banking.export(uow, body.region_code,
                                                          body.up_to_month, None))))


@router.get("/bank-files/{file_id}", response_class=StreamingResponse,
            summary="The disbursement file, as CSV (docs/BANK_FILES.md)")
def download_file(file_id: str, request: Request, rt: Runtime,
                  who: BankFileReader) -> StreamingResponse:
    """The one answer that carries account numbers in clear: each download is logged with who
    took it."""
    vault = _vault(request)
    with reading(rt.engine) as conn:
        try:
            head = banking.bank_file(conn, file_id)
        except banking.NotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    _region_in_reach(who, head["region_code"], request)
    access_log.info("bank file %s (%d records) downloaded by %s:%s", file_id,
                    head["record_count"], who.role, who.subject,
                    extra={"subject": who.subject, "role": str(who.role),
                           "permission": "payment.bank_file.read", "file_id": file_id})

    return StreamingResponse(_streamed(rt, vault, file_id),
                             media_type="text/csv; charset=utf-8", headers={
                                 "Content-Disposition":
                                     f'attachment; filename="onedoor-{file_id}.csv"'})


def _streamed(rt: Any, vault: AccountVault, file_id: str) -> Iterator[str]:
    """The file as the response pulls it: each chunk is made when asked for, on the read
    connection this generator holds. A client that goes away stops the pulling; the generator
    is closed, and its ``with`` gives the connection back (issue 23: a writer thread used to
    block for ever on a full queue, holding it)."""
    with reading(rt.engine) as conn:
        yield from banking.file_chunks(conn, vault, file_id)


@router.post("/bank-files/results", summary="Import a bank's result file (paid / failed)")
def import_results(rt: Runtime, request: Request, who: Operator,
                   content: Annotated[bytes, Body(media_type="text/csv")],
                   idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Lines are applied one by one: a bad line is rejected with its reason and the others still
    apply. A file whose header, trailer or totals do not hold is refused whole (422), as is one
    that is not UTF-8 text, before anything is read or remembered. The same file twice changes
    nothing."""
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=[
            {"type": "value_error", "loc": ["body"],
             "msg": "a result file is UTF-8 text; this body is not"}]) from exc

    def action(uow: Any) -> tuple[int, Any]:
        try:
            return 200, banking.import_results(
                uow, content, check_region=lambda region: _region_in_reach(who, region, request))
        except FileRefused as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=[
                {"type": "value_error", "loc": ["body"], "msg": p} for p in exc.problems]
                ) from exc
        except banking.NotFound as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=[
                {"type": "value_error", "loc": ["body", "file_id"], "msg": str(exc)}]) from exc
        except banking.Refused as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc

    def in_reach(uow: Any, answer: Any) -> None:
        # Only answers that applied are remembered, and they name the file they applied to.
        if isinstance(answer, dict) and answer.get("file_id"):
            head = banking.bank_file(uow.conn, answer["file_id"])
            _region_in_reach(who, head["region_code"], request)

    return _answer(*once(rt, who, "POST /bank-files/results", idempotency_key,
                         commands.fingerprint(content.decode("utf-8", "replace")), action,
                         remembered=in_reach))


@router.post("/payments/{payment_id}/reissue",
             summary="Re-issue a failed payment, once, after the account was corrected")
def reissue(payment_id: str, request: Request, rt: Runtime, who: Operator,
            idempotency_key: IdempotencyKey = None) -> JSONResponse:
    vault = _vault(request)
    with reading(rt.engine) as conn:
        failed = PaymentRepository(conn).payment(payment_id)
    if failed is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no payment {payment_id}")
    _case_in_reach(rt, failed["case_id"], who, request)

    def action(uow: Any) -> tuple[int, Any]:
        try:
            return 201, banking.reissue(uow, vault, payment_id)
        except banking.NotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
        except banking.Refused as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc

    return _answer(*once(rt, who, f"POST /payments/{payment_id}/reissue", idempotency_key,
                         commands.fingerprint(payment_id), action))


@router.get("/payments", summary="A region's payments by status: e.g. the failed ones the town "
                                   "must correct (status=failed), or those held by a guard")
def payments_by_status(region_code: Annotated[str, Query(pattern=AREA)], rt: Runtime,
                       request: Request, who: Reader,
                       status_: Annotated[PaymentStatus, Query(alias="status")] = "failed",
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    """``region_code`` is a district or one of its towns; a town's staff see their town's."""
    _region_in_reach(who, region_code, request)
    town = case_areas.c.town_code
    with reading(rt.engine) as conn:
        rows = conn.execute(select(payments)
                            .outerjoin(case_areas, case_areas.c.case_id == payments.c.case_id)
                            .where(within(region_code, payments.c.region_code, town),
                                   within(who.jurisdiction, payments.c.region_code, town),
                                   payments.c.status == status_)
                            .order_by(payments.c.settled_at, payments.c.scheduled_at)
                            .limit(limit)).mappings()
        return [_payment_out(dict(r)) for r in rows]


# -- finance and audit ------------------------------------------------------------------------

@router.get("/reconciliation", summary="Reconciliation of a month in a region (JSON or CSV)")
def reconcile(month: Annotated[str, Query(pattern=MONTH)],
              region_code: Annotated[str, Query(pattern=REGION)], rt: Runtime,
              request: Request, who: Reconciler,
              format: Literal["json", "csv"] = "json") -> Any:
    _region_in_reach(who, region_code, request)
    with reading(rt.engine) as conn:
        report = reconciliation.reconcile(conn, month, region_code)
    if format == "csv":
        return PlainTextResponse(reconciliation.as_csv(report), media_type="text/csv")
    return report


@router.get("/cycles/{run_id}/reconciliation", summary="Reconciliation of a cycle (JSON or CSV)")
def reconcile_cycle(run_id: str, rt: Runtime, request: Request, who: Reconciler,
                    format: Literal["json", "csv"] = "json") -> Any:
    found = _run_in_reach(rt, run_id, who, request)
    return reconcile(found["month"], found["region_code"], rt, request, who, format)


@router.get("/ledger", summary="The ledger entries of a case, oldest first",
            responses={404: {"description": "No payment decision for that case yet"}})
def case_ledger(case_id: str, rt: Runtime, request: Request,
                who: Reconciler) -> list[dict[str, Any]]:
    _case_in_reach(rt, case_id, who, request)
    with reading(rt.engine) as conn:
        rows = conn.execute(select(ledger).where(ledger.c.case_id == case_id)
                            .order_by(ledger.c.entry_id)).mappings()
        return [{k: _utc(v) for k, v in r.items()} for r in rows]
