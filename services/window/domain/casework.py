"""What each person's pages offer: the queues on their home page, and the actions a case page
shows.

Which actions a person may take on a case, and why not the others, is approval's answer
(``allowed_actions`` in its ``GET /cases/{id}``, judged by the workflow's own rules): the page
draws a form for each possible one and a disabled button, with the reason and the day it opens,
for each one the case's stage allows but a condition holds back. Approval stays the judge when
the form is sent (a 409 or 422 is shown with its reason and changes nothing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.auth.principals import Role

C, T, D = Role.WINDOW_CLERK, Role.TOWN_REVIEWER, Role.DISTRICT_APPROVER
# The actions approval's POST /cases/{id}/actions takes: a path naming another is a 404 here.
ACTIONS = frozenset({"accept", "return", "resume", "reject", "object", "resolve_objection",
                     "close_notice", "approve", "advance", "confirm", "suspend", "reinstate",
                     "terminate", "withdraw", "close_without_consent"})
# Objections are resolved one by one, each with its own form under the objection it answers.
_OWN_FORMS = frozenset({"resolve_objection"})


@dataclass(frozen=True)
class Offer:
    """One action on the page: a form when ``possible``, else a disabled button with why."""

    action: str
    possible: bool
    needs: frozenset[str]  # the inputs the form asks for: note, justification, home_survey…
    code: str | None = None  # approval's kind of refusal, worded by the window
    reason: str | None = None  # approval's own words (English), when the code has no wording
    opens_at: str | None = None  # ISO moment it becomes possible by the clock alone

    @property
    def needs_note(self) -> bool:
        return "note" in self.needs


def offers(allowed: Sequence[Mapping[str, Any]] | None) -> list[Offer]:
    """The actions to show: the possible ones, then those held back in this stage. Actions of
    other stages (the district's suspension of a case not yet approved) are not shown."""
    shown = [Offer(str(a["action"]), bool(a.get("possible")),
                   frozenset(str(n) for n in a.get("needs") or ()), a.get("code"),
                   a.get("reason"), a.get("opens_at"))
             for a in allowed or () if a.get("action") in ACTIONS - _OWN_FORMS
             and (a.get("possible") or a.get("in_stage"))]
    return [o for o in shown if o.possible] + [o for o in shown if not o.possible]


def may_resolve_objections(allowed: Sequence[Mapping[str, Any]] | None) -> bool:
    return any(a.get("action") == "resolve_objection" and a.get("possible")
               for a in allowed or ())


# Each role's home page: the queues of its day, each one approval's list with these filters.
QUEUES: dict[Role, tuple[tuple[str, dict[str, str]], ...]] = {
    C: (("returned", {"stage": "returned"}),
        ("consent_missing", {"held": "consent_missing"}),
        ("new", {"stage": "awaiting_report"}),
        ("under_notice", {"stage": "under_notice"})),
    T: (("overdue", {"overdue": "true"}),
        ("to_review", {"stage": "awaiting_review"}),
        ("returned", {"stage": "returned"}),
        ("consent_missing", {"held": "consent_missing"}),
        ("under_notice", {"stage": "under_notice"})),
    D: (("overdue", {"overdue": "true"}),
        ("awaiting_approval", {"stage": "awaiting_approval"}),
        ("under_notice", {"stage": "under_notice"})),
    Role.AUDITOR: (("overdue", {"overdue": "true"}),
                   ("follow_up", {"stage": "follow_up"})),
    Role.ADMINISTRATOR: (("overdue", {"overdue": "true"}),),
}
