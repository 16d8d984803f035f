"""The yearly temporary-assistance cap covers the household however its cases chain (issue 22):
X and Y apply together, X alone and Y alone — one household, one cap (temporary.toml)."""

from __future__ import annotations

import pytest

from services.approval.domain.policy import parse_policies
from services.approval.domain.workflow import ActionRefused
from shared.events import catalogue as ev
from tests.integration.test_approval_workflow import (
    TOWN,
    application,
    deliver,
    perform,
)
from tests.integration.test_approval_workflow import engine as engine
from tests.unit.test_programmes import figure_toml, packaged_texts

# A 4,000-yuan cap, so the chain is tried with advances within the town's 3,000-yuan limit.
CAP = 400_000
POLICY = parse_policies([*packaged_texts(), (
    figure_toml("temporary.yearly_cap_fen", "330282", "2000-01-01", CAP), "cap.toml")])


def emergency(case_id: str, people: list[ev.MemberFacts], fen: int) -> ev.ApplicationSubmitted:
    request = ev.TemporaryRequest(kind="emergency", requested_amount_fen=fen, cause="fire")
    app = application(case_id, programme="temporary", incomes=(0,) * len(people),
                      temporary=request)
    return app.model_copy(update={"members": [
        m.model_copy(update={"relation": "applicant" if i == 0 else "child"})
        for i, m in enumerate(people)]})


def advanced(engine, app: ev.ApplicationSubmitted) -> int:
    deliver(engine, app, POLICY)
    _, published = perform(engine, app.case_id, "advance", TOWN, POLICY, note="fire")
    return next(e for e in published if isinstance(e, ev.ApplicationDecided)).one_off_amount_fen


def test_a_chain_of_shared_members_is_one_household_under_one_cap(engine):
    x, y = application("people", incomes=(0, 0)).members
    assert advanced(engine, emergency("x-alone", [x], 250_000)) == 250_000
    # X and Y together: X's case counts, so 1,500 yuan of the cap is left.
    assert advanced(engine, emergency("x-and-y", [x, y], 250_000)) == 150_000
    # Y alone shares no member with X's own case, but the chain links them: nothing is left.
    third = emergency("y-alone", [y], 100_000)
    deliver(engine, third, POLICY)
    with pytest.raises(ActionRefused, match="nothing more can be granted"):
        perform(engine, third.case_id, "advance", TOWN, POLICY, note="fire")


def test_a_household_apart_from_the_chain_has_its_own_cap(engine):
    x, y = application("others", incomes=(0, 0)).members
    assert advanced(engine, emergency("x-only", [x], 250_000)) == 250_000
    assert advanced(engine, emergency("y-only", [y], 250_000)) == 250_000  # never shared with X
