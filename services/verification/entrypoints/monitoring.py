"""The monitoring queue over HTTP: early warnings and discovery leads for the reader's town (or
district), their closing with an outcome by town staff, and who a lead is — asked of the
department that owns its record, with a reason, every look-up logged for auditors
(service_layer/person_lookups.py).

Each item says why it was raised as ``reason_code`` and ``reason_params`` (what is stored and
published), and as ``reason``: those rendered in the caller's language, Chinese unless its
``Accept-Language`` prefers English (shared/monitoring_reasons.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.verification.adapters.monitoring import LeadRepository, WarningRepository
from services.verification.adapters.person_lookups import PersonLookupRepository
from services.verification.service_layer import monitoring, person_lookups
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
_look_up = require("monitoring.person_lookup")
_audit = require("audit.read")


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


class PersonLookupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: FreeText = Field(min_length=4, max_length=500, description=(
        "Why this person must be known (a visit, say): kept with the look-up for auditors, "
        "never on an event"))

    @field_validator("reason")
    @classmethod
    def _said_something(cls, value: str) -> str:
        if len(value.strip()) < 4:
            raise ValueError("say why this person must be known (4 characters or more)")
        return value


Limit = Annotated[int, Query(ge=1, le=500)]
Region = Annotated[str | None, Query(pattern=r"^([0-9]{6}|[0-9]{9})$",
                                     description="a district's (6 digits) or a town's code")]
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


@router.get("/leads/person-lookups", tags=["audit"],
            summary="Who looked up which lead's person, why, and what the department answered "
                    "(auditors, within jurisdiction; newest first)")
def list_person_lookups(rt: Runtime, who: Annotated[Principal, Depends(_audit)],
                        region: Region = None, since: date | None = None,
                        until: date | None = None,
                        limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    """``since`` and ``until`` are days in China, both included. No person is listed: the
    department's answer was never kept."""
    with reading(rt.engine) as conn:
        found = PersonLookupRepository(conn).page(who.jurisdiction, region=region, since=since,
                                                  until=until, limit=limit)
    return {"lookups": found}


@router.post("/leads/{lead_id}/person",
             summary="Who a lead is, asked of the department that owns its record (logged)",
             responses={
                 409: {"description": "The lead is closed, or its department is not queried "
                                      "live here (the look-up is logged)"},
                 503: {"description": "The department could not answer now (logged)"}})
def look_up_person(lead_id: str, body: PersonLookupIn, rt: Runtime, request: Request,
                   response: Response,
                   who: Annotated[Principal, Depends(_look_up)]) -> dict[str, Any]:
    """The case workers of the lead's town (or district) only. Whatever the department answers
    is logged with the reason; the person it names is in this answer and nowhere else — not
    stored, not published, not logged — so keep it no longer than the visit needs. POST, not
    GET: the look-up is itself a record, and the reason belongs in no URL."""
    with reading(rt.engine) as conn:
        lead = LeadRepository(conn).get(lead_id)
    if lead is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no lead {lead_id}")
    check_jurisdiction(who, area_of(lead["region_code"], lead["town_code"]), request=request)
    try:
        found = person_lookups.look_up(
            rt.uow, lead, body.reason, person_lookups.Asker(who.subject, str(who.role)),
            request.app.state.live_sources, rt.settings.pseudonym_key.get_secret_value().encode())
    except (person_lookups.LeadClosed, person_lookups.NothingToAsk) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    if found.outcome == "department_unavailable":
        raise HTTPException(
            status.HTTP_409_CONFLICT if not found.connected else
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"no answer from {found.department}: {found.detail} "
                   f"(look-up {found.lookup_id} logged)",
            headers={"Cache-Control": "no-store"})
    response.headers["Cache-Control"] = "no-store"  # a person's identity: no cache keeps it
    person = found.person
    return {"lookup_id": found.lookup_id, "lead_id": found.lead_id,
            "department": found.department, "outcome": found.outcome,
            "person": None if person is None else {
                "resident_id": person.resident_id, "name": person.name,
                "address": person.address, "phone": person.phone}}


def _closing(rt: ServiceRuntime, request: Request, who: Principal, what: str, item_id: str,
             repository: type[WarningRepository] | type[LeadRepository],
             close: Callable[[UnitOfWork, dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """404 for no such item, 403 (logged) outside the closer's jurisdiction, 409 when someone
    closed it first; else closed, with its event, in one transaction."""
    def may_close(found: dict[str, Any]) -> None:
        check_jurisdiction(who, area_of(found["region_code"], found["town_code"]),
                           request=request)

    try:
        closed = monitoring.close_item(rt.uow, lambda conn: repository(conn).get(item_id),
                                       may_close, close)
    except monitoring.NothingToClose as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no {what} {item_id}") from exc
    except monitoring.AlreadyClosed as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    return readable(closed, _lang(request.headers.get("accept-language")))
