"""The monitoring queue over HTTP: early warnings and discovery leads for the reader's town (or
district), and their closing with an outcome by town staff.

Each item says why it was raised as ``reason_code`` and ``reason_params`` (what is stored and
published), and as ``reason``: those rendered in the caller's language, Chinese unless its
``Accept-Language`` prefers English (shared/monitoring_reasons.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from services.verification.adapters.monitoring import LeadRepository, WarningRepository
from services.verification.service_layer import monitoring
from shared.auth.dependencies import check_jurisdiction, require
from shared.auth.principals import Principal, area_of
from shared.db import reading
from shared.events.catalogue import LeadOutcome, WarningOutcome
from shared.http import CheckedRoute
from shared.inputs import FreeText, TextLine
from shared.monitoring_reasons import Lang, reader_language, render
from shared.service import Runtime, ServiceRuntime
from shared.uow import UnitOfWork

router = APIRouter(route_class=CheckedRoute, tags=["monitoring"])
_read = require("monitoring.read")
_close = require("monitoring.close")


class WarningClosing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: WarningOutcome
    note: FreeText | None = Field(default=None, max_length=2000)


class LeadClosing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: LeadOutcome
    note: FreeText | None = Field(default=None, max_length=2000)
    case_id: TextLine | None = Field(default=None, max_length=40,
                                description="the application the lead led to (outcome applied)")


Limit = Annotated[int, Query(ge=1, le=500)]
AcceptLanguage = Annotated[str | None, Header(
    description="the language of each item's reason: en, or zh (the default)")]


def readable(item: Mapping[str, Any], lang: Lang) -> dict[str, Any]:
    """A stored warning or lead with its reason in words, in ``lang``."""
    shown = dict(item)
    legacy = shown.pop("legacy_reason")
    shown["reason"] = render(shown["reason_code"], shown["reason_params"], lang, legacy)
    return shown


def _lang(accept_language: str | None) -> Lang:
    return reader_language((accept_language or "")[:200])  # a header of any length is cheap


@router.get("/warnings", summary="Early warnings in my jurisdiction, newest first (预警)")
def list_warnings(rt: Runtime, who: Annotated[Principal, Depends(_read)],
                  open: bool = True, limit: Limit = 100,
                  after: Annotated[str | None, Query(max_length=40)] = None,
                  accept_language: AcceptLanguage = None) -> dict[str, Any]:
    """``open=false`` includes the closed ones; ``after`` (a warning id) gives the next page."""
    with reading(rt.engine) as conn:
        found = WarningRepository(conn).page(who.jurisdiction, open_only=open, limit=limit,
                                             after=after)
    lang = _lang(accept_language)
    return {"warnings": [readable(w, lang) for w in found]}


@router.post("/warnings/{warning_id}/close", summary="Close a warning with its outcome",
             responses={409: {"description": "Someone closed it already"}})
def close_warning(warning_id: str, body: WarningClosing, rt: Runtime, request: Request,
                  who: Annotated[Principal, Depends(_close)]) -> dict[str, Any]:
    return _closing(rt, request, who, "warning", warning_id, WarningRepository,
                    lambda uow, found: monitoring.close_warning(
                        uow, found, body.outcome, body.note, who.subject, datetime.now(UTC)))


@router.get("/leads", summary="Proactive-discovery leads in my jurisdiction (主动发现)")
def list_leads(rt: Runtime, who: Annotated[Principal, Depends(_read)],
               open: bool = True, limit: Limit = 100,
               after: Annotated[str | None, Query(max_length=40)] = None,
               accept_language: AcceptLanguage = None) -> dict[str, Any]:
    with reading(rt.engine) as conn:
        found = LeadRepository(conn).page(who.jurisdiction, open_only=open, limit=limit,
                                          after=after)
    lang = _lang(accept_language)
    return {"leads": [readable(lead, lang) for lead in found]}


@router.post("/leads/{lead_id}/close", summary="Close a lead with its outcome",
             responses={409: {"description": "Someone closed it already"}})
def close_lead(lead_id: str, body: LeadClosing, rt: Runtime, request: Request,
               who: Annotated[Principal, Depends(_close)]) -> dict[str, Any]:
    if (body.outcome == "applied") != (body.case_id is not None):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=[{
            "loc": ["body", "case_id"], "type": "value_error",
            "msg": "required with the outcome applied, and only with it"}])
    return _closing(rt, request, who, "lead", lead_id, LeadRepository,
                    lambda uow, found: monitoring.close_lead(
                        uow, found, body.outcome, body.note, who.subject, datetime.now(UTC),
                        body.case_id))


def _closing(rt: ServiceRuntime, request: Request, who: Principal, what: str, item_id: str,
             repository: type[WarningRepository] | type[LeadRepository],
             close: Callable[[UnitOfWork, dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """404 for no such item, 403 (logged) outside the closer's jurisdiction, 409 when someone
    closed it first; else closed, with its event, in one transaction."""
    with rt.uow() as uow:
        found = repository(uow.conn).get(item_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no {what} {item_id}")
        check_jurisdiction(who, area_of(found["region_code"], found["town_code"]),
                           request=request)
        try:
            closed = close(uow, found)
        except monitoring.AlreadyClosed as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
        uow.commit()
    return readable(closed, _lang(request.headers.get("accept-language")))
