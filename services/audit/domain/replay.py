"""Replay: every case rebuilt from the event log, every decision re-run, every payment matched.

The archive says what happened. Folded in time order, it gives back each case as the services
saw it: stage, timeline, decision, entitlement, payments. On the way, each assessment is re-run
with approval's own rules and the policy in force on the day it was made, from facts rebuilt the
way approval built them (the application, the verification reports it had, and what approval
knew of the household then: its recognised status and this year's temporary assistance from
other cases). A re-run that differs from what was published is a *divergence*: a policy file
changed after the fact, or the rules did, or the record did.

Pure: events in, state and findings out. The fold is this module; a case's state is
``cases.py``, what it knows of households ``households.py``, the checks on decisions and payments
``checks.py``, what it reports ``findings.py``; events are read from their bytes by
``adapters/archived_json.py``, a published assessment read, and its re-run stated, by
``restated.py``. Reading the archive and writing the fresh store is
``service_layer/replaying.py``, sharing the cases out between processes
``service_layer/replay_shares.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import date, datetime
from typing import Any, Literal

from services.approval.rules import (
    PolicyTable,
    ReportFindings,
    add_months,
    application_facts,
    assess,
    report_findings,
)
from services.audit.adapters.archived_json import parse, read, read_decision
from services.audit.domain import event_time
from services.audit.domain.cases import CaseState, Entry
from services.audit.domain.checks import decision_findings, payment_problem
from services.audit.domain.event_time import parsed as _time
from services.audit.domain.findings import (
    Finding,
    divergence_found,
    late,
)
from services.audit.domain.households import Households
from services.audit.domain.policies import PolicyLibrary
from services.audit.domain.restated import assessment_head, stated_core
from shared.events import catalogue as ev

# A public notice's due_at is the earliest moment it may close, not a time limit (approval's
# own overdue list leaves it out too).
NOT_A_LIMIT = frozenset({"under_notice"})
# The bureau's publications are keyed by one pseudo-case: the policy library reads them, and the
# fold makes no case of them.
_POLICY_PUBLISHED = ev.PolicyPublished.type


def _report(data: dict[str, Any]) -> tuple[ReportFindings, str, list[dict[str, Any]], str]:
    """What the fold takes from a report: its findings, when it was made, its sources' freshness
    and its occasion."""
    return report_findings(data), data["reported_at"], data["sources"], data["occasion"]


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
    (into ``households.elsewhere``) when a household's status first asks for that case: most
    cases share no member.
    """

    def __init__(self, policy: PolicyTable | PolicyLibrary, *,
                 selected: Callable[[CaseState], bool] | None = None,
                 since: datetime | None = None, stale_after_days: int = 180,
                 owns: Callable[[str], bool] | None = None) -> None:
        # Each assessment is re-run with the table it was decided by (``domain/policies.py``).
        self.library = policy if isinstance(policy, PolicyLibrary) else PolicyLibrary(policy)
        self.policy = self.library.base
        self.policy_used: dict[int, int] = {}  # table position → assessments re-run with it
        self.selected: Callable[[CaseState], bool] = selected or (lambda case: True)
        self._all_selected = selected is None
        self.since = since
        self._since = None if since is None else event_time.of(since)
        self.stale_after_days = stale_after_days
        self.owns = owns
        # Every case met, asked once: its state when it is the fold's own, else False.
        self._seen: dict[str, CaseState | Literal[False]] = {}
        self.cases: dict[str, CaseState] = {}  # the fold's own: every case, unless ``owns``
        self.applied = 0  # events taken, owned or not: the position in the stream
        self.findings: list[Finding] = []
        self.timeline: list[Entry] = []  # drained by the caller as it goes
        self.counts: dict[str, int] = {}
        self.decisions_rerun = 0
        self.identical_bytes = 0  # re-runs whose statement matched the published bytes
        self.now: int | None = None  # the time of the last event of its own applied (µs)
        # A stage change of another share's case is folded when a household asks for it.
        self.households = Households(self.cases, lambda case, value: self.stage_changed(
            case, self.now, None, value, False))  # type: ignore[arg-type]  # set: asked mid-fold

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
        kept = self.households.kept
        for at, event_type, case_id, event_id, value in page:
            self.applied += 1
            case = seen.get(case_id)  # its state, or False for another share's case
            if case is None:
                if event_type == _POLICY_PUBLISHED:
                    case = False  # not a case: kept as another share's, which keeps nothing
                elif owns is None or owns(case_id):
                    case = cases[case_id] = CaseState(case_id, opened=self.applied)
                else:
                    case = False
                seen[case_id] = case
            if case is False:
                kept(event_type, case_id, value)
                continue
            if type(at) is not int:
                at = event_time.of(at)  # type: ignore[arg-type]  # a datetime; type() is quicker
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

    def _find(self, kind: str, case: CaseState, at: datetime | int, detail: str,
              event_id: str | None = None, **data: Any) -> None:
        moment = at if isinstance(at, datetime) else event_time.moment(at)
        self.findings.append(Finding(kind, case.case_id, moment, detail, event_id, data,
                                     (0, self.applied)))

    def submitted(self, case: CaseState, at: int, event_id: str | None, value: bytes,
                  reporting: bool) -> str:
        e, case.facts = read(ev.ApplicationSubmitted, value, application_facts)
        case.programme, case.region_code = e["programme"], e["region_code"]
        case.submitted_at = _time(e["submitted_at"])
        case.member_refs = tuple(m["person_ref"] for m in e["members"])
        for ref in case.member_refs:
            self.households.link(ref, case.case_id)
        return f"applied for {e['programme']} in {e['region_code']}, " \
               f"{len(e['members'])} member(s)"

    def reported(self, case: CaseState, at: int, event_id: str | None, value: bytes,
                 reporting: bool) -> str:
        r, (found, reported_at, sources, occasion) = read(ev.VerificationReported, value,
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
        e = parse(value)
        changed_at = _time(e["changed_at"])
        if e["sequence"] <= case.sequence:
            return f"(earlier change #{e['sequence']}) → {e['to_stage']}"
        if reporting and case.due_at is not None and changed_at > case.due_at \
                and case.stage not in NOT_A_LIMIT:
            self._find("late", case, at, f"left {case.stage} {late(changed_at, case.due_at)} "
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
        facts = self.households.facts_for(case, recorded, on.year)
        if facts is None:
            self._find("divergence", case, at, "the assessment cannot be re-run: its application "
                       "or report is not in the log", event_id,
                       assessment_id=recorded["assessment_id"])
            case.divergences += 1
            return summary
        k, chosen_by = self.library.table_for(value)
        table = self.library.tables[k]
        result = assess(facts, table, on)
        self.decisions_rerun += 1
        self.policy_used[k] = self.policy_used.get(k, 0) + 1
        if stated_core(result, facts.programme, facts.region_code) in value:
            self.identical_bytes += 1  # the re-run states exactly what was published
            return summary
        found = divergence_found(parse(value), result, recorded)
        if found is not None:
            case.divergences += 1
            kind, detail, data = found
            if not self.library.single:  # which table it was re-run with, and why that one
                data.update(policy_table=table.version, policy_chosen_by=chosen_by)
            self._find(kind, case, at, detail, event_id, **data)
        return summary

    def decided(self, case: CaseState, at: int, event_id: str | None, value: bytes,
                reporting: bool) -> str:
        e = read_decision(value)
        decided_at = _time(e["decided_at"])
        # What later checks need, not the whole decision (its reasons are most of its bytes).
        case.decision = {k: e.get(k) for k in (
            "decision_id", "outcome", "monthly_amount_fen", "one_off_amount_fen", "start_month",
            "advance", "decided_by")} | {"decided_at": decided_at}
        approved = e["outcome"] == "approved"
        self.households.granting(case.case_id, e)
        start = e.get("start_month")
        if approved and e["monthly_amount_fen"] and start:
            case.reschedule([*case.schedule, (start, e["monthly_amount_fen"])], decided_at)
        summary = (f"decided {e['outcome']} by {e['decided_by']}: {e['monthly_amount_fen']} "
                   f"fen/month, {e['one_off_amount_fen']} fen once")
        if reporting and approved:
            for kind, detail, data in decision_findings(case, e, decided_at,
                                                        self.stale_after_days):
                self._find(kind, case, at, detail, event_id, **data)
        return summary

    def benefit_changed(self, case: CaseState, at: int, event_id: str | None,
                        value: bytes, reporting: bool) -> str:
        e = parse(value)
        month, fen = e["effective_month"], e["monthly_amount_fen"]
        # From its month on, a change replaces what earlier decisions set (payment's rule).
        schedule = [(m, a) for m, a in case.schedule if m < month] + [(month, fen)]
        if e["change"] == "gradual_exit" and e.get("end_month"):
            schedule.append((add_months(e["end_month"], 1), 0))
        case.reschedule(schedule, _time(e["changed_at"]))
        return f"benefit {e['change']} from {month}: {fen} fen/month ({e['reason']})"

    def payment_scheduled(self, case: CaseState, at: int, event_id: str | None,
                          value: bytes, reporting: bool) -> str:
        e = parse(value)
        if reporting:
            problem = payment_problem(case, e, _time(e["scheduled_at"]))
            if problem:
                self._find("payment_without_approval", case, at, problem, event_id,
                           payment_id=e["payment_id"], period=e["period"],
                           payment_kind=e["kind"], amount_fen=e["amount_fen"])
        case.payments[e["payment_id"]] = {
            "period": e["period"], "kind": e["kind"], "programme": e["programme"],
            "reissue_of": e.get("reissue_of"), "run_id": e.get("run_id"),
            "amount_fen": e["amount_fen"], "status": "scheduled"}
        return f"payment {e['kind']} {e['period']}: {e['amount_fen']} fen scheduled"

    def payment_settled(self, case: CaseState, at: int, event_id: str | None,
                        value: bytes, reporting: bool) -> str:
        e = parse(value)
        payment = case.payments.setdefault(e["payment_id"], {"amount_fen": e["amount_fen"]})
        payment["status"] = e["outcome"]
        if e["outcome"] == "paid":
            case.paid_fen += e["amount_fen"]
        return f"payment {e['period']} {e['outcome']}" + \
            (f": {e['reason_code']}" if e.get("reason_code") else "")

    def payment_held(self, case: CaseState, at: int, event_id: str | None, value: bytes,
                     reporting: bool) -> str:
        e = parse(value)
        case.payments.setdefault(e["payment_id"], {"amount_fen": e["amount_fen"]})["status"] = \
            "held"
        return f"payment {e['period']} held: {e['reason']}"

    def other(self, case: CaseState, at: int, event_id: str | None, value: bytes,
              reporting: bool) -> str:
        e = parse(value)
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
                           f"{late(until, case.due_at)} past its time limit",
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
