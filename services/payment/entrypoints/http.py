"""Payment's HTTP API: the payments of a case."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.payment.adapters.repository import PaymentRepository
from shared.db import reading
from shared.service import Runtime

router = APIRouter(tags=["payments"])


@router.get("/cases/{case_id}/payments", summary="The payments scheduled for a case")
def case_payments(case_id: str, rt: Runtime) -> dict[str, Any]:
    with reading(rt.engine) as conn:
        return {"case_id": case_id, "payments": PaymentRepository(conn).for_case(case_id)}
