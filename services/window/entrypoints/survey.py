"""The home survey on a phone (入户调查, issue 26): the social worker's list of the town's cases
to survey, the survey form, and the photos a reviewer sees on the case page.

The form is kept as a draft in the phone's browser (static/survey.js, localStorage) until
approval has it: a survey is often taken where the signal is poor. The script sends it with
``fetch`` and reads a JSON answer; without the script the form posts as a plain multipart form.
Either way the window reads the body up to approval's own limit and no further, checks the CSRF
token, and passes the survey and its photos to approval, which judges them and keeps them.

Each survey carries its ``survey_id`` (the script's draft makes one when it starts; the plain
form has one from the page): a send whose answer was lost may have reached approval, and the
same survey sent again is recorded once. Sign-out and a week clear the drafts
(static/survey_drafts.js).
"""

from __future__ import annotations

import hmac
import json
import uuid
from collections.abc import AsyncGenerator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from services.window.entrypoints.i18n import translate
from services.window.entrypoints.i18n_survey import SURVEY_REASONS
from services.window.entrypoints.web import (
    CASE_ID,
    PageError,
    SignedIn,
    User,
    WebApp,
    refuse_unless_ok,
    render,
    see_other,
)

router = APIRouter()
# Approval's limits (services/approval/domain/survey.py), which judges; the window only stops
# reading past them. Eight photos of 5 MB, and the form.
MAX_PHOTOS = 8
MAX_BODY = MAX_PHOTOS * 5 * 1024 * 1024 + 64 * 1024
# The form's fields, as approval's survey part names them (counts are whole numbers).
COUNTS = ("members_living", "members_present", "able_to_work", "partly_able",
          "unable_to_work", "cars", "motorcycles")
CHOICES = ("surveyed_on", "surveyors", "outcome", "housing_tenure", "housing_state", "notes")


def _case_id(case_id: str) -> str:
    if not CASE_ID.fullmatch(case_id):
        raise PageError(404, "not_found_title", "not_found_text")
    return case_id


def _surveyor(user: User) -> None:
    if not user.may("survey.record"):
        raise PageError(403, "forbidden_title", "forbidden_text")


@router.get("/surveys")
async def cases_to_survey(request: Request, web: WebApp, user: SignedIn) -> Response:
    _surveyor(user)
    answer = await web.services.get(user.account, "approval", "/surveys/cases",
                                    params={"limit": "200"})
    refuse_unless_ok(answer)
    return render(request, "surveys.html", user=user, rows=answer.body.get("cases", []),
                  sent=request.query_params.get("sent"))


@router.get("/surveys/{case_id}")
async def survey_form(request: Request, case_id: str, web: WebApp, user: SignedIn) -> Response:
    _surveyor(user)
    answer = await web.services.get(user.account, "approval",
                                    f"/surveys/cases/{_case_id(case_id)}")
    if answer.status == 409:
        raise PageError(409, "survey_closed_title", "survey_closed_text")
    refuse_unless_ok(answer)
    return render(request, "survey.html", user=user, case=answer.body, errors=[], typed={},
                  survey_id=str(uuid.uuid4()))


async def _once(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body


async def _form(request: Request, user: User) -> FormData | None:
    """The posted form, read up to the limit (None past it), once its CSRF token is the
    session's (a 403 otherwise)."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise PageError(400, "error_title", "error_text")  # not the page's form
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    try:
        form = await MultiPartParser(request.headers, _once(b"".join(chunks)),
                                     max_files=MAX_PHOTOS + 1, max_fields=40).parse()
    except MultiPartException as exc:
        raise PageError(400, "error_title", "error_text") from exc
    sent = form.get("csrf_token")
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(),
                                                            user.csrf_token.encode()):
        raise PageError(403, "forbidden_title", "csrf")
    return form


def _survey_part(form: FormData, kinds: list[str]) -> dict[str, Any]:
    """Approval's ``survey`` part from the form's fields: a count left empty is 0, a count
    that is no number is passed on as typed (approval names the field)."""
    body: dict[str, Any] = {k: str(form.get(k) or "").strip() for k in CHOICES}
    body["notes"] = str(form.get("notes") or "")
    for name in COUNTS:
        raw = str(form.get(name) or "").strip() or "0"
        # ASCII digits only: "²" is a digit to isdigit() but no number to int().
        body[name] = int(raw) if raw.isascii() and raw.isdecimal() and len(raw) < 4 else raw
    body["items"] = [str(v) for v in form.getlist("items")]
    body["photo_kinds"] = kinds
    # Approval's idempotency key, passed as sent (approval names it if it is no UUID). A page
    # older than survey ids sends none: approval then names the survey itself.
    survey_id = str(form.get("survey_id") or "").strip()
    if survey_id:
        body["survey_id"] = survey_id
    return body


@router.post("/surveys/{case_id}")
async def send_survey(request: Request, case_id: str, web: WebApp, user: SignedIn) -> Response:
    """The survey to approval; JSON for the page's script (``Accept: application/json``), a
    redirect or the form again with its problems otherwise."""
    _surveyor(user)
    case_id = _case_id(case_id)
    wants_json = "application/json" in request.headers.get("accept", "")
    form = await _form(request, user)
    if form is None:
        return _refused(request, user, case_id, wants_json, 413,
                        [("photo", translate("survey_too_large", user.lang))], {})
    try:
        photos = [p for p in form.getlist("photo") if isinstance(p, UploadFile) and p.filename]
        kinds = [str(k) for k in form.getlist("photo_kind")]
        if len(kinds) == 1 and len(photos) > 1:  # the plain form: one kind for all its photos
            kinds = kinds * len(photos)
        files = [("photo", (f"photo-{i}", await p.read(), p.content_type or "image/jpeg"))
                 for i, p in enumerate(photos)]
        typed = {k: str(v) for k, v in form.items() if isinstance(v, str)}
        part = _survey_part(form, kinds[:len(photos)])
    finally:
        await form.close()
    files.insert(0, ("survey", ("survey.json", json.dumps(part).encode(), "application/json")))
    answer = await web.services.send_form(user.account, "approval", f"/cases/{case_id}/surveys",
                                          fields={}, files=files)
    if answer.ok:
        if wants_json:
            return JSONResponse({"saved": True, "survey_id": answer.body.get("survey_id"),
                                 "next": f"/surveys?sent={case_id}"}, status_code=201)
        return see_other(f"/surveys?sent={case_id}")
    if answer.status in (401, 403, 404):
        refuse_unless_ok(answer)
    if answer.status == 409 and "survey_id" in str(answer.detail):
        # Sent before, the answer lost, and changed since: what approval has is the first.
        return _refused(request, user, case_id, wants_json, 409,
                        [("survey_id", translate("survey_id_taken", user.lang))], typed)
    return _refused(request, user, case_id, wants_json, answer.status,
                    _problems(answer.detail, user.lang), typed)


def _problems(detail: Any, lang: str) -> list[tuple[str, str]]:
    """Approval's refusal as (field, words in the reader's language): the field's name on the
    form, then approval's reason (in Chinese where i18n_survey.py knows it)."""
    items = detail if isinstance(detail, list) else [{"loc": [], "msg": str(detail)}]
    found = []
    for item in items:
        if not isinstance(item, dict):
            continue
        loc = [str(p) for p in item.get("loc") or []]
        field = loc[-1].split("[")[0] if loc else ""
        field = "photo" if field in ("photos", "photo_kinds") else field
        reason = str(item.get("msg", ""))
        if lang != "en":
            reason = next((zh for phrase, zh in SURVEY_REASONS if phrase in reason), reason)
        name = translate(f"sf_{field}", lang) if field else ""
        found.append((field, f"{name}{'：' if lang != 'en' else ': '}{reason}" if name
                      and not name.startswith("sf_") else reason))
    return found


def _refused(request: Request, user: User, case_id: str, wants_json: bool, status: int,
             errors: list[tuple[str, str]], typed: dict[str, str]) -> Response:
    if wants_json:
        return JSONResponse({"saved": False, "errors": [{"field": f, "text": t}
                                                        for f, t in errors]}, status_code=status)
    case = {"case_id": case_id, "programme": typed.get("programme", ""), "members": ""}
    return render(request, "survey.html", user=user, status=status, case=case, errors=errors,
                  typed=typed, survey_id=typed.get("survey_id") or str(uuid.uuid4()))


@router.get("/cases/{case_id}/survey-photos/{photo_id}")
async def survey_photo(case_id: str, photo_id: str, web: WebApp, user: SignedIn) -> Response:
    """A survey's photo, fetched from approval with the reader's own authority (approval
    refuses whoever may not read the case) and passed on: the browser gets no service token."""
    if not CASE_ID.fullmatch(photo_id):
        raise PageError(404, "not_found_title", "not_found_text")
    got = await web.services.download(user.account, "approval", "GET",
                                      f"/cases/{_case_id(case_id)}/survey-photos/{photo_id}")
    if got.status in (401, 403):
        raise PageError(403, "forbidden_title", "forbidden_text")
    if not got.ok or got.media_type not in ("image/jpeg", "image/png", "image/webp"):
        raise PageError(404, "not_found_title", "not_found_text")
    return Response(got.content, media_type=got.media_type,
                    headers={"Content-Security-Policy": "default-src 'none'"})
