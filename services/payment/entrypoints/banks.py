"""Payment's HTTP API towards the banks: disbursement files out (each download logged), result
files in, re-issues of failed payments, a region's payments by status; and the finance checks
over them, reconciliation and the ledger."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel
from sqlalchemy import select

from services.payment.adapters.repository import PaymentRepository
from services.payment.adapters.tables import case_areas, ledger, payments
from services.payment.adapters.vault import AccountVault
from services.payment.domain.bankfile.cells import FileRefused
from services.payment.entrypoints.requests import (
    AREA,
    MONTH,
    REGION,
    BankFileReader,
    IdempotencyKey,
    Month,
    Operator,
    PaymentStatus,
    Reader,
    Reconciler,
    RegionCode,
    case_in_reach,
    once,
    payment_out,
    region_in_reach,
    respond,
    run_in_reach,
    utc,
    vault_of,
)
from services.payment.service_layer import banking, commands, reconciliation
from shared.auth.dependencies import access_log
from shared.db import reading
from shared.http import CheckedRoute
from shared.service import Runtime
from shared.sql import within

router = APIRouter(route_class=CheckedRoute, tags=["payments"])


# -- banks --------------------------------------------------------------------------------------

class ExportIn(BaseModel):
    region_code: RegionCode
    up_to_month: Month


@router.post("/cycles/{run_id}/bank-files",
             summary="Disbursement files, one per bank, for a cycle's region and month")
def export_cycle(run_id: str, rt: Runtime, request: Request, who: Operator,
                 idempotency_key: IdempotencyKey = None) -> JSONResponse:
    found = run_in_reach(rt, run_id, who, request)
    if found["status"] != "generated":
        raise HTTPException(status.HTTP_409_CONFLICT,
                            detail=f"run {run_id} is still {found['status']}")
    return respond(*once(rt, who, f"POST /cycles/{run_id}/bank-files", idempotency_key,
                         commands.fingerprint(run_id), lambda uow: (200, banking.export(
                             uow, found["region_code"], found["month"], run_id))))


@router.post("/bank-files",
             summary="Disbursement files now, for everything scheduled in a region up to a "
                     "month (urgent one-offs, emergency advances)")
def export_now(body: ExportIn, rt: Runtime, request: Request, who: Operator,
               idempotency_key: IdempotencyKey = None) -> JSONResponse:
    region_in_reach(who, body.region_code, request)
    return respond(*once(rt, who, "POST /bank-files", idempotency_key,
                         commands.fingerprint(body.model_dump()),
                         lambda uow: (200, banking.export(uow, body.region_code,
                                                          body.up_to_month, None))))


@router.get("/bank-files/{file_id}", response_class=StreamingResponse,
            summary="The disbursement file, as CSV (docs/BANK_FILES.md)")
def download_file(file_id: str, request: Request, rt: Runtime,
                  who: BankFileReader) -> StreamingResponse:
    """The one answer that carries account numbers in clear: each download is logged with who
    took it."""
    vault = vault_of(request)
    with reading(rt.engine) as conn:
        try:
            head = banking.bank_file(conn, file_id)
        except banking.NotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    region_in_reach(who, head["region_code"], request)
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
                uow, content, check_region=lambda region: region_in_reach(who, region, request))
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
            region_in_reach(who, head["region_code"], request)

    return respond(*once(rt, who, "POST /bank-files/results", idempotency_key,
                         commands.fingerprint(content.decode("utf-8", "replace")), action,
                         remembered=in_reach))


@router.post("/payments/{payment_id}/reissue",
             summary="Re-issue a failed payment, once, after the account was corrected")
def reissue(payment_id: str, request: Request, rt: Runtime, who: Operator,
            idempotency_key: IdempotencyKey = None) -> JSONResponse:
    vault = vault_of(request)
    with reading(rt.engine) as conn:
        failed = PaymentRepository(conn).payment(payment_id)
    if failed is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no payment {payment_id}")
    case_in_reach(rt, failed["case_id"], who, request)

    def action(uow: Any) -> tuple[int, Any]:
        try:
            return 201, banking.reissue(uow, vault, payment_id)
        except banking.NotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
        except banking.Refused as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc

    return respond(*once(rt, who, f"POST /payments/{payment_id}/reissue", idempotency_key,
                         commands.fingerprint(payment_id), action))


@router.get("/payments", summary="A region's payments by status: e.g. the failed ones the town "
                                   "must correct (status=failed), or those held by a guard")
def payments_by_status(region_code: Annotated[str, Query(pattern=AREA)], rt: Runtime,
                       request: Request, who: Reader,
                       status_: Annotated[PaymentStatus, Query(alias="status")] = "failed",
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    """``region_code`` is a district or one of its towns; a town's staff see their town's."""
    region_in_reach(who, region_code, request)
    town = case_areas.c.town_code
    with reading(rt.engine) as conn:
        rows = conn.execute(select(payments)
                            .outerjoin(case_areas, case_areas.c.case_id == payments.c.case_id)
                            .where(within(region_code, payments.c.region_code, town),
                                   within(who.jurisdiction, payments.c.region_code, town),
                                   payments.c.status == status_)
                            .order_by(payments.c.settled_at, payments.c.scheduled_at)
                            .limit(limit)).mappings()
        return [payment_out(dict(r)) for r in rows]


# -- finance and audit ------------------------------------------------------------------------

@router.get("/reconciliation", summary="Reconciliation of a month in a region (JSON or CSV)")
def reconcile(month: Annotated[str, Query(pattern=MONTH)],
              region_code: Annotated[str, Query(pattern=REGION)], rt: Runtime,
              request: Request, who: Reconciler,
              format: Literal["json", "csv"] = "json") -> Any:
    region_in_reach(who, region_code, request)
    with reading(rt.engine) as conn:
        report = reconciliation.reconcile(conn, month, region_code)
    if format == "csv":
        return PlainTextResponse(reconciliation.as_csv(report), media_type="text/csv")
    return report


@router.get("/cycles/{run_id}/reconciliation", summary="Reconciliation of a cycle (JSON or CSV)")
def reconcile_cycle(run_id: str, rt: Runtime, request: Request, who: Reconciler,
                    format: Literal["json", "csv"] = "json") -> Any:
    found = run_in_reach(rt, run_id, who, request)
    return reconcile(found["month"], found["region_code"], rt, request, who, format)


@router.get("/ledger", summary="The ledger entries of a case, oldest first",
            responses={404: {"description": "No payment decision for that case yet"}})
def case_ledger(case_id: str, rt: Runtime, request: Request,
                who: Reconciler) -> list[dict[str, Any]]:
    case_in_reach(rt, case_id, who, request)
    with reading(rt.engine) as conn:
        rows = conn.execute(select(ledger).where(ledger.c.case_id == case_id)
                            .order_by(ledger.c.entry_id)).mappings()
        return [{k: utc(v) for k, v in r.items()} for r in rows]
