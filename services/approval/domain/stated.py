"""An assessment as the events state it: its checks as decision reasons, its benefits as the
catalogue's. Approval publishes these, and the audit replay recomputes them to compare with what
was published, so both must state an assessment the same way: here, once."""

from __future__ import annotations

from services.approval.domain.assessment import Benefit
from services.approval.domain.trace import Check
from shared.events import catalogue as ev


def reasons(checks: tuple[Check, ...]) -> list[ev.DecisionReason]:
    return [ev.DecisionReason(
        rule=c.rule, passed=c.passed, detail=c.detail, figures=c.inputs, label_zh=c.label_zh,
        parameters=[ev.PolicyParameter(name=f.name, value=f.value, region=f.region,
                                       effective_from=f.effective_from.isoformat(),
                                       source=f.source, default=f.default)
                    for f in c.parameters]) for c in checks]


def benefits(items: tuple[Benefit, ...]) -> list[ev.Benefit]:
    return [ev.Benefit(kind=b.kind, person_ref=b.person_ref,
                       monthly_amount_fen=b.monthly_amount_fen,
                       one_off_amount_fen=b.one_off_amount_fen) for b in items]
