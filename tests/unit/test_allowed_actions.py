"""The actions a person may take on a case now (issue 26): judged by the workflow's own ``act``,
so that a page offers only what succeeds, and shows the rest disabled with why and when."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from services.approval.domain.allowed import Allowed, allowed_actions
from services.approval.domain.workflow import STEPS, ActionRefused, Actor, act
from tests.unit.test_workflow import (
    CLERK,
    DISTRICT,
    NOT_ELIGIBLE,
    NOTICE_ENDS,
    NOW,
    TOWN,
    a_case,
    one_off,
    rules,
    with_figure,
)


def by_action(found: list[Allowed]) -> dict[str, Allowed]:
    return {a.action: a for a in found}


def test_during_the_notice_the_approver_sees_approve_disabled_until_the_notice_ends():
    case = a_case("under_notice", notice_ends_at=NOTICE_ENDS)
    found = by_action(allowed_actions(case, DISTRICT, NOW, rules()))
    approve = found["approve"]
    assert (approve.possible, approve.in_stage, approve.code, approve.opens_at) == (
        False, True, "notice_running", NOTICE_ENDS)
    assert "public notice runs until" in (approve.reason or "")
    assert found["object"].possible and found["object"].needs == ("note",)
    assert found["reject"].possible and found["reject"].needs == ("note",)
    # What the district takes in other stages is listed, not in this stage, never opening.
    assert not found["suspend"].possible and not found["suspend"].in_stage
    assert found["suspend"].opens_at is None
    assert set(found) == {a for a, (_, roles) in STEPS.items() if DISTRICT.role in roles}


def test_after_the_notice_approve_is_possible_and_the_workflow_agrees():
    case = a_case("under_notice", notice_ends_at=NOTICE_ENDS)
    later = NOTICE_ENDS + timedelta(minutes=1)
    approve = by_action(allowed_actions(case, DISTRICT, later, rules(now=later)))["approve"]
    assert (approve.possible, approve.needs, approve.opens_at) == (True, (), None)
    assert act(case, "approve", DISTRICT, later, rules(now=later))[-1].to_stage == "approved"


def test_the_reviewer_during_the_notice_closes_it_on_its_last_day_and_may_not_approve():
    case = a_case("under_notice", notice_ends_at=NOTICE_ENDS)
    found = by_action(allowed_actions(case, TOWN, NOW, rules()))
    assert "approve" not in found  # not delegated here: never the town's to approve
    close = found["close_notice"]
    assert (close.possible, close.code, close.opens_at) == (False, "notice_running", NOTICE_ENDS)
    resolve = found["resolve_objection"]
    assert (resolve.possible, resolve.code) == (False, "no_objection")
    objected = by_action(allowed_actions(replace(case, open_objections=1), TOWN, NOW, rules()))
    assert objected["resolve_objection"].possible
    assert objected["resolve_objection"].needs == ("upheld", "note")
    # An open objection holds the notice's end: nothing opens by the clock alone.
    assert objected["close_notice"].opens_at is None


def test_an_open_objection_after_the_notice_is_the_reason_and_no_day_is_promised():
    case = a_case("under_notice", notice_ends_at=NOW - timedelta(days=1), open_objections=1)
    approve = by_action(allowed_actions(case, DISTRICT, NOW, rules()))["approve"]
    assert (approve.possible, approve.code, approve.opens_at) == (False, "objections_open", None)


def test_accepting_needs_the_home_survey_on_the_form_and_a_failed_assessment_is_the_reason():
    found = by_action(allowed_actions(a_case("awaiting_review", home_survey=False), TOWN, NOW,
                                      rules()))
    assert found["accept"].possible and found["accept"].needs == ("home_survey",)
    assert found["return"].needs == ("note",)
    assert "advance" not in found  # only emergency temporary assistance is paid in advance
    failed = by_action(allowed_actions(a_case("awaiting_review", assessment=NOT_ELIGIBLE), TOWN,
                                       NOW, rules()))["accept"]
    assert (failed.possible, failed.in_stage, failed.code) == (False, True, "ineligible")


def test_a_clerk_resumes_a_returned_case_and_objects_only_during_a_notice():
    found = by_action(allowed_actions(a_case("returned"), CLERK, NOW, rules()))
    assert found["resume"].possible
    assert not found["object"].possible and found["object"].code == "stage"


def test_a_one_off_case_offers_no_suspension_and_the_town_approves_a_small_one():
    case = a_case("awaiting_approval", "temporary", assessment=one_off(100_000))
    found = by_action(allowed_actions(case, DISTRICT, NOW, rules()))
    assert "suspend" not in found and "terminate" not in found
    assert by_action(allowed_actions(case, TOWN, NOW, rules()))["approve"].possible
    delegated = with_figure("workflow.town_delegated_approval", "330282", "2000-01-01", 1)
    dibao = a_case("awaiting_approval")
    assert "approve" not in by_action(allowed_actions(dibao, TOWN, NOW, rules()))
    assert by_action(allowed_actions(dibao, TOWN, NOW, rules(delegated)))["approve"].possible


def test_approving_above_the_ceiling_needs_the_justification():
    case = a_case("awaiting_approval", "temporary", assessment=one_off(10_000_000))
    approve = by_action(allowed_actions(case, DISTRICT, NOW, rules()))["approve"]
    assert approve.possible and approve.needs == ("justification",)


@pytest.mark.parametrize("stage", sorted({s for stages, _ in STEPS.values() for s in stages}
                                         | {"approved", "rejected", "awaiting_report"}))
@pytest.mark.parametrize("who", [TOWN, DISTRICT, CLERK, Actor("auditor", "a-1")])
def test_what_is_listed_possible_the_workflow_accepts_and_what_is_not_it_refuses(stage, who):
    case = a_case(stage, notice_ends_at=NOTICE_ENDS)
    r = rules()
    used_before = list(r.used)
    for a in allowed_actions(case, who, NOW, r):
        kwargs = {"note": "n" if "note" in a.needs else None,
                  "justification": "j" if "justification" in a.needs else None,
                  "upheld": True if "upheld" in a.needs else None}
        tried = replace(case, home_survey=True) if "home_survey" in a.needs else case
        if a.possible:
            act(tried, a.action, who, NOW, rules(), **kwargs)  # type: ignore[arg-type]
        elif a.code != "no_objection":
            with pytest.raises(ActionRefused):
                act(tried, a.action, who, NOW, rules(), **kwargs)  # type: ignore[arg-type]
    assert r.used == used_before  # listing has no side effect, not even on the rules
