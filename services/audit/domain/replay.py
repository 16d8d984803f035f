"""Replay: every case rebuilt from the event log, every decision re-run, every payment matched.

The archive says what happened. Folded in time order, it gives back each case as the services
saw it: stage, timeline, decision, entitlement, payments. On the way, each assessment is re-run
with approval's own rules and the policy in force on the day it was made, from facts rebuilt the
way approval built them (the application, the verification reports it had, and what approval
knew of the household then: its recognised status and this year's temporary assistance from
other cases). A re-run that differs from what was published is a *divergence*: a policy file
changed after the fact, or the rules did, or the record did.

Pure: events in, state and findings out. Reading the archive and writing the fresh store is
``service_layer/replaying.py``, sharing the cases out between processes
``service_layer/replay_shares.py``; a published assessment is read, and its re-run stated, by
``restated.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal, TypeVar

from pydantic import TypeAdapter
from pydantic_core import from_json as _parse
from typing_extensions import TypedDict

from services.approval.domain.assessment import assess
from services.approval.domain.facts import (
    CaseFacts,
    ReportFindings,
    application_facts,
    report_findings,
    with_findings,
)
from services.approval.domain.policy import PolicyTable
from services.approval.domain.stated import benefits, reasons
from services.approval.domain.workflow import add_months
from services.audit.domain import event_time
from services.audit.domain.restated import assessment_head, stated_core
from shared import clock
from shared.events import catalogue as ev
from shared.events.base import Event

_T = TypeVar("_T")
RECOGNISED = ("tekun", "dibao", "marginal")  # a household's status, strongest first
RUNNING = frozenset({"approved", "exiting"})  # stages in which a status holds
# A public notice's due_at is the earliest moment it may close, not a time limit (approval's
# own overdue list leaves it out too).
NOT_A_LIMIT = frozenset({"under_notice"})
# Compared between what an assessment published and its re-run, in this order.
COMPARED = ("eligible", "monthly_amount_fen", "one_off_amount_fen", "benefits",
            "policy_version", "reasons")


@dataclass(frozen=True)
class Finding:
    """Something an auditor must look at: a divergence or a report line."""

    kind: str  # see KINDS
    case_id: str
    at: datetime
    detail: str
    event_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    # Where the fold made it: (0, position of its event in the stream), or (1, position of its
    # case's first event) for what only the end shows. Findings of several folds, each over a
    # share of the cases, are merged by it into the order one fold over all would give.
    order: tuple[int, int] = field(default=(0, 0), compare=False, repr=False)


KINDS = {
    "divergence": "an assessment re-run with the policy in force gives another result",
    "decision_differs": "a decision's amounts differ from the assessment it followed",
    "approval_without_report": "approved without a verification report",
    "advance_never_verified": "an emergency advance whose verification never arrived",
    "payment_without_approval": "a payment with no approval, for another amount, or paying "
                                "again what another payment pays",
    "stale_report": "decided on a report older than the freshness limit, on stale partner "
                    "data, or on a superseded report",
    "overdue": "a stage still open past its time limit",
    "late": "a stage left after its time limit",
}


# One line of a case's timeline: case id, the event's moment as the archive keeps it
# (microseconds since the epoch, UTC), type, summary, event id. A plain tuple: one is made per
# event, and a dataclass's ``__init__`` cost twice as much as a named tuple's, which cost
# seven times a tuple's.
Entry = tuple[str, int, str, str, str | None]


@dataclass
class CaseState:
    case_id: str
    programme: str | None = None
    region_code: str | None = None
    submitted_at: datetime | None = None
    stage: str | None = None
    sequence: int = 0
    stage_since: datetime | None = None
    due_at: datetime | None = None
    member_refs: tuple[str, ...] = ()
    facts: CaseFacts | None = None  # the application's, with the reports assessed so far
    reports: list[ReportFindings] = field(default_factory=list)  # not yet applied
    reported_at: dict[str, datetime] = field(default_factory=dict)
    # report id → the departments its report marked stale (partner data past its freshness)
    stale_sources: dict[str, list[str]] = field(default_factory=dict)
    assessment: dict[str, Any] | None = None  # the latest published, as recorded
    assessments: int = 0
    divergences: int = 0
    decision: dict[str, Any] | None = None
    schedule: list[tuple[str, int]] = field(default_factory=list)  # (from month, monthly fen)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    paid_fen: int = 0
    events: int = 0
    opened: int = 0  # the position of its first event in the stream

    @property
    def region(self) -> str:
        """Its region, known from the application, or until then from its id (which starts
        with the region's code)."""
        return self.region_code or self.case_id[:6]

    def monthly_for(self, month: str) -> int:
        """The monthly amount the decisions entitle the case to in a month."""
        amount = 0
        for start, fen in self.schedule:
            if start <= month:
                amount = fen
        return amount

    def view(self) -> dict[str, Any]:
        """The case as an auditor reads it (and as the fresh store keeps it)."""
        d = self.decision or {}
        return {
            "case_id": self.case_id, "programme": self.programme,
            "region_code": self.region_code, "stage": self.stage, "sequence": self.sequence,
            "submitted_at": _iso(self.submitted_at), "stage_since": _iso(self.stage_since),
            "due_at": _iso(self.due_at), "members": len(self.member_refs),
            "outcome": d.get("outcome"), "decided_at": _iso(d.get("decided_at")),
            "monthly_amount_fen": self.schedule[-1][1] if self.schedule else 0,
            "one_off_amount_fen": d.get("one_off_amount_fen", 0),
            "assessments": self.assessments, "divergences": self.divergences,
            "payments": len(self.payments), "paid_fen": self.paid_fen, "events": self.events}


def _read(model: type[Event], value: bytes, take: Callable[[dict[str, Any]], _T]
          ) -> tuple[dict[str, Any], _T]:
    """An event's JSON form, and what ``take`` takes from it. Events are read as parsed JSON
    (building millions of models cost more than the rest of the fold); one archived before a
    field was added (``take`` meets a key missing) goes through its model, which fills in the
    defaults, in the same JSON form."""
    data = _parse(value)
    try:
        return data, take(data)
    except KeyError:
        data = model.model_validate_json(value).model_dump(mode="json")
        return data, take(data)


def _report(data: dict[str, Any]) -> tuple[ReportFindings, str, list[dict[str, Any]], str]:
    """What the fold takes from a report: its findings, when it was made, its sources' freshness
    and its occasion."""
    return report_findings(data), data["reported_at"], data["sources"], data["occasion"]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _time(text: str) -> datetime:
    return clock.as_utc(datetime.fromisoformat(text))


class Replay:
    """The fold. ``apply`` takes events in time order; ``cases`` and ``findings`` are the result.

    ``selected(case)`` limits what is re-run and reported (a case, a region, a programme);
    every case is still folded, because a selected case's assessment depends on the others
    (the household's status, the temporary assistance its members already had). Events before
    ``since`` are folded and not reported.

    ``owns(case_id)`` gives the fold a share of the cases (one process's, when several replay
    the archive together): it folds, re-runs and reports those only. Of the others it keeps
    just what an owned case's assessment reads — each household member's cases, their
    programme and stage, the temporary assistance granted — from their applications, stage
    changes and decisions, so every share sees the households exactly as one fold over all
    cases would. Their stage changes, two in five of all events, are only kept, and folded
    (into ``elsewhere``) when a household's status first asks for that case: most cases share
    no member.
    """

    def __init__(self, policy: PolicyTable, *,
                 selected: Callable[[CaseState], bool] | None = None,
                 since: datetime | None = None, stale_after_days: int = 180,
                 owns: Callable[[str], bool] | None = None) -> None:
        self.policy = policy
        self.selected: Callable[[CaseState], bool] = selected or (lambda case: True)
        self._all_selected = selected is None
        self.since = since
        self._since = None if since is None else event_time.of(since)
        self.stale_after_days = stale_after_days
        self.owns = owns
        # Every case met, asked once: its state when it is the fold's own, else False.
        self._seen: dict[str, CaseState | Literal[False]] = {}
        self.cases: dict[str, CaseState] = {}  # the fold's own: every case, unless ``owns``
        self.elsewhere: dict[str, CaseState] = {}  # the others a household asked for
        self._programme_elsewhere: dict[str, str] = {}  # the others' programmes, by case id
        self._unfolded: dict[str, list[bytes]] = {}  # their stage changes, not yet folded
        self.applied = 0  # events taken, owned or not: the position in the stream
        self.findings: list[Finding] = []
        self.timeline: list[Entry] = []  # drained by the caller as it goes
        self.counts: dict[str, int] = {}
        self.decisions_rerun = 0
        self.identical_bytes = 0  # re-runs whose statement matched the published bytes
        self.now: int | None = None  # the time of the last event of its own applied (µs)
        # person_ref → its case id, or ids once there are several (approval's members): most
        # persons are in one case, and a set for each cost more than the rest of their case.
        self._cases_of: dict[str, str | set[str]] = {}
        self._grants: dict[str, set[tuple[str, int, int]]] = {}  # person → (case, year, fen)
        self._granted_to: dict[str, tuple[str, ...]] = {}  # case → its members when granted

    # -- the fold ------------------------------------------------------------------------------
    def apply(self, event_type: str, case_id: str, at: datetime | int, event_id: str | None,
              value: bytes) -> None:
        """One event: ``at`` is its moment, or as the archive keeps it (microseconds since the
        epoch, UTC)."""
        self.apply_page(((at, event_type, case_id, event_id, value),))

    def apply_page(self, page: Iterable[tuple[datetime | int, str, str, str | None, bytes]]
                   ) -> None:
        """Events in time order, each (moment, type, case id, event id, value) as ``apply``
        takes them. The fold keeps the archive's microseconds: a moment is made only for a
        finding (making one for every event, and writing it out, cost a second in each
        process at 1,000,000 events)."""
        # Run for every event of the archive, in every process: what the loop reads of the fold
        # is looked up once a page (the look-ups, and a call per event, were a tenth of a share).
        seen, cases, owns, counts = self._seen, self.cases, self.owns, self.counts
        timeline, since, everyone = self.timeline, self._since, self._all_selected
        for at, event_type, case_id, event_id, value in page:
            self.applied += 1
            case = seen.get(case_id)  # its state, or False for another share's case
            if case is None:
                if owns is None or owns(case_id):
                    case = cases[case_id] = CaseState(case_id, opened=self.applied)
                else:
                    case = False
                seen[case_id] = case
            if case is False:
                self._fold_elsewhere(event_type, case_id, value)
                continue
            if type(at) is not int:
                at = event_time.of(at)  # type: ignore[arg-type]
            self.now = at
            counts[event_type] = counts.get(event_type, 0) + 1
            case.events += 1
            handler = _HANDLERS.get(event_type)
            if handler is None:
                continue
            in_time = since is None or at >= since
            summary = handler(self, case, at, event_id, value,
                              in_time and (everyone or self.selected(case)))
            # Asked again: an application is what tells a case's programme and region.
            if summary is not None and in_time and (everyone or self.selected(case)):
                timeline.append((case_id, at, event_type, summary, event_id))

    def _fold_elsewhere(self, event_type: str, case_id: str, value: bytes) -> None:
        if event_type == _STAGE_CHANGED:
            self._unfolded.setdefault(case_id, []).append(value)
        elif event_type == _SUBMITTED:
            self.joined(case_id, value)
        elif event_type == _DECIDED and _may_grant(value):
            self._granting(case_id, _read_decision(value))

    def _household_case(self, case_id: str) -> CaseState:
        """A case of a household member, its stage changes folded so far (see ``Replay``)."""
        case = self.cases.get(case_id) or self.elsewhere.get(case_id)
        if case is None:
            case = self.elsewhere[case_id] = CaseState(
                case_id, programme=self._programme_elsewhere[case_id])
        for value in self._unfolded.pop(case_id, ()):
            self.stage_changed(case, self.now, None, value, False)  # type: ignore[arg-type]
        return case

    def _link(self, ref: str, case_id: str) -> None:
        """A person is a member of a case."""
        known = self._cases_of.get(ref)
        if known is None:
            self._cases_of[ref] = case_id
        elif type(known) is str:
            if known != case_id:
                self._cases_of[ref] = {known, case_id}
        else:
            known.add(case_id)  # type: ignore[union-attr]

    def _member_cases(self, ref: str) -> tuple[str, ...] | set[str]:
        known = self._cases_of.get(ref)
        return () if known is None else (known,) if type(known) is str else known  # type: ignore[return-value]

    def _find(self, kind: str, case: CaseState, at: datetime | int, detail: str,
              event_id: str | None = None, **data: Any) -> None:
        moment = at if isinstance(at, datetime) else event_time.moment(at)
        self.findings.append(Finding(kind, case.case_id, moment, detail, event_id, data,
                                     (0, self.applied)))

    def submitted(self, case: CaseState, at: int, event_id: str | None, value: bytes,
                  reporting: bool) -> str:
        e, case.facts = _read(ev.ApplicationSubmitted, value, application_facts)
        case.programme, case.region_code = e["programme"], e["region_code"]
        case.submitted_at = _time(e["submitted_at"])
        case.member_refs = tuple(m["person_ref"] for m in e["members"])
        for ref in case.member_refs:
            self._link(ref, case.case_id)
        return f"applied for {e['programme']} in {e['region_code']}, " \
               f"{len(e['members'])} member(s)"

    def joined(self, case_id: str, value: bytes) -> None:
        """Another share's application: only who is in the household, and for what (no
        facts: this fold never re-runs that case; its state is made when a household asks)."""
        e = _read_household(value)
        self._programme_elsewhere[case_id] = e["programme"]
        for m in e["members"]:
            self._link(m["person_ref"], case_id)

    def reported(self, case: CaseState, at: int, event_id: str | None, value: bytes,
                 reporting: bool) -> str:
        r, (found, reported_at, sources, occasion) = _read(ev.VerificationReported, value,
                                                           _report)
        case.reports.append(found)
        case.reported_at[found.report_id] = _time(reported_at)
        stale = [s["department"] for s in sources if s["stale"]]
        if stale:
            case.stale_sources[found.report_id] = stale
        return (f"verification report ({occasion}): per capita "
                f"{r['per_capita_monthly_income_fen']} fen/month")

    def stage_changed(self, case: CaseState, at: int, event_id: str | None, value: bytes,
                      reporting: bool) -> str:
        e = _parse(value)
        changed_at = _time(e["changed_at"])
        if e["sequence"] <= case.sequence:
            return f"(earlier change #{e['sequence']}) → {e['to_stage']}"
        if reporting and case.due_at is not None and changed_at > case.due_at \
                and case.stage not in NOT_A_LIMIT:
            self._find("late", case, at, f"left {case.stage} {_late(changed_at, case.due_at)} "
                       "after its time limit", event_id, stage=case.stage,
                       due_at=case.due_at.isoformat(), left_at=changed_at.isoformat())
        case.stage, case.sequence, case.stage_since = e["to_stage"], e["sequence"], changed_at
        case.due_at = _time(e["due_at"]) if e.get("due_at") else None
        return f"{e['from_stage'] or 'new'} → {e['to_stage']} ({e['action']}, {e['actor']})"

    def assessed(self, case: CaseState, at: int, event_id: str | None, value: bytes,
                 reporting: bool) -> str:
        recorded = assessment_head(value)
        case.assessments += 1
        case.assessment = recorded
        summary = (f"assessed: eligible={recorded['eligible']}, "
                   f"{recorded['monthly_amount_fen']} fen/month, "
                   f"{recorded['one_off_amount_fen']} fen once")
        if not reporting:
            return summary
        on = date.fromisoformat(recorded["assessed_on"])
        facts = self._facts_for(case, recorded, on.year)
        if facts is None:
            self._find("divergence", case, at, "the assessment cannot be re-run: its application "
                       "or report is not in the log", event_id,
                       assessment_id=recorded["assessment_id"])
            case.divergences += 1
            return summary
        result = assess(facts, self.policy, on)
        self.decisions_rerun += 1
        if stated_core(result, facts.programme, facts.region_code) in value:
            self.identical_bytes += 1  # the re-run states exactly what was published
            return summary
        published = _parse(value)
        rerun = {"eligible": result.eligible, "monthly_amount_fen": result.monthly_amount_fen,
                 "one_off_amount_fen": result.one_off_amount_fen,
                 "benefits": [b.model_dump() for b in benefits(result.benefits)],
                 "policy_version": result.policy_version,
                 "reasons": [r.model_dump() for r in reasons(result.checks)]}
        differing = [k for k in COMPARED if published.get(k) != rerun[k]]
        if differing:
            case.divergences += 1
            self._find("divergence", case, at, _divergence(published, rerun, differing),
                       event_id, assessment_id=recorded["assessment_id"],
                       assessed_on=recorded["assessed_on"], fields=differing,
                       recorded={k: published.get(k) for k in differing if k != "reasons"},
                       rerun={k: rerun[k] for k in differing if k != "reasons"},
                       rules=_rules_differing(published.get("reasons") or [], rerun["reasons"]))
        return summary

    def _facts_for(self, case: CaseState, recorded: dict[str, Any], year: int
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
        if all(self._cases_of.get(r) == case_id for r in refs):
            # No other case shares a member (most households): its own status, no grant.
            status = _strongest({case.programme} if case.stage in RUNNING else set())
            granted = 0
        else:
            status, granted = self._status(refs), self._granted(refs, year, case_id)
        facts = case.facts
        if (facts.household_status, facts.temporary_granted_this_year_fen) == (status, granted):
            return facts
        return facts.but(household_status=status, temporary_granted_this_year_fen=granted)

    def _status(self, refs: Iterable[str]) -> str | None:
        """As approval's ``household_status``: any member's running case, itself included."""
        cases = [self._household_case(c) for r in refs for c in self._member_cases(r)]
        return _strongest({c.programme for c in cases if c.stage in RUNNING})

    def _granted(self, refs: Iterable[str], year: int, excluding: str) -> int:
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

    def decided(self, case: CaseState, at: int, event_id: str | None, value: bytes,
                reporting: bool) -> str:
        e = _read_decision(value)
        decided_at = _time(e["decided_at"])
        # What later checks need, not the whole decision (its reasons are most of its bytes).
        case.decision = {k: e.get(k) for k in (
            "decision_id", "outcome", "monthly_amount_fen", "one_off_amount_fen", "start_month",
            "advance", "decided_by")} | {"decided_at": decided_at}
        approved = e["outcome"] == "approved"
        self._granting(case.case_id, e)
        if approved and e["monthly_amount_fen"] and e.get("start_month"):
            case.schedule.append((e["start_month"], e["monthly_amount_fen"]))
        summary = (f"decided {e['outcome']} by {e['decided_by']}: {e['monthly_amount_fen']} "
                   f"fen/month, {e['one_off_amount_fen']} fen once")
        if reporting and approved:
            self._check_decision(case, at, event_id, e, decided_at)
        return summary

    def _granting(self, case_id: str, e: dict[str, Any]) -> None:
        """A one-off grant counts against its members' yearly cap in other cases."""
        if e["outcome"] == "approved" and e["one_off_amount_fen"]:
            year = clock.local_date(_time(e["decided_at"])).year
            self._granted_to[case_id] = tuple(e["member_refs"])
            for ref in e["member_refs"]:
                self._grants.setdefault(ref, set()).add(
                    (case_id, year, e["one_off_amount_fen"]))

    def _check_decision(self, case: CaseState, at: int, event_id: str | None,
                        e: dict[str, Any], decided_at: datetime) -> None:
        # Against the assessment as published: whether the policy changed since is the
        # assessment's own divergence, reported there.
        basis = case.assessment
        if basis is not None:
            for name in ("monthly_amount_fen", "one_off_amount_fen"):
                if e[name] != basis[name]:
                    self._find("decision_differs", case, at,
                               f"approved {name} {e[name]}, but its assessment gave "
                               f"{basis[name]}", event_id, field=name, decided=e[name],
                               assessed=basis[name])
        used = (case.assessment or {}).get("report_id")
        if used is None:
            if not e.get("advance"):
                self._find("approval_without_report", case, at,
                           "approved with no verification report behind its assessment",
                           event_id, decision_id=e["decision_id"])
            return
        reported_at = case.reported_at.get(used)
        if reported_at is not None and \
                decided_at - reported_at > timedelta(days=self.stale_after_days):
            self._find("stale_report", case, at,
                       f"decided {(decided_at - reported_at).days} days after its report",
                       event_id, report_id=used, reported_at=reported_at.isoformat())
        if case.stale_sources.get(used):
            departments = case.stale_sources[used]
            self._find("stale_report", case, at, "decided on a report whose data from "
                       f"{', '.join(departments)} was past its freshness window", event_id,
                       report_id=used, stale_sources=departments)
        newer = [r for r, t in case.reported_at.items()
                 if r != used and reported_at is not None and reported_at < t <= decided_at]
        if newer:
            self._find("stale_report", case, at, "decided on a report superseded by a newer "
                       "one that had arrived", event_id, report_id=used, newer=newer)

    def benefit_changed(self, case: CaseState, at: int, event_id: str | None,
                        value: bytes, reporting: bool) -> str:
        e = _parse(value)
        month, fen = e["effective_month"], e["monthly_amount_fen"]
        # From its month on, a change replaces what earlier decisions set (payment's rule).
        case.schedule = [(m, a) for m, a in case.schedule if m < month] + [(month, fen)]
        if e["change"] == "gradual_exit" and e.get("end_month"):
            case.schedule.append((add_months(e["end_month"], 1), 0))
        return f"benefit {e['change']} from {month}: {fen} fen/month ({e['reason']})"

    def payment_scheduled(self, case: CaseState, at: int, event_id: str | None,
                          value: bytes, reporting: bool) -> str:
        e = _parse(value)
        if reporting:
            problem = self._unmatched(case, e, _time(e["scheduled_at"]))
            if problem:
                self._find("payment_without_approval", case, at, problem, event_id,
                           payment_id=e["payment_id"], period=e["period"],
                           payment_kind=e["kind"], amount_fen=e["amount_fen"])
        case.payments[e["payment_id"]] = {
            "period": e["period"], "kind": e["kind"], "programme": e["programme"],
            "reissue_of": e.get("reissue_of"), "run_id": e.get("run_id"),
            "amount_fen": e["amount_fen"], "status": "scheduled"}
        return f"payment {e['kind']} {e['period']}: {e['amount_fen']} fen scheduled"

    def _unmatched(self, case: CaseState, e: dict[str, Any], at: datetime) -> str | None:
        twice = [pid for pid, p in case.payments.items() if pid != e["payment_id"]
                 and p.get("status") != "failed" and _same_payment(p, e)]
        if twice:
            return f"pays again what payment {twice[0]} pays ({e['kind']} {e['period']})"
        d = case.decision
        if d is None or d["outcome"] != "approved" or d["decided_at"] > at:
            return "no approval of this case before the payment"
        if e.get("reissue_of"):
            original = case.payments.get(e["reissue_of"])
            if original is None or original["status"] != "failed":
                return f"re-issues {e['reissue_of']}, which did not fail"
            if original["amount_fen"] != e["amount_fen"]:
                return "a re-issue for another amount than the failed payment"
            return None
        if e["kind"] == "monthly":
            due = case.monthly_for(e["period"])
            return None if due == e["amount_fen"] else \
                f"{e['amount_fen']} fen for {e['period']}, the decisions entitle {due}"
        if e["kind"] == "one_off" and e["amount_fen"] != d["one_off_amount_fen"]:
            return f"{e['amount_fen']} fen once, the decision granted {d['one_off_amount_fen']}"
        return None

    def payment_settled(self, case: CaseState, at: int, event_id: str | None,
                        value: bytes, reporting: bool) -> str:
        e = _parse(value)
        payment = case.payments.setdefault(e["payment_id"], {"amount_fen": e["amount_fen"]})
        payment["status"] = e["outcome"]
        if e["outcome"] == "paid":
            case.paid_fen += e["amount_fen"]
        return f"payment {e['period']} {e['outcome']}" + \
            (f": {e['reason']}" if e.get("reason") else "")

    def payment_held(self, case: CaseState, at: int, event_id: str | None, value: bytes,
                     reporting: bool) -> str:
        e = _parse(value)
        case.payments.setdefault(e["payment_id"], {"amount_fen": e["amount_fen"]})["status"] = \
            "held"
        return f"payment {e['period']} held: {e['reason']}"

    def other(self, case: CaseState, at: int, event_id: str | None, value: bytes,
              reporting: bool) -> str:
        e = _parse(value)
        detail = e.get("status") or e.get("kind") or e.get("occasion") or ""
        return f"{detail} {e.get('outcome') or ''}".strip()

    # -- the end -------------------------------------------------------------------------------
    def finish(self, until: datetime) -> None:
        """Findings that only the end of the log can show: stages still open past their limit,
        advances never verified."""
        for case in self.cases.values():
            if not self.selected(case):
                continue
            found = len(self.findings)
            if case.due_at is not None and case.due_at < until and case.stage not in NOT_A_LIMIT:
                self._find("overdue", case, until, f"in {case.stage} "
                           f"{_late(until, case.due_at)} past its time limit",
                           stage=case.stage, due_at=case.due_at.isoformat())
            d = case.decision
            if d and d.get("advance") and not case.reported_at:
                self._find("advance_never_verified", case, until,
                           "an emergency advance whose verification report never arrived",
                           decision_id=d["decision_id"])
            for i in range(found, len(self.findings)):  # in the order its case came
                self.findings[i] = replace(self.findings[i], order=(1, case.opened))


_HANDLERS = {
    ev.ApplicationSubmitted.type: Replay.submitted,
    ev.VerificationReported.type: Replay.reported,
    ev.CaseStageChanged.type: Replay.stage_changed,
    ev.CaseAssessed.type: Replay.assessed,
    ev.ApplicationDecided.type: Replay.decided,
    ev.BenefitChanged.type: Replay.benefit_changed,
    ev.PaymentScheduled.type: Replay.payment_scheduled,
    ev.PaymentSettled.type: Replay.payment_settled,
    ev.PaymentHeld.type: Replay.payment_held,
    ev.HouseholdRecognised.type: Replay.other,
    ev.ReassessmentRequested.type: Replay.other,
    ev.ReferralRequested.type: Replay.other,
    ev.ReferralAnswered.type: Replay.other,
}


class _Decision(TypedDict, total=False):
    """What the fold reads of a decision (``ApplicationDecided``): not its reasons and benefits,
    most of its bytes, which pydantic-core's parser then skips unbuilt (9 → 5 µs a decision)."""

    decision_id: str
    outcome: str
    monthly_amount_fen: int
    one_off_amount_fen: int
    start_month: str | None
    advance: bool
    decided_by: str
    decided_at: str
    member_refs: list[str]


_read_decision = TypeAdapter(_Decision).validate_json


class _Member(TypedDict):
    person_ref: str


class _Household(TypedDict):
    """What the fold reads of another share's application: who, and for what."""

    programme: str
    members: list[_Member]


_read_household = TypeAdapter(_Household).validate_json


def _strongest(programmes: set[str | None]) -> str | None:
    """The status a household is recognised in, of its running cases' programmes."""
    return next((s for s in RECOGNISED if s in programmes), None)


def _may_grant(decision: bytes) -> bool:
    """False only for a decision that cannot grant a one-off amount: without the word
    "approved" (JSON could only hide it in a \\u escape), or with no one-off amount as the
    catalogue writes it (right after ``decided_at``; the benefits' own amounts come later,
    each after a monthly amount). Most grant none, and parsing each cost more than the rest of
    another share's events; a decision written otherwise is parsed."""
    if b"approved" not in decision and b"\\u" not in decision:
        return False
    return _NO_ONE_OFF.search(decision) is None


_NO_ONE_OFF = re.compile(rb'"decided_at":"[^"]*","one_off_amount_fen":0,')


# What a fold keeps of another share's cases (see ``Replay``): what households are made of.
_SUBMITTED, _STAGE_CHANGED, _DECIDED = (
    ev.ApplicationSubmitted.type, ev.CaseStageChanged.type, ev.ApplicationDecided.type)


def _same_payment(earlier: dict[str, Any], e: dict[str, Any]) -> bool:
    """Whether two payments of a case pay the same thing: payment's own once-only rules (one
    monthly payment per programme and month, one one-off per case, one per batch, one re-issue
    per failed payment)."""
    if e.get("reissue_of"):
        return earlier.get("reissue_of") == e["reissue_of"]
    if earlier.get("reissue_of") or earlier.get("kind") != e["kind"]:
        return False
    if e["kind"] == "monthly":
        return (earlier.get("programme"), earlier.get("period")) == (e["programme"], e["period"])
    if e["kind"] == "batch":
        return earlier.get("run_id") == e.get("run_id")
    return True  # one_off: once per case


def _late(later: datetime, due: datetime) -> str:
    hours = (later - due).total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"


def _divergence(recorded: dict[str, Any], rerun: dict[str, Any], fields: list[str]) -> str:
    parts = [f"{k}: recorded {recorded.get(k)!r}, re-run {rerun[k]!r}" for k in fields
             if k not in ("reasons", "benefits")]
    if "benefits" in fields:
        parts.append("benefits differ")
    if "reasons" in fields:
        parts.append("rules: " + ", ".join(
            _rules_differing(recorded.get("reasons") or [], rerun["reasons"])))
    return "; ".join(parts)


def _rules_differing(recorded: list[dict[str, Any]], rerun: list[dict[str, Any]]) -> list[str]:
    """The rules whose outcome, detail or figures differ, by name."""
    before = {r["rule"]: r for r in recorded}
    after = {r["rule"]: r for r in rerun}
    return sorted(name for name in before.keys() | after.keys()
                  if before.get(name) != after.get(name))
