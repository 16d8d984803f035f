"""政策测算: what a figure's new value would change, before anything is published (issue 22 §4).

Two ways in: a proposal awaiting approval ("what would this do?", from its page) and the what-if
form ("what if Cixi's standard were 1,105 yuan?"). Approval does the sums (its simulation API);
the pages show its counts, costs and towns as tables, and the same figures as two Chart.js
charts (static/policy_charts.js), which are a convenience: the tables are the page.

The what-if form is a GET: a simulation writes nothing, so it needs no CSRF token and its answer
can be bookmarked or sent to a colleague as a link. The CSV is approval's, fetched by the window
with the reader's token and passed on: the browser never holds a token for approval.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.window.adapters.services import Answer
from services.window.domain.policy_form import (
    FieldProblem,
    first_of_next_month,
    problems_from_answer,
    simulation_body,
    typed_value,
)
from services.window.domain.simulation import OUTCOMES, chart_data, signed_yuan
from services.window.entrypoints.i18n import label, translate
from services.window.entrypoints.policy import (
    REGION,
    catalogue,
    item_id,
    message,
    page,
    require,
)
from services.window.entrypoints.web import (
    SignedIn,
    User,
    WebApp,
    refuse_unless_ok,
)
from shared import clock

router = APIRouter()
Format = Annotated[Literal["html", "csv"], Query(alias="format")]
Typed = Annotated[str, Query(max_length=120)]
# The charts' words (static/policy_charts.js), sent with their data: the script holds no text.
CHART_WORDS = {"before": "sim_before", "after": "sim_after", "amount_axis": "sim_amount_range",
               "households_axis": "sim_households_axis", "cost_axis": "sim_cost_axis",
               "households_unit": "sim_households_unit", "yuan": "sim_yuan",
               "town_axis": "sim_town"}


@router.get("/policy/proposals/{proposal_id}/simulation")
async def proposal_simulation(request: Request, proposal_id: str, web: WebApp, user: SignedIn,
                              fmt: Format = "html") -> Response:
    require(user, "policy.read")
    path = f"/policy/proposals/{item_id(proposal_id)}/simulation"
    if fmt == "csv":
        return await _csv(web, user, "GET", path, None, f"simulation-{proposal_id}.csv")
    answer = await web.services.get(user.account, "approval", path)
    refuse_unless_ok(answer)
    figures, _ = await catalogue(web, user)
    return _page(request, user, figures, answer.body, proposal_id=proposal_id,
                 csv_url=f"{path}?format=csv")


@router.get("/policy/simulate")
async def what_if(request: Request, web: WebApp, user: SignedIn, fmt: Format = "html",
                  name: Typed = "", region_code: Typed = "", effective_from: Typed = "",
                  value: Typed = "") -> Response:
    """The form, and below it the answer once a figure was chosen: every field in the query."""
    require(user, "policy.read")
    figures, ok = await catalogue(web, user)
    typed = {"name": name.strip(), "region_code": region_code.strip(),
             "effective_from": effective_from.strip(), "value": value.strip()}
    if not typed["name"]:  # the form as it opens: the reader's district, next month
        typed.update(region_code=typed["region_code"] or user.account.jurisdiction[:6],
                     effective_from=typed["effective_from"]
                     or first_of_next_month(clock.today()).isoformat())
        return _page(request, user, figures, None, values=typed, unavailable=not ok)
    body, problems = simulation_body(typed, {n: str(f.get("unit")) for n, f in figures.items()})
    if body is None:
        return _page(request, user, figures, None, values=typed, status=422, problems=problems,
                     unavailable=not ok)
    if fmt == "csv":
        return await _csv(web, user, "POST", "/policy/simulations", body,
                          f"simulation-{body['name']}-{body['region_code']}-"
                          f"{body['effective_from']}.csv")
    answer = await web.services.call(user.account, "approval", "POST", "/policy/simulations",
                                     json=body)
    if answer.ok:
        return _page(request, user, figures, answer.body, values=typed,
                     csv_url="/policy/simulate?" + urlencode({**typed, "format": "csv"}))
    return _refused(request, user, figures, typed, answer)


def _refused(request: Request, user: User, figures: dict[str, dict[str, Any]],
             typed: dict[str, str], answer: Answer) -> Response:
    """Approval's refusal beside its field, as the proposal form does: the reader may simulate
    (checked above), so a 403 is about the region typed, out of their reach."""
    if answer.status == 401:
        refuse_unless_ok(answer)
    if answer.status in (403, 409, 422):
        problems = problems_from_answer(answer.status, answer.detail)
    else:
        problems = [FieldProblem("", "测算失败，请稍后重试。", f"not simulated: {message(answer)}")]
    return _page(request, user, figures, None, values=typed, problems=problems,
                 status=answer.status if answer.status in (403, 409, 422) else 502)


async def _csv(web: WebApp, user: User, method: str, path: str, body: dict[str, Any] | None,
               filename: str) -> Response:
    got = await web.services.download(user.account, "approval", method, path, json=body,
                                      params={"format": "csv"})
    if not got.ok:
        refuse_unless_ok(Answer(got.status, None))
    if not got.media_type.startswith("text/csv"):
        refuse_unless_ok(Answer(502, None))  # never pass on something else as a download
    return Response(got.content, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _page(request: Request, user: User, figures: dict[str, dict[str, Any]],
          result: dict[str, Any] | None, *, status: int = 200,
          values: dict[str, str] | None = None, problems: list[FieldProblem] | None = None,
          proposal_id: str | None = None, csv_url: str = "",
          unavailable: bool = False) -> Response:
    errors: dict[str, list[FieldProblem]] = {}
    for problem in problems or []:
        errors.setdefault(problem.field, []).append(problem)
    lang = user.lang
    charts = None
    if isinstance(result, dict):
        words = {key: translate(word, lang) for key, word in CHART_WORDS.items()}
        charts = chart_data(result, words, lang)
    return page(request, "policy_simulation.html", user, figures, status=status, r=result,
                charts=charts, outcomes=OUTCOMES, values=values, errors=errors,
                problems=problems or [], proposal_id=proposal_id, csv_url=csv_url,
                unavailable=unavailable, again=_again(figures, result),
                signed=lambda fen: f"{signed_yuan(fen)} {label('unit', 'fen', lang)}",
                form=values is not None)


def _again(figures: dict[str, dict[str, Any]], result: dict[str, Any] | None) -> str:
    """The what-if form filled in with a proposal's figure, to try another value from it."""
    figure = (result or {}).get("figure") or {}
    name, region = figure.get("name"), figure.get("region_code")
    if name not in figures or not isinstance(region, str) or not REGION.fullmatch(region):
        return ""
    value = figure.get("value")
    typed = typed_value(str(figures[name].get("unit")), value) if isinstance(value, int) else ""
    return "/policy/simulate?" + urlencode({"name": name, "region_code": region,
                                            "effective_from": figure.get("effective_from"),
                                            "value": typed})
