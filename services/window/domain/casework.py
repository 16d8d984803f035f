"""What each person's pages offer: the queues on their home page, and the actions a case page
shows for the case's stage and their role.

The workflow's rules are approval's (services/approval/domain/workflow.py); this table only
decides which buttons to draw. Approval remains the judge: an action it refuses (409, 422) is
shown with its reason and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.auth.principals import Role

C, T, D = Role.WINDOW_CLERK, Role.TOWN_REVIEWER, Role.DISTRICT_APPROVER
# Programmes whose proposed recipients are publicly noticed: acceptance needs the home survey.
NOTICED = frozenset({"dibao", "tekun", "marginal"})


@dataclass(frozen=True)
class Offer:
    action: str
    stages: frozenset[str]
    roles: frozenset[Role]
    needs_note: bool = False


OFFERS = (
    Offer("accept", frozenset({"awaiting_review"}), frozenset({T})),
    Offer("return", frozenset({"awaiting_review"}), frozenset({T}), needs_note=True),
    Offer("resume", frozenset({"returned"}), frozenset({T, C})),
    Offer("advance", frozenset({"awaiting_report", "awaiting_review"}), frozenset({T})),
    Offer("close_notice", frozenset({"under_notice"}), frozenset({T})),
    Offer("object", frozenset({"under_notice"}), frozenset({C, T, D}), needs_note=True),
    # The district approves; a town only where approval is delegated or the amount is small,
    # which approval knows and the page does not: the town is offered it for temporary cases.
    Offer("approve", frozenset({"under_notice", "awaiting_approval"}), frozenset({D})),
    Offer("confirm", frozenset({"follow_up"}), frozenset({T, D}), needs_note=True),
    Offer("reject", frozenset({"awaiting_review", "under_notice", "awaiting_approval",
                               "follow_up"}), frozenset({T, D}), needs_note=True),
    Offer("suspend", frozenset({"approved", "exiting"}), frozenset({D}), needs_note=True),
    Offer("reinstate", frozenset({"suspended"}), frozenset({D}), needs_note=True),
    Offer("terminate", frozenset({"approved", "exiting", "suspended"}), frozenset({D}),
          needs_note=True),
)
ACTIONS = frozenset(o.action for o in OFFERS) | {"resolve_objection"}


def offers(stage: str, role: Role, programme: str, emergency: bool) -> list[Offer]:
    """The actions to show this person on a case in ``stage``."""
    shown = []
    for offer in OFFERS:
        roles = offer.roles
        if offer.action == "approve" and programme == "temporary":
            roles = roles | {T}
        if stage not in offer.stages or role not in roles:
            continue
        if offer.action == "advance" and not (programme == "temporary" and emergency):
            continue
        if offer.action in ("suspend", "terminate") and programme == "temporary":
            continue
        shown.append(offer)
    return shown


def needs_survey(action: str, programme: str) -> bool:
    return action == "accept" and programme in NOTICED


# Each role's home page: the queues of its day, each one approval's list with these filters.
QUEUES: dict[Role, tuple[tuple[str, dict[str, str]], ...]] = {
    C: (("returned", {"stage": "returned"}),
        ("new", {"stage": "awaiting_report"}),
        ("under_notice", {"stage": "under_notice"})),
    T: (("overdue", {"overdue": "true"}),
        ("to_review", {"stage": "awaiting_review"}),
        ("returned", {"stage": "returned"}),
        ("under_notice", {"stage": "under_notice"})),
    D: (("overdue", {"overdue": "true"}),
        ("awaiting_approval", {"stage": "awaiting_approval"}),
        ("under_notice", {"stage": "under_notice"})),
    Role.AUDITOR: (("overdue", {"overdue": "true"}),
                   ("follow_up", {"stage": "follow_up"})),
    Role.ADMINISTRATOR: (("overdue", {"overdue": "true"}),),
}
