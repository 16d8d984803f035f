"""One case: what every service knows of it, the actions its reader may take, and the
printable acknowledgement of receipt.

Intake is asked first and decides whether the reader may see the case at all: a 403 there
shows the refusal page and nothing else is fetched.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.window.adapters.services import Unreachable
from services.window.domain import guardianship, timeline
from services.window.domain.casework import ACTIONS, may_resolve_objections, offers
from services.window.domain.consent import hold_of
from services.window.domain.household import explain
from services.window.entrypoints import case_lines
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


def _case_id(case_id: str) -> str:
    if not CASE_ID.fullmatch(case_id):
        raise PageError(404, "not_found_title", "not_found_text")
    return case_id


async def _optional(web: WebApp, user: User, service: str, path: str) -> tuple[Any, bool]:
    """(body or None, whether the service answered): the case page shows what it can."""
    try:
        answer = await web.services.get(user.account, service, path)
    except Unreachable:
        return None, False
    return (answer.body if answer.ok else None), answer.status < 500


async def _report(web: WebApp, user: User, case_id: str) -> tuple[Any, bool, str | None]:
    """(report or None, whether verification answered, why there is none yet when the case
    waits for live partner sources: verification's words, which name them)."""
    try:
        answer = await web.services.get(user.account, "verification", f"/reports/{case_id}")
    except Unreachable:
        return None, False, None
    if answer.ok:
        return answer.body, True, None
    detail = str(answer.detail or "")
    return None, answer.status < 500, detail if "live partner sources" in detail else None


async def case_view(request: Request, web: WebApp, user: User, case_id: str, *,
                    status: int = 200, outcome: tuple[str, str, str] | None = None,
                    typed: dict[str, str] | None = None) -> Response:
    intake = await web.services.get(user.account, "intake", f"/applications/{case_id}")
    refuse_unless_ok(intake)
    (workflow, ok1), (report, ok2, waiting), (money, ok3) = await asyncio.gather(
        _optional(web, user, "approval", f"/cases/{case_id}"),
        _report(web, user, case_id),
        _optional(web, user, "payment", f"/cases/{case_id}/payments"))
    case = intake.body
    allowed = (workflow or {}).get("allowed_actions")
    # One timeline from intake's lines and approval's moves, in order, each once, in the
    # reader's language (services/window/domain/timeline.py).
    lines = case_lines.timeline(timeline.build(
        case.get("timeline") or [], workflow.get("history") if workflow else None), user.lang)
    return render(request, "case.html", user=user, status=status, case=case,
                  workflow=workflow, report=report, report_waiting=waiting, money=money,
                  offers=offers(allowed), may_resolve=may_resolve_objections(allowed),
                  held_back=lambda offer: case_lines.held_back(offer, user.lang),
                  figures=lambda values: case_lines.figures(values or {}, user.lang),
                  shown=lambda name, value: case_lines.one_figure(name, value, user.lang),
                  lines=lines,
                  children=guardianship.children(case.get("members") or [],
                                                 (report or {}).get("members")),
                  hold=hold_of(workflow, case.get("members") or [], str(user.account.role)),
                  unavailable=not (ok1 and ok2 and ok3), outcome=outcome, typed=typed or {},
                  done=request.query_params.get("done"))


@router.get("/cases/{case_id}")
async def case_page(request: Request, case_id: str, web: WebApp, user: SignedIn) -> Response:
    return await case_view(request, web, user, _case_id(case_id))


@router.post("/cases/{case_id}/actions/{action}")
async def case_action(request: Request, case_id: str, action: str, web: WebApp,
                      user: SignedIn, form: CheckedForm) -> Response:
    """One workflow action, by the signed-in person (approval takes who acts from the token)."""
    case_id = _case_id(case_id)
    if action not in ACTIONS:
        raise PageError(404, "not_found_title", "not_found_text")
    typed = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    body: dict[str, Any] = {"action": action}
    for name in ("note", "justification", "objection_id"):
        if typed.get(name, "").strip():
            body[name] = typed[name].strip()
    if typed.get("upheld") in ("true", "false"):
        body["upheld"] = typed["upheld"] == "true"
    if typed.get("surveyed_on") or typed.get("findings"):
        body["home_survey"] = {"surveyed_on": typed.get("surveyed_on", ""),
                               "surveyors": typed.get("surveyors", "").strip(),
                               "findings": typed.get("findings", "").strip()}
    answer = await web.services.call(user.account, "approval", "POST",
                                     f"/cases/{case_id}/actions", json=body)
    if answer.ok:
        return see_other(f"/cases/{case_id}?done={action}")
    if answer.status in (401, 403, 404):
        refuse_unless_ok(answer)
    return await case_view(request, web, user, case_id, status=answer.status,
                           outcome=(action, *_reason(answer.detail)), typed=typed)


@router.post("/cases/{case_id}/consent")
async def record_consent(request: Request, case_id: str, web: WebApp, user: SignedIn,
                         form: CheckedForm) -> Response:
    """The members verification named have signed the consent: approval records it and sends
    the case back to verification."""
    case_id = _case_id(case_id)
    typed = {"signed_on": str(form.get("signed_on", "")).strip()}
    answer = await web.services.call(user.account, "approval", "POST",
                                     f"/cases/{case_id}/consent", json=typed)
    if answer.ok:
        return see_other(f"/cases/{case_id}?done=record_consent")
    if answer.status in (401, 403, 404):
        refuse_unless_ok(answer)
    return await case_view(request, web, user, case_id, status=answer.status,
                           outcome=("record_consent", *_reason(answer.detail)), typed=typed)


def _reason(detail: Any) -> tuple[str, str]:
    """Approval's refusal, one line in each language."""
    if isinstance(detail, list):
        parts = [explain(f"{'.'.join(map(str, d.get('loc', [])[1:]))}: {d.get('msg', '')}")
                 for d in detail if isinstance(d, dict)]
        return "；".join(p[0] for p in parts), "; ".join(p[1] for p in parts)
    return explain(str(detail))


@router.post("/cases/{case_id}/account")
async def register_account(request: Request, case_id: str, web: WebApp, user: SignedIn,
                           form: CheckedForm) -> Response:
    """The window registers (or corrects) the account a case is paid into. The number goes to
    payment, which seals it; the window keeps nothing and shows it masked."""
    case_id = _case_id(case_id)
    body = {name: str(form.get(name, "")).strip()
            for name in ("bank_code", "account_number", "holder_name")}
    answer = await web.services.call(
        user.account, "payment", "PUT", f"/cases/{case_id}/account", json=body,
        headers={"Idempotency-Key": f"window-account-{uuid.uuid4().hex}"})
    if answer.ok:
        return see_other(f"/cases/{case_id}?done=account")
    if answer.status in (401, 403, 404):
        refuse_unless_ok(answer)
    # Never echo the number typed: a 422 names the field, the form comes back empty.
    return await case_view(request, web, user, case_id, status=answer.status,
                           outcome=("account", *_reason(answer.detail)))


@router.get("/cases/{case_id}/receipt")
async def receipt(request: Request, case_id: str, web: WebApp, user: SignedIn) -> Response:
    answer = await web.services.get(user.account, "intake", f"/applications/{_case_id(case_id)}")
    refuse_unless_ok(answer)
    return render(request, "receipt.html", user=user, case=answer.body)
