"""The time-limit dashboard's API (时限, issue 26): approval owns the workflow, its stages, their
limits and their history, so it counts them; the window draws the charts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from services.approval.service_layer import dashboard
from shared.auth.dependencies import require
from shared.auth.principals import Principal
from shared.db import reading
from shared.http import CheckedRoute
from shared.service import Runtime

router = APIRouter(route_class=CheckedRoute)
Reader = Annotated[Principal, Depends(require("case.read"))]
Format = Annotated[Literal["json", "csv"], Query(alias="format")]


@router.get("/dashboard/time-limits", tags=["workflow"], response_model=None,
            summary="Open cases per stage within, near and past their time limit; stage times")
def time_limits(rt: Runtime, request: Request, who: Reader,
                region_code: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
                town_code: Annotated[str | None, Query(pattern=r"^[0-9]{9}$")] = None,
                fmt: Format = "json") -> Any:
    """Within the caller's jurisdiction (narrowed to ``town_code`` or ``region_code`` when
    given: a place outside it gives empty counts, as a list does): per town, district and in
    all, the open cases of each stage, those with a statutory limit split into within it, near
    it (its last 20%) and past it; median and 90th percentile days per stage over the last 90
    days; cases past their limit per day. ``format=csv`` gives the counts and times as a table.
    """
    area = town_code or region_code or ""
    # The published policy's calendar and limits: the same the workflow set due_at with.
    table = request.app.state.policy.current()
    with reading(rt.engine) as conn:
        result = dashboard.summary(conn, table, who.jurisdiction, area)
    if fmt == "csv":
        return Response(dashboard.as_csv(result), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition":
                                 'attachment; filename="time-limits.csv"'})
    return result
