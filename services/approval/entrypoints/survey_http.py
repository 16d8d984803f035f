"""The home survey taken on a phone (入户调查, issue 26): the town's cases to survey, recording
one with its photos of documents, and the photos served back to those entitled to the case.

A survey is sent as ``multipart/form-data``: a ``survey`` part (JSON: the checklist, the
surveyors, the notes, each photo's kind) and up to ``MAX_PHOTOS`` ``photo`` parts. The body is
read up to its limit and no further (413 past it); each photo's type is taken from its first
bytes, whatever the sender calls it (415 for anything but JPEG, PNG, WebP).

The ``survey_id`` in the survey part is the phone's (a UUID made when the draft started): the
survey is recorded under it once. Sent again — the answer to the first send was lost — the same
survey is answered as the first send was (201, the same survey); another survey under that id is
a 409 naming ``survey_id``. Without one, approval names the survey and a resend is a new survey.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from services.approval.adapters.repository import ApprovalRepository
from services.approval.adapters.surveys import SurveyRepository
from services.approval.domain.survey import (
    MAX_FORM_BYTES,
    MAX_MEMBERS,
    MAX_NOTES,
    MAX_PHOTOS,
    MAX_REQUEST_BYTES,
    MAX_VEHICLES,
    PHOTO_TYPES,
    SURVEY_STAGES,
    Checklist,
    HousingState,
    HousingTenure,
    Item,
    Outcome,
    PhotoKind,
)
from services.approval.domain.workflow import Actor
from services.approval.entrypoints.http import _case_in_reach, _run
from services.approval.service_layer import surveys
from shared import clock
from shared.auth.dependencies import check_jurisdiction, require
from shared.auth.principals import Principal, area_of
from shared.db import reading
from shared.http import CheckedRoute
from shared.inputs import DuplicateMember, FreeText, TextLine, loads_unique, shown_field
from shared.service import Runtime
from shared.uow import once_more_on_conflict

router = APIRouter(route_class=CheckedRoute, tags=["home survey"])
Surveyor = Annotated[Principal, Depends(require("survey.record"))]
Reader = Annotated[Principal, Depends(require("case.read"))]
Count = Annotated[int, Field(ge=0, le=MAX_MEMBERS)]


class SurveyIn(BaseModel):
    """The survey's ``survey`` part. Counts are people (or vehicles); ``items`` the checklist's
    yes answers; ``photo_kinds`` the kind of each ``photo`` part, in order."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {
        "survey_id": "6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f", "surveyed_on": "2026-12-07",
        "surveyors": "s-cixi-001, t-021",
        "outcome": "as_declared", "housing_tenure": "rented", "housing_state": "poor",
        "members_living": 1, "members_present": 1, "able_to_work": 0, "partly_able": 0,
        "unable_to_work": 1, "cars": 0, "motorcycles": 0, "items": ["tv", "fridge"],
        "notes": "独居，房屋漏雨", "photo_kinds": ["household_register"]}})
    survey_id: UUID | None = Field(default=None, description=(
        "Made by the phone when the draft started, sent again with every resend: the survey "
        "is recorded once under it"))
    surveyed_on: date
    surveyors: TextLine = Field(min_length=1, max_length=200,
                                description="Staff ids, two at least by national practice")
    outcome: Outcome
    housing_tenure: HousingTenure
    housing_state: HousingState
    members_living: int = Field(ge=1, le=MAX_MEMBERS)
    members_present: Count
    able_to_work: Count
    partly_able: Count
    unable_to_work: Count
    cars: int = Field(default=0, ge=0, le=MAX_VEHICLES)
    motorcycles: int = Field(default=0, ge=0, le=MAX_VEHICLES)
    items: list[Item] = Field(default_factory=list, max_length=20)
    notes: FreeText = Field(default="", max_length=MAX_NOTES)
    photo_kinds: list[PhotoKind] = Field(default_factory=list, max_length=MAX_PHOTOS)

    def checklist(self) -> Checklist:
        return Checklist(self.surveyed_on, self.outcome, self.housing_tenure,
                         self.housing_state, self.members_living, self.members_present,
                         self.able_to_work, self.partly_able, self.unable_to_work, self.cars,
                         self.motorcycles, tuple(self.items))


def _problem(code: int, kind: str, loc: list[str | int], msg: str) -> HTTPException:
    return HTTPException(code, detail=[{"type": kind, "loc": loc, "msg": msg}])


async def _capped(request: Request) -> bytes:
    """The body, refused (413) as soon as it passes the limit: a phone on a bad line must not
    hold a worker while it sends a film."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        raise _problem(413, "too_large", ["body"],
                       f"a survey and its photos are at most {MAX_REQUEST_BYTES} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            raise _problem(413, "too_large", ["body"],
                           f"a survey and its photos are at most {MAX_REQUEST_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _once(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body


async def _read_survey(request: Request) -> surveys.Survey:
    kind = request.headers.get("content-type", "")
    if not kind.lower().startswith("multipart/form-data"):
        raise _problem(415, "unsupported_media_type", ["header", "content-type"],
                       "send the survey as multipart/form-data")
    body = await _capped(request)
    try:
        form = await MultiPartParser(request.headers, _once(body), max_files=MAX_PHOTOS + 1,
                                     max_fields=4, max_part_size=MAX_FORM_BYTES).parse()
    except MultiPartException as exc:
        raise _problem(422, "value_error", ["body"], f"not a readable form: {exc.message}"
                       ) from exc
    try:
        photos = [part for part in form.getlist("photo") if isinstance(part, UploadFile)]
        if len(photos) > MAX_PHOTOS:
            raise _problem(413, "too_large", ["body", "photo"],
                           f"at most {MAX_PHOTOS} photos a survey")
        raw = form.get("survey")
        if isinstance(raw, UploadFile):  # sent as a part of its own (application/json)
            raw = (await raw.read(MAX_FORM_BYTES + 1)).decode("utf-8", "replace")
            if len(raw) > MAX_FORM_BYTES:
                raise _problem(413, "too_large", ["body", "survey"], "the survey part is too "
                               f"large (at most {MAX_FORM_BYTES} bytes)")
        if not isinstance(raw, str):
            raise _problem(422, "missing", ["body", "survey"], "the survey part is required")
        try:
            survey = SurveyIn.model_validate(loads_unique(raw))
        except (ValueError, DuplicateMember, RecursionError) as exc:  # nested past reason
            raise _unprocessable(exc) from exc
        if len(photos) != len(survey.photo_kinds):
            raise _problem(422, "value_error", ["body", "survey", "photo_kinds"],
                           "give one kind for each photo, in order")
        taken = [surveys.Photo(kind, await part.read())
                 for kind, part in zip(survey.photo_kinds, photos, strict=True)]
    finally:
        await form.close()
    return surveys.Survey(survey.checklist(), survey.surveyors, survey.notes, tuple(taken),
                          None if survey.survey_id is None else str(survey.survey_id))


def _unprocessable(exc: Exception) -> HTTPException:
    """A 422 that says where and what, never the value sent (Pydantic's ``input``)."""
    if isinstance(exc, ValidationError):
        return HTTPException(422, detail=[
            {"type": e["type"], "loc": ["body", "survey", *map(shown_field, e["loc"])],
             "msg": e["msg"]}
            for e in exc.errors()])
    if isinstance(exc, DuplicateMember):
        return _problem(422, "value_error", ["body", "survey"], str(exc))
    return _problem(422, "json_invalid", ["body", "survey"], "the survey part is not JSON")


_FORM = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["survey"], "properties": {
        "survey": {"type": "string", "description": "JSON of SurveyIn"},
        "photo": {"type": "array", "maxItems": MAX_PHOTOS,
                  "items": {"type": "string", "format": "binary"}}}}}}}}


@router.get("/surveys/cases", summary="The town's cases to survey (入户调查)")
def cases_to_survey(rt: Runtime, who: Surveyor,
                    limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
    """Cases within the caller's place that wait for the town (report or review): a reference,
    the programme, the household's size, the time limit and how many surveys it has. No name,
    no assessment, no decision."""
    with reading(rt.engine) as conn:
        rows = SurveyRepository(conn).cases_to_survey(who.jurisdiction, SURVEY_STAGES, limit)
    return {"as_of": datetime.now(UTC).isoformat(), "cases": [_for_surveyor(r) for r in rows]}


def _for_surveyor(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("due_at", "submitted_at"):
        if row.get(key) is not None:
            row[key] = clock.as_utc(row[key])
    # Whether the town's acceptance waits for a survey (the workflow's rule, workflow.NOTICED).
    row["survey_required"] = surveys.required(row["programme"])
    return row


@router.get("/surveys/cases/{case_id}", summary="One case to survey, as the survey form needs it",
            responses={409: {"description": "The case is past the town's review"}})
def case_to_survey(case_id: str, rt: Runtime, request: Request,
                   who: Surveyor) -> dict[str, Any]:
    _case_in_reach(rt, case_id, who, request)
    with reading(rt.engine) as conn:
        found = SurveyRepository(conn).cases_to_survey(who.jurisdiction, SURVEY_STAGES, 1,
                                                       case_id=case_id)
    if not found:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            detail="the case is not waiting for the town: no survey now")
    return _for_surveyor(found[0])


@router.post("/cases/{case_id}/surveys", status_code=201, openapi_extra=_FORM,
             summary="Record a home survey with its checklist, notes and photos (入户调查)",
             responses={409: {"description": "The case is past the town's review, or the "
                                             "survey_id names another survey"},
                        413: {"description": "The survey or a photo is too large, or too many"},
                        415: {"description": "Not multipart, or a photo not JPEG, PNG or WebP"}})
async def record_survey(case_id: str, rt: Runtime, request: Request,
                        who: Surveyor) -> dict[str, Any]:
    """The signed-in surveyor records it (the token's person, never a name in the body). The
    notes and photos stay here; the bus hears ``HomeSurveyRecorded``: codes and counts. Sent
    again under its ``survey_id``, it is answered as it was the first time, and kept once."""
    _case_in_reach(rt, case_id, who, request)
    survey = await _read_survey(request)
    actor = Actor(str(who.role), who.subject)
    try:
        # Two sends under one survey id that nothing else held apart (two cases at once): the
        # loser's insert fails on the primary key, and its second attempt finds the winner.
        return once_more_on_conflict(
            lambda: _run(rt, lambda uow: surveys.record(uow, case_id, survey, actor)))
    except surveys.PhotoRefused as exc:
        raise _problem(exc.status, "too_large" if exc.status == 413 else "unsupported_image",
                       ["body", exc.field], exc.reason) from exc
    except surveys.SurveyIdTaken as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc


@router.get("/cases/{case_id}/survey-photos/{photo_id}",
            summary="A photo taken at a home survey, for those entitled to the case",
            responses={200: {"content": {t: {"schema": {"type": "string", "format": "binary"}}
                                         for t in PHOTO_TYPES}}})
def survey_photo(case_id: str, photo_id: str, rt: Runtime, request: Request,
                 who: Reader) -> Response:
    with reading(rt.engine) as conn:
        row = ApprovalRepository(conn).case(case_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no case {case_id}")
        check_jurisdiction(who, area_of(row["region_code"], row["town_code"]), request=request)
        photo = SurveyRepository(conn).photo(case_id, photo_id)
    if photo is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no photo {photo_id} on the case")
    # Served as the type its bytes were found to be, never sniffed, kept by no shared cache.
    return Response(bytes(photo["data"]), media_type=photo["content_type"], headers={
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600",
        "Content-Security-Policy": "default-src 'none'"})
