"""The audit replay (``services/audit/domain/replay.py`` and ``service_layer/replaying.py``).

Each test writes case histories the way the services publish them: intake's application,
verification's reports, and approval's assessments — made by approval's own ``assess`` on facts
built as approval builds them (``from_application``, ``with_report``, plus what approval knew of
the household that day), stated with ``stated.reasons/benefits`` — with its stage changes taken
from approval's own workflow (``act``, ``on_report``, ``reassess``), its decisions, recognitions
and benefit changes, and payment's payments. The replay is fed those events in time order and
must rebuild each case and find exactly what the scenario planted.
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from services.approval.bootstrap import DEFAULT_POLICY
from services.approval.domain.assessment import Assessment, assess
from services.approval.domain.facts import CaseFacts, from_application, per_capita, with_report
from services.approval.domain.policy import PolicyTable, load_policy
from services.approval.domain.reassessment import add_months, reassess
from services.approval.domain.stated import benefits, reasons
from services.approval.domain.workflow import (
    RECURRING,
    SYSTEM,
    Actor,
    Case,
    Change,
    Rules,
    act,
    on_report,
    town_review_due,
)
from services.audit.domain.cases import CaseState
from services.audit.domain.findings import Finding
from services.audit.domain.replay import Replay
from services.audit.service_layer.replaying import REPORTS, Event, Scope, replay
from shared import clock
from shared.events import catalogue as ev
from shared.events.base import Event as Model

POLICY = load_policy(DEFAULT_POLICY)
CIXI, QINGDAO = "330282", "370212"  # Cixi: Dibao standard 100500 fen from 2021-01-01
CIXI_STANDARD = 100500
TOWN = Actor("town_reviewer", "t-017")
DISTRICT = Actor("district_approver", "d-003")
MINUTE = timedelta(minutes=1)
RECOGNISED = ("dibao", "tekun", "marginal")  # the programmes approval recognises households by


def cst(day: int, hour: int = 10, minute: int = 0, *, month: int = 3,
        year: int = 2025) -> datetime:
    """A moment on the offices' clock (China Standard Time), as the UTC the services write.
    2025-03-03 is a Monday."""
    return datetime(year, month, day, hour, minute, tzinfo=clock.CHINA).astimezone(UTC)


def end_of(day: int, *, month: int = 3, year: int = 2025) -> datetime:
    """The last moment of a China day, as ``onedoor audit replay --until`` takes it."""
    return datetime.combine(datetime(year, month, day).date(), time(23, 59, 59),
                            tzinfo=clock.CHINA).astimezone(UTC)


def person(ref: str, relation: str = "applicant", age: int = 45, wage: int = 0,
           grade: int | None = None) -> ev.MemberFacts:
    return ev.MemberFacts(
        person_ref=ref, relation=relation, age_years=age,  # type: ignore[arg-type]
        declared_incomes=[ev.DeclaredIncome(kind="wage", monthly_amount_fen=wage)] if wage else [],
        consent_signed=age >= 18, disability_grade=grade)


def emergency(amount_fen: int) -> ev.TemporaryRequest:
    return ev.TemporaryRequest(kind="emergency", requested_amount_fen=amount_fen, cause="fire")


class Log:
    """Every event the services published, as the archive gives them back:
    (ce_time, type, case id, event id, value)."""

    def __init__(self, policy: PolicyTable = POLICY) -> None:
        self.policy = policy
        self._published: list[Event] = []
        self._ids = itertools.count(1)

    def publish(self, event: Model, at: datetime) -> str:
        event_id = f"ev-{next(self._ids):04d}"
        self._published.append((at, event.type, event.case_id, event_id,
                                event.model_dump_json().encode()))
        return event_id

    def case(self, name: str, programme: str, members: list[ev.MemberFacts], *,
             region: str = CIXI, temporary: ev.TemporaryRequest | None = None) -> CaseHistory:
        return CaseHistory(self, f"{region}-20250303-{name}", programme, members, region,
                           temporary)

    @property
    def events(self) -> list[Event]:
        """In time order; a sort is stable, so one transaction's events keep their order."""
        return sorted(self._published, key=lambda e: e[0])

    def up_to(self, until: datetime) -> list[Event]:
        """What ``archived_events(engine, until)`` yields: the events made up to ``until``."""
        return [e for e in self.events if e[0] <= until]

    def count(self, event_type: str, case_id: str | None = None) -> int:
        return sum(1 for e in self._published
                   if e[1] == event_type and case_id in (None, e[2]))

    def tamper(self, event_type: str, key: str, value: str, *, compact: bool,
               **changes: Any) -> None:
        """Edit the JSON of the one archived event whose ``key`` is ``value``: written back
        ``compact`` as the catalogue writes it (only the edited values differ), or reformatted."""
        for i, (at, type_, case_id, event_id, body) in enumerate(self._published):
            data = json.loads(body)
            if type_ == event_type and data.get(key) == value:
                data.update(changes)
                text = json.dumps(data, separators=(",", ":"), ensure_ascii=False) if compact \
                    else json.dumps(data, indent=1)
                self._published[i] = (at, type_, case_id, event_id, text.encode())
                return
        raise LookupError(f"no {event_type} with {key}={value}")

    def replay(self, policy: PolicyTable | None = None, *, until: datetime | None = None,
               events: list[Event] | None = None, **options: Any) -> Replay:
        fold = Replay(policy or self.policy, **options)
        stream = self.events if events is None else events
        for at, event_type, case_id, event_id, value in stream:
            fold.apply(event_type, case_id, at, event_id, value)
        fold.finish(until or stream[-1][0])
        return fold


class CaseHistory:
    """One case's events, published the way intake, verification, approval and payment do.

    The primitives (``apply``, ``report``, ``assess``, ``stage``, ``decide``, ``benefit``,
    ``pay``, ``settle``) publish one event each, at an explicit moment. ``open``, ``verified``
    and ``act`` do what approval's handlers do: approval handles an event a minute after it was
    made, and takes its stage changes from the workflow's own ``act`` / ``on_report`` /
    ``reassess``. What approval knew of the household (its recognised status, this year's
    temporary assistance from other cases) is stated by the test, as the scenario has it.
    """

    def __init__(self, log: Log, case_id: str, programme: str,
                 members: list[ev.MemberFacts], region: str,
                 temporary: ev.TemporaryRequest | None) -> None:
        self.log, self.case_id, self.programme, self.region = log, case_id, programme, region
        self.members, self.temporary = members, temporary
        self.emergency = temporary is not None and temporary.kind == "emergency"
        self.facts: CaseFacts | None = None  # approval's stored facts
        self.stage_now: str | None = None
        self.sequence = 0
        self.due_at: datetime | None = None
        self.notice_ends_at: datetime | None = None
        self.assessed: ev.CaseAssessed | None = None  # the latest published
        self.result: Assessment | None = None
        self.decision: ev.ApplicationDecided | None = None
        self.monthly_fen = 0  # approval's row: the monthly amount in force
        self.payments: dict[str, ev.PaymentScheduled] = {}
        self._n = itertools.count(1)

    @property
    def refs(self) -> list[str]:
        return [m.person_ref for m in self.members]

    def rules(self, now: datetime) -> Rules:
        return Rules(self.log.policy, self.region, clock.local_date(now))

    # -- one event each ------------------------------------------------------------------------
    def apply(self, at: datetime) -> ev.ApplicationSubmitted:
        application = ev.ApplicationSubmitted(
            case_id=self.case_id, region_code=self.region,
            programme=self.programme,  # type: ignore[arg-type]
            submitted_at=at, members=self.members, temporary=self.temporary)
        self.facts = from_application(application)
        self.log.publish(application, at)
        return application

    def report(self, at: datetime, counted: dict[str, int] | None = None, *,
               work: dict[str, int] | None = None, deposits_fen: int = 300_000,
               homes: int = 1, vehicles: int = 0, occasion: str = "application",
               stale: tuple[str, ...] = ()) -> ev.VerificationReported:
        counted, work = counted or {}, work or {}
        declared = {m.person_ref: sum(i.monthly_amount_fen for i in m.declared_incomes)
                    for m in self.members}
        total = sum(counted.values())
        report = ev.VerificationReported(
            case_id=self.case_id, report_id=f"{self.case_id}/r{next(self._n)}",
            region_code=self.region, programme=self.programme,  # type: ignore[arg-type]
            applicant_ref=self.refs[0], household_size=len(self.members),
            members=[ev.MemberIncome(
                person_ref=r, declared_monthly_fen=declared[r],
                verified_monthly_fen=counted.get(r, 0), counted_monthly_fen=counted.get(r, 0),
                sources=["hr_social_security"] if counted.get(r) else [],
                employment_monthly_fen=work.get(r, 0)) for r in self.refs],
            assets=ev.AssetSummary(real_estate_count=homes, vehicle_count=vehicles,
                                   deposits_fen=deposits_fen),
            household_monthly_income_fen=total,
            per_capita_monthly_income_fen=per_capita(total, len(self.members)),
            reported_at=at, occasion=occasion,  # type: ignore[arg-type]
            sources=[ev.SourceFreshness(department=d, records=1, oldest_as_of=date(2020, 1, 1),
                                        newest_as_of=date(2020, 1, 1), stale=True)
                     for d in stale])
        self.log.publish(report, at)
        return report

    def assess(self, at: datetime, report: ev.VerificationReported | None = None, *,
               household_status: str | None = None, granted_fen: int = 0) -> ev.CaseAssessed:
        """``run_assessment``: the stored facts (with the report, when one is assessed) and what
        approval knew of the household, assessed with the policy on the day."""
        assert self.facts is not None, "approval has no case before the application"
        if report is not None:
            self.facts = with_report(self.facts, report)
        facts = replace(self.facts, household_status=household_status,
                        temporary_granted_this_year_fen=granted_fen)
        on = clock.local_date(at)
        result = assess(facts, self.log.policy, on)
        self.assessed = ev.CaseAssessed(
            case_id=self.case_id, assessment_id=f"{self.case_id}/a{next(self._n)}",
            report_id=facts.report_id, eligible=result.eligible,
            programme=self.programme,  # type: ignore[arg-type]
            region_code=self.region, monthly_amount_fen=result.monthly_amount_fen,
            one_off_amount_fen=result.one_off_amount_fen, benefits=benefits(result.benefits),
            policy_version=result.policy_version, reasons=reasons(result.checks),
            assessed_on=on.isoformat(), assessed_at=at)
        self.result = result
        self.log.publish(self.assessed, at)
        return self.assessed

    def stage(self, at: datetime, to_stage: str, action: str, *, actor: Actor = SYSTEM,
              due_at: datetime | None = None, note: str | None = None) -> None:
        self.sequence += 1
        self.log.publish(ev.CaseStageChanged(
            case_id=self.case_id, sequence=self.sequence,
            from_stage=None if self.sequence == 1 else self.stage_now,  # type: ignore[arg-type]
            to_stage=to_stage, action=action,  # type: ignore[arg-type]
            actor=str(actor), note=note, due_at=due_at, changed_at=at), at)
        self.stage_now, self.due_at = to_stage, due_at

    def decide(self, at: datetime, outcome: str, *, by: str = "district", advance: bool = False,
               note: str | None = None) -> ev.ApplicationDecided:
        """``casework._decide``: the latest assessment's amounts, once per case."""
        a = self.assessed
        approved = outcome == "approved"
        stated = list(a.reasons) if a else []
        if note:
            stated.append(ev.DecisionReason(rule="staff_decision", passed=approved,
                                            label_zh="审核审批意见",
                                            detail=f"{by} {outcome}: {note}"))
        monthly = a.monthly_amount_fen if approved and a else 0
        month = f"{clock.local_date(at):%Y-%m}"
        self.decision = ev.ApplicationDecided(
            case_id=self.case_id, decision_id=f"{self.case_id}/d",
            outcome=outcome,  # type: ignore[arg-type]
            programme=self.programme, region_code=self.region,  # type: ignore[arg-type]
            beneficiary_ref=self.refs[0], household_size=len(self.members),
            monthly_amount_fen=monthly, start_month=month if monthly else None,
            policy_version=a.policy_version if a else None, reasons=stated, decided_at=at,
            one_off_amount_fen=a.one_off_amount_fen if approved and a else 0,
            benefits=list(a.benefits) if approved and a else [], member_refs=self.refs,
            decided_by=by, advance=advance)  # type: ignore[arg-type]
        self.log.publish(self.decision, at)
        if approved:
            self.monthly_fen = monthly
            if self.programme in RECOGNISED:
                self.log.publish(ev.HouseholdRecognised(
                    case_id=self.case_id, status=self.programme,  # type: ignore[arg-type]
                    region_code=self.region, member_refs=self.refs, valid_from=month,
                    recognised_at=at), at)
        return self.decision

    def benefit(self, at: datetime, change: str, effective_month: str, monthly_fen: int, *,
                end_month: str | None = None, reason: str = "") -> None:
        self.log.publish(ev.BenefitChanged(
            case_id=self.case_id, change=change,  # type: ignore[arg-type]
            programme=self.programme, beneficiary_ref=self.refs[0],  # type: ignore[arg-type]
            effective_month=effective_month, end_month=end_month,
            monthly_amount_fen=monthly_fen, reason=reason or change, changed_at=at), at)

    def pay(self, at: datetime, period: str, amount_fen: int, *, kind: str = "monthly",
            reissue_of: str | None = None, tops_up_to: int | None = None) -> str:
        payment = ev.PaymentScheduled(
            case_id=self.case_id, payment_id=f"{self.case_id}/p{next(self._n)}",
            programme=self.programme, period=period,  # type: ignore[arg-type]
            kind=kind, amount_fen=amount_fen,  # type: ignore[arg-type]
            beneficiary_ref=self.refs[0], region_code=self.region, scheduled_at=at,
            reissue_of=reissue_of, tops_up_to_fen=tops_up_to)
        self.payments[payment.payment_id] = payment
        self.log.publish(payment, at)
        return payment.payment_id

    def settle(self, at: datetime, payment_id: str, outcome: str = "paid") -> None:
        p = self.payments[payment_id]
        self.log.publish(ev.PaymentSettled(
            case_id=self.case_id, payment_id=payment_id, programme=p.programme,
            period=p.period, kind=p.kind, amount_fen=p.amount_fen,
            outcome=outcome,  # type: ignore[arg-type]
            reason="account closed" if outcome == "failed" else None,
            bank_file_id="bf-1", settled_at=at), at)

    # -- as approval's handlers and commands do ------------------------------------------------
    def open(self, at: datetime, *, household_status: str | None = None,
             granted_fen: int = 0) -> None:
        """The application at ``at``; approval opens the case a minute later. An emergency is
        assessed on the form alone and put before the town with the emergency time limit."""
        self.apply(at)
        now = at + MINUTE
        self.stage(now, "awaiting_report", "submitted")
        if self.emergency:
            self.assess(now, household_status=household_status, granted_fen=granted_fen)
            self.stage(now, "awaiting_review", "emergency_registered",
                       due_at=town_review_due(now, self.rules(now), emergency=True))

    def verified(self, at: datetime, counted: dict[str, int] | None = None, *,
                 work: dict[str, int] | None = None, occasion: str = "application",
                 household_status: str | None = None, granted_fen: int = 0,
                 **assets: int) -> ev.CaseAssessed:
        """Verification reports at ``at``; approval assesses the report a minute later and moves
        the case as ``_assess_report`` does (``on_report``, or ``reassess`` for a recipient)."""
        report = self.report(at, counted, work=work, occasion=occasion, **assets)
        return self.assess_report(at + MINUTE, report, household_status=household_status,
                                  granted_fen=granted_fen)

    def assess_report(self, now: datetime, report: ev.VerificationReported, *,
                      household_status: str | None = None,
                      granted_fen: int = 0) -> ev.CaseAssessed:
        previous, previous_facts = self.result, self.facts
        assessed = self.assess(now, report, household_status=household_status,
                               granted_fen=granted_fen)
        assert self.result is not None and previous_facts is not None and self.facts
        rules = self.rules(now)
        if self.stage_now in ("approved", "exiting") and self.programme in RECURRING:
            if previous is None:
                return assessed
            change = reassess(self.stage_now, self.monthly_fen, previous, self.result,
                              _earned(previous_facts), _earned(self.facts),
                              f"{clock.local_date(now):%Y-%m}", rules)
            if change is not None:
                self.benefit(now, change.benefit_change or "", change.effective_month,
                             change.monthly_amount_fen, end_month=change.end_month,
                             reason=change.reason)
                if change.benefit_change in ("amount_changed", "resumed"):
                    self.monthly_fen = change.monthly_amount_fen
                if change.to_stage:
                    self.stage(now, change.to_stage, f"reassessed_{report.occasion}",
                               note=change.reason)
            return assessed
        self._changes(now, on_report(self._case(), self.result, now, rules), SYSTEM)
        return assessed

    def act(self, at: datetime, action: str, actor: Actor, note: str | None = None) -> None:
        """A staff action, through the workflow's own ``act``."""
        self._changes(at, act(self._case(), action, actor, at, self.rules(at), note=note),
                      actor)

    def _case(self) -> Case:
        assert self.stage_now is not None
        return Case(self.case_id, self.programme, self.region, self.stage_now, self.sequence,
                    emergency=self.emergency, assessment=self.result,
                    notice_ends_at=self.notice_ends_at, home_survey=True,
                    verified=self.assessed is not None and self.assessed.report_id is not None)

    def _changes(self, now: datetime, changes: list[Change], actor: Actor) -> None:
        """``casework.apply_changes``: each change published, with its decision or benefit
        change."""
        for change in changes:
            self.stage(now, change.to_stage, change.action, actor=actor, due_at=change.due_at,
                       note=change.note)
            if change.decides and self.decision is None:
                approved = change.decides in ("approved", "advance")
                self.decide(now, "approved" if approved else "rejected",
                            by=change.decided_by or "district",
                            advance=change.decides == "advance", note=change.note)
            if change.benefit_change:
                amount = 0 if change.benefit_change in ("suspended", "terminated") \
                    else self.monthly_fen
                self.benefit(now, change.benefit_change,
                             add_months(f"{clock.local_date(now):%Y-%m}", 1), amount,
                             reason=change.note or "")
        if changes:
            self.notice_ends_at = changes[-1].notice_ends_at

    # -- whole paths -----------------------------------------------------------------------------
    def through_notice(self, accepted: datetime, *, approve_late_by: timedelta = timedelta(0)
                       ) -> ev.ApplicationDecided:
        """The town accepts; the district approves when the notice ends (plus a delay)."""
        self.act(accepted, "accept", TOWN)
        assert self.notice_ends_at is not None
        self.act(self.notice_ends_at + approve_late_by, "approve", DISTRICT)
        assert self.decision is not None
        return self.decision

    def advanced(self, at: datetime) -> ev.ApplicationDecided:
        """The town pays an emergency in advance, and payment pays it an hour later."""
        self.act(at, "advance", TOWN)
        assert self.decision is not None
        self.pay(at + timedelta(hours=1), f"{clock.local_date(at):%Y-%m}",
                 self.decision.one_off_amount_fen, kind="one_off")
        return self.decision


def _earned(facts: CaseFacts) -> int:
    return sum(m.employment_monthly_fen or 0 for m in facts.members)


def dibao_approved(log: Log, name: str, *, wage: int = 60_000, start: int = 3,
                   members: list[ev.MemberFacts] | None = None) -> CaseHistory:
    """A Cixi Dibao household, applied on day ``start`` of March, verified the next day,
    accepted the day after and approved when its notice ends."""
    members = members or [person(f"p-{name}-1", wage=wage), person(f"p-{name}-2", "spouse")]
    case = log.case(name, "dibao", members)
    case.open(cst(start, 9))
    case.verified(cst(start + 1, 11), {members[0].person_ref: wage},
                  work={members[0].person_ref: wage})
    case.through_notice(cst(start + 3, 15))
    return case


def kinds(fold: Replay, case_id: str | None = None) -> Counter[str]:
    return Counter(f.kind for f in fold.findings if case_id in (None, f.case_id))


def of_kind(fold: Replay, kind: str) -> list[Finding]:
    return [f for f in fold.findings if f.kind == kind]


def cites(assessed: dict[str, Any], figure: str, region: str) -> bool:
    return any(p["name"] == figure and p["region"] == region
               for r in assessed["reasons"] for p in r["parameters"])


def recorded(log: Log, event_type: str) -> list[dict[str, Any]]:
    return [json.loads(e[4]) for e in log.events if e[1] == event_type]


# -- 1. a consistent history -------------------------------------------------------------------

def consistent_history() -> tuple[Log, dict[str, CaseHistory]]:
    log = Log()
    yes = dibao_approved(log, "yes")
    first = yes.pay(cst(14), "2025-03", yes.monthly_fen)
    yes.settle(cst(20), first)
    second = yes.pay(cst(1, month=4), "2025-04", yes.monthly_fen)
    yes.settle(cst(8, month=4), second)

    no = log.case("no", "dibao", [person("p-no-1", wage=350_000), person("p-no-2", "spouse")])
    no.open(cst(4, 9))
    no.verified(cst(5, 11), {"p-no-1": 350_000}, work={"p-no-1": 350_000})
    no.act(cst(7, 16), "reject", TOWN, note="income above the standard")

    fire = log.case("fire", "temporary", [person("p-fire-1", age=38),
                                          person("p-fire-2", "child", age=9)],
                    temporary=emergency(200_000))
    fire.open(cst(10, 20))
    advance = fire.advanced(cst(11, 9))
    fire.settle(cst(12), next(iter(fire.payments)))
    fire.verified(cst(14), {"p-fire-1": 80_000}, work={"p-fire-1": 80_000})
    assert advance.advance and advance.one_off_amount_fen == 200_000
    return log, {"yes": yes, "no": no, "fire": fire}


def test_a_consistent_history_replays_with_no_finding_and_every_case_as_it_happened() -> None:
    log, cases = consistent_history()
    fold = log.replay()

    assert fold.findings == []
    assert fold.decisions_rerun == log.count(ev.CaseAssessed.type) == 4  # 3 reports + 1 form
    assert fold.counts == Counter(e[1] for e in log.events)

    yes, no, fire = (fold.cases[cases[n].case_id] for n in ("yes", "no", "fire"))
    decided = cases["yes"].decision
    assert decided is not None and decided.monthly_amount_fen > 0
    assert yes.stage == "approved" and yes.view()["outcome"] == "approved"
    assert yes.view()["monthly_amount_fen"] == decided.monthly_amount_fen
    assert yes.monthly_for("2025-04") == decided.monthly_amount_fen
    assert len(yes.payments) == 2 and yes.paid_fen == 2 * decided.monthly_amount_fen
    assert yes.sequence == cases["yes"].sequence and yes.view()["divergences"] == 0

    assert no.stage == "rejected" and no.view()["outcome"] == "rejected"
    assert no.view()["monthly_amount_fen"] == 0 and no.payments == {} and no.paid_fen == 0

    assert fire.stage == "approved" and fire.view()["outcome"] == "approved"
    assert fire.view()["one_off_amount_fen"] == 200_000  # all it asked, within the cap
    assert fire.view()["monthly_amount_fen"] == 0
    assert len(fire.payments) == 1 and fire.paid_fen == 200_000
    assert fire.view()["assessments"] == 2  # on the form, then on its report


# -- 2. divergence ------------------------------------------------------------------------------

def test_a_changed_standard_diverges_exactly_the_assessments_that_used_it(tmp_path: Path) -> None:
    log, cases = consistent_history()
    changed = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY, changed)
    dibao = changed / "dibao.toml"
    text = dibao.read_text(encoding="utf-8")
    assert text.count(f"value = {CIXI_STANDARD}") == 1
    dibao.write_text(text.replace(f"value = {CIXI_STANDARD}", "value = 90000"),
                     encoding="utf-8")

    fold = log.replay(load_policy(changed))

    using = {a["assessment_id"] for a in recorded(log, ev.CaseAssessed.type)
             if cites(a, "dibao.monthly_standard_fen", CIXI)}
    # Both Dibao assessments and the fire's verified one; not the fire's form-only assessment.
    assert len(using) == 3
    divergences = of_kind(fold, "divergence")
    assert {f.data["assessment_id"] for f in divergences} == using
    assert set(kinds(fold)) == {"divergence"}  # the decisions still match what was published
    by_case = {f.case_id: f for f in divergences}
    for name in ("yes", "no"):
        found = by_case[cases[name].case_id]
        assert "reasons" in found.data["fields"]
        assert "income_below_standard" in found.data["rules"]
        assert found.event_id is not None
    # The approved household's amount is recomputed on the new standard.
    yes = by_case[cases["yes"].case_id]
    assert {"monthly_amount_fen", "benefits"} <= set(yes.data["fields"])
    size = len(cases["yes"].members)
    assert yes.data["recorded"]["monthly_amount_fen"] \
        - yes.data["rerun"]["monthly_amount_fen"] == (CIXI_STANDARD - 90000) * size
    assert fold.cases[cases["yes"].case_id].divergences == 1


@pytest.mark.parametrize("compact", [True, False], ids=["edited-in-place", "rewritten"])
def test_a_tampered_assessment_amount_is_a_divergence_naming_it(compact: bool) -> None:
    log, cases = consistent_history()
    yes = cases["yes"]
    assert yes.assessed is not None
    true_amount = yes.assessed.monthly_amount_fen
    if compact:  # the catalogue's own writing, so that only the amount's digits differ
        assert json.dumps(json.loads(yes.assessed.model_dump_json()), separators=(",", ":"),
                          ensure_ascii=False) == yes.assessed.model_dump_json()
    log.tamper(ev.CaseAssessed.type, "assessment_id", yes.assessed.assessment_id,
               compact=compact, monthly_amount_fen=true_amount + 10_000)

    fold = log.replay()

    [found] = of_kind(fold, "divergence")
    assert found.case_id == yes.case_id
    assert found.data["assessment_id"] == yes.assessed.assessment_id
    assert found.data["fields"] == ["monthly_amount_fen"]
    assert found.data["recorded"] == {"monthly_amount_fen": true_amount + 10_000}
    assert found.data["rerun"] == {"monthly_amount_fen": true_amount}
    # The (untouched) decision now differs from the record it followed.
    [differs] = of_kind(fold, "decision_differs")
    assert differs.case_id == yes.case_id and differs.data["field"] == "monthly_amount_fen"


# -- 3. facts from other cases ------------------------------------------------------------------

def household_history(other_stage: str, recorded_status: str | None
                      ) -> tuple[Log, CaseHistory]:
    """A running Dibao household; then a disability-subsidy case for its disabled member, assessed
    on day 20 with ``recorded_status`` while the Dibao case is ``other_stage``."""
    log = Log()
    home = [person("p-h1", age=61), person("p-h2", "spouse", age=58, grade=3)]
    dibao = log.case("home", "dibao", home)
    dibao.open(cst(3, 9))
    dibao.verified(cst(4, 11))
    if other_stage == "under_notice":
        dibao.act(cst(6, 15), "accept", TOWN)
    else:
        dibao.through_notice(cst(6, 15))
    if other_stage == "suspended":
        dibao.act(cst(17), "suspend", DISTRICT, note="moved away, pending review")
    if other_stage == "exiting":
        dibao.verified(cst(17), {"p-h1": 260_000}, work={"p-h1": 260_000},
                       occasion="partner_data", household_status="dibao")
    assert dibao.stage_now == other_stage

    subsidy = log.case("subsidy", "disability", [person("p-h2", age=58, grade=3)])
    subsidy.open(cst(18, 9))
    subsidy.verified(cst(20, 11), household_status=recorded_status)
    return log, subsidy


@pytest.mark.parametrize(("other_stage", "status"), [
    ("approved", "dibao"), ("exiting", "dibao"), ("under_notice", None), ("suspended", None)])
def test_a_shared_members_running_case_is_the_households_status(
        other_stage: str, status: str | None) -> None:
    """approval's ``household_status``: a member's case of a recognising programme that is
    approved or exiting (the Dibao case's own stage decides)."""
    log, subsidy = household_history(other_stage, status)
    assert subsidy.assessed is not None
    fold = log.replay()
    assert of_kind(fold, "divergence") == []
    assert fold.decisions_rerun == log.count(ev.CaseAssessed.type)
    assert fold.cases[subsidy.case_id].view()["assessments"] == 1

    wrong = "dibao" if status is None else None
    log, subsidy = household_history(other_stage, wrong)
    assert subsidy.assessed is not None
    [found] = of_kind(log.replay(), "divergence")
    assert found.case_id == subsidy.case_id
    assert found.data["assessment_id"] == subsidy.assessed.assessment_id
    assert "household_low_income" in found.data["rules"]
    assert "monthly_amount_fen" in found.data["fields"]  # the living subsidy, or not


def cap_history(first_advanced: datetime, second_opened: datetime,
                recorded_granted: int) -> tuple[Log, CaseHistory]:
    """Two emergencies of one household: the first paid in advance (250,000 fen, its two members
    both in the second case), the second asking 1,900,000 of the 2,000,000 yearly cap."""
    log = Log()
    first = log.case("first", "temporary", [person("p-c1"), person("p-c2", "spouse")],
                     temporary=emergency(250_000))
    first.open(first_advanced - timedelta(hours=3))
    first.advanced(first_advanced)
    second = log.case("second", "temporary",
                      [person("p-c1"), person("p-c2", "spouse"), person("p-c3", "child", 12)],
                      temporary=emergency(1_900_000))
    second.open(second_opened, granted_fen=recorded_granted)
    return log, second


@pytest.mark.parametrize(("first_advanced", "second_opened", "granted"), [
    pytest.param(cst(4), cst(20), 250_000, id="same-year-counted-once-per-case"),
    pytest.param(cst(30, month=12, year=2024), cst(6, month=1), 0, id="previous-year"),
    # 2024-12-31T17:30Z is 01:30 on 1 January in China: this year's, by the offices' calendar.
    pytest.param(datetime(2024, 12, 31, 17, 30, tzinfo=UTC), cst(6, month=1), 250_000,
                 id="new-year-in-china-time"),
])
def test_temporary_assistance_granted_to_a_shared_member_this_year_counts_against_the_cap(
        first_advanced: datetime, second_opened: datetime, granted: int) -> None:
    log, second = cap_history(first_advanced, second_opened, granted)
    assert second.assessed is not None
    assert second.assessed.one_off_amount_fen == min(1_900_000, 2_000_000 - granted)
    fold = log.replay()
    assert of_kind(fold, "divergence") == []
    assert fold.decisions_rerun == log.count(ev.CaseAssessed.type) == 2

    for wrong in {0, 250_000, 500_000} - {granted}:  # 500,000: the grant counted per member
        log, second = cap_history(first_advanced, second_opened, wrong)
        assert second.assessed is not None
        [found] = of_kind(log.replay(), "divergence")
        assert found.data["assessment_id"] == second.assessed.assessment_id
        assert "yearly_cap" in found.data["rules"]
        assert {"one_off_amount_fen", "benefits", "reasons"} <= set(found.data["fields"])


def chain_history(recorded_granted: int) -> tuple[Log, CaseHistory]:
    """X alone, then X and Y together, then Y alone: Y's own case shares no member with X's, but
    the chain makes the three one household under one cap (temporary.toml)."""
    log = Log()
    x_alone = log.case("x-alone", "temporary", [person("p-x")], temporary=emergency(250_000))
    x_alone.open(cst(2) - timedelta(hours=3))
    x_alone.advanced(cst(2))
    together = log.case("together", "temporary", [person("p-x"), person("p-y", "spouse")],
                        temporary=emergency(250_000))
    together.open(cst(3) - timedelta(hours=3), granted_fen=250_000)
    together.advanced(cst(3))
    y_alone = log.case("y-alone", "temporary", [person("p-y")], temporary=emergency(1_900_000))
    y_alone.open(cst(4), granted_fen=recorded_granted)
    return log, y_alone


def test_the_replay_follows_a_chain_of_shared_members_as_approval_does() -> None:
    log, y_alone = chain_history(500_000)  # both earlier cases, as approval counts them
    assert y_alone.assessed is not None
    assert y_alone.assessed.one_off_amount_fen == 1_500_000
    assert of_kind(log.replay(), "divergence") == []
    log, y_alone = chain_history(250_000)  # only the case Y shared: the chain broken
    assert y_alone.assessed is not None
    [found] = of_kind(log.replay(), "divergence")
    assert found.data["assessment_id"] == y_alone.assessed.assessment_id
    assert "yearly_cap" in found.data["rules"]


# -- 4. payments --------------------------------------------------------------------------------

def payments_history(planted: bool) -> tuple[Log, set[str], set[str]]:
    """Payments of four cases, each following its decisions — and, when ``planted``, five that
    do not: before any approval, another monthly amount, a one-off for another amount, a
    re-issue of a payment that was paid, a month after a gradual exit ended. Answers the log
    and the ids of the bad and the good payments."""
    log = Log()
    bad: set[str] = set()
    good: set[str] = set()

    early = log.case("early", "dibao", [person("p-e1", wage=60_000), person("p-e2", "spouse")])
    early.open(cst(3, 9))
    assessed = early.verified(cst(4, 11), {"p-e1": 60_000}, work={"p-e1": 60_000})
    early.act(cst(6, 15), "accept", TOWN)
    if planted:
        bad.add(early.pay(cst(8), "2025-03", assessed.monthly_amount_fen))  # under notice
    assert early.notice_ends_at is not None
    early.act(early.notice_ends_at, "approve", DISTRICT)

    paying = dibao_approved(log, "paying")
    monthly = paying.monthly_fen
    march = paying.pay(cst(14), "2025-03", monthly)
    paying.settle(cst(20), march)
    good.add(march)
    if planted:
        bad.add(paying.pay(cst(1, month=4), "2025-04", monthly + 5_000))
        bad.add(paying.pay(cst(2, month=4), "2025-03", monthly, reissue_of=march))  # was paid
    may = paying.pay(cst(1, month=5), "2025-05", monthly)
    paying.settle(cst(8, month=5), may, "failed")
    good |= {may, paying.pay(cst(12, month=5), "2025-05", monthly, reissue_of=may)}
    # New partner data: still eligible, for a smaller amount from June (amount_changed).
    paying.verified(cst(20, month=5), {"p-paying-1": 80_000}, work={"p-paying-1": 80_000},
                    occasion="partner_data", household_status="dibao")
    assert 0 < paying.monthly_fen < monthly
    good.add(paying.pay(cst(1, month=6), "2025-06", paying.monthly_fen))

    fire = log.case("fire", "temporary", [person("p-f1")], temporary=emergency(200_000))
    fire.open(cst(10, 20))
    fire.act(cst(11, 9), "advance", TOWN)
    (bad if planted else good).add(
        fire.pay(cst(11, 10), "2025-03", 190_000 if planted else 200_000, kind="one_off"))

    exiting = dibao_approved(log, "exit", wage=0)
    good.add(exiting.pay(cst(14), "2025-03", exiting.monthly_fen))
    # A job: income from work rises above the standard → gradual exit (渐退).
    exiting.verified(cst(15, month=4), {"p-exit-1": 250_000}, work={"p-exit-1": 250_000},
                     occasion="partner_data", household_status="dibao")
    assert exiting.stage_now == "exiting"
    months = POLICY.figure("dibao.gradual_exit_months", CIXI, clock.local_date(cst(15, month=4)))
    assert months is not None
    last = add_months("2025-04", months.value)  # the last month still paid
    good.add(exiting.pay(cst(1, month=5), "2025-05", exiting.monthly_fen))
    good.add(exiting.pay(cst(1, month=10), last, exiting.monthly_fen))
    if planted:
        bad.add(exiting.pay(cst(1, month=11), add_months(last, 1), exiting.monthly_fen))
    return log, bad, good


def test_payments_that_follow_the_decisions_are_not_reported() -> None:
    """The first month with the approval, a re-issue of a failed payment, the new amount after
    an amount change, the months of a gradual exit, the advance as granted."""
    log, bad, good = payments_history(planted=False)
    assert bad == set() and len(good) == 8
    fold = log.replay()
    assert of_kind(fold, "payment_without_approval") == []
    assert of_kind(fold, "divergence") == of_kind(fold, "decision_differs") == []
    paying = fold.cases[f"{CIXI}-20250303-paying"]
    assert paying.monthly_for("2025-05") > paying.monthly_for("2025-06") > 0


def test_each_payment_without_a_matching_approval_is_reported_once_with_its_id() -> None:
    log, bad, good = payments_history(planted=True)
    assert len(bad) == 5
    fold = log.replay()
    found = [f for f in fold.findings if f.kind in REPORTS["payments-without-approval"]]
    assert Counter(f.data["payment_id"] for f in found) == Counter(bad)  # each once
    assert not good & {f.data["payment_id"] for f in found}
    event_of = {json.loads(e[4]).get("payment_id"): e[3] for e in log.events
                if e[1] == ev.PaymentScheduled.type}
    assert all(f.event_id == event_of[f.data["payment_id"]] for f in found)
    assert of_kind(fold, "divergence") == of_kind(fold, "decision_differs") == []


def raised_twice(log: Log, name: str) -> tuple[CaseHistory, int]:
    """March paid; then two rises from March a minute apart (approval recalculating twice)."""
    case = dibao_approved(log, name)
    m = case.monthly_fen
    case.settle(cst(20), case.pay(cst(14), "2025-03", m))
    case.benefit(cst(1, 10, month=4), "amount_changed", "2025-03", m + 10_000)
    case.benefit(cst(1, 10, 1, month=4), "amount_changed", "2025-03", m + 25_000)
    return case, m


def test_back_pay_behind_a_second_change_is_judged_by_the_total_payment_reckoned() -> None:
    """Payment heard the first rise, not yet the second, when it topped March up: its back pay
    brings March to the first rise's amount while the decisions already say the second's, and
    April goes out by the first rise's amount too. The second back pay then tops March up
    again. None of it is a finding; what each check still finds is in the next test."""
    log = Log()
    case, m = raised_twice(log, "race")
    good = [case.pay(cst(1, 10, 2, month=4), "2025-03", 10_000, kind="back_pay",
                     tops_up_to=m + 10_000),
            case.pay(cst(1, 10, 2, month=4), "2025-04", m + 10_000),
            case.pay(cst(1, 10, 5, month=4), "2025-03", 15_000, kind="back_pay",
                     tops_up_to=m + 25_000)]
    fold = log.replay()
    assert of_kind(fold, "payment_without_approval") == [], good
    assert fold.cases[case.case_id].monthly_for("2025-03") == m + 25_000


def test_back_pay_paid_again_or_to_a_total_never_set_and_a_stale_month_are_found() -> None:
    log = Log()
    again, m = raised_twice(log, "again")
    again.pay(cst(1, 10, 5, month=4), "2025-03", 25_000, kind="back_pay", tops_up_to=m + 25_000)
    bad = {again.pay(cst(2, month=4), "2025-03", 25_000, kind="back_pay",  # the same top-up
                     tops_up_to=m + 25_000)}
    invented, m = raised_twice(log, "invented")
    bad.add(invented.pay(cst(1, 10, 5, month=4), "2025-03", 30_000, kind="back_pay",
                         tops_up_to=m + 30_000))  # a total the decisions never set
    short, m = raised_twice(log, "arithmetic")
    bad.add(short.pay(cst(1, 10, 5, month=4), "2025-03", 20_000, kind="back_pay",
                      tops_up_to=m + 25_000))  # does not bring March to its total
    stale, m = raised_twice(log, "stale")
    bad.add(stale.pay(cst(10, month=4), "2025-05", m + 10_000))  # replaced nine days before
    fold = log.replay()
    found = {f.data["payment_id"] for f in of_kind(fold, "payment_without_approval")}
    assert found == bad


# -- 5. approvals without a report --------------------------------------------------------------

def test_approval_without_report_and_an_advance_never_verified() -> None:
    log = Log()
    # An emergency approved the ordinary way (not as an advance) on its form-only assessment.
    form_only = log.case("form", "temporary", [person("p-fo1")], temporary=emergency(150_000))
    form_only.open(cst(3, 9))
    form_only.act(cst(3, 15), "accept", TOWN)
    form_only.act(cst(4, 10), "approve", TOWN)
    assert form_only.decision is not None and not form_only.decision.advance
    # An advance whose report never comes, and one whose report does.
    never = log.case("never", "temporary", [person("p-nv1")], temporary=emergency(100_000))
    never.open(cst(5, 9))
    advance = never.advanced(cst(5, 12))
    checked = log.case("checked", "temporary", [person("p-ck1")], temporary=emergency(100_000))
    checked.open(cst(5, 9))
    checked.advanced(cst(5, 12))
    checked.verified(cst(7), {"p-ck1": 50_000})
    assert checked.stage_now == "approved"

    fold = log.replay(until=cst(30))

    wanted = REPORTS["approvals-without-report"]
    found = [(f.kind, f.case_id, f.data["decision_id"]) for f in fold.findings
             if f.kind in wanted]
    assert found == [
        ("approval_without_report", form_only.case_id, form_only.decision.decision_id),
        ("advance_never_verified", never.case_id, advance.decision_id)]
    assert set(kinds(fold)) <= set(wanted)


# -- 6. stale reports ---------------------------------------------------------------------------

def test_a_decision_long_after_its_report_is_stale() -> None:
    log = Log()
    slow = log.case("slow", "dibao", [person("p-s1", wage=60_000)])
    slow.open(cst(3, 9))
    report_at = cst(4, 11)
    used = slow.verified(report_at, {"p-s1": 60_000}).report_id
    slow.through_notice(cst(6, 15), approve_late_by=timedelta(days=31))
    assert slow.decision is not None
    fresh = log.case("fresh", "dibao", [person("p-f1", wage=60_000)])
    fresh.open(cst(3, 9))
    fresh.verified(cst(4, 11), {"p-f1": 60_000})
    fresh.through_notice(cst(6, 15))
    assert fresh.decision is not None
    limit = 30
    assert (slow.decision.decided_at - report_at).days > limit
    assert (fresh.decision.decided_at - cst(4, 11)).days < limit

    stale = of_kind(log.replay(stale_after_days=limit), "stale_report")
    assert [(f.case_id, f.data["report_id"]) for f in stale] == [(slow.case_id, used)]
    assert of_kind(log.replay(), "stale_report") == []  # within the default 180 days


def test_a_decision_on_a_report_with_stale_partner_data_is_found() -> None:
    log = Log()
    case = log.case("old-data", "dibao", [person("p-o1", wage=60_000)])
    case.open(cst(3, 9))
    report = case.report(cst(4, 11), {"p-o1": 60_000}, stale=("bank",))
    case.assess_report(cst(4, 11) + timedelta(minutes=1), report)
    case.through_notice(cst(6, 15))
    assert case.decision is not None
    [found] = of_kind(log.replay(), "stale_report")
    assert found.case_id == case.case_id and found.data["stale_sources"] == ["bank"]
    assert found.data["report_id"] == report.report_id


def superseded_history(second_report_on: int) -> tuple[Log, CaseHistory]:
    """Approved on the first report while verification sent a second (new partner data) that
    approval had not assessed yet."""
    log = Log()
    case = log.case("lagging", "dibao", [person("p-l1", wage=60_000)])
    case.open(cst(3, 9))
    case.verified(cst(4, 11), {"p-l1": 60_000})
    case.report(cst(second_report_on, 11), {"p-l1": 70_000}, occasion="partner_data")
    case.through_notice(cst(5, 15))
    return log, case


def test_a_decision_on_a_report_superseded_by_one_that_had_arrived_is_stale() -> None:
    log, case = superseded_history(second_report_on=10)
    assert case.decision is not None and case.decision.decided_at > cst(10, 11)
    first, newer = (r["report_id"] for r in recorded(log, ev.VerificationReported.type))
    assert case.assessed is not None and case.assessed.report_id == first
    [found] = of_kind(log.replay(), "stale_report")
    assert found.case_id == case.case_id and found.data["newer"] == [newer]
    assert found.data["report_id"] == first

    log, case = superseded_history(second_report_on=13)  # after the decision (the 12th)
    assert case.decision is not None and case.decision.decided_at < cst(13, 11)
    assert of_kind(log.replay(), "stale_report") == []


# -- 7. overdue and late ------------------------------------------------------------------------

def test_a_stage_open_past_its_limit_is_overdue_and_one_left_after_it_is_late() -> None:
    log = Log()
    stuck, slow, prompt = (log.case(n, "dibao", [person(f"p-{n}", wage=60_000)])
                           for n in ("stuck", "slow", "prompt"))
    for case in (stuck, slow, prompt):
        case.open(cst(3, 9))
        case.verified(cst(4, 11), {case.refs[0]: 60_000})
    due = stuck.due_at
    assert due is not None and due == slow.due_at == prompt.due_at
    slow.through_notice(due + timedelta(days=2))
    prompt.through_notice(due - timedelta(days=2))

    end = log.events[-1][0]
    fold = log.replay(until=end)
    [late] = of_kind(fold, "late")
    assert late.case_id == slow.case_id and late.data["stage"] == "awaiting_review"
    assert late.data["due_at"] == due.isoformat()
    assert late.data["left_at"] == (due + timedelta(days=2)).isoformat()
    [overdue] = of_kind(fold, "overdue")
    assert overdue.case_id == stuck.case_id and overdue.data["stage"] == "awaiting_review"
    assert overdue.at == end > due
    assert kinds(fold, prompt.case_id) == Counter()
    assert set(REPORTS["overdue"]) == {"overdue", "late"}

    # The same log finished before the limit: nothing is overdue yet.
    early = log.replay(events=log.up_to(due - timedelta(hours=1)),
                       until=due - timedelta(hours=1))
    assert of_kind(early, "overdue") == []


def test_a_notice_closed_after_it_ended_is_not_late() -> None:
    log = Log()
    case = log.case("noticed", "dibao", [person("p-n1", wage=60_000)])
    case.open(cst(3, 9))
    case.verified(cst(4, 11), {"p-n1": 60_000})
    case.through_notice(cst(5, 15), approve_late_by=timedelta(days=1))
    assert of_kind(log.replay(), "late") == []


def test_a_case_under_notice_after_the_notice_ended_is_not_overdue() -> None:
    log = Log()
    case = log.case("noticed", "dibao", [person("p-n1", wage=60_000)])
    case.open(cst(3, 9))
    case.verified(cst(4, 11), {"p-n1": 60_000})
    case.act(cst(5, 15), "accept", TOWN)
    assert case.notice_ends_at is not None
    assert of_kind(log.replay(until=case.notice_ends_at + timedelta(days=1)), "overdue") == []


# -- 8. a point in time -------------------------------------------------------------------------

def test_a_replay_up_to_a_day_gives_each_case_as_it_stood_that_day() -> None:
    log = Log()
    case = dibao_approved(log, "pit")  # accepted on the 6th, approved when the notice ends
    assert case.decision is not None
    approved_on = clock.local_date(case.decision.decided_at).day
    case.pay(cst(approved_on + 1), "2025-03", case.monthly_fen)
    paused = dibao_approved(log, "paused")
    paused.act(cst(10, month=5), "suspend", DISTRICT, note="not at home on two visits")

    def as_of(until: datetime) -> dict[str, CaseState]:
        fold, summary = replay(iter(log.up_to(until)), POLICY, Scope(until=until))
        assert summary.events == len(log.up_to(until)) and summary.divergences == 0
        return fold.cases

    during = as_of(end_of(8))
    assert during[case.case_id].stage == "under_notice"
    assert during[case.case_id].view()["outcome"] is None
    assert during[case.case_id].monthly_for("2025-03") == 0

    after = as_of(end_of(approved_on))
    assert after[case.case_id].stage == "approved"
    assert after[case.case_id].monthly_for("2025-03") == case.decision.monthly_amount_fen > 0
    assert after[case.case_id].payments == {}  # paid the next day

    before = as_of(end_of(30, month=4))
    assert before[paused.case_id].stage == "approved"
    assert before[paused.case_id].monthly_for("2025-06") == paused.monthly_fen > 0
    suspended = as_of(end_of(20, month=5))[paused.case_id]
    assert suspended.stage == "suspended"
    assert suspended.monthly_for("2025-05") == paused.monthly_fen  # May is still paid
    assert suspended.monthly_for("2025-06") == 0


# -- 9. scope -----------------------------------------------------------------------------------

def test_a_scope_limits_reruns_and_findings_but_every_case_is_folded() -> None:
    log = Log()
    home = dibao_approved(log, "home", members=[
        person("p-sc1", wage=60_000), person("p-sc2", "spouse", age=50, grade=1)])
    # Planted: stale_report — new partner data on the 8th, not assessed before the approval.
    home.report(cst(8), {"p-sc1": 70_000}, occasion="partner_data")
    subsidy = log.case("subsidy", "disability", [person("p-sc2", age=50, grade=1)])
    subsidy.open(cst(17, 9))
    subsidy.verified(cst(18, 11), household_status="dibao")
    assert subsidy.due_at is not None
    subsidy.act(subsidy.due_at + timedelta(days=2), "accept", TOWN)  # planted: late
    subsidy.act(subsidy.due_at + timedelta(days=3), "approve", DISTRICT)
    assert subsidy.stage_now == "approved"
    far = log.case("far", "temporary", [person("p-qd1")], region=QINGDAO,
                   temporary=emergency(100_000))
    far.open(cst(20, 9))
    far.advanced(cst(20, 12))  # planted: advance_never_verified
    planted = {home.case_id: "stale_report", subsidy.case_id: "late",
               far.case_id: "advance_never_verified"}

    scopes = [
        (Scope(), {home, subsidy, far}),
        (Scope(case_id=subsidy.case_id), {subsidy}),
        (Scope(programme="disability"), {subsidy}),
        (Scope(region_code=QINGDAO), {far}),
        (Scope(region_code=QINGDAO[:4]), {far}),
        (Scope(region_code=CIXI, programme="dibao"), {home}),
        (Scope(region_code=CIXI[:4]), {home, subsidy}),
    ]
    for scope, chosen in scopes:
        fold, summary = replay(iter(log.events), POLICY, scope)
        ids = {c.case_id for c in chosen}
        assert {(f.case_id, f.kind) for f in fold.findings} == \
            {(c, planted[c]) for c in ids}, scope
        assert summary.decisions_rerun == sum(log.count(ev.CaseAssessed.type, c) for c in ids)
        assert summary.divergences == 0, scope  # the subsidy still sees the Dibao household
        assert summary.cases == 3 and summary.cases_selected == len(chosen)
        assert summary.events == len(log.events)


def test_a_programme_scoped_timeline_starts_with_the_application() -> None:
    log = Log()
    case = dibao_approved(log, "timeline")
    fold = Replay(POLICY, selected=Scope(programme="dibao").selects)
    for at, event_type, case_id, event_id, value in log.events:
        fold.apply(event_type, case_id, at, event_id, value)
    mine = [kind for case_id, _at, kind, _summary, _id in fold.timeline if case_id == case.case_id]
    assert mine == [e[1] for e in log.events if e[2] == case.case_id]  # every event, in order


# -- 10. across topics --------------------------------------------------------------------------

def test_a_report_that_overtook_its_application_replays_without_divergence() -> None:
    log = Log()
    # Verification reported at 09:05; approval read the report first, kept it, and assessed
    # it when the application reached it at 09:30.
    case = log.case("overtaken", "dibao", [person("p-o1", wage=60_000), person("p-o2", "spouse")])
    case.apply(cst(3, 9))
    report = case.report(cst(3, 9, 5), {"p-o1": 60_000}, work={"p-o1": 60_000})
    case.stage(cst(3, 9, 30), "awaiting_report", "submitted")
    case.assess_report(cst(3, 9, 30), report)
    # An emergency whose report came first too, and whose event time, made on a clock behind
    # intake's, is even before the application's: approval assessed the form, then the report.
    fire = log.case("overtaken-fire", "temporary", [person("p-of1")],
                    temporary=emergency(120_000))
    fire_report = fire.report(cst(4, 8, 58), {"p-of1": 40_000})
    fire.open(cst(4, 9))
    fire.assess_report(cst(4, 9, 1), fire_report)
    assert next(e[1] for e in log.events if e[2] == fire.case_id) \
        == ev.VerificationReported.type

    fold = log.replay()
    assert of_kind(fold, "divergence") == []
    assert fold.decisions_rerun == log.count(ev.CaseAssessed.type) == 3
    state = fold.cases[case.case_id]
    assert state.stage == "awaiting_review" and state.programme == "dibao"
    assert state.view()["assessments"] == 1 and state.reported_at == {
        report.report_id: report.reported_at}
    assert fold.cases[fire.case_id].view()["assessments"] == 2
    assert fold.findings == []


def test_a_second_payment_of_the_same_month_or_a_second_reissue_is_reported() -> None:
    log = Log()
    paying = dibao_approved(log, "twice")
    monthly = paying.monthly_fen
    march = paying.pay(cst(14), "2025-03", monthly)
    again = paying.pay(cst(15), "2025-03", monthly)  # the same month, paid again
    april = paying.pay(cst(1, month=4), "2025-04", monthly)
    paying.settle(cst(8, month=4), april, "failed")
    first = paying.pay(cst(12, month=4), "2025-04", monthly, reissue_of=april)
    second = paying.pay(cst(13, month=4), "2025-04", monthly, reissue_of=april)
    fold = log.replay()
    reported = {f.data["payment_id"] for f in of_kind(fold, "payment_without_approval")}
    assert reported == {again, second}
    assert not reported & {march, april, first}


def test_events_archived_before_fields_were_added_replay_as_the_full_ones() -> None:
    """The fold reads applications and reports as parsed JSON; one written before a field was
    added (here: every field left at its default dropped, as in an older release) goes through
    its model, and gives the same cases and no finding."""
    log, _ = consistent_history()
    full = log.replay()

    def older(data: Any, model: type[BaseModel]) -> Any:
        out = {}
        for name, value in data.items():
            spec = model.model_fields[name]
            if not spec.is_required() and value == spec.get_default(call_default_factory=True):
                continue  # not written then
            inner = _part(spec.annotation)
            if inner is not None and isinstance(value, list):
                value = [older(v, inner) for v in value]
            out[name] = value
        return out

    dropped = 0
    for i, (at, type_, case_id, event_id, body) in enumerate(log._published):
        model = {ev.ApplicationSubmitted.type: ev.ApplicationSubmitted,
                 ev.VerificationReported.type: ev.VerificationReported}.get(type_)
        if model is not None:
            data = json.loads(body)
            old = older(data, model)
            dropped += len(json.dumps(data)) > len(json.dumps(old))
            log._published[i] = (at, type_, case_id, event_id, json.dumps(old).encode())
    assert dropped == log.count(ev.ApplicationSubmitted.type) + \
        log.count(ev.VerificationReported.type)

    again = log.replay()
    assert again.findings == [] == full.findings
    assert again.decisions_rerun == full.decisions_rerun == 4
    assert {c: s.view() for c, s in again.cases.items()} == \
        {c: s.view() for c, s in full.cases.items()}
    assert again.timeline == full.timeline


def _part(annotation: Any) -> type[BaseModel] | None:
    """The model of a list's items (``list[MemberFacts]``), if it is one."""
    for arg in getattr(annotation, "__args__", ()):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def test_only_decisions_that_cannot_grant_a_one_off_amount_are_left_unread() -> None:
    """Of another share's decisions the fold reads only those that may grant a one-off amount
    (it counts against a shared member's yearly cap); the others are recognised unread."""
    from services.audit.adapters.archived_json import may_grant

    log, cases = consistent_history()
    fire = cases["fire"].decision
    yes = cases["yes"].decision
    assert fire is not None and fire.one_off_amount_fen > 0
    assert yes is not None and yes.outcome == "approved" and yes.one_off_amount_fen == 0
    rejected = [e[4] for e in log.events if e[1] == ev.ApplicationDecided.type
                and json.loads(e[4])["outcome"] == "rejected"]
    assert rejected

    assert may_grant(fire.model_dump_json().encode())
    assert not may_grant(yes.model_dump_json().encode())
    assert not may_grant(rejected[0])
    # Written otherwise than the catalogue writes it: read, whatever it holds.
    for decision in (fire, yes):
        assert may_grant(json.dumps(decision.model_dump(mode="json"), sort_keys=True).encode())
