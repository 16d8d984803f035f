"""The workflow's side of ending a case held for a member's consent (授权核对, issue 26): from
``returned`` with the application's consent hold, the applicant withdraws (recorded by the clerk
or the reviewer) or the town closes it not approved with the ground ``consent_not_given``; in no
other case, and the page offers exactly that (``allowed_actions``)."""

from __future__ import annotations

import pytest

from services.approval.domain.allowed import allowed_actions
from services.approval.domain.workflow import ActionRefused, act
from tests.unit.test_workflow import CLERK, DISTRICT, NOW, TOWN, a_case, rules

HELD = {"held": "application", "held_reason": "consent_missing", "assessment": None}


def test_the_applicant_withdraws_without_a_decision():
    for who in (CLERK, TOWN):
        [change] = act(a_case("returned", **HELD), "withdraw", who, NOW, rules())
        assert (change.to_stage, change.action, change.decides, change.benefit_change,
                change.ground) == ("terminated", "withdraw", None, None, None)


def test_the_town_closes_it_not_approved_with_the_consent_ground_and_an_optional_note():
    [change] = act(a_case("returned", **HELD), "close_without_consent", TOWN, NOW, rules())
    assert (change.to_stage, change.decides, change.decided_by) == ("rejected", "rejected",
                                                                    "town")
    assert change.ground is not None and change.ground.rule == "consent_not_given"
    noted = act(a_case("returned", **HELD), "close_without_consent", TOWN, NOW, rules(),
                note="told the household on the phone")
    assert noted[0].note == "told the household on the phone"


@pytest.mark.parametrize("who", [CLERK, DISTRICT])
def test_only_the_towns_reviewer_closes(who):
    with pytest.raises(ActionRefused) as refused:
        act(a_case("returned", **HELD), "close_without_consent", who, NOW, rules())
    assert refused.value.code == "role"


@pytest.mark.parametrize(("stage", "held"), [
    ("returned", {}),  # the town returned it itself: resume, then reject
    ("returned", {"held": "application", "held_reason": "another_reason"}),
    ("awaiting_report", {}),  # the consent was recorded: verification checks again
    ("approved", {"held": "periodic_review", "held_reason": "consent_missing"}),
    ("awaiting_review", {}),
])
@pytest.mark.parametrize("action", ["withdraw", "close_without_consent"])
def test_no_other_case_ends_so(stage, held, action):
    with pytest.raises(ActionRefused) as refused:
        act(a_case(stage, **held), action, TOWN, NOW, rules())
    assert refused.value.code == "stage"


def test_the_page_offers_them_only_on_a_case_held_for_a_consent():
    def found(case, who):
        return {a.action: a for a in allowed_actions(case, who, NOW, rules())}

    held = found(a_case("returned", **HELD), TOWN)
    assert held["withdraw"].possible and held["close_without_consent"].possible
    assert held["close_without_consent"].needs == ()
    assert not held["resume"].possible and held["resume"].code == "consent_missing"
    clerk = found(a_case("returned", **HELD), CLERK)
    assert clerk["withdraw"].possible and "close_without_consent" not in clerk
    own = found(a_case("returned"), TOWN)
    assert not own["withdraw"].in_stage and not own["close_without_consent"].in_stage
