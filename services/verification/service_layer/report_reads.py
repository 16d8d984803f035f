"""Reading a case's verification report is reading partner data, so each read is logged with
the departments the report holds (listed to auditors with every other partner-data access)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from services.verification.adapters.access import log_access
from services.verification.service_layer.reporting import report_sources
from shared.events.catalogue import VerificationReported
from shared.uow import UnitOfWork


def log_report_read(uow_factory: Callable[[], UnitOfWork], report: VerificationReported, *,
                    actor: str, role: str, town_code: str | None) -> None:
    with uow_factory() as uow:
        log_access(uow.conn, [{
            "at": datetime.now(UTC), "actor": actor, "role": role, "purpose": "report_read",
            "case_id": report.case_id, "region_code": report.region_code,
            "town_code": town_code, "sources": report_sources(report)}])
        uow.commit()
