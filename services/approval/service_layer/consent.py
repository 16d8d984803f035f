"""The town records a member's signed consent (授权核对) that verification withheld its check
for: the hold is released, verification is told (``ConsentRecorded``) and checks the household
again, and an application's case goes back to waiting for its report. Or the household never
signs, and the case held for it ends at the window: withdrawn, or closed not approved. One unit
of work each."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from services.approval.adapters.holds import Hold, HoldRepository
from services.approval.adapters.repository import ApprovalRepository, Conflict
from services.approval.domain.consent import RECORDERS, record_consent
from services.approval.domain.policy import PolicyTable
from services.approval.domain.workflow import Actor, act
from services.approval.service_layer import casework
from shared import clock
from shared.events.catalogue import ConsentRecorded
from shared.uow import UnitOfWork


def record(uow: UnitOfWork, case_id: str, actor: Actor, signed_on: date | None, *,
           now: datetime | None = None) -> dict[str, Any]:
    """Record the consent every member the hold names has signed on ``signed_on``."""
    now = now or datetime.now(UTC)
    repo = ApprovalRepository(uow.conn)
    if repo.case(case_id, for_update=True) is None:  # one recording at a time per case
        raise casework.UnknownCase(f"no case {case_id} at approval")
    row, case = casework.load(repo, case_id)
    changes = record_consent(case, actor, signed_on, clock.local_date(now))
    holds = HoldRepository(uow.conn)
    hold = holds.open_hold(case_id)
    assert hold is not None and signed_on is not None  # record_consent refuses otherwise
    if not holds.release(hold.hold_id, signed_on, str(actor), now):
        raise Conflict(f"the consent on case {case_id} was recorded meanwhile")
    uow.publish(ConsentRecorded(
        case_id=case_id, occasion=hold.occasion,
        member_refs=list(hold.member_refs), signed_on=signed_on,
        recorded_by_role=actor.role,
        recorded_at=now))
    casework.apply_changes(uow, repo, row, case, changes, actor, now)
    uow.commit()
    return {"case_id": case_id, "stage": row["stage"], "sequence": row["sequence"],
            "recorded": list(hold.member_refs)}


# The actions that end a case held for a consent (workflow.py): the hold ends with it.
ENDINGS = frozenset({"withdraw", "close_without_consent"})


def end(uow: UnitOfWork, policy: PolicyTable, case_id: str, action: str, actor: Actor, *,
        note: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The applicant withdraws, or the town closes the case not approved for want of the
    consent (``workflow.act`` says whether it may): the case's stage changes and decision are
    published, and its hold is closed, so that no consent is recorded on an ended case and
    verification is never asked to check it."""
    now = now or datetime.now(UTC)
    repo = ApprovalRepository(uow.conn)
    if repo.case(case_id, for_update=True) is None:  # not while a consent is being recorded
        raise casework.UnknownCase(f"no case {case_id} at approval")
    row, case = casework.load(repo, case_id)
    changes = act(case, action, actor, now, casework.rules_for(policy, case.region_code, now),
                  note=note)
    holds = HoldRepository(uow.conn)
    hold = holds.open_hold(case_id)
    assert hold is not None  # act refuses a case verification is not waiting on
    if not holds.end(hold.hold_id, str(actor), now):
        raise Conflict(f"the consent on case {case_id} was recorded meanwhile")
    casework.apply_changes(uow, repo, row, case, changes, actor, now)
    uow.commit()
    return {"case_id": case_id, "stage": row["stage"], "sequence": row["sequence"]}


def held(hold: Hold | None, facts: dict[str, Any]) -> dict[str, Any] | None:
    """The open hold as the case page shows it: the reason's code, the occasion, and each
    member who must sign with their place on the form (from 1) and relation — which the window
    matches with intake's members — never a name."""
    if hold is None:
        return None
    members = facts.get("members") or []
    place = {m.get("person_ref"): (i + 1, m.get("relation")) for i, m in enumerate(members)}
    return {"reason": hold.reason, "occasion": hold.occasion,
            "held_at": hold.held_at.isoformat(), "recorded_by": list(RECORDERS),
            "members": [{"person_ref": ref, "position": place.get(ref, (None, None))[0],
                         "relation": place.get(ref, (None, None))[1]}
                        for ref in hold.member_refs]}
