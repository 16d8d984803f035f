"""Home surveys taken on the phone page and their photos, in approval's own tables (issue 26).

Beside ``ApprovalRepository``, on the same connection: the unit of work's, so that a survey, its
photos and its event are written together or not at all.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, func, insert, select

from services.approval.adapters.tables import cases, home_surveys, survey_photos
from shared.sql import within

# What the survey list shows of a photo: never its bytes.
_PHOTO_FIELDS = (survey_photos.c.photo_id, survey_photos.c.survey_id, survey_photos.c.kind,
                 survey_photos.c.content_type, survey_photos.c.size_bytes,
                 survey_photos.c.taken_at)


class SurveyRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def cases_to_survey(self, jurisdiction: str, stages: tuple[str, ...], limit: int,
                        case_id: str | None = None) -> list[dict[str, Any]]:
        """The cases in these stages within reach, oldest time limit first, each with how many
        surveys it has and its household's size (from the application's facts)."""
        surveyed = (select(home_surveys.c.case_id, func.count().label("surveys"))
                    .group_by(home_surveys.c.case_id).subquery())
        query = (
            select(cases.c.case_id, cases.c.programme, cases.c.region_code, cases.c.town_code,
                   cases.c.stage, cases.c.due_at, cases.c.submitted_at, cases.c.facts,
                   func.coalesce(surveyed.c.surveys, 0).label("surveys"))
            .outerjoin(surveyed, surveyed.c.case_id == cases.c.case_id)
            .where(within(jurisdiction, cases.c.region_code, cases.c.town_code))
            .where(cases.c.stage.in_(stages))
            .order_by(cases.c.due_at.is_(None), cases.c.due_at, cases.c.case_id)
            .limit(limit))
        if case_id is not None:
            query = query.where(cases.c.case_id == case_id)
        return [_brief(dict(r)) for r in self.conn.execute(query).mappings()]

    def add(self, survey: dict[str, Any], photos: list[dict[str, Any]]) -> None:
        self.conn.execute(insert(home_surveys), survey)
        if photos:
            self.conn.execute(insert(survey_photos), photos)

    def sent(self, survey_id: str) -> dict[str, Any] | None:
        """The survey recorded under this id, as a resend is compared with it: its case, its
        content's fingerprint and how many photos it kept; None when there is none."""
        kept = (select(func.count()).where(survey_photos.c.survey_id == survey_id)
                .scalar_subquery())
        row = self.conn.execute(
            select(home_surveys.c.case_id, home_surveys.c.content_sha256,
                   kept.label("photos"))
            .where(home_surveys.c.survey_id == survey_id)).mappings().first()
        return None if row is None else dict(row)

    def photos_of(self, case_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(
            select(*_PHOTO_FIELDS).where(survey_photos.c.case_id == case_id)
            .order_by(survey_photos.c.taken_at, survey_photos.c.position)).mappings()]

    def photo(self, case_id: str, photo_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            select(survey_photos.c.content_type, survey_photos.c.data)
            .where(survey_photos.c.case_id == case_id)
            .where(survey_photos.c.photo_id == photo_id)).mappings().first()
        return None if row is None else dict(row)


def _brief(row: dict[str, Any]) -> dict[str, Any]:
    """A case as the surveyor needs it: its reference, programme, stage, time limit, and the
    household's size — nothing of the assessment, nobody's name."""
    facts = json.loads(row.pop("facts"))
    row["members"] = len(facts.get("members") or [])
    return row
