"""政策管理: the policy officers' pages (issue 22 §2). One officer proposes a figure's new
version, another approves or rejects it (four eyes), approval publishes it and recalculates
every household it affects; district approvers, auditors and administrators read along.

Approval is the judge of everything here — who may propose where, whether a date is
retroactive, that nobody approves their own proposal (409). The pages only draw what its
answers allow and show its refusals with its own message. The texts officers type (source,
reason, notes) go to approval and onto these pages for signed-in readers, never into a log.
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.window.adapters.services import Answer, Unreachable
from services.window.domain.policy_form import (
    FieldProblem,
    first_of_next_month,
    problems_from_answer,
    proposal_body,
)
from services.window.entrypoints.i18n import label
from services.window.entrypoints.lists import listing
from services.window.entrypoints.web import (
    CheckedForm,
    PageError,
    SignedIn,
    User,
    WebApp,
    refuse_unless_ok,
    render,
    see_other,
    yuan,
)
from shared import clock

router = APIRouter()
# Approval's ids in our URLs: nothing that could become another path of its API.
ITEM_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,39}")
REGION = re.compile(r"[0-9]{6}")
FIGURE = re.compile(r"[a-z_]{1,40}\.[a-z_]{1,60}")
PAGE = 100  # households per page of a recalculation
FORBIDDEN = ("forbidden_title", "forbidden_text")


def require(user: User, permission: str) -> None:
    if not user.may(permission):
        raise PageError(403, *FORBIDDEN)


def item_id(value: str) -> str:
    if not ITEM_ID.fullmatch(value):
        raise PageError(404, "not_found_title", "not_found_text")
    return value


def is_own(proposal: dict[str, Any], user: User) -> bool:
    """Whether ``user`` proposed it. Approval records "role:staff_id"; the id alone is enough,
    staff ids being unique."""
    return str(proposal.get("proposed_by") or "").rpartition(":")[2] == user.account.staff_id


def message(answer: Answer) -> str:
    """A refusal's reason as approval wrote it (one line, shortened): shown, never logged."""
    detail = answer.detail
    if isinstance(detail, list):
        detail = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d)
                           for d in detail)
    return " ".join(str(detail or f"approval answered {answer.status}").split())[:300]


def figure_text(unit: str | None, value: object, lang: str) -> str:
    """A figure as a person reads it: money as "1,105.00 元", a flag as yes or no, else the
    number with its unit."""
    if not isinstance(value, int):
        return "—"
    if unit == "fen":
        return f"{yuan(value)} {label('unit', 'fen', lang)}"
    if unit == "flag":
        return label("flag_value", str(value), lang)
    if unit == "grade" and lang == "en":
        return f"grade {value}"
    words = label("unit", unit or "", lang) if unit else ""
    return f"{value:,}{' ' if lang == 'en' and words else ''}{words}"


async def catalogue(web: WebApp, user: User) -> tuple[dict[str, dict[str, Any]], bool]:
    """Approval's figures by name (meaning, Chinese label, unit), and whether it answered."""
    figures, ok = await listing(web, user, "approval", "/policy/catalogue", "figures", {})
    return {f["name"]: f for f in figures if isinstance(f, dict) and "name" in f}, ok


def page(request: Request, template: str, user: User, figures: dict[str, dict[str, Any]],
         *, status: int = 200, **context: Any) -> Response:
    """render() with what every policy page uses: figure names and values in the reader's
    language, and what the reader may do."""
    lang = user.lang

    def figure_name(name: str) -> str:
        found = figures.get(name) or {}
        return str((found.get("meaning") if lang == "en" else found.get("label_zh")) or name)

    return render(request, template, user=user, status=status, figures=figures,
                  figure_name=figure_name,
                  shown=lambda name, value: figure_text(
                      (figures.get(name) or {}).get("unit"), value, lang),
                  yuan_text=lambda fen: figure_text("fen", fen, lang),
                  may_propose=user.may("policy.propose"), may_approve=user.may("policy.approve"),
                  own=lambda p: is_own(p, user), colon=": " if lang == "en" else "：",
                  **context)


# --- proposals awaiting approval, and deciding them --------------------------------------------

@router.get("/policy")
async def proposals(request: Request, web: WebApp, user: SignedIn) -> Response:
    require(user, "policy.read")
    return await _proposals_page(request, web, user)


async def _proposals_page(request: Request, web: WebApp, user: User, *, status: int = 200,
                          refused: tuple[str, str] | None = None,
                          note_missing: str | None = None,
                          typed_note: tuple[str, str] | None = None) -> Response:
    """``refused``: (proposal id, approval's reason) shown beside that proposal; a rejection
    without its note is pointed out at that proposal (``note_missing``); ``typed_note`` keeps a
    note that was sent back, so that it need not be typed again."""
    (figures, ok1), (waiting, ok2), (published, ok3) = await asyncio.gather(
        catalogue(web, user),
        listing(web, user, "approval", "/policy/proposals", "proposals",
                {"status": "proposed"}),
        listing(web, user, "approval", "/policy/proposals", "proposals",
                {"status": "published"}))
    recent = sorted(published, key=lambda p: p.get("sequence") or 0, reverse=True)[:10]
    return page(request, "policy.html", user, figures, status=status, waiting=waiting,
                recent=recent, unavailable=not (ok1 and ok2 and ok3), refused=refused,
                note_missing=note_missing, typed_note=typed_note,
                done=request.query_params.get("done"))


@router.get("/policy/proposals/{proposal_id}")
async def proposal(request: Request, proposal_id: str, web: WebApp,
                   user: SignedIn) -> Response:
    require(user, "policy.read")
    answer = await web.services.get(user.account, "approval",
                                    f"/policy/proposals/{item_id(proposal_id)}")
    refuse_unless_ok(answer)
    figures, _ = await catalogue(web, user)
    return page(request, "policy_proposal.html", user, figures, p=answer.body,
                done=request.query_params.get("done"))


@router.post("/policy/proposals/{proposal_id}/{decision}")
async def decide(request: Request, proposal_id: str, decision: str, web: WebApp,
                 user: SignedIn, form: CheckedForm) -> Response:
    """Approve (publish) or reject a proposal. A rejection needs its reason; an approval of
    one's own proposal is not offered, and refused by approval (409) if sent anyway."""
    if decision not in ("approve", "reject"):
        raise PageError(404, "not_found_title", "not_found_text")
    require(user, "policy.approve")
    item_id(proposal_id)
    note = str(form.get("note", "")).strip()
    if decision == "reject" and not note:
        return await _proposals_page(request, web, user, status=422,
                                     note_missing=proposal_id)
    answer = await web.services.call(user.account, "approval", "POST",
                                     f"/policy/proposals/{proposal_id}/{decision}",
                                     json={"note": note} if note else {})
    if answer.ok:
        job = (answer.body or {}).get("recalculation_job_id")
        if decision == "approve" and isinstance(job, str) and ITEM_ID.fullmatch(job):
            return see_other(f"/policy/recalculations/{job}?published={proposal_id}")
        return see_other(f"/policy?done={'published' if decision == 'approve' else 'rejected'}")
    if answer.status in (401, 403, 404):
        refuse_unless_ok(answer)
    return await _proposals_page(request, web, user, status=answer.status,
                                 refused=(proposal_id, message(answer)),
                                 typed_note=(proposal_id, note) if note else None)


# --- a new version of a figure ----------------------------------------------------------------

@router.get("/policy/new")
async def new_proposal(request: Request, web: WebApp, user: SignedIn,
                       name: Annotated[str, Query(max_length=120)] = "",
                       region_code: Annotated[str, Query(max_length=6)] = "") -> Response:
    require(user, "policy.propose")
    figures, ok = await catalogue(web, user)
    place = user.account.jurisdiction
    values = {"name": name if name in figures else "",
              "region_code": region_code if REGION.fullmatch(region_code) else place[:6],
              "effective_from": first_of_next_month(clock.today()).isoformat()}
    return _form(request, user, figures, values, unavailable=not ok)


@router.post("/policy/new")
async def propose(request: Request, web: WebApp, user: SignedIn, sent: CheckedForm) -> Response:
    require(user, "policy.propose")
    values = {k: v.strip() for k, v in sent.items() if isinstance(v, str) and k != "csrf_token"}
    figures, ok = await catalogue(web, user)
    if not ok:
        raise PageError(502, "error_title", "error_text")
    body, problems = proposal_body(values, {n: str(f.get("unit")) for n, f in figures.items()})
    if body is None:
        return _form(request, user, figures, values, status=422, problems=problems)
    # Approval takes no Idempotency-Key here: a proposal sent twice is two proposals, the
    # second one for the other officer to reject.
    answer = await web.services.call(user.account, "approval", "POST", "/policy/proposals",
                                     json=body)
    if answer.ok:
        made = (answer.body or {}).get("proposal_id")
        if isinstance(made, str) and ITEM_ID.fullmatch(made):
            return see_other(f"/policy/proposals/{made}?done=made")
        return see_other("/policy?done=made")
    if answer.status == 401:
        refuse_unless_ok(answer)
    if answer.status in (403, 409, 422):
        return _form(request, user, figures, values, status=answer.status,
                     problems=problems_from_answer(answer.status, answer.detail))
    return _form(request, user, figures, values, status=502, problems=[
        FieldProblem("", "提交失败，请稍后重试。", f"not sent: {message(answer)}")])


def _form(request: Request, user: User, figures: dict[str, dict[str, Any]],
          values: dict[str, str], *, status: int = 200, unavailable: bool = False,
          problems: list[FieldProblem] | None = None) -> Response:
    errors: dict[str, list[FieldProblem]] = {}
    for problem in problems or []:
        errors.setdefault(problem.field, []).append(problem)
    return page(request, "policy_new.html", user, figures, status=status, values=values,
                errors=errors, problems=problems or [], unavailable=unavailable,
                earliest=first_of_next_month(clock.today()).isoformat(),
                today=clock.today().isoformat())


# --- what was published, and what it changed ----------------------------------------------------

@router.get("/policy/history")
async def history(request: Request, web: WebApp, user: SignedIn,
                  region_code: Annotated[str, Query(max_length=6)] = "",
                  name: Annotated[str, Query(max_length=120)] = "") -> Response:
    require(user, "policy.read")
    params = {}
    if REGION.fullmatch(region_code):
        params["region_code"] = region_code
    if FIGURE.fullmatch(name):
        params["name"] = name
    (figures, ok1), (rows, ok2) = await asyncio.gather(
        catalogue(web, user),
        listing(web, user, "approval", "/policy/history", "figures", params))
    # The newest first: what changed lately is what a reader comes for.
    rows.sort(key=lambda r: (str(r.get("effective_from")), r.get("sequence") or 0),
              reverse=True)
    return page(request, "policy_history.html", user, figures, rows=rows,
                filters={"region_code": region_code, "name": name},
                unavailable=not (ok1 and ok2))


@router.get("/policy/recalculations/{job_id}")
async def recalculation(request: Request, job_id: str, web: WebApp, user: SignedIn,
                        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> Response:
    require(user, "policy.read")
    answer = await web.services.get(user.account, "approval",
                                    f"/policy/recalculations/{item_id(job_id)}",
                                    params={"limit": str(PAGE), "offset": str(offset)})
    refuse_unless_ok(answer)
    job = answer.body
    figures, proposal_body_ = await asyncio.gather(
        catalogue(web, user), proposal_of(web, user, job.get("proposal_id")))
    return page(request, "policy_recalculation.html", user, figures[0], job=job,
                p=proposal_body_, offset=offset, page_size=PAGE,
                published=request.query_params.get("published"),
                may_read_cases=user.may("case.read"))


async def proposal_of(web: WebApp, user: User, proposal_id: object) -> dict[str, Any] | None:
    """The proposal a recalculation follows, for its heading; the page shows without it."""
    if not isinstance(proposal_id, str) or not ITEM_ID.fullmatch(proposal_id):
        return None
    try:
        answer = await web.services.get(user.account, "approval",
                                        f"/policy/proposals/{proposal_id}")
    except Unreachable:
        return None
    return answer.body if answer.ok and isinstance(answer.body, dict) else None
