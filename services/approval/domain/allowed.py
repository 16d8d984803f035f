"""The actions a person may take on a case now, and for the others why not and when they open.

Pure, and judged by the workflow itself: each action of the person's role is tried with
``workflow.act`` on the case as it is (nothing is stored; the policy figures' ``used`` list is
a copy's). A page can then offer exactly what ``act`` would accept, and show the rest disabled
with the workflow's reason, instead of keeping a table of its own that drifts from the rules.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from services.approval.domain.workflow import (
    STEPS,
    TOWN,
    ActionRefused,
    Actor,
    Case,
    Rules,
    act,
    town_may_approve,
)
from shared import clock

# Inputs a person gives with the action (the form's fields): a refusal naming one of them means
# the action is possible once it is filled in; a stand-in is then given, to see what follows.
# The home survey is recorded with the acceptance, on the same form.
_INPUTS = ("note", "justification", "upheld", "home_survey")


@dataclass(frozen=True)
class Allowed:
    """One action of the person's role on the case.

    ``possible``: ``act`` accepts it now, given the inputs in ``needs``. Otherwise ``reason``
    and ``code`` are the workflow's refusal, ``in_stage`` says whether the case is in a stage
    the action is taken in (so a page shows it disabled rather than not at all), and
    ``opens_at`` is when it becomes possible by the clock alone (the end of the public notice),
    if it does."""

    action: str
    possible: bool
    in_stage: bool
    needs: tuple[str, ...] = ()
    reason: str | None = None
    code: str | None = None
    opens_at: datetime | None = None


def allowed_actions(case: Case, actor: Actor, now: datetime, rules: Rules) -> list[Allowed]:
    """Every action ``actor``'s role takes in the workflow that applies to this case."""
    found = []
    for action, (_, roles) in STEPS.items():
        if actor.role not in roles and not (action == "approve" and actor.role == TOWN
                                            and _town_approves(case, rules)):
            continue
        needs, refused = _try(case, action, actor, now, rules)
        if refused is None and action == "resolve_objection" and not case.open_objections:
            # act leaves this to the command, which needs the objection it resolves.
            refused = ActionRefused("no objection to the notice is open", code="no_objection")
        if refused is None:
            found.append(Allowed(action, True, True, needs))
        elif refused.code not in ("programme", "role") and not _never(case, action, actor, now,
                                                                      rules):
            found.append(Allowed(action, False, refused.code != "stage", needs, refused.reason,
                                 refused.code, _opens_at(case, action, actor, now, rules)))
    return found


def _never(case: Case, action: str, actor: Actor, now: datetime, rules: Rules) -> bool:
    """Whether the case could not take the action even in its stage (a one-off case is never
    suspended): the stage is checked first, so the case is tried as if it were there."""
    _, refused = _try(replace(case, stage=STEPS[action][0][0]), action, actor, now, rules)
    return refused is not None and refused.code == "programme"


def _town_approves(case: Case, rules: Rules) -> bool:
    try:
        return town_may_approve(case, _copy(rules, rules.on))
    except ActionRefused:
        return False  # the figure is not in force: the district approves


def _try(case: Case, action: str, actor: Actor, now: datetime,
         rules: Rules) -> tuple[tuple[str, ...], ActionRefused | None]:
    """(the inputs ``act`` asked for, its refusal or None when it accepts the action)."""
    needs: list[str] = []
    while True:
        given = set(needs)
        try:
            act(replace(case, home_survey=True) if "home_survey" in given else case, action,
                actor, now, _copy(rules, clock.local_date(now)),
                note="·" if "note" in given else None,
                justification="·" if "justification" in given else None,
                upheld=True if "upheld" in given else None)
            return tuple(needs), None
        except ActionRefused as refused:
            if refused.field not in _INPUTS or refused.field in given:
                return tuple(needs), refused
            needs.append(refused.field)


def _opens_at(case: Case, action: str, actor: Actor, now: datetime,
              rules: Rules) -> datetime | None:
    """The end of the public notice, if the action is possible then and the case unchanged."""
    ends = case.notice_ends_at
    if ends is None or ends <= now:
        return None
    _, refused = _try(case, action, actor, ends, rules)
    return ends if refused is None else None


def _copy(rules: Rules, on: date) -> Rules:
    """The same policy for the day tried, with a ``used`` list of its own."""
    return Rules(rules.table, rules.region, on)
