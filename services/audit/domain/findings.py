"""What the replay reports: findings an auditor must look at, their kinds, and how a divergence
between a published assessment and its re-run is told."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.approval.rules import Assessment, benefits, reasons

# A finding to make: its kind, detail and data.
Found = tuple[str, str, dict[str, Any]]
# Compared between what an assessment published and its re-run, in this order.
COMPARED = ("eligible", "monthly_amount_fen", "one_off_amount_fen", "benefits",
            "policy_version", "reasons")


@dataclass(frozen=True)
class Finding:
    """Something an auditor must look at: a divergence or a report line."""

    kind: str  # see KINDS
    case_id: str
    at: datetime
    detail: str
    event_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    # Where the fold made it: (0, position of its event in the stream), or (1, position of its
    # case's first event) for what only the end shows. Findings of several folds, each over a
    # share of the cases, are merged by it into the order one fold over all would give.
    order: tuple[int, int] = field(default=(0, 0), compare=False, repr=False)


KINDS = {
    "divergence": "an assessment re-run with the policy in force gives another result",
    "decision_differs": "a decision's amounts differ from the assessment it followed",
    "approval_without_report": "approved without a verification report",
    "advance_never_verified": "an emergency advance whose verification never arrived",
    "payment_without_approval": "a payment with no approval, for another amount, or paying "
                                "again what another payment pays",
    "stale_report": "decided on a report older than the freshness limit, on stale partner "
                    "data, or on a superseded report",
    "overdue": "a stage still open past its time limit",
    "late": "a stage left after its time limit",
}


def late(later: datetime, due: datetime) -> str:
    hours = (later - due).total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"


def divergence(recorded: dict[str, Any], rerun: dict[str, Any], fields: list[str]) -> str:
    parts = [f"{k}: recorded {recorded.get(k)!r}, re-run {rerun[k]!r}" for k in fields
             if k not in ("reasons", "benefits")]
    if "benefits" in fields:
        parts.append("benefits differ")
    if "reasons" in fields:
        parts.append("rules: " + ", ".join(
            rules_differing(recorded.get("reasons") or [], rerun["reasons"])))
    return "; ".join(parts)


def rules_differing(recorded: list[dict[str, Any]], rerun: list[dict[str, Any]]) -> list[str]:
    """The rules whose outcome, detail or figures differ, by name."""
    before = {r["rule"]: r for r in recorded}
    after = {r["rule"]: r for r in rerun}
    return sorted(name for name in before.keys() | after.keys()
                  if before.get(name) != after.get(name))


def divergence_found(published: dict[str, Any], result: Assessment,
                     recorded: dict[str, Any]) -> Found | None:
    """The divergence between a published assessment (``published``, its JSON; ``recorded``,
    what the fold keeps of it) and its re-run, field by field; None where they agree."""
    rerun: dict[str, Any]
    rerun = {"eligible": result.eligible, "monthly_amount_fen": result.monthly_amount_fen,
             "one_off_amount_fen": result.one_off_amount_fen,
             "benefits": [b.model_dump() for b in benefits(result.benefits)],
             "policy_version": result.policy_version,
             "reasons": [r.model_dump() for r in reasons(result.checks)]}
    differing = [k for k in COMPARED if published.get(k) != rerun[k]]
    if not differing:
        return None
    return ("divergence", divergence(published, rerun, differing), {
        "assessment_id": recorded["assessment_id"], "assessed_on": recorded["assessed_on"],
        "fields": differing,
        "recorded": {k: published.get(k) for k in differing if k != "reasons"},
        "rerun": {k: rerun[k] for k in differing if k != "reasons"},
        "rules": rules_differing(published.get("reasons") or [], rerun["reasons"])})
