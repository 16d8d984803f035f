"""The audit API, for auditors: verify the archive, read records, export checkpoints. Every
query is itself logged (who, what, when) — and listed by GET /access-log, which is logged too.

Who is asking comes from the ``X-OneDoor-Staff`` header until sign-in and roles exist (issue 6);
the log records what each request claimed.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from sqlalchemy import select

from services.audit.adapters import store
from services.audit.adapters.tables import access_log, archive
from services.audit.domain.checkpoint import Signer, to_json
from services.audit.domain.verify import verify
from shared.db import reading
from shared.service import Runtime, ServiceRuntime

router = APIRouter(tags=["audit"])
Staff = Annotated[str, Header(alias="X-OneDoor-Staff", max_length=200)]


def _logged(rt: ServiceRuntime, who: str, what: str, query: dict[str, Any]) -> None:
    with rt.uow() as uow:
        store.log_access(uow.conn, who, what, query, datetime.now(UTC))
        uow.commit()


def _signer(request: Request) -> Signer:
    return request.app.state.signer  # type: ignore[no-any-return]


@router.get("/verify", summary="Check every chain and checkpoint; locate any tampering")
def verify_archive(request: Request, rt: Runtime, x_onedoor_staff: Staff = "anonymous"
                   ) -> dict[str, Any]:
    _logged(rt, x_onedoor_staff, "verify", {})
    signer = _signer(request)
    with reading(rt.engine) as conn:
        marks = store.all_checkpoints(conn)
    result = verify(store.records(rt.engine), marks, {signer.key_id: signer.public_key_pem()})
    return {"ok": result.ok, "records": result.records, "chains": result.chains,
            "checkpoints": result.checkpoints,
            "findings": [asdict(f) for f in result.findings]}


@router.get("/checkpoints", summary="The signed checkpoints, to keep a copy elsewhere")
def export_checkpoints(request: Request, rt: Runtime, x_onedoor_staff: Staff = "anonymous"
                       ) -> dict[str, Any]:
    _logged(rt, x_onedoor_staff, "checkpoints", {})
    signer = _signer(request)
    with reading(rt.engine) as conn:
        marks = store.all_checkpoints(conn)
    return {"public_key_pem": signer.public_key_pem().decode(), "key_id": signer.key_id,
            "checkpoints": [to_json(c) for c in marks]}


@router.get("/records", summary="Archived records of a topic and partition, in chain order")
def read_records(rt: Runtime, topic: str, partition: int = 0,
                 from_seq: Annotated[int, Query(ge=1)] = 1,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                 x_onedoor_staff: Staff = "anonymous") -> list[dict[str, Any]]:
    _logged(rt, x_onedoor_staff, "records",
            {"topic": topic, "partition": partition, "from_seq": from_seq, "limit": limit})
    with reading(rt.engine) as conn:
        rows = conn.execute(select(archive).where(
            archive.c.topic == topic, archive.c.partition == partition,
            archive.c.seq >= from_seq).order_by(archive.c.seq).limit(limit)).mappings().all()
    return [{"topic": r["topic"], "partition": r["partition"], "seq": r["seq"],
             "kafka_offset": r["kafka_offset"], "event_id": r["event_id"],
             "event_type": r["event_type"], "key": bytes(r["key"]).decode("utf-8", "replace"),
             "headers": json.loads(bytes(r["headers"])), "data": _data(bytes(r["value"])),
             "prev_hash": r["prev_hash"], "hash": r["hash"],
             "archived_at": str(r["archived_at"])} for r in rows]


def _data(value: bytes) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return {"base64": base64.b64encode(value).decode()}


@router.get("/access-log", summary="Who queried the archive, newest first")
def read_access_log(rt: Runtime, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                    x_onedoor_staff: Staff = "anonymous") -> list[dict[str, Any]]:
    _logged(rt, x_onedoor_staff, "access-log", {"limit": limit})
    with reading(rt.engine) as conn:
        rows = conn.execute(select(access_log).order_by(access_log.c.id.desc())
                            .limit(limit)).mappings().all()
    return [{**r, "at": str(r["at"]), "query": json.loads(r["query"])} for r in rows]
