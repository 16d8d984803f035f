"""A case verification may not check for want of a member's consent (授权核对), and the
consent recorded at the town's window that sends it back to verification.

Verification withholds its check, saying who must sign (``VerificationWithheld``), when an adult
member has not signed: on the application's form, or a child come of age by a periodic review.
A case still waiting for its first report goes back to the town's window (``returned``, the
stage a town's return uses): no time limit runs there, as the household must come and sign. A
case in any other stage keeps it — an emergency may still be paid in advance, a running benefit
runs on — and its hold, with the reason, is what the town's queue lists. Pure, like workflow.py.
"""

from __future__ import annotations

from datetime import date

from services.approval.domain.workflow import CLERK, TOWN, ActionRefused, Actor, Case, Change

CONSENT_MISSING = "consent_missing"  # the reason's code, as verification gives it
RECORDERS = (CLERK, TOWN)  # the town's staff, at its window


def withheld(members: int) -> str:
    """The move's explanation, composed from the count (the window words it per reader)."""
    return f"verification withheld: consent missing from {members} member(s)"


def on_withheld(case: Case, members: int) -> list[Change]:
    """What verification's withholding does to the case's stage."""
    if case.stage == "awaiting_report":
        return [Change("returned", CONSENT_MISSING, explanation=withheld(members))]
    return []


def record_consent(case: Case, actor: Actor, signed_on: date | None,
                   today: date) -> list[Change]:
    """The stage changes of recording the signed consent (the hold itself is released by the
    caller, which tells verification), or ``ActionRefused``."""
    if case.held is None:
        raise ActionRefused("verification is not waiting for a consent on this case",
                            code="nothing_held")
    if actor.role not in RECORDERS:
        raise ActionRefused(f"a {actor.role} cannot record a consent; needs "
                            f"{' or '.join(RECORDERS)}", code="role")
    if signed_on is None:
        raise ActionRefused("the day the consent was signed is needed", field="signed_on")
    if signed_on > today:
        raise ActionRefused("a consent cannot be signed after today", field="signed_on")
    if case.held == "application" and case.stage == "returned":
        return [Change("awaiting_report", "consent_recorded")]
    return []
