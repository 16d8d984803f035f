"""One batch of a recalculation job (``recalculation.py``), in the batch's transaction: its
households read together, each recalculated in case-id order (``recalculation_household``) and
its events published, then the batch's new assessments and amounts written together.

Read one case at a time, a household cost about eight queries and three writes, and its JSON
was parsed and built several times over: 100,000 households took about ten minutes. Here a
batch costs a handful of set-based queries — the cases (the job's own query), their last
assessments, their members' running cases (household status), and the temporary assistance
granted this year that their members' households can reach — whatever its size.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, update

from services.approval.adapters.repository import ApprovalRepository
from services.approval.adapters.tables import assessments, cases
from services.approval.domain.facts import CaseFacts
from services.approval.domain.policy import PolicyTable
from services.approval.domain.workflow import HOUSEHOLD_STATUS_ORDER, RUNNING, SYSTEM, Change
from services.approval.service_layer import casework
from services.approval.service_layer.recalculation_household import Household, Recalculator
from shared import clock
from shared.bulk import insert_rows
from shared.uow import UnitOfWork


class Batch:
    """The households of one batch, read together; ``run`` recalculates them and answers each
    one's line for ``recalculated``, in case-id order."""

    def __init__(self, uow: UnitOfWork, rows: list[dict[str, Any]], table: PolicyTable,
                 effective: date, now: datetime) -> None:
        self.uow, self.rows, self.now = uow, rows, now
        self.recalculate = Recalculator(table, effective, now)
        self.repo = repo = _Deferred(uow.conn)
        self.year = clock.local_date(now).year
        self.facts = {r["case_id"]: casework.facts_of(r) for r in rows}  # each parsed once
        refs = sorted({m.person_ref for f in self.facts.values() for m in f.members})
        self.running: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for ref, case_id, programme in repo.running_statuses(refs):
            self.running[ref].append((case_id, programme))
        self.grants = _Grants(repo.temporary_grants_reached(refs, self.year), self.year)
        self.bodies = repo.assessment_bodies(
            [r["assessment_id"] for r in rows if r["assessment_id"]])
        # Cases this batch has suspended: a later household of the batch sharing a member no
        # longer counts their status, as it would not reading the cases one at a time.
        self.stopped: set[str] = set()

    def run(self) -> list[dict[str, Any]]:
        said = [self._household(row) for row in self.rows]
        self.repo.flush()
        return said

    def _current(self, facts: CaseFacts) -> CaseFacts:
        """``casework.current_facts``, from what the batch read."""
        refs = [m.person_ref for m in facts.members]
        held = {programme for ref in refs for case_id, programme in self.running.get(ref, ())
                if case_id not in self.stopped}
        status = next((s for s in HOUSEHOLD_STATUS_ORDER if s in held), None)
        return facts.but(household_status=status, temporary_granted_this_year_fen=(
            self.grants.granted(refs, excluding=facts.case_id)))

    def _household(self, row: dict[str, Any]) -> dict[str, Any]:
        """One household recalculated, its events published and its writes kept, as casework
        does for one case."""
        case_id = row["case_id"]
        r = self.recalculate(Household(
            case_id, row["programme"], row["region_code"], row["stage"],
            row["monthly_amount_fen"], self._current(self.facts[case_id]),
            self.bodies[row["assessment_id"]] if row["assessment_id"] else None))
        said = {"case_id": case_id, "outcome": r.outcome, "old_monthly_fen": r.old_monthly_fen,
                "new_monthly_fen": r.new_monthly_fen, "explanation": r.explanation}
        c = r.changed
        if c is None:
            return said
        self.repo.add_assessment(c.assessment)
        self.repo.set_case(case_id, assessment_id=c.assessment["assessment_id"])
        self.uow.publish(c.assessed)
        self.uow.publish(c.changed)
        if c.monthly_fen is not None:
            self.repo.set_case(case_id, monthly_amount_fen=c.monthly_fen)
        if c.to_stage:
            # Rare (a suspension, a gradual exit): the case as casework reads it, to move it.
            fresh, case = casework.load(self.repo, case_id)
            casework.apply_changes(self.uow, self.repo, fresh, case, [Change(
                c.to_stage, "reassessed_policy_change", explanation=c.reason)], SYSTEM,
                self.now)
            if c.to_stage not in RUNNING:
                self.stopped.add(case_id)
        return said


class _Grants:
    """``ApprovalRepository.temporary_granted`` for a batch's households: the same walk through
    cases linked by shared members, over the grant rows it can reach, read for the whole batch
    at once (``temporary_grants_reached``)."""

    def __init__(self, rows: list[tuple[str, str, int, int]], year: int) -> None:
        self.cases_of: dict[str, set[str]] = defaultdict(set)  # person: cases granted in year
        self.members_of: dict[str, set[str]] = defaultdict(set)  # case: its members
        self.amounts_of: dict[str, set[int]] = defaultdict(set)  # case: amounts granted in year
        for case_id, person_ref, granted_in, amount_fen in rows:
            self.members_of[case_id].add(person_ref)
            if granted_in == year:
                self.cases_of[person_ref].add(case_id)
                self.amounts_of[case_id].add(amount_fen)

    def granted(self, member_refs: list[str], *, excluding: str) -> int:
        people, frontier, linked = set(member_refs), set(member_refs), set[str]()
        while frontier:
            found = {c for ref in frontier for c in self.cases_of.get(ref, ())} - linked
            if not found:
                break
            linked |= found
            frontier = {ref for c in found for ref in self.members_of[c]} - people
            people |= frontier
        linked.discard(excluding)
        # As the walk's SUM over DISTINCT (case, amount) pairs granted in the year.
        return sum(a for c in linked for a in self.amounts_of.get(c, ()))


class _Deferred(ApprovalRepository):
    """Approval's repository with the batch's new assessments and case updates kept, then
    written in bulk by ``flush``. Reads still go to the database: the kept writes touch only a
    household's own assessment and amount, which no other household reads, and which the rare
    re-read of a case to move it (``casework.load``) sees as before, as it did when each case
    was read before its writes."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        self.new_assessments: list[dict[str, Any]] = []
        self.case_values: dict[str, dict[str, Any]] = {}

    def add_assessment(self, row: dict[str, Any]) -> None:
        self.new_assessments.append(row)

    def set_case(self, case_id: str, **values: Any) -> None:
        self.case_values.setdefault(case_id, {}).update(values)

    def flush(self) -> None:
        insert_rows(self.conn, assessments, self.new_assessments)
        # One executemany per set of columns (a new assessment; with a new amount for most).
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for case_id, values in self.case_values.items():
            shapes[tuple(sorted(values))].append({"cid": case_id, **values})
        for names, rows in shapes.items():
            self.conn.execute(update(cases).where(cases.c.case_id == bindparam("cid"))
                              .values({n: bindparam(n) for n in names}), rows)
        self.new_assessments, self.case_values = [], {}
