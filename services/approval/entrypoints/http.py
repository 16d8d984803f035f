"""Approval's HTTP API: read a case's decision and the policy figures in force."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from services.approval.adapters.repository import DecisionRepository
from services.approval.domain.policy import DIBAO_FIGURES, PolicyTable, region_chain
from shared import clock
from shared.db import reading
from shared.service import Runtime


def policy(request: Request) -> PolicyTable:
    return request.app.state.policy  # type: ignore[no-any-return]


Policy = Annotated[PolicyTable, Depends(policy)]
router = APIRouter()


@router.get("/decisions/{case_id}", tags=["decisions"],
            summary="A case's decision with every rule, figure and source")
def get_decision(case_id: str, rt: Runtime) -> dict[str, Any]:
    with reading(rt.engine) as conn:
        body = DecisionRepository(conn).get(case_id)
    if body is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no decision for case {case_id}")
    return json.loads(body)  # type: ignore[no-any-return]


@router.get("/policy/dibao/{region_code}", tags=["policy"],
            summary="The Dibao figures in force for a region on a day")
def dibao_policy(region_code: str, table: Policy,
                 on: Annotated[date | None, Query()] = None) -> dict[str, Any]:
    if not re.fullmatch(r"[0-9]{6}", region_code):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            detail=[{"loc": ["path", "region_code"],
                                     "msg": "must be a 6-digit region code"}])
    day = on or clock.today()
    figures = {}
    for name, meaning in DIBAO_FIGURES.items():
        fig = table.figure(name, region_code, day)
        figures[name] = None if fig is None else {
            "value": fig.value, "meaning": meaning, "region": fig.region,
            "effective_from": fig.effective_from.isoformat(), "source": fig.source}
    return {"region_code": region_code, "on": day.isoformat(),
            "inherits_from": region_chain(region_code), "figures": figures}
