"""时限: the time-limit dashboard (issue 26) — the statute, measured, for the reader's reach.

Approval counts (its ``GET /dashboard/time-limits``, which filters by the token's
jurisdiction: a town reviewer sees their town, a district approver their district's towns,
auditors and administrators everywhere); verification lists the reports it waits for. The page
shows both as tables, and the same figures as two Chart.js charts (static/dashboard_charts.js),
which are a convenience: the tables are the page, and work without script.

The CSV is approval's, fetched by the window with the reader's token and passed on: the browser
never holds a token for approval.
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.window.adapters.services import Answer
from services.window.domain.dashboard import (
    PENDING_LIMIT,
    calendar_years,
    chart_data,
    days_text,
    pending_by_department,
    pending_by_town,
    stages_shown,
    trend_rows,
)
from services.window.entrypoints.i18n import label, translate
from services.window.entrypoints.lists import listing
from services.window.entrypoints.web import (
    PageError,
    SignedIn,
    User,
    WebApp,
    refuse_unless_ok,
    render,
)
from shared import clock

router = APIRouter()
PATH = "/dashboard/time-limits"
TOWN, DISTRICT = re.compile(r"[0-9]{9}"), re.compile(r"[0-9]{6}")
Format = Annotated[Literal["html", "csv"], Query(alias="format")]
Place = Annotated[str, Query(max_length=12)]
# The charts' words (static/dashboard_charts.js), sent with their data: the script holds no text.
CHART_WORDS = {"within": "dash_within", "near": "dash_near", "past": "dash_past",
               "untimed": "dash_untimed", "stage_axis": "dash_stage_axis",
               "cases_axis": "dash_cases_axis", "day_axis": "dash_day_axis",
               "cases_unit": "dash_cases_unit", "open_timed": "dash_open_timed"}


@router.get("/dashboard")
async def time_limits(request: Request, web: WebApp, user: SignedIn, fmt: Format = "html",
                      town_code: Place = "", region_code: Place = "") -> Response:
    if not user.may("case.read"):
        raise PageError(403, "forbidden_title", "forbidden_text")
    # A place of the right shape only: anything else would be approval's 422, shown as a 502.
    params = ({"town_code": town_code} if TOWN.fullmatch(town_code) else
              {"region_code": region_code} if DISTRICT.fullmatch(region_code) else {})
    if fmt == "csv":
        return await _csv(web, user, params)
    answer, (pending, pending_ok) = await asyncio.gather(
        web.services.get(user.account, "approval", PATH, params=params),
        listing(web, user, "verification", "/pending-reports", "pending",
                {"limit": str(PENDING_LIMIT)}))
    refuse_unless_ok(answer)
    area = next(iter(params.values()), "")
    # Verification's list is the reader's whole reach: narrowed here to the place asked.
    pending = [p for p in pending if isinstance(p, dict)
               and str(p.get("town_code") or p.get("region_code") or "").startswith(area)]
    lang = user.lang
    words = {key: translate(word, lang) for key, word in CHART_WORDS.items()}
    full, provisional = calendar_years(answer.body)
    return render(request, "dashboard.html", user=user, r=answer.body, area=area,
                  stages=stages_shown(answer.body),
                  charts=chart_data(answer.body, words, lambda s: label("stage", s, lang), lang),
                  trend=trend_rows(answer.body), days=lambda v: days_text(v, lang),
                  pending=pending_by_town(pending, web.now()), pending_ok=pending_ok,
                  pending_full=len(pending) >= PENDING_LIMIT, pending_limit=PENDING_LIMIT,
                  departments=pending_by_department(pending),
                  calendar_full=", ".join(map(str, full)),
                  calendar_provisional=", ".join(map(str, provisional)),
                  csv_url="/dashboard?" + urlencode({**params, "format": "csv"}),
                  colon=": " if lang == "en" else "：")


async def _csv(web: WebApp, user: User, params: dict[str, str]) -> Response:
    got = await web.services.download(user.account, "approval", "GET", PATH,
                                      params={**params, "format": "csv"})
    if not got.ok:
        refuse_unless_ok(Answer(got.status, None))
    if not got.media_type.startswith("text/csv"):
        refuse_unless_ok(Answer(502, None))  # never pass on something else as a download
    place = next(iter(params.values()), "") or user.account.jurisdiction or "all"
    filename = f"time-limits-{place}-{clock.today().isoformat()}.csv"
    return Response(got.content, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
