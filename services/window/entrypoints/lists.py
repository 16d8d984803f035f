"""The pages that list: each role's home queues, the case list with its filters and searches,
the public notice list, partner departments' publications (the monitoring queue is in
monitoring.py)."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.window.adapters.services import Answer, Unreachable
from services.window.domain.casework import QUEUES
from services.window.domain.household import PROGRAMMES
from services.window.entrypoints.i18n import LABELS
from services.window.entrypoints.web import (
    CASE_ID,
    CheckedForm,
    PageError,
    SignedIn,
    User,
    WebApp,
    refuse_unless_ok,
    render,
    see_other,
)
from shared.auth.principals import Role

router = APIRouter()
QUEUE_SIZE = 20
AREA = re.compile(r"[0-9]{6}|[0-9]{9}")


async def listing(web: WebApp, user: User, service: str, path: str, field: str,
                   params: dict[str, str]) -> tuple[list[Any], bool]:
    """A service's list (its answer's ``field``) with these filters, and whether it answered:
    a page shows what it can and says what is missing."""
    try:
        answer = await web.services.get(user.account, service, path, params=params)
    except Unreachable:
        return [], False
    return (answer.body.get(field, []) if answer.ok else []), answer.ok


async def _listed(web: WebApp, user: User, params: dict[str, str]) -> tuple[list[Any], bool]:
    """Approval's case list (within the reader's jurisdiction, which approval applies)."""
    return await listing(web, user, "approval", "/cases", "cases", params)


@router.get("/")
async def home(request: Request, web: WebApp, user: SignedIn) -> Response:
    queues = QUEUES.get(user.account.role, ())
    found = await asyncio.gather(*(_listed(web, user, {**params, "limit": str(QUEUE_SIZE)})
                                   for _, params in queues))
    shown = [(key, rows, ok) for (key, _), (rows, ok) in zip(queues, found, strict=True)]
    return render(request, "home.html", user=user, queues=shown,
                  unavailable=not all(ok for _, ok in found))


@router.get("/cases")
async def case_list(request: Request, web: WebApp, user: SignedIn,
                    programme: Annotated[str, Query(max_length=30)] = "",
                    stage: Annotated[str, Query(max_length=30)] = "",
                    town: Annotated[str, Query(max_length=9)] = "",
                    overdue: bool = False,
                    case_id: Annotated[str, Query(max_length=60)] = "") -> Response:
    if case_id.strip():
        wanted = case_id.strip()
        if CASE_ID.fullmatch(wanted):
            return see_other(f"/cases/{wanted}")
        raise PageError(404, "not_found_title", "not_found_text")
    params = {"limit": "200"}
    if programme in PROGRAMMES:
        params["programme"] = programme
    if stage in LABELS["stage"]:
        params["stage"] = stage
    if AREA.fullmatch(town):
        params["region"] = town
    if overdue:
        params["overdue"] = "true"
    rows, ok = await _listed(web, user, params)
    return render(request, "cases.html", user=user, rows=rows, unavailable=not ok,
                  filters={"programme": programme, "stage": stage, "town": town,
                           "overdue": overdue}, programmes=PROGRAMMES,
                  stages=list(LABELS["stage"]), person_results=None)


@router.post("/cases/person-search")
async def person_search(request: Request, web: WebApp, user: SignedIn,
                        form: CheckedForm) -> Response:
    """By resident ID number, in a POST body: the number never sits in a URL or a log."""
    if not user.may("case.search"):
        raise PageError(403, "forbidden_title", "forbidden_text")
    number = str(form.get("resident_id", "")).strip().upper()
    error = None
    results: list[Any] = []
    if not re.fullmatch(r"[0-9]{17}[0-9X]", number):
        error = "must be 17 digits followed by a digit or X"
    else:
        answer: Answer = await web.services.call(user.account, "intake", "POST",
                                                 "/applications/search",
                                                 json={"resident_id": number})
        if answer.status == 403:
            raise PageError(403, "forbidden_title", "forbidden_text")
        results = answer.body.get("cases", []) if answer.ok else []
    return render(request, "cases.html", user=user, rows=[], unavailable=False,
                  filters={"programme": "", "stage": "", "town": "", "overdue": False},
                  programmes=PROGRAMMES, stages=list(LABELS["stage"]),
                  person_results=results, person_error=error)


@router.get("/notices")
async def notices(request: Request, web: WebApp, user: SignedIn,
                  town: Annotated[str, Query(max_length=9)] = "") -> Response:
    """Cases under public notice in a town, printable for the notice board. The notice names
    the applicant as such notices do, masked (王*英), with the household's size and amount."""
    area = town if AREA.fullmatch(town) else user.account.jurisdiction
    params = {"stage": "under_notice", "limit": "500"}
    if area:
        params["region"] = area
    rows, ok = await _listed(web, user, params)
    # Who (intake) and how much is proposed (approval's assessment: a case under notice has no
    # running benefit yet, so the list's monthly amount is still 0).
    answers = await asyncio.gather(*(
        web.services.get(user.account, service, path.format(row["case_id"]))
        for row in rows
        for service, path in (("intake", "/applications/{}"), ("approval", "/cases/{}"))))
    details, workflows = answers[0::2], answers[1::2]
    shown = []
    for row, answer, workflow in zip(rows, details, workflows, strict=True):
        case = answer.body if answer.ok else {}
        members = case.get("members", [])
        applicant = next((m for m in members if m.get("relation") == "applicant"), None)
        assessment = (workflow.body or {}).get("assessment") if workflow.ok else None
        shown.append({**row, "applicant": _masked_name(applicant["name"]) if applicant else "—",
                      "household_size": len(members) or "—",
                      "proposed_fen": (assessment or {}).get("monthly_amount_fen")})
    return render(request, "notices.html", user=user, rows=shown, area=area,
                  unavailable=not ok)


def _masked_name(name: str) -> str:
    """王秀英 → 王*英, 王明 → 王*: enough for neighbours to recognise, not to copy."""
    if len(name) <= 2:
        return name[:1] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


@router.get("/partner-uploads")
async def partner_uploads(request: Request, web: WebApp, user: SignedIn,
                          department: Annotated[str, Query(max_length=50)] = "") -> Response:
    """Administrators: what partner departments published lately, from verification."""
    _administrator(user)
    params = {"limit": "100"}
    if re.fullmatch(r"[a-z_]{1,50}", department):
        params["department"] = department
    rows, ok = await listing(web, user, "verification", "/partner-publications",
                              "publications", params)
    return render(request, "partner_uploads.html", user=user, rows=rows,
                  department=department, departments=list(LABELS["department"]),
                  unavailable=not ok)


@router.get("/partner-uploads/{publication_id}")
async def partner_upload(request: Request, web: WebApp, user: SignedIn,
                         publication_id: int) -> Response:
    """One publication with its rejected lines and their reasons (never the lines: they carry
    resident ID numbers)."""
    _administrator(user)
    answer = await web.services.get(user.account, "verification",
                                    f"/partner-publications/{publication_id}")
    refuse_unless_ok(answer)
    return render(request, "partner_upload.html", user=user, pub=answer.body)


def _administrator(user: User) -> None:
    if user.account.role != Role.ADMINISTRATOR:
        raise PageError(403, "forbidden_title", "forbidden_text")
