"""The new-application page: the household built member by member, checked as it is typed (in
the browser, static/app.js) and again here before intake judges it."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.window.domain import guardianship
from services.window.domain.household import (
    INCOME_KINDS,
    INCOME_SLOTS,
    PROGRAMMES,
    REFERRALS,
    RELATIONS,
    SELF_CARE,
    FieldProblem,
    HouseholdForm,
    problems_from_422,
)
from services.window.entrypoints.web import (
    CheckedForm,
    PageError,
    SignedIn,
    User,
    WebApp,
    render,
    see_other,
)
from shared import clock

router = APIRouter()


def _clerk(user: User) -> None:
    if not user.may("case.submit"):
        raise PageError(403, "forbidden_title", "forbidden_text")


def _form_page(request: Request, user: User, form: HouseholdForm, *, status: int = 200,
               problems: list[FieldProblem] | None = None) -> Response:
    errors: dict[str, list[FieldProblem]] = {}
    for problem in problems or []:
        errors.setdefault(problem.field, []).append(problem)
    return render(request, "apply.html", user=user, status=status, form=form, errors=errors,
                  problems=problems or [], programmes=PROGRAMMES, relations=RELATIONS,
                  income_kinds=INCOME_KINDS, income_slots=range(INCOME_SLOTS),
                  referral_kinds=REFERRALS, self_care=SELF_CARE,
                  situations=guardianship.PARENT_SITUATIONS,
                  child_care=guardianship.CHILD_CARE, schooling=guardianship.SCHOOLING,
                  today=clock.today())


@router.get("/applications/new")
def new_application(request: Request, user: SignedIn) -> Response:
    _clerk(user)
    place = user.account.jurisdiction
    form = HouseholdForm({"region_code": place[:6], "town_code": place if len(place) == 9
                          else "", "programme": "dibao",
                          # Names this form's submission: sent twice (a double click, a retry),
                          # it opens one case, by intake's Idempotency-Key.
                          "form_id": secrets.token_urlsafe(16)})
    return _form_page(request, user, form)


@router.post("/applications/new")
async def submit_application(request: Request, web: WebApp, user: SignedIn,
                             sent: CheckedForm) -> Response:
    _clerk(user)
    values = {k: v for k, v in sent.items() if isinstance(v, str) and k != "csrf_token"}
    form = HouseholdForm.read(values, [str(r) for r in sent.getlist("referrals")])
    op = values.get("op", "submit")
    if op == "add_member":  # without JavaScript, the form grows by a round trip
        return _form_page(request, user, form.with_member())
    body, problems = form.to_application(clock.today())
    if problems:
        return _form_page(request, user, form.cleaned(), status=422, problems=problems)
    key = f"window-{user.account.staff_id}-{form.get('form_id') or secrets.token_urlsafe(16)}"
    answer = await web.services.call(user.account, "intake", "POST", "/applications",
                                     json=body, headers={"Idempotency-Key": key[:200]})
    if answer.status == 201:
        return see_other(f"/cases/{answer.body['case_id']}/receipt")
    if answer.status in (401, 403):
        raise PageError(403, "forbidden_title", "forbidden_text")
    if answer.status == 422:
        return _form_page(request, user, form, status=422,
                          problems=problems_from_422(answer.detail, form.members))
    return _form_page(request, user, form, status=answer.status, problems=[
        FieldProblem("", "提交失败，请稍后重试。", f"intake answered {answer.status}: "
                     f"{_short(answer.detail)}")])


def _short(detail: Any) -> str:
    return str(detail)[:200]
