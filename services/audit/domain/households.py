"""What the replay's fold knows of households: which cases each person is a member of, the
temporary assistance granted to them, and the status a household is recognised in — as approval
knew them the day it assessed a case.

A fold that owns a share of the cases (see ``Replay``) keeps of the others only what a household
is made of: their applications' members and programme, their one-off grants, and their stage
changes, folded only when a household first asks for that case (most cases share no member).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from services.approval.rules import HOUSEHOLD_STATUS_ORDER, RUNNING, CaseFacts, with_findings
from services.audit.adapters.archived_json import may_grant, read_decision, read_household
from services.audit.domain import event_time
from services.audit.domain.cases import CaseState
from shared import clock
from shared.events import catalogue as ev

# What a fold keeps of another share's cases: what households are made of.
_SUBMITTED, _STAGE_CHANGED, _DECIDED = (
    ev.ApplicationSubmitted.type, ev.CaseStageChanged.type, ev.ApplicationDecided.type)


def strongest(programmes: set[str | None]) -> str | None:
    """The status a household is recognised in, of its running cases' programmes."""
    return next((s for s in HOUSEHOLD_STATUS_ORDER if s in programmes), None)


class Households:
    """Persons, their cases and grants. ``cases`` is the fold's own cases; ``fold_stage`` folds
    a stage change (its JSON) into a case of another share, when a household asks for it."""

    def __init__(self, cases: dict[str, CaseState],
                 fold_stage: Callable[[CaseState, bytes], object]) -> None:
        self.cases = cases
        self.fold_stage = fold_stage
        self.elsewhere: dict[str, CaseState] = {}  # the others a household asked for
        self._programme_elsewhere: dict[str, str] = {}  # the others' programmes, by case id
        self._unfolded: dict[str, list[bytes]] = {}  # their stage changes, not yet folded
        # person_ref → its case id, or ids once there are several (approval's members): most
        # persons are in one case, and a set for each cost more than the rest of their case.
        self._cases_of: dict[str, str | set[str]] = {}
        self._grants: dict[str, set[tuple[str, int, int]]] = {}  # person → (case, year, fen)
        self._granted_to: dict[str, tuple[str, ...]] = {}  # case → its members when granted

    def kept(self, event_type: str, case_id: str, value: bytes) -> None:
        """An event of another share's case: kept only for what households are made of."""
        if event_type == _STAGE_CHANGED:
            self._unfolded.setdefault(case_id, []).append(value)
        elif event_type == _SUBMITTED:
            self.joined(case_id, value)
        elif event_type == _DECIDED and may_grant(value):
            self.granting(case_id, read_decision(value))

    def joined(self, case_id: str, value: bytes) -> None:
        """Another share's application: only who is in the household, and for what (no
        facts: this fold never re-runs that case; its state is made when a household asks)."""
        e = read_household(value)
        self._programme_elsewhere[case_id] = e["programme"]
        for m in e["members"]:
            self.link(m["person_ref"], case_id)

    def link(self, ref: str, case_id: str) -> None:
        """A person is a member of a case."""
        known = self._cases_of.get(ref)
        if known is None:
            self._cases_of[ref] = case_id
        elif type(known) is str:
            if known != case_id:
                self._cases_of[ref] = {known, case_id}
        else:
            known.add(case_id)  # type: ignore[union-attr]  # a set: type() narrows only its branch

    def granting(self, case_id: str, e: Mapping[str, Any]) -> None:
        """A one-off grant of temporary assistance counts against its members' yearly cap in
        other cases (approval's ``grant_temporary``; not the orphans' university grant)."""
        if (e["outcome"] == "approved" and e["one_off_amount_fen"]
                and e.get("programme", "temporary") == "temporary"):
            year = clock.local_date(event_time.parsed(e["decided_at"])).year
            self._granted_to[case_id] = tuple(e["member_refs"])
            for ref in e["member_refs"]:
                self._grants.setdefault(ref, set()).add(
                    (case_id, year, e["one_off_amount_fen"]))

    def alone(self, refs: Iterable[str], case_id: str) -> bool:
        """Whether no other case shares a member with this one (most households)."""
        return all(self._cases_of.get(r) == case_id for r in refs)

    def status(self, refs: Iterable[str]) -> str | None:
        """As approval's ``household_status``: any member's running case, itself included."""
        cases = [self._case(c) for r in refs for c in self._member_cases(r)]
        return strongest({c.programme for c in cases if c.stage in RUNNING})

    def granted(self, refs: Iterable[str], year: int, excluding: str) -> int:
        """As approval's ``temporary_granted``: the year's other cases linked through shared
        members, however long the chain, each counted once."""
        people, frontier = set(refs), set(refs)
        grants: set[tuple[str, int]] = set()
        while frontier:
            found = {(c, fen) for r in frontier for c, y, fen in self._grants.get(r, ())
                     if y == year} - grants
            grants |= found
            frontier = {r for c, _ in found for r in self._granted_to.get(c, ())} - people
            people |= frontier
        return sum(fen for c, fen in grants if c != excluding)

    def facts_for(self, case: CaseState, recorded: dict[str, Any], year: int
                  ) -> CaseFacts | None:
        """The facts approval had: the reports up to the one assessed applied in arrival order
        (approval keeps the facts of earlier reports for members a later one leaves out), plus
        what approval knew of the household that day."""
        if case.facts is None:
            return None
        report_id = recorded.get("report_id")
        if report_id is not None:
            if all(r.report_id != report_id for r in case.reports) \
                    and case.facts.report_id != report_id:
                return None
            while case.reports and case.facts.report_id != report_id:
                case.facts = with_findings(case.facts, case.reports.pop(0))
        refs, case_id = case.member_refs, case.case_id
        if self.alone(refs, case_id):
            # No other case shares a member (most households): its own status, no grant.
            status = strongest({case.programme} if case.stage in RUNNING else set())
            granted = 0
        else:
            status = self.status(refs)
            granted = self.granted(refs, year, case_id)
        facts = case.facts
        if (facts.household_status, facts.temporary_granted_this_year_fen) == (status, granted):
            return facts
        return facts.but(household_status=status, temporary_granted_this_year_fen=granted)

    def _case(self, case_id: str) -> CaseState:
        """A case of a household member, its stage changes folded so far."""
        case = self.cases.get(case_id) or self.elsewhere.get(case_id)
        if case is None:
            case = self.elsewhere[case_id] = CaseState(
                case_id, programme=self._programme_elsewhere[case_id])
        for value in self._unfolded.pop(case_id, ()):
            self.fold_stage(case, value)
        return case

    def _member_cases(self, ref: str) -> tuple[str, ...] | set[str]:
        known = self._cases_of.get(ref)
        return () if known is None else (known,) if type(known) is str else known  # type: ignore[return-value]  # a set (see link)
