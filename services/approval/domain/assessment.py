"""Assess a case: a pure function of (facts, policy table, day).

The same inputs always give the same assessment — an auditor re-runs any stored decision with
its facts and policy and must get it back unchanged. Every programme's rules live in
``programmes/``; this module dispatches and turns a policy gap into "undecidable", never into a
silent rejection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from services.approval.domain.facts import CaseFacts
from services.approval.domain.policy import PolicyTable
from services.approval.domain.trace import Check, MissingFigures, PolicyView


@dataclass(frozen=True)
class Benefit:
    kind: str  # dibao, dibao_classified, tekun_care, disability_living, orphan_family, …
    person_ref: str | None
    monthly_amount_fen: int = 0
    one_off_amount_fen: int = 0


@dataclass(frozen=True)
class Outcome:
    """What a programme's rules found: eligible or not, what it grants, and why."""

    eligible: bool
    benefits: tuple[Benefit, ...]
    checks: tuple[Check, ...]


@dataclass(frozen=True)
class Assessment:
    eligible: bool | None  # None: a person must decide (no policy in force, not verified yet)
    benefits: tuple[Benefit, ...]
    checks: tuple[Check, ...]
    policy_version: str | None
    on: date

    @property
    def monthly_amount_fen(self) -> int:
        return sum(b.monthly_amount_fen for b in self.benefits)

    @property
    def one_off_amount_fen(self) -> int:
        return sum(b.one_off_amount_fen for b in self.benefits)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.passed)


Rules = Callable[[CaseFacts, PolicyView], Outcome]


def _registry() -> dict[str, Rules]:
    from services.approval.domain.programmes import (
        dibao,
        disability,
        marginal,
        orphan,
        tekun,
        temporary,
    )
    return {"dibao": dibao.assess, "tekun": tekun.assess, "marginal": marginal.assess,
            "temporary": temporary.assess, "disability": disability.assess,
            "orphan": orphan.assess}


PROGRAMMES: dict[str, Rules] = {}
# Failed checks that leave a case undecided rather than refused: a person must act.
UNDECIDED = frozenset({"verification_report", "means_test_policy"})


def assess(facts: CaseFacts, table: PolicyTable, on: date) -> Assessment:
    if not PROGRAMMES:
        PROGRAMMES.update(_registry())
    rules = PROGRAMMES.get(facts.programme)
    if rules is None:
        raise ValueError(f"no rules for programme {facts.programme!r}")
    view = PolicyView(table, facts.region_code, on)
    try:
        outcome = rules(facts, view)
    except MissingFigures as gap:
        return Assessment(None, (), (Check(
            "policy_in_force", "政策参数", False,
            f"no {facts.programme} policy in force for region {facts.region_code} on "
            f"{on.isoformat()}: missing {', '.join(gap.names)}",
            {"region_code": facts.region_code, "on": on.isoformat()}),), None, on)
    version = view.version or None
    failed = {c.rule for c in outcome.checks if not c.passed}
    if failed and failed <= UNDECIDED:
        # Only the report (or a figure its test needs) is missing: the case cannot be decided
        # yet. A rule that fails without it (working age, the yearly cap) fails now.
        return Assessment(None, outcome.benefits, outcome.checks, version, on)
    return Assessment(outcome.eligible, outcome.benefits, outcome.checks, version, on)
