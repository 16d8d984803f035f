"""Recording a home survey taken on a phone (issue 26): the checklist, the notes, the photos of
documents, in one unit of work with the event that says a survey exists.

The workflow then sees the case as surveyed (``casework.load``: ``home_survey``), so the town's
acceptance no longer asks for a survey on its form, and the case's allowed actions say so.

A survey is recorded once. The phone names it — a survey id made when its draft started, the
row's primary key — because a send can reach approval and its answer be lost on the way back,
and the worker then sends the draft again: the same survey again is answered as the first send
was and changes nothing; another survey under a recorded id is refused (``SurveyIdTaken``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from services.approval.adapters.repository import ApprovalRepository
from services.approval.adapters.surveys import SurveyRepository
from services.approval.domain.survey import (
    MAX_PHOTO_BYTES,
    MAX_PHOTOS,
    PHOTO_KINDS,
    SURVEY_STAGES,
    SURVEYOR_ROLES,
    Checklist,
    photo_type,
)
from services.approval.domain.workflow import NOTICED, ActionRefused, Actor
from services.approval.service_layer import casework
from shared import clock
from shared.events.catalogue import HomeSurveyRecorded
from shared.uow import UnitOfWork


class PhotoRefused(ValueError):
    """A photo that cannot be kept: ``status`` 413 (too large, too many) or 415 (not an image
    of an accepted type). The message names the photo by its position, never its content."""

    def __init__(self, status: int, field: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.field, self.reason = status, field, reason


class SurveyIdTaken(ValueError):
    """The survey id names a survey already recorded with other content (or on another case, or
    by someone else): 409, naming ``survey_id``, never what either survey holds."""


@dataclass(frozen=True)
class Photo:
    kind: str
    data: bytes


@dataclass(frozen=True)
class Survey:
    checklist: Checklist
    surveyors: str  # staff ids
    notes: str  # what the surveyors typed; may be empty
    photos: tuple[Photo, ...] = ()
    survey_id: str | None = None  # the phone's, when it sends one: a resend carries it again

    def fingerprint(self, actor: Actor) -> str:
        """SHA-256 of the survey as sent and of who sent it, to tell a resend from another
        survey under the same id. The photos count by their bytes, in order."""
        content = [self.checklist.to_dict(), self.surveyors, self.notes, str(actor),
                   [(p.kind, hashlib.sha256(p.data).hexdigest()) for p in self.photos]]
        return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False)
                              .encode()).hexdigest()


def checked_photos(photos: list[Photo]) -> list[tuple[Photo, str]]:
    """Each photo with its type as its bytes say, or PhotoRefused for the first that fails."""
    if len(photos) > MAX_PHOTOS:
        raise PhotoRefused(413, "photos", f"at most {MAX_PHOTOS} photos a survey")
    checked = []
    for i, photo in enumerate(photos):
        where = f"photos[{i}]"
        if photo.kind not in PHOTO_KINDS:
            raise ActionRefused(f"{where}: unknown kind of document", field="photo_kind")
        if not photo.data:
            raise PhotoRefused(415, where, "is empty")
        if len(photo.data) > MAX_PHOTO_BYTES:
            raise PhotoRefused(413, where, f"is larger than {MAX_PHOTO_BYTES // (1024 * 1024)}"
                                           " MB: take it again, or at a lower resolution")
        found = photo_type(photo.data[:16])
        if found is None:
            raise PhotoRefused(415, where, "is not a JPEG, PNG or WebP image")
        checked.append((photo, found))
    return checked


def record(uow: UnitOfWork, case_id: str, survey: Survey, actor: Actor,
           now: datetime | None = None) -> dict[str, Any]:
    """Store the survey and its photos and publish ``HomeSurveyRecorded``; or answer as the
    first send did when this survey id was recorded with this content; or refuse and change
    nothing (ActionRefused: 409, or 422 with a field; PhotoRefused: 413/415; SurveyIdTaken)."""
    now = now or datetime.now(UTC)
    if actor.role not in SURVEYOR_ROLES:
        raise ActionRefused(f"a {actor.role} does not record home surveys", code="role")
    photos = checked_photos(list(survey.photos))
    fingerprint = survey.fingerprint(actor)
    # Held: a town's acceptance committing meanwhile would leave a survey behind its review,
    # and a second send of this survey waits here until the first has committed, then finds it.
    row = ApprovalRepository(uow.conn).case(case_id, for_update=True)
    if row is None:
        raise casework.UnknownCase(f"no case {case_id} at approval")
    if survey.survey_id is not None:
        # Before the checks that depend on the day and the stage: a resend the day after, or
        # after the town accepted, is still the survey that was recorded.
        sent = SurveyRepository(uow.conn).sent(survey.survey_id)
        if sent is not None:
            if (sent["case_id"], sent["content_sha256"]) != (case_id, fingerprint):
                raise SurveyIdTaken("survey_id names a survey already recorded with other "
                                    "content: start a new draft to record another survey")
            return {"case_id": case_id, "survey_id": survey.survey_id,
                    "photos": sent["photos"]}
    problems = survey.checklist.problems(clock.local_date(now))
    if problems:
        field, why = problems[0]
        raise ActionRefused(f"{field} {why}", field=field)
    if row["stage"] not in SURVEY_STAGES:
        raise ActionRefused(f"a case in stage {row['stage']} is not surveyed: surveys are "
                            "recorded until the town's review", code="stage")
    survey_id = survey.survey_id or str(uuid.uuid4())
    notes = casework.typed(survey.notes)
    SurveyRepository(uow.conn).add(
        {"survey_id": survey_id, "case_id": case_id,
         "surveyed_on": survey.checklist.surveyed_on.isoformat(),
         "surveyors": survey.surveyors, "findings": notes or "",
         "recorded_by": str(actor), "recorded_at": now,
         "checklist": json.dumps(survey.checklist.to_dict(), sort_keys=True),
         "content_sha256": fingerprint},
        [{"photo_id": str(uuid.uuid4()), "survey_id": survey_id, "case_id": case_id,
          "position": i, "kind": photo.kind, "content_type": kind,
          "size_bytes": len(photo.data),
          "sha256": hashlib.sha256(photo.data).hexdigest(), "data": photo.data,
          "taken_at": now} for i, (photo, kind) in enumerate(photos)])
    c = survey.checklist
    uow.publish(HomeSurveyRecorded(
        case_id=case_id, survey_id=survey_id, surveyed_on=c.surveyed_on,
        outcome=c.outcome,
        housing_tenure=c.housing_tenure, housing_state=c.housing_state,
        members_living=c.members_living, members_present=c.members_present,
        able_to_work=c.able_to_work, partly_able=c.partly_able,
        unable_to_work=c.unable_to_work, cars=c.cars, motorcycles=c.motorcycles,
        items=sorted(c.items), photos=len(photos), has_notes=notes is not None,
        recorded_by_role=actor.role, recorded_at=now))
    uow.commit()
    return {"case_id": case_id, "survey_id": survey_id, "photos": len(photos)}


def required(programme: str) -> bool:
    """Whether the town's acceptance of this programme waits for a home survey."""
    return programme in NOTICED


def for_case(conn: Connection, case_id: str) -> list[dict[str, Any]]:
    """A case's surveys as ``GET /cases/{id}`` shows them to those entitled to the case: each
    with its checklist (None for one recorded with the acceptance) and its photos' references
    (the bytes come one by one, from ``/cases/{id}/survey-photos/{photo_id}``)."""
    photos = SurveyRepository(conn).photos_of(case_id)
    found = []
    for row in ApprovalRepository(conn).surveys(case_id):
        raw = row.pop("checklist", None)
        row.pop("content_sha256", None)  # for telling a resend apart; nobody's business
        row["checklist"] = json.loads(raw) if raw else None
        row["photos"] = [{k: p[k] for k in ("photo_id", "kind", "content_type", "size_bytes")}
                         for p in photos if p["survey_id"] == row["survey_id"]]
        found.append(row)
    found.sort(key=lambda r: clock.as_utc(r["recorded_at"]))
    return found
