"""What every payment route shares: the shapes of its inputs, who may call it, the caller's
reach (a logged 403 outside their jurisdiction), and the once-only answer of a mutating request
(service_layer/commands.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import Field

from services.payment.adapters.repository import PaymentRepository
from services.payment.adapters.vault import AccountVault
from services.payment.entrypoints.runner import Runner
from services.payment.service_layer import commands, runs
from shared import clock
from shared.auth.dependencies import check_jurisdiction, require
from shared.auth.principals import Principal, area_of
from shared.db import reading
from shared.service import ServiceRuntime
from shared.uow import UnitOfWork

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


def vault_of(request: Request) -> AccountVault:
    vault: AccountVault = request.app.state.vault
    return vault


def runner_of(request: Request) -> Runner:
    runner: Runner = request.app.state.runner
    return runner


def respond(code: int, body: Any) -> JSONResponse:
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


def payment_out(row: dict[str, Any]) -> dict[str, Any]:
    return {k: utc(v) for k, v in row.items() if k not in _SEALED}


def case_in_reach(rt: ServiceRuntime, case_id: str, who: Principal, request: Request) -> None:
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


def region_in_reach(who: Principal, region_code: str, request: Request) -> None:
    check_jurisdiction(who, region_code, request=request)


def utc(value: Any) -> Any:
    # SQLite gives back a timestamp's digits without its zone; they were stored in UTC.
    return clock.as_utc(value).isoformat() if isinstance(value, datetime) else value


def run_in_reach(rt: ServiceRuntime, run_id: str, who: Principal,
                  request: Request) -> dict[str, Any]:
    with reading(rt.engine) as conn:
        found = runs.run(conn, run_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no run {run_id}")
    region_in_reach(who, found["region_code"], request)
    return found
