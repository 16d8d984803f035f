"""A decision is made with the figures in force on its day (issue 22: cases still in the
workflow when a published figure takes effect).

A publication's recalculation job reaches the benefits running when it runs. A case still in
the workflow was pre-assessed with the figures of its report's day, and is decided later — maybe
after a published figure has taken effect, maybe before one that is published already takes
effect. Two rules close the gap, both at the approval:

- **Before deciding**, when a figure the pre-assessment used is no longer the one in force on
  the decision day (China time), the case is assessed again, recorded and published
  (``CaseAssessed``) — the reviewer's screen and the decision then show the same amount, and an
  auditor's replay re-runs that assessment like any other.
- **After deciding**, each later effective day of a figure already published for the case's
  region recalculates the new benefit exactly as the job recalculates a recipient
  (``recalculation_household.Recalculator``): a new assessment on that day and a
  ``BenefitChanged`` from its month. The benefit pays the old amount up to the figure's month
  and the new one from it, as it would had it been running when the figure was published.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any

from services.approval.adapters.repository import ApprovalRepository
from services.approval.domain.assessment import Assessment
from services.approval.domain.policy import FIGURES, PolicyTable, region_chain
from services.approval.domain.workflow import RECURRING, RUNNING, SYSTEM, Case, Change
from services.approval.service_layer import casework
from services.approval.service_layer.recalculation_household import (
    Household,
    Recalculated,
    Recalculator,
)
from shared import clock
from shared.uow import UnitOfWork


def policy_moved(assessment: Assessment, table: PolicyTable, region: str, on: date) -> bool:
    """Whether a figure the assessment used is not the version in force for ``region`` on
    ``on``: another value, another region's figure or another effective date."""
    for check in assessment.checks:
        for used in check.parameters:
            now = table.figure(used.name, region, on)
            if now is None or (now.region, now.effective_from, now.value) != (
                    used.region, used.effective_from, used.value):
                return True
    return False


def assessed_for_decision(uow: UnitOfWork, repo: ApprovalRepository, row: dict[str, Any],
                          case: Case, policy: PolicyTable, now: datetime) -> Case:
    """The case as an approval should decide it: with a new assessment on the decision day when
    the policy moved since its pre-assessment, else as it is. Recurring benefits only: a
    one-off is granted as pre-assessed (its figures decide no month)."""
    a = case.assessment
    if a is None or case.programme not in RECURRING or case.stage in RUNNING:
        return case
    if not policy_moved(a, policy, case.region_code, clock.local_date(now)):
        return case
    facts = casework.current_facts(repo, casework.facts_of(row), now)
    fresh = casework.run_assessment(uow, repo, row, facts, policy, now)
    return replace(case, assessment=fresh)


def later_figures(uow: UnitOfWork, repo: ApprovalRepository, case_id: str,
                  policy: PolicyTable, now: datetime) -> list[Recalculated]:
    """A benefit just granted, recalculated for every figure of its region already published to
    take effect after today, in day order, as the publication's job would have had the benefit
    been running; what each day did."""
    row = repo.case(case_id)
    if row is None or row["programme"] not in RECURRING or row["stage"] not in RUNNING:
        return []
    today, chain = clock.local_date(now), region_chain(row["region_code"])
    days = sorted({f.effective_from for f in policy.figures  # approval's figures: the
                   if f.region in chain and f.effective_from > today  # table holds
                   and f.name in FIGURES})  # verification's as published, which move nothing
    done = []
    for day in days:
        row, case = casework.load(repo, case_id)
        if case.stage not in RUNNING or not row["assessment_id"]:
            break
        stored = repo.assessment(row["assessment_id"])
        assert stored is not None
        r = Recalculator(policy, day, now)(Household(
            case_id, row["programme"], row["region_code"], row["stage"],
            row["monthly_amount_fen"], casework.current_facts(repo, casework.facts_of(row), now),
            stored["body"]))
        apply_recalculated(uow, repo, row, case, r, now)
        done.append(r)
    return done


def apply_recalculated(uow: UnitOfWork, repo: ApprovalRepository, row: dict[str, Any],
                       case: Case, r: Recalculated, now: datetime) -> None:
    """Store and publish what a recalculation changes, as the job's batch does."""
    c = r.changed
    if c is None:
        return
    repo.add_assessment(c.assessment)
    repo.set_case(case.case_id, assessment_id=c.assessment["assessment_id"])
    uow.publish(c.assessed)
    uow.publish(c.changed)
    if c.monthly_fen is not None:
        repo.set_case(case.case_id, monthly_amount_fen=c.monthly_fen)
    if c.to_stage:
        casework.apply_changes(uow, repo, row, case, [Change(
            c.to_stage, "reassessed_policy_change", explanation=c.reason)], SYSTEM, now)
