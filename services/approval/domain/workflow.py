"""The case workflow: pre-assessment → town review → public notice → approval, and after.

Pure: ``act`` takes the case as it is, an action, who acts and when, and returns the stage
changes it makes — or refuses with a reason. The service layer stores the changes and publishes
one event per change. An action the case's stage does not allow changes nothing (HTTP 409).

    awaiting_report ─report→ awaiting_review ─accept→ under_notice ─close_notice→ awaiting_approval
                             │  │  └return→ returned ─resume→ awaiting_review       │
                             │  └reject→ rejected          objection upheld ↩     approve / reject
                             └advance (emergency)→ advance_paid ─report→ approved | follow_up
    approved ─suspend→ suspended ─reinstate→ approved;  approved|exiting|suspended ─terminate→ …
    approved ─report: income from work rose→ exiting (gradual exit, 渐退: reassessment.py)
    awaiting_report ─consent missing→ returned ─consent recorded→ awaiting_report (consent.py)
                          ─withdraw→ terminated;  ─close_without_consent→ rejected (no consent)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from services.approval.domain.assessment import Assessment
from services.approval.domain.facts import yuan
from services.approval.domain.policy import PolicyTable
from shared import clock

# Proposed recipients of recurring cash are publicly noticed (公示); temporary assistance and the
# disability subsidies are not (national practice), nor the orphans' allowance here: a notice
# would publish which children lost their parents, whose privacy the Minors Protection Law
# (未成年人保护法, art. 4) protects — regions differ, and one that notices would add it here.
NOTICED = frozenset({"dibao", "tekun", "marginal"})
RECURRING = frozenset({"dibao", "tekun", "marginal", "disability", "orphan"})
# A case runs (its benefit is paid) in these stages.
RUNNING = ("approved", "exiting")
# A household's status is its strongest running recognition, strongest first: the household
# of an extreme-hardship person is not also "a Dibao household" for the rules that ask.
HOUSEHOLD_STATUS_ORDER = ("tekun", "dibao", "marginal")
TOWN, DISTRICT, CLERK = "town_reviewer", "district_approver", "window_clerk"


class ActionRefused(Exception):
    """The action is not allowed now; nothing changed. ``field`` names a missing input; ``code``
    says which kind of refusal it is, for a reader who shows it in their own language (the
    window) or lists what a case can do now (``allowed.allowed_actions``)."""

    def __init__(self, reason: str, field: str | None = None, code: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.field, self.code = reason, field, code


@dataclass(frozen=True)
class Actor:
    role: str
    staff_id: str

    def __str__(self) -> str:
        return f"{self.role}:{self.staff_id}"


SYSTEM = Actor("system", "onedoor")

# Each staff action: the stages it is taken in and the roles that take it, as ``act`` checks
# them first. One table, so that the actions a role is offered (allowed.py) are the ones ``act``
# lets it take. A town approves too where approval is delegated (``town_may_approve``), and
# ``approve`` during the notice closes it first.
STEPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "accept": (("awaiting_review",), (TOWN,)),
    "return": (("awaiting_review",), (TOWN,)),
    "resume": (("returned",), (TOWN, CLERK)),
    "advance": (("awaiting_report", "awaiting_review"), (TOWN,)),
    "close_notice": (("under_notice",), (TOWN, "system")),
    "object": (("under_notice",), (CLERK, TOWN, DISTRICT)),
    "resolve_objection": (("under_notice",), (TOWN,)),
    "approve": (("awaiting_approval",), (DISTRICT,)),
    "confirm": (("follow_up",), (TOWN, DISTRICT)),
    "reject": (("awaiting_review", "under_notice", "awaiting_approval", "follow_up"),
               (TOWN, DISTRICT)),
    "suspend": (("approved", "exiting"), (DISTRICT,)),
    "reinstate": (("suspended",), (DISTRICT,)),
    "terminate": (("approved", "exiting", "suspended"), (DISTRICT,)),
    # A case returned for want of a member's consent, ended at the town's window: the
    # applicant withdraws (the clerk records it), or the town closes it not approved.
    "withdraw": (("returned",), (CLERK, TOWN)),
    "close_without_consent": (("returned",), (TOWN,)),
}
# The reason code verification withholds its check for (domain/consent.py's CONSENT_MISSING).
CONSENT_HOLD = "consent_missing"


@dataclass(frozen=True)
class Case:
    case_id: str
    programme: str
    region_code: str
    stage: str
    sequence: int
    emergency: bool = False
    assessment: Assessment | None = None
    notice_ends_at: datetime | None = None
    open_objections: int = 0
    home_survey: bool = False
    verified: bool = False  # the assessment is from a verification report, not the form alone
    # The occasion (application, periodic_review) verification withholds its check for until
    # a member's consent is recorded (domain/consent.py), or None; and the hold's reason code.
    held: str | None = None
    held_reason: str | None = None


@dataclass(frozen=True)
class Ground:
    """A decision's ground the workflow itself gives: a code and words composed here, never
    text a person typed (the decision's reasons carry it on the bus)."""

    rule: str
    label_zh: str
    detail: str


# 《最低生活保障审核确认办法》(民发〔2021〕57号): applying binds the household's members to
# complete the authorisation of the check of their economic status (授权核对, art. 8 as we read
# it), and a member who without good reason will not cooperate ends the review (终止审核确认; the
# article's number is to be checked against the official text, docs/ARCHITECTURE.md). The town
# records that end as a decision not to approve, with this ground, so that every reader of
# decisions closes the case: intake frees its members, payment has nothing to pay, verification
# stops watching it, audit folds it like any rejection.
CONSENT_NOT_GIVEN = Ground("consent_not_given", "未履行家庭经济状况核对授权",
                           "the household did not authorise the check of its economic status "
                           "(授权核对)")


@dataclass(frozen=True)
class Change:
    """One stage change, and the decision it makes, if any."""

    to_stage: str
    action: str
    note: str | None = None  # typed by the staff who act: kept in approval, never published
    explanation: str | None = None  # composed here from the assessment's figures
    due_at: datetime | None = None
    notice_ends_at: datetime | None = None
    decides: str | None = None  # approved | rejected | advance
    decided_by: str | None = None  # town | district
    benefit_change: str | None = None  # suspended | resumed | terminated
    ground: Ground | None = None  # the workflow's own reason for the decision, if it gives one


@dataclass
class Rules:
    """The policy figures the workflow needs, for the case's region on the day of the action."""

    table: PolicyTable
    region: str
    on: date
    used: list[str] = field(default_factory=list)

    def value(self, name: str) -> int:
        fig = self.table.figure(name, self.region, self.on)
        if fig is None:
            raise ActionRefused(f"no {name} in force for region {self.region}: set it in the "
                                "policy files")
        self.used.append(fig.ref)
        return fig.value


def add_working_days(start: datetime, days: int, table: PolicyTable) -> datetime:
    """The end of the ``days``-th working day after ``start`` (China time), as UTC."""
    day = clock.local_date(start)
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if table.is_working_day(day):
            counted += 1
    end = datetime.combine(day, time(23, 59, 59), tzinfo=clock.CHINA)
    return end.astimezone(start.tzinfo)


def town_review_due(now: datetime, rules: Rules, emergency: bool) -> datetime:
    if emergency:
        return now + timedelta(hours=rules.value("workflow.emergency_advance_hours"))
    return add_working_days(now, rules.value("workflow.town_review_working_days"), rules.table)


def _approval_due(now: datetime, rules: Rules) -> datetime:
    return add_working_days(now, rules.value("workflow.district_approval_working_days"),
                            rules.table)


def _need(case: Case, actor: Actor, action: str, roles: tuple[str, ...] | None = None) -> None:
    stages, usual = STEPS[action]
    roles = roles or usual
    if case.stage not in stages:
        raise ActionRefused(f"cannot {action} a case that is {case.stage} "
                            f"(only when {' or '.join(stages)})", code="stage")
    if actor.role not in roles:
        raise ActionRefused(f"a {actor.role} cannot {action}; needs {' or '.join(roles)}",
                            code="role")


def _note(note: str | None, action: str) -> str:
    if not note or not note.strip():
        raise ActionRefused(f"{action} needs a reason", field="note")
    return note.strip()


def _eligible(case: Case, action: str) -> Assessment:
    a = case.assessment
    if a is None:
        raise ActionRefused(f"cannot {action} before the pre-assessment (no verification report)",
                            code="not_assessed")
    if a.eligible is None:
        raise ActionRefused(f"cannot {action}: the pre-assessment could not decide ("
                            + "; ".join(c.detail for c in a.failed) + ")", code="undecided")
    if not a.eligible:
        raise ActionRefused(f"cannot {action}: the pre-assessment failed ("
                            + "; ".join(c.detail for c in a.failed) + "); return or reject",
                            code="ineligible")
    return a


def town_may_approve(case: Case, rules: Rules) -> bool:
    """Towns approve where the district delegated approval, and small temporary assistance."""
    if rules.value("workflow.town_delegated_approval") == 1:
        return True
    if case.programme == "temporary" and case.assessment is not None:
        return case.assessment.one_off_amount_fen <= rules.value(
            "temporary.town_approval_limit_fen")
    return False


def act(case: Case, action: str, actor: Actor, now: datetime, rules: Rules, *,
        note: str | None = None, justification: str | None = None,
        upheld: bool | None = None) -> list[Change]:
    """The stage changes an action makes, or ``ActionRefused``."""
    if action == "accept":
        _need(case, actor, action)
        _eligible(case, action)
        if case.programme in NOTICED:
            if not case.home_survey:
                raise ActionRefused("accept needs the home survey (入户调查) record",
                                    field="home_survey")
            ends = now + timedelta(days=rules.value("workflow.public_notice_days"))
            return [Change("under_notice", action, note, due_at=ends, notice_ends_at=ends)]
        return [Change("awaiting_approval", action, note, due_at=_approval_due(now, rules))]
    if action == "return":
        _need(case, actor, action)
        return [Change("returned", action, _note(note, action))]
    if action == "resume":
        _need(case, actor, action)
        if case.held == "application":
            raise ActionRefused("verification waits for a member's consent: record it, and the "
                                "case goes back to verification", code="consent_missing")
        return [Change("awaiting_review", action, note,
                       due_at=town_review_due(now, rules, case.emergency))]
    if action == "reject":
        _need(case, actor, action)
        return [Change("rejected", action, _note(note, action), decides="rejected",
                       decided_by="town" if actor.role == TOWN else "district")]
    if action in ("withdraw", "close_without_consent"):
        _need(case, actor, action)
        _consent_held(case, action)
        if action == "withdraw":
            # No decision: the application ends (终止), as the household asked. The stage is the
            # one a running benefit ends in, and the action tells them apart: every reader knows
            # it closes a case, where a stage of its own would change the events' contract.
            return [Change("terminated", action, note)]
        return [Change("rejected", action, note, decides="rejected", decided_by="town",
                       ground=CONSENT_NOT_GIVEN)]
    if action == "object":
        _need(case, actor, action)
        return [Change("under_notice", "objection_recorded", _note(note, action),
                       notice_ends_at=case.notice_ends_at)]
    if action == "resolve_objection":
        _need(case, actor, action)
        if upheld is None:
            raise ActionRefused("say whether the objection is upheld", field="upheld")
        if upheld:
            return [Change("awaiting_review", "objection_upheld", _note(note, action),
                           due_at=town_review_due(now, rules, case.emergency))]
        return [Change("under_notice", "objection_dismissed", _note(note, action),
                       notice_ends_at=case.notice_ends_at)]
    if action == "close_notice":
        _need(case, actor, action)
        _notice_over(case, now)
        return [Change("awaiting_approval", action, note, due_at=_approval_due(now, rules))]
    if action == "approve":
        changes: list[Change] = []
        if case.stage == "under_notice":  # approving at the end of the notice closes it
            _notice_over(case, now)
            changes.append(Change("awaiting_approval", "close_notice",
                                  due_at=_approval_due(now, rules)))
            case = Case(**{**case.__dict__, "stage": "awaiting_approval"})
        roles = (DISTRICT, TOWN) if town_may_approve(case, rules) else (DISTRICT,)
        _need(case, actor, action, roles)
        assessment = _eligible(case, action)
        if case.programme == "temporary":
            ceiling = rules.value("temporary.normal_ceiling_fen")
            if assessment.one_off_amount_fen > ceiling and not (justification or "").strip():
                raise ActionRefused(
                    f"{assessment.one_off_amount_fen} fen is above the normal ceiling of "
                    f"{ceiling} fen: one case, one discussion (一事一议) needs its justification",
                    field="justification")
        return [*changes, Change("approved", action, note, decides="approved",
                                 decided_by="town" if actor.role == TOWN else "district")]
    if action == "advance":
        if not (case.programme == "temporary" and case.emergency):
            raise ActionRefused("only emergency temporary assistance is paid in advance",
                                code="programme")
        _need(case, actor, action)
        assessed = case.assessment
        # The report came first, but the means test cannot run (a figure only it needs is not
        # in force): the advance stands on the form alone, and staff follow the report up.
        undecided = (assessed is not None and assessed.eligible is None
                     and {c.rule for c in assessed.failed} == {"means_test_policy"})
        if assessed is None or not (assessed.eligible or undecided):
            raise ActionRefused("cannot advance: " + ("; ".join(
                c.detail for c in assessed.failed) if assessed else "not assessed yet"))
        limit = rules.value("temporary.town_approval_limit_fen")
        if assessed.one_off_amount_fen > limit:
            raise ActionRefused(f"an advance is at most the town's limit of {limit} fen; "
                                "this amount goes the normal way")
        paid = Change("advance_paid", action, note, decides="advance", decided_by="town")
        if undecided:
            return [paid, Change("follow_up", "verification_inconclusive_after_advance",
                                 explanation=summary(assessed))]
        if case.verified:  # the report came first: nothing is left to verify afterwards
            return [paid, Change("approved", "verified_before_advance",
                                 explanation=summary(assessed))]
        return [paid]
    if action == "confirm":  # after a failed verification of an advance, staff keep it
        _need(case, actor, action)
        return [Change("approved", action, _note(note, action))]
    if action == "suspend":
        _need(case, actor, action)
        _recurring(case, action)
        return [Change("suspended", action, _note(note, action), benefit_change="suspended")]
    if action == "reinstate":
        _need(case, actor, action)
        return [Change("approved", action, _note(note, action), benefit_change="resumed")]
    if action == "terminate":
        _need(case, actor, action)
        _recurring(case, action)
        return [Change("terminated", action, _note(note, action), benefit_change="terminated")]
    raise ActionRefused(f"unknown action {action!r}")


def _notice_over(case: Case, now: datetime) -> None:
    if case.notice_ends_at is not None and now < case.notice_ends_at:
        raise ActionRefused(f"the public notice runs until {case.notice_ends_at.isoformat()}",
                            code="notice_running")
    if case.open_objections:
        raise ActionRefused(f"{case.open_objections} objection(s) to the notice are not "
                            "resolved yet", code="objections_open")


def _consent_held(case: Case, action: str) -> None:
    """Only an application verification withholds for want of a consent ends so (a withdrawal
    decides nothing, and verification learns that a case ended only from a decision: one it
    withholds is one it never looks at). A case the town returned itself has no such hold: it is
    resumed, then rejected. Once the consent is recorded the hold is released and the case waits
    for verification again (awaiting_report): the ground — no authorisation — is gone, so it may
    not be closed while the check runs, nor race it; withheld again (another member), the case
    comes back and may be ended then. Refused as a matter of stage: a page does not offer it."""
    if case.held != "application" or case.held_reason != CONSENT_HOLD:
        raise ActionRefused(f"cannot {action}: verification is not waiting for a member's "
                            "consent to this application", code="stage")


def _recurring(case: Case, action: str) -> None:
    if case.programme not in RECURRING:
        raise ActionRefused(f"cannot {action} a one-off {case.programme} case",
                            code="programme")


def on_report(case: Case, assessment: Assessment, now: datetime, rules: Rules) -> list[Change]:
    """What a verification report does to a case that is not yet a running benefit."""
    if case.stage == "awaiting_report":
        return [Change("awaiting_review", "pre_assessed", explanation=summary(assessment),
                       due_at=town_review_due(now, rules, case.emergency))]
    if case.stage == "advance_paid":
        if assessment.eligible:
            return [Change("approved", "verified_after_advance", explanation=summary(assessment))]
        action = ("verification_failed_after_advance" if assessment.eligible is False
                  else "verification_inconclusive_after_advance")
        return [Change("follow_up", action, explanation=summary(assessment))]
    return []  # a newer report during review replaces the assessment; the stage stays


def summary(a: Assessment) -> str:
    if a.eligible is None:
        return "needs staff: " + "; ".join(c.detail for c in a.failed)
    if not a.eligible:
        return "not eligible: " + "; ".join(c.detail for c in a.failed)
    parts = []
    if a.monthly_amount_fen:
        parts.append(f"{yuan(a.monthly_amount_fen)} yuan/month")
    if a.one_off_amount_fen:
        parts.append(f"{yuan(a.one_off_amount_fen)} yuan once")
    return "eligible" + (": " + ", ".join(parts) if parts else "")
