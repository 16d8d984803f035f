"""The audit API, for auditors (and administrators): verify the archive, read records, export
checkpoints, replay reports, a case or a region's recipients as they were on a day. Every query
is itself logged (who, what, when) — and listed by GET /access-log, which is logged too.

Who is asking is the signed access token's principal (``shared/auth/``): only the
``audit.read`` roles get in, and an auditor of one district reads only that district's cases.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from sqlalchemy import select

from services.audit.adapters import store
from services.audit.adapters.tables import access_log, archive
from services.audit.domain.checkpoint import Signer, to_json
from services.audit.domain.policies import PolicyLibrary
from services.audit.domain.verify import verify
from services.audit.entrypoints.replay_cli import end_of, start_of
from services.audit.service_layer import access, policies, replaying
from shared import clock
from shared.auth.dependencies import check_jurisdiction, require
from shared.auth.principals import Principal
from shared.db import reading
from shared.http import CheckedRoute
from shared.service import Runtime, ServiceRuntime

router = APIRouter(route_class=CheckedRoute, tags=["audit"])
Auditor = Annotated[Principal, Depends(require("audit.read"))]
# Bounds that keep a query's figures within what the database and the date arithmetic hold: a
# Kafka partition is a 32-bit number, a sequence number a signed 64-bit one, and a day is turned
# into moments in China (start_of/end_of), which the first and last days of the calendar would
# carry past year 1 or 9999.
MAX_PARTITION = 2**31 - 1
MAX_SEQ = 2**63 - 1
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9000, 12, 31)
Day = Annotated[date | None, Query(ge=FIRST_DAY, le=LAST_DAY)]


def _logged(rt: ServiceRuntime, who: Principal, what: str, query: dict[str, Any]) -> None:
    access.log_read(rt.uow, f"{who.role}:{who.subject}", what, query)


def _signer(request: Request) -> Signer:
    signer: Signer = request.app.state.signer
    return signer


@router.get("/verify", summary="Check every chain and checkpoint; locate any tampering")
def verify_archive(request: Request, rt: Runtime, who: Auditor
                   ) -> dict[str, Any]:
    _logged(rt, who, "verify", {})
    signer = _signer(request)
    with reading(rt.engine) as conn:
        marks = store.all_checkpoints(conn)
    result = verify(store.records(rt.engine), marks, {signer.key_id: signer.public_key_pem()})
    return {"ok": result.ok, "records": result.records, "chains": result.chains,
            "checkpoints": result.checkpoints,
            "findings": [asdict(f) for f in result.findings]}


@router.get("/checkpoints", summary="The signed checkpoints, to keep a copy elsewhere")
def export_checkpoints(request: Request, rt: Runtime, who: Auditor
                       ) -> dict[str, Any]:
    _logged(rt, who, "checkpoints", {})
    signer = _signer(request)
    with reading(rt.engine) as conn:
        marks = store.all_checkpoints(conn)
    return {"public_key_pem": signer.public_key_pem().decode(), "key_id": signer.key_id,
            "checkpoints": [to_json(c) for c in marks]}


def _nationwide(who: Principal, request: Request) -> None:
    """A logged 403 unless the principal's jurisdiction is everywhere. A chain holds every
    district's events in one order, and the access log every auditor's queries: neither can be
    cut to one district without losing what it proves, so both are for nationwide auditors and
    administrators. A district's auditor reads its cases through the reports and views."""
    check_jurisdiction(who, None, request=request)


@router.get("/records", summary="Archived records of a topic and partition, in chain order "
                                "(nationwide auditors)")
def read_records(rt: Runtime, who: Auditor, request: Request, topic: str,
                 partition: Annotated[int, Query(ge=0, le=MAX_PARTITION)] = 0,
                 from_seq: Annotated[int, Query(ge=1, le=MAX_SEQ)] = 1,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    _nationwide(who, request)
    _logged(rt, who, "records",
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


@router.get("/access-log", summary="Who queried the archive, newest first (nationwide "
                                   "auditors)")
def read_access_log(rt: Runtime, who: Auditor, request: Request,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    _nationwide(who, request)
    _logged(rt, who, "access-log", {"limit": limit})
    with reading(rt.engine) as conn:
        rows = conn.execute(select(access_log).order_by(access_log.c.id.desc())
                            .limit(limit)).mappings().all()
    return [{**r, "at": str(r["at"]), "query": json.loads(r["query"])} for r in rows]


# -- replay: reports and views -----------------------------------------------------------------

def _policy(request: Request, rt: ServiceRuntime) -> PolicyLibrary:
    """The service's base table amended by every publication archived so far: read again for
    each request, so a publication is used as soon as it is archived (``service_layer/
    policies.py`` reuses the last library while the policy topic has no new record)."""
    return policies.library(rt.engine, request.app.state.policy)


def _region_for(who: Principal, region: str | None, request: Request) -> str | None:
    """The region asked for, which must lie in the auditor's jurisdiction; none asked: theirs."""
    if region is None:
        return who.jurisdiction or None
    check_jurisdiction(who, region, request=request)
    return region


@router.get("/reports/{name}", summary="An auditors' report from a replay, as JSON or CSV")
def report(name: Literal["payments-without-approval", "approvals-without-report",
                         "stale-decisions", "overdue", "divergences"],
           request: Request, rt: Runtime, who: Auditor,
           region: Annotated[str | None, Query(pattern=r"^[0-9]{2,9}$")] = None,
           programme: Annotated[str | None, Query(pattern=r"^[a-z]+$")] = None,
           since: Day = None, until: Day = None,
           stale_after_days: Annotated[int, Query(ge=1, le=3650)] = 180,
           format: Literal["json", "csv"] = "json") -> Any:
    region = _region_for(who, region, request)
    scope = replaying.Scope(region_code=region, programme=programme,
                            since=start_of(since) if since else None,
                            until=end_of(until) if until else None)
    _logged(rt, who, f"report/{name}", {**scope.to_json(), "format": format})
    fold, summary = replaying.replay(replaying.archived_events(rt.engine, scope.until),
                                     _policy(request, rt), scope,
                                     stale_after_days=stale_after_days)
    kinds = replaying.REPORTS[name]
    rows = [replaying.finding_json(f) for f in fold.findings if f.kind in kinds]
    if format == "csv":
        return _csv(rows, f"{name}.csv", replaying.FINDING_COLUMNS)
    return {"report": name, "scope": summary.scope, "policy_digest": summary.policy_digest,
            "policy_versions": summary.policy_versions,
            "policy_publications": summary.policy_publications,
            "events": summary.events, "count": len(rows), "rows": rows}


@router.get("/cases/{case_id}", summary="A case as it stood on a day: state, timeline, findings")
def case_as_of(case_id: str, request: Request, rt: Runtime, who: Auditor,
               as_of: Day = None) -> dict[str, Any]:
    check_jurisdiction(who, case_id[:6], request=request)  # a case id starts with its region
    day = as_of or clock.today()
    _logged(rt, who, "case", {"case_id": case_id, "as_of": day})
    view = replaying.case_as_of(rt.engine, _policy(request, rt), case_id, end_of(day))
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            detail=f"no case {case_id} in the archive up to {day}")
    return view


@router.get("/recipients/{region_code}", summary="A region's recipients as they were on a day")
def recipients(region_code: Annotated[str, Path(pattern=r"^[0-9]{2,9}$")], request: Request,
               rt: Runtime, who: Auditor, on: Day = None,
               format: Literal["json", "csv"] = "json") -> Any:
    check_jurisdiction(who, region_code, request=request)
    day = on or clock.today()
    _logged(rt, who, "recipients", {"region_code": region_code, "on": day, "format": format})
    # Nothing is re-run for the recipients: the base table alone, no publication read.
    found = replaying.recipients_on(rt.engine, request.app.state.policy, region_code,
                                    end_of(day))
    if format == "csv":
        return _csv(found["recipients"], f"recipients-{region_code}-{day}.csv",
                    replaying.RECIPIENT_COLUMNS)
    return found


def _csv(rows: list[dict[str, Any]], filename: str, first: tuple[str, ...]) -> Response:
    return Response(replaying.csv_text(rows, first), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
