"""The monitoring queue (动态监测): the early warnings and proactive-discovery leads of the
reader's town or district, from verification, each closable with an outcome by the case
workers. Verification decides who may see and close what; this page only shows its answers,
and asks them in the reader's language: verification words each item's reason (a code and its
figures) in it.

A reviewer may also ask who a lead is (查询身份), with a reason: verification asks the department
that owns the lead's record and logs the ask. The answer is shown once, on the page that answers
the form, and the window keeps it nowhere (its session, database and logs never see it; the page
is sent with ``Cache-Control: no-store``)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.window.adapters.services import Unreachable
from services.window.entrypoints.i18n import LABELS, translate
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

router = APIRouter()
ITEM_ID = re.compile(r"[0-9a-f-]{36}")  # verification's ids are UUIDs
TIER_ORDER = {"red": 0, "orange": 1, "yellow": 2}


async def _listing(web: WebApp, user: User, path: str, field: str,
                   params: dict[str, str]) -> tuple[list[Any], bool]:
    """Verification's list, its reasons in the reader's language, and whether it answered."""
    try:
        answer = await web.services.call(user.account, "verification", "GET", path,
                                         params=params, headers={"Accept-Language": user.lang})
    except Unreachable:
        return [], False
    return (answer.body.get(field, []) if answer.ok else []), answer.ok


async def _queue(web: WebApp, user: User, closed: bool) -> tuple[list[Any], list[Any], bool]:
    params = {"limit": "200", "open": "false" if closed else "true"}
    (warnings, ok1), (leads, ok2) = await asyncio.gather(
        _listing(web, user, "/warnings", "warnings", params),
        _listing(web, user, "/leads", "leads", params))
    # The most urgent first; within a tier, the newest (verification's order).
    warnings.sort(key=lambda w: TIER_ORDER.get(w.get("tier"), 3))
    return warnings, leads, ok1 and ok2


@router.get("/monitoring")
async def monitoring(request: Request, web: WebApp, user: SignedIn,
                     closed: bool = False) -> Response:
    if not user.may("monitoring.read"):
        raise PageError(403, "forbidden_title", "forbidden_text")
    return await _page(request, web, user, closed)


async def _page(request: Request, web: WebApp, user: User, closed: bool, *, status: int = 200,
                outcome: tuple[str, str, str] | None = None) -> Response:
    warnings, leads, ok = await _queue(web, user, closed)
    return render(request, "monitoring.html", user=user, status=status, warnings=warnings,
                  leads=leads, closed=closed, unavailable=not ok, outcome=outcome,
                  may_close=user.may("monitoring.close"),
                  may_look_up=user.may("monitoring.person_lookup"),
                  warning_outcomes=list(LABELS["warning_outcome"]),
                  lead_outcomes=list(LABELS["lead_outcome"]),
                  done=request.query_params.get("done"))


@router.post("/monitoring/{what}/{item_id}/close")
async def close(request: Request, what: str, item_id: str, web: WebApp, user: SignedIn,
                form: CheckedForm) -> Response:
    """Close a warning or a lead with its outcome (and, for a lead that led to an application,
    the case id)."""
    if what not in ("warnings", "leads") or not ITEM_ID.fullmatch(item_id):
        raise PageError(404, "not_found_title", "not_found_text")
    body: dict[str, Any] = {"outcome": str(form.get("outcome", "")).strip()}
    note = str(form.get("note", "")).strip()
    if note:
        body["note"] = note
    case_id = str(form.get("case_id", "")).strip()
    if what == "leads" and case_id:
        if not CASE_ID.fullmatch(case_id):
            return await _page(request, web, user, False, status=422,
                               outcome=("refused", "案件编号格式不正确", "not a case id"))
        body["case_id"] = case_id
    answer = await web.services.call(user.account, "verification", "POST",
                                     f"/{what}/{item_id}/close", json=body)
    if answer.ok:
        return see_other(f"/monitoring?done={what}")
    if answer.status in (401, 403, 404):
        refuse_unless_ok(answer)
    if answer.status == 409:
        return await _page(request, web, user, False, status=409,
                           outcome=("refused", "该事项已由他人办结", "closed already by someone"))
    reason = _problems(answer.detail)
    return await _page(request, web, user, False, status=answer.status,
                       outcome=("refused", reason, reason))


@router.post("/monitoring/leads/{lead_id}/person")
async def look_up_person(request: Request, lead_id: str, web: WebApp, user: SignedIn,
                         form: CheckedForm) -> Response:
    """Who a lead is, asked with the reason given: the answer's page, once."""
    if not ITEM_ID.fullmatch(lead_id):
        raise PageError(404, "not_found_title", "not_found_text")
    if not user.may("monitoring.person_lookup"):
        raise PageError(403, "forbidden_title", "forbidden_text")
    reason = str(form.get("reason", "")).strip()
    if not reason:  # nothing asked: verification would refuse it the same way
        return await _page(request, web, user, False, status=422,
                           outcome=_said("lookup_no_reason"))
    answer = await web.services.call(user.account, "verification", "POST",
                                     f"/leads/{lead_id}/person", json={"reason": reason})
    if answer.ok:
        shown = render(request, "lead_person.html", user=user, found=answer.body)
        shown.headers["Cache-Control"] = "no-store"  # the window's own rule, said where it counts
        return shown
    if answer.status in (401, 403, 404):
        refuse_unless_ok(answer)
    if answer.status == 409:
        said = "lookup_closed" if "is closed" in str(answer.detail) else "lookup_not_connected"
        return await _page(request, web, user, False, status=409, outcome=_said(said))
    if answer.status == 503:
        return await _page(request, web, user, False, status=503,
                           outcome=_said("lookup_unavailable"))
    reason = _problems(answer.detail)
    return await _page(request, web, user, False, status=answer.status,
                       outcome=("refused", reason, reason))


def _said(key: str) -> tuple[str, str, str]:
    return "refused", translate(key, "zh"), translate(key, "en")


def _problems(detail: Any) -> str:
    """A service's refusal in its own words: each field and why (never the value sent)."""
    if not isinstance(detail, list):
        return str(detail)
    return "; ".join(f"{'.'.join(map(str, d.get('loc', [])[1:]))}: {d.get('msg', '')}"
                     for d in detail if isinstance(d, dict))
