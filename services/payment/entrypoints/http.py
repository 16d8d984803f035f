"""Payment's HTTP API: the payments of a case and its running entitlement."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from services.payment.adapters.repository import PaymentRepository
from shared.db import reading
from shared.service import Runtime

router = APIRouter(tags=["payments"])


@router.get("/cases/{case_id}/payments",
            summary="The payments scheduled for a case, and its monthly entitlement (or null)")
def case_payments(case_id: str, rt: Runtime) -> dict[str, Any]:
    with reading(rt.engine) as conn:
        repo = PaymentRepository(conn)
        entitlement = repo.entitlement(case_id)
        return {"case_id": case_id, "payments": repo.for_case(case_id),
                "entitlement": None if entitlement is None else asdict(entitlement)}
