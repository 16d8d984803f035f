"""A recipient's decision recomputed on new partner data or a periodic review: whether the
benefit goes on, changes, exits gradually (渐退) or is suspended for staff to look. Pure, like
the workflow whose rules and summaries it uses."""

from __future__ import annotations

from dataclasses import dataclass

from services.approval.domain.assessment import Assessment
from services.approval.domain.workflow import Rules, summary

# The rules income alone can fail; gradual exit applies only when these are all that failed.
INCOME_RULES = frozenset({"income_below_standard", "no_income_source", "income_below_band",
                          "income_after_rigid_spending"})


def add_months(month: str, n: int) -> str:
    y, m = map(int, month.split("-"))
    total = y * 12 + (m - 1) + n
    return f"{total // 12:04d}-{total % 12 + 1:02d}"


@dataclass(frozen=True)
class Reassessed:
    """What a recipient's new assessment changes."""

    to_stage: str | None
    benefit_change: str | None  # gradual_exit | suspended | resumed | amount_changed
    effective_month: str
    end_month: str | None
    monthly_amount_fen: int
    reason: str


def reassess(stage: str, current_monthly_fen: int, previous: Assessment, new: Assessment,
             previous_work_fen: int, new_work_fen: int, this_month: str,
             rules: Rules) -> Reassessed | None:
    """A recipient's decision recomputed on new partner data or a periodic review.

    A rise in income from new work leads to gradual exit (渐退): the benefit continues for the
    policy's grace months, so taking a job is never punished by an abrupt stop. Any other loss
    of eligibility suspends the benefit until staff have looked (never a silent termination).
    """
    nxt = add_months(this_month, 1)
    if new.eligible is None:
        return None  # a person must look; the assessment event says why
    if new.eligible:
        if stage == "exiting":
            return Reassessed("approved", "resumed", nxt, None, new.monthly_amount_fen,
                              "eligible again: gradual exit stopped; " + summary(new))
        if new.monthly_amount_fen != current_monthly_fen:
            return Reassessed(None, "amount_changed", nxt, None, new.monthly_amount_fen,
                              summary(new))
        return None
    if stage != "approved":
        return None  # already exiting or suspended
    failed = "; ".join(c.detail for c in new.failed)
    if new_work_fen > previous_work_fen and {c.rule for c in new.failed} <= INCOME_RULES:
        months = rules.value("dibao.gradual_exit_months")
        end = add_months(this_month, months)
        return Reassessed("exiting", "gradual_exit", nxt, end, current_monthly_fen,
                          f"income from work rose ({previous_work_fen} → {new_work_fen} fen/"
                          f"month): benefit continues to {end} ({months} months), then ends; "
                          + failed)
    return Reassessed("suspended", "suspended", nxt, None, 0,
                      "no longer eligible, pending staff review: " + failed)
