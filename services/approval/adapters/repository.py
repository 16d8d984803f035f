"""Approval's reads and writes. Statements run per event are built once (see intake's
repository for why; py-spy put building and keying them at a quarter of approval's CPU when they
were not, issue 24)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, select, update

from services.approval.adapters.holds import held_cases
from services.approval.adapters.tables import (
    assessments,
    case_members,
    cases,
    decisions,
    home_surveys,
    objections,
    referrals,
    reports,
    stage_changes,
    temporary_grants,
)
from services.approval.domain.workflow import HOUSEHOLD_STATUS_ORDER, RUNNING
from shared.events.catalogue import ApplicationDecided
from shared.sql import among, within

_CASE = select(cases).where(cases.c.case_id == bindparam("cid"))
_CASE_LOCKED = _CASE.with_for_update()
_DECISION_EXISTS = select(decisions.c.case_id).where(decisions.c.case_id == bindparam("cid"))
_MOVE = (update(cases)
         .where(cases.c.case_id == bindparam("cid"))
         .where(cases.c.sequence == bindparam("expected"))
         .values(stage=bindparam("new_stage"), sequence=bindparam("new_sequence"),
                 due_at=bindparam("new_due"), notice_ends_at=bindparam("new_notice"),
                 stage_since=bindparam("now")))
_OPEN_OBJECTIONS = (select(func.count()).select_from(objections)
                    .where(objections.c.case_id == bindparam("cid"))
                    .where(objections.c.status == "open"))
_SURVEYED = select(home_surveys.c.survey_id).where(home_surveys.c.case_id == bindparam("cid"))
_UNASSESSED = (select(reports.c.report_id, reports.c.body)
               .where(reports.c.case_id == bindparam("cid"))
               .where(reports.c.assessed.is_(False)).order_by(reports.c.received_at))
_REPORT_EXISTS = select(reports.c.report_id).where(reports.c.report_id == bindparam("rid"))
_MARK_ASSESSED = (update(reports).where(reports.c.report_id == bindparam("rid"))
                  .values(assessed=True))
_HOUSEHOLD_STATUSES = (
    select(cases.c.programme).join(case_members, case_members.c.case_id == cases.c.case_id)
    .where(case_members.c.person_ref.in_(bindparam("refs", expanding=True)))
    .where(cases.c.stage.in_(RUNNING))
    .where(cases.c.programme.in_(HOUSEHOLD_STATUS_ORDER)))
_GRANTED_CASES_OF = (select(temporary_grants.c.case_id).distinct()
                     .where(temporary_grants.c.year == bindparam("year"))
                     .where(temporary_grants.c.person_ref.in_(
                         bindparam("refs", expanding=True))))
_GRANTEES_OF = (select(temporary_grants.c.person_ref).distinct()
                .where(temporary_grants.c.case_id.in_(bindparam("cids", expanding=True))))
# Inserts are made once too: a new Insert is a new statement whose cache key is worked out again.
_ADD_CASE, _ADD_MEMBERS = insert(cases), insert(case_members)
_ADD_CHANGE, _ADD_REPORT, _ADD_ASSESSMENT = (insert(stage_changes), insert(reports),
                                             insert(assessments))
# ``set_case``'s updates, one per set of columns, made the first time that set is asked for.
_SET_CASE: dict[tuple[str, ...], Any] = {}


def _set_case(columns: tuple[str, ...]) -> Any:
    statement = _SET_CASE.get(columns)
    if statement is None:
        statement = _SET_CASE[columns] = (
            update(cases).where(cases.c.case_id == bindparam("cid"))
            .values({c: bindparam(f"v_{c}", type_=cases.c[c].type) for c in columns}))
    return statement


class Conflict(Exception):
    """Someone else changed the case first; read it again and retry."""


class ApprovalRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- cases -------------------------------------------------------------------------------
    def case(self, case_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
        """The case's row; ``for_update`` holds it until the commit (PostgreSQL), so that its
        stage cannot move between this read and what is written because of it."""
        row = self.conn.execute(_CASE_LOCKED if for_update else _CASE,
                                {"cid": case_id}).mappings().first()
        return dict(row) if row else None

    def open_case(self, row: dict[str, Any], member_refs: list[str]) -> None:
        self.conn.execute(_ADD_CASE, row)
        self.conn.execute(_ADD_MEMBERS,
                          [{"case_id": row["case_id"], "person_ref": r} for r in member_refs])

    def move(self, case_id: str, expected: int, stage: str, sequence: int,
             due_at: datetime | None, notice_ends_at: datetime | None, now: datetime) -> None:
        done = self.conn.execute(_MOVE, {
            "cid": case_id, "expected": expected, "new_stage": stage, "new_sequence": sequence,
            "new_due": due_at, "new_notice": notice_ends_at, "now": now})
        if done.rowcount != 1:
            raise Conflict(f"case {case_id} changed meanwhile")

    def set_case(self, case_id: str, **values: Any) -> None:
        self.conn.execute(_set_case(tuple(sorted(values))),
                          {"cid": case_id, **{f"v_{c}": v for c, v in values.items()}})

    def record_change(self, row: dict[str, Any]) -> None:
        self.conn.execute(_ADD_CHANGE, row)

    def history(self, case_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(
            select(stage_changes).where(stage_changes.c.case_id == case_id)
            .order_by(stage_changes.c.sequence)).mappings()]

    def list_cases(self, *, jurisdiction: str, stage: str | None, region: str | None,
                   programme: str | None, overdue_at: datetime | None,
                   limit: int, held: str | None = None) -> list[dict[str, Any]]:
        q = (select(cases.c.case_id, cases.c.programme, cases.c.region_code, cases.c.town_code,
                    cases.c.stage, cases.c.sequence, cases.c.due_at, cases.c.notice_ends_at,
                    cases.c.stage_since, cases.c.submitted_at, cases.c.monthly_amount_fen)
             .where(within(jurisdiction, cases.c.region_code, cases.c.town_code)))
        if stage:
            q = q.where(cases.c.stage == stage)
        if region:  # a district (6 digits) or a town (9)
            q = q.where(within(region, cases.c.region_code, cases.c.town_code))
        if programme:
            q = q.where(cases.c.programme == programme)
        if overdue_at is not None:
            q = q.where(and_(cases.c.due_at.is_not(None), cases.c.due_at < overdue_at))
        if held:  # waiting for the town (holds.py), unless the case has ended meanwhile
            q = q.where(cases.c.case_id.in_(held_cases(held)),
                        cases.c.stage.not_in(("rejected", "terminated")))
        q = q.order_by(cases.c.due_at.is_(None), cases.c.due_at, cases.c.case_id).limit(limit)
        return [dict(r) for r in self.conn.execute(q).mappings()]

    # --- what approval knows of a household ---------------------------------------------------
    def household_status(self, member_refs: list[str]) -> str | None:
        """The status a household is recognised in, by any member's running case."""
        rows = self.conn.execute(_HOUSEHOLD_STATUSES, {"refs": member_refs}).scalars().all()
        for status in HOUSEHOLD_STATUS_ORDER:
            if status in rows:
                return status
        return None

    def temporary_granted(self, member_refs: list[str], year: int, *, excluding: str) -> int:
        """Temporary assistance granted this year to the household: every other case linked
        to these members through shared members, however long the chain (X and Y shared a
        case, X had one alone, Y had one alone: one household, one cap — temporary.toml)."""
        grants = temporary_grants.c
        people, frontier, linked = set(member_refs), set(member_refs), set[str]()
        while frontier:
            found = set(self.conn.execute(
                _GRANTED_CASES_OF, {"year": year, "refs": sorted(frontier)}).scalars()) - linked
            if not found:
                break
            linked |= found
            frontier = set(self.conn.execute(
                _GRANTEES_OF, {"cids": sorted(found)}).scalars()) - people
            people |= frontier
        linked.discard(excluding)
        if not linked:
            return 0
        granted = (select(grants.case_id, grants.amount_fen).distinct()
                   .where(grants.case_id.in_(sorted(linked))).where(grants.year == year)
                   .subquery())
        return int(self.conn.execute(select(func.coalesce(func.sum(granted.c.amount_fen), 0)))
                   .scalar_one())

    def grant_temporary(self, case_id: str, member_refs: list[str], year: int,
                        amount_fen: int) -> None:
        self.conn.execute(insert(temporary_grants), [
            {"case_id": case_id, "person_ref": r, "year": year, "amount_fen": amount_fen}
            for r in member_refs])

    # --- reports and assessments --------------------------------------------------------------
    def add_report(self, report_id: str, case_id: str, body: str, at: datetime,
                   assessed: bool) -> bool:
        if self.conn.execute(_REPORT_EXISTS, {"rid": report_id}).first():
            return False
        self.conn.execute(_ADD_REPORT, {"report_id": report_id, "case_id": case_id,
                                        "body": body, "received_at": at, "assessed": assessed})
        return True

    def unassessed_reports(self, case_id: str) -> list[tuple[str, str]]:
        return [(r.report_id, r.body) for r in self.conn.execute(_UNASSESSED, {"cid": case_id})]

    def mark_assessed(self, report_id: str) -> None:
        self.conn.execute(_MARK_ASSESSED, {"rid": report_id})

    def add_assessment(self, row: dict[str, Any]) -> None:
        self.conn.execute(_ADD_ASSESSMENT, row)

    def assessment(self, assessment_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(assessments).where(
            assessments.c.assessment_id == assessment_id)).mappings().first()
        return dict(row) if row else None

    def assessments_of(self, case_id: str | None = None) -> list[dict[str, Any]]:
        q = select(assessments).order_by(assessments.c.assessed_at)
        if case_id is not None:
            q = q.where(assessments.c.case_id == case_id)
        return [dict(r) for r in self.conn.execute(q).mappings()]

    # --- review records -----------------------------------------------------------------------
    def add_survey(self, row: dict[str, Any]) -> None:
        self.conn.execute(insert(home_surveys), row)

    def surveyed(self, case_id: str) -> bool:
        return self.conn.execute(_SURVEYED, {"cid": case_id}).first() is not None

    def surveys(self, case_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(
            select(home_surveys).where(home_surveys.c.case_id == case_id)).mappings()]

    def add_objection(self, row: dict[str, Any]) -> None:
        self.conn.execute(insert(objections), row)

    def open_objections(self, case_id: str) -> int:
        return int(self.conn.execute(_OPEN_OBJECTIONS, {"cid": case_id}).scalar_one())

    def objection(self, case_id: str, objection_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(objections).where(
            objections.c.objection_id == objection_id,
            objections.c.case_id == case_id)).mappings().first()
        return dict(row) if row else None

    def resolve_objection(self, objection_id: str, **values: Any) -> None:
        self.conn.execute(update(objections).where(objections.c.objection_id == objection_id)
                          .values(**values))

    def objections_of(self, case_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(
            select(objections).where(objections.c.case_id == case_id)
            .order_by(objections.c.recorded_at)).mappings()]

    # --- referrals ----------------------------------------------------------------------------
    def add_referral(self, row: dict[str, Any]) -> None:
        self.conn.execute(insert(referrals), row)

    def referral(self, referral_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(referrals).where(
            referrals.c.referral_id == referral_id)).mappings().first()
        return dict(row) if row else None

    def answer_referral(self, referral_id: str, **values: Any) -> None:
        self.conn.execute(update(referrals).where(referrals.c.referral_id == referral_id)
                          .values(**values))

    def referrals_of(self, case_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(
            select(referrals).where(referrals.c.case_id == case_id)).mappings()]

    # --- decisions ----------------------------------------------------------------------------
    def decided(self, case_id: str) -> bool:
        return self.conn.execute(_DECISION_EXISTS, {"cid": case_id}).first() is not None

    def add_decision(self, decided: ApplicationDecided, *, note: str | None,
                     justification: str | None) -> None:
        self.conn.execute(insert(decisions), {
            "case_id": decided.case_id, "decision_id": decided.decision_id,
            "outcome": decided.outcome, "region_code": decided.region_code,
            "monthly_amount_fen": decided.monthly_amount_fen,
            "body": decided.model_dump_json(), "decided_at": decided.decided_at,
            "note": note, "justification": justification})

    def decision(self, case_id: str) -> dict[str, Any] | None:
        """The decision as published, with what the deciding staff typed (for callers
        entitled to the case). A decision stored before issue 21 has them in its body."""
        row = self.conn.execute(select(decisions.c.body, decisions.c.note,
                                       decisions.c.justification).where(
            decisions.c.case_id == case_id)).first()
        if row is None:
            return None
        body: dict[str, Any] = json.loads(row.body)
        body["justification"] = row.justification or body.get("justification")
        body["note"] = row.note
        return body

    # --- many cases at once (a recalculation's batch: a query per kind, not per case) ---------
    def assessment_bodies(self, assessment_ids: Sequence[str]) -> dict[str, str]:
        """The stored CaseAssessed bodies of these assessments, by assessment id."""
        q = select(assessments.c.assessment_id, assessments.c.body).where(
            among(assessments.c.assessment_id, "ids"))
        return {r.assessment_id: r.body for r in self.conn.execute(q, {"ids": list(
            assessment_ids)})}

    def running_statuses(self, member_refs: Sequence[str]) -> list[tuple[str, str, str]]:
        """(person_ref, case_id, programme) of every running Dibao, extreme-hardship or
        marginal case these persons are members of: what ``household_status`` reads, for many
        households at once."""
        q = (select(case_members.c.person_ref, cases.c.case_id, cases.c.programme)
             .join(cases, cases.c.case_id == case_members.c.case_id)
             .where(among(case_members.c.person_ref, "refs"))
             .where(cases.c.stage.in_(RUNNING))
             .where(cases.c.programme.in_(HOUSEHOLD_STATUS_ORDER)))
        return [(r.person_ref, r.case_id, r.programme)
                for r in self.conn.execute(q, {"refs": list(member_refs)})]

    def temporary_grants_reached(self, member_refs: Sequence[str],
                                 year: int) -> list[tuple[str, str, int, int]]:
        """Every grant row ``temporary_granted``'s walk can reach from these persons, for many
        households at once: (case_id, person_ref, year, amount_fen). The walk's steps, each for
        the whole frontier in one query: the cases granted in ``year`` to a person reached, then
        every member of those cases."""
        grants = temporary_grants.c
        rows: set[tuple[str, str, int, int]] = set()
        people, frontier, linked = set(member_refs), set(member_refs), set[str]()
        while frontier:
            found = set(self.conn.execute(
                select(grants.case_id).distinct().where(grants.year == year)
                .where(among(grants.person_ref, "refs")), {"refs": sorted(frontier)})
                .scalars()) - linked
            if not found:
                break
            linked |= found
            members = self.conn.execute(
                select(grants.case_id, grants.person_ref, grants.year, grants.amount_fen)
                .where(among(grants.case_id, "ids")), {"ids": sorted(found)}).all()
            rows.update((r.case_id, r.person_ref, r.year, r.amount_fen) for r in members)
            frontier = {r.person_ref for r in members} - people
            people |= frontier
        return sorted(rows)
