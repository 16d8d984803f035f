"""Partner departments' bulk publications over HTTP: a file in, its report out; the list of them
for administrators and, each its own, for the departments."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Depends,
    Header,
    HTTPException,
    Path,
    Query,
    Request,
    Security,
    status,
)
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from services.verification.adapters.publications import PublicationRepository
from services.verification.domain.publication import FileRefused
from services.verification.entrypoints.http import department, department_of
from services.verification.service_layer import publishing
from shared.auth.dependencies import require
from shared.db import reading
from shared.http import CheckedRoute
from shared.service import Runtime

MEDIA_TYPES: dict[str, publishing.Format] = {
    "application/x-ndjson": "ndjson", "application/ndjson": "ndjson",
    "application/jsonl": "ndjson", "text/csv": "csv"}
MAX_BYTES = 8 * 2**30  # 8 GiB: ~40 million records, far above any department's monthly file
SPOOL_IN_MEMORY = 2**20  # a larger file goes to a temporary file on disk as it arrives
MAX_ID = 2**63 - 1  # a publication's id is a signed 64-bit number in SQLite and PostgreSQL

router = APIRouter(route_class=CheckedRoute, tags=["partners"])
_bearer = HTTPBearer(auto_error=False, description="an administrator's access token, or a "
                                                   "department's own credential")
_administrator = require("partner.publications.read")


@dataclass(frozen=True)
class PublicationReader:
    department: str | None  # the department reading its own; None: an administrator


async def publication_reader(request: Request, rt: Runtime, credentials: Annotated[
        HTTPAuthorizationCredentials | None, Security(_bearer)]) -> PublicationReader:
    """A department with its own credential, or else an administrator's access token (refusals
    logged by shared.auth.dependencies)."""
    if credentials is not None:
        found = await run_in_threadpool(department_of, rt, credentials.credentials)
        if found is not None:
            return PublicationReader(found)
    await _administrator(request, credentials)
    return PublicationReader(None)


Reader = Annotated[PublicationReader, Depends(publication_reader)]


def _unprocessable(loc: list[str], msg: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                         detail=[{"loc": loc, "msg": msg, "type": "value_error"}])


@router.post(
    "/partner-publications", status_code=201,
    summary="A partner department publishes a bulk file (协同部门批量数据)",
    responses={200: {"description": "The same file was published before: its report"},
               409: {"description": "The same file is being ingested by another request"},
               413: {"description": "Larger than 8 GiB"},
               415: {"description": "Neither NDJSON nor CSV"},
               422: {"description": "Empty, or a CSV header that cannot be used"}},
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/x-ndjson": {"schema": {"type": "string"}},
        "text/csv": {"schema": {"type": "string"}}}}})
async def publish_file(request: Request, rt: Runtime, dept: Annotated[str, Depends(department)],
                       content_type: Annotated[str | None, Header()] = None) -> JSONResponse:
    """NDJSON (``Content-Type: application/x-ndjson``, one JSON object a line) or CSV
    (``text/csv``, UTF-8, a header line naming the columns): fields op, record_id, kind,
    resident_id, amount_fen, grade, as_of, town_code, situation.

    ``op`` is ``upsert`` (the default: insert or replace the department's record ``record_id``)
    or ``delete``; ``amount_fen`` for kinds with an amount, ``grade`` (1–4) for graded ones,
    ``situation`` (a parent's: deceased, imprisoned, …) for the children's welfare kinds,
    ``as_of`` a date. Each line is judged on its own: the answer counts the accepted and
    rejected lines and gives each rejection's line number and reason. The same file sent again
    (the same bytes) changes nothing and answers the first report, with 200."""
    media = (content_type or "").split(";")[0].strip().lower()
    fmt = MEDIA_TYPES.get(media)
    if fmt is None:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            detail=f"Content-Type must be one of {', '.join(MEDIA_TYPES)}")
    digest, size = hashlib.sha256(), 0
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as body:
        # Read as it arrives, never whole: writes go to the page cache, a few per megabyte.
        async for piece in request.stream():
            size += len(piece)
            if size > MAX_BYTES:
                raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                                    detail=f"a publication is at most {MAX_BYTES} bytes")
            digest.update(piece)
            body.write(piece)
        if size == 0:
            raise _unprocessable(["body"], "empty: a publication has at least one line")
        upload = publishing.Upload(department=dept, format=fmt, body=body,
                                   digest=digest.hexdigest(), size=size)
        try:
            new, report = await run_in_threadpool(
                publishing.publish_file, upload, rt.uow,
                pseudonym_key=rt.settings.pseudonym_key.get_secret_value().encode(),
                monitoring=request.app.state.monitoring)
        except FileRefused as exc:
            raise _unprocessable(["body", "header"], str(exc)) from exc
        except publishing.PublicationBusy as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    return JSONResponse(report, status_code=201 if new else 200)


@router.get("/partner-publications", summary="Partner publications, newest first")
def list_publications(
        rt: Runtime, who: Reader,
        department: Annotated[str | None, Query(pattern=r"^[a-z_]{1,50}$")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    """Administrators see every department's (or one's, with ``department``); a department,
    with its own credential, its own."""
    if who.department is not None:
        if department not in (None, who.department):
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                detail="a department reads only its own publications")
        department = who.department
    with reading(rt.engine) as conn:
        found = PublicationRepository(conn).newest(department, limit)
    return {"publications": [publishing.report(p) for p in found]}


@router.get("/partner-publications/{publication_id}",
            summary="A partner publication, with its rejected lines and their reasons")
def get_publication(publication_id: Annotated[int, Path(ge=1, le=MAX_ID)], rt: Runtime,
                    who: Reader) -> dict[str, Any]:
    with reading(rt.engine) as conn:
        repo = PublicationRepository(conn)
        found = repo.get(publication_id)
        # Another department's publication is, to a department, no publication at all.
        if found is None or who.department not in (None, found.department):
            raise HTTPException(status.HTTP_404_NOT_FOUND,
                                detail=f"no publication {publication_id}")
        return publishing.report(found, repo.rejections(publication_id))
