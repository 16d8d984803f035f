"""What the replay checks a decision and a payment against: the assessment and report a decision
followed, and what the decisions entitle a case to and payment's own once-only rules."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from services.audit.domain.cases import CaseState
from services.audit.domain.findings import Found


def decision_findings(case: CaseState, e: Mapping[str, Any], decided_at: datetime,
                      stale_after_days: int) -> list[Found]:
    """What is wrong with an approval: amounts other than its assessment's, no report behind
    it, or a report that was old, on stale partner data or superseded when it was decided."""
    found: list[Found] = []
    # Against the assessment as published: whether the policy changed since is the
    # assessment's own divergence, reported there.
    basis = case.assessment
    if basis is not None:
        for name in ("monthly_amount_fen", "one_off_amount_fen"):
            if e[name] != basis[name]:
                found.append(("decision_differs",
                              f"approved {name} {e[name]}, but its assessment gave "
                              f"{basis[name]}",
                              {"field": name, "decided": e[name], "assessed": basis[name]}))
    used = (case.assessment or {}).get("report_id")
    if used is None:
        if not e.get("advance"):
            found.append(("approval_without_report",
                          "approved with no verification report behind its assessment",
                          {"decision_id": e["decision_id"]}))
        return found
    reported_at = case.reported_at.get(used)
    if reported_at is not None and \
            decided_at - reported_at > timedelta(days=stale_after_days):
        found.append(("stale_report",
                      f"decided {(decided_at - reported_at).days} days after its report",
                      {"report_id": used, "reported_at": reported_at.isoformat()}))
    if case.stale_sources.get(used):
        departments = case.stale_sources[used]
        found.append(("stale_report", "decided on a report whose data from "
                      f"{', '.join(departments)} was past its freshness window",
                      {"report_id": used, "stale_sources": departments}))
    newer = [r for r, t in case.reported_at.items()
             if r != used and reported_at is not None and reported_at < t <= decided_at]
    if newer:
        found.append(("stale_report", "decided on a report superseded by a newer "
                      "one that had arrived", {"report_id": used, "newer": newer}))
    return found


def payment_problem(case: CaseState, e: dict[str, Any], at: datetime) -> str | None:
    """Why a scheduled payment is not one the case's decisions call for, or None: it pays
    again what another pays, comes before any approval, re-issues a payment that did not fail
    or for another amount, or is for another amount than the decisions entitle."""
    twice = [pid for pid, p in case.payments.items() if pid != e["payment_id"]
             and p.get("status") != "failed" and same_payment(p, e)]
    if twice:
        return f"pays again what payment {twice[0]} pays ({e['kind']} {e['period']})"
    d = case.decision
    if d is None or d["outcome"] != "approved" or d["decided_at"] > at:
        return "no approval of this case before the payment"
    if e.get("reissue_of"):
        original = case.payments.get(e["reissue_of"])
        if original is None or original["status"] != "failed":
            return f"re-issues {e['reissue_of']}, which did not fail"
        if original["amount_fen"] != e["amount_fen"]:
            return "a re-issue for another amount than the failed payment"
        return None
    if e["kind"] == "back_pay":
        # The difference for a month paid already: with what the month had, exactly the total
        # payment reckoned it due (``tops_up_to_fen``) — never more (paid twice) — and a total
        # the decisions entitle the month to, or did a moment before (payment had not heard a
        # later change yet: it tops the month up again when it does). Back pay scheduled before
        # it carried its total is judged by what the decisions entitle now.
        already = paid_for_month(case, e)
        total = e.get("tops_up_to_fen") or case.monthly_for(e["period"])
        if already > 0 and already + e["amount_fen"] == total and case.entitled_lately(
                e["period"], total, at):
            return None
        return (f"back pay of {e['amount_fen']} fen for {e['period']}: {already} fen were paid "
                f"for it, and the decisions entitle {case.monthly_for(e['period'])}")
    if e["kind"] == "monthly":
        # A month paid by the amount in force, or by one a change replaced a moment before
        # (payment had not heard it yet; a rise is then back-paid).
        return None if case.entitled_lately(e["period"], e["amount_fen"], at) else \
            f"{e['amount_fen']} fen for {e['period']}, the decisions entitle " \
            f"{case.monthly_for(e['period'])}"
    if e["kind"] == "one_off" and e["amount_fen"] != d["one_off_amount_fen"]:
        return f"{e['amount_fen']} fen once, the decision granted {d['one_off_amount_fen']}"
    return None


def paid_for_month(case: CaseState, e: dict[str, Any]) -> int:
    """What a case had been paid, or was being paid, for ``e``'s month and programme before it:
    its monthly payment and earlier back pay, first issues (a re-issue pays its original again),
    not held — payment's own reckoning of a back pay."""
    return sum(p["amount_fen"] for pid, p in case.payments.items()
               if pid != e["payment_id"] and p.get("kind") in ("monthly", "back_pay")
               and p.get("programme") == e["programme"] and p.get("period") == e["period"]
               and not p.get("reissue_of") and p.get("status") != "held")


def same_payment(earlier: dict[str, Any], e: dict[str, Any]) -> bool:
    """Whether two payments of a case pay the same thing: payment's own once-only rules (one
    monthly payment per programme and month, one one-off per case, one per batch, one re-issue
    per failed payment; back pay is checked by the month's total instead)."""
    if e.get("reissue_of"):
        return bool(earlier.get("reissue_of") == e["reissue_of"])
    if earlier.get("reissue_of") or earlier.get("kind") != e["kind"]:
        return False
    if e["kind"] == "back_pay":
        return False  # a month may be topped up twice (two rises): its total is checked
    if e["kind"] == "monthly":
        return (earlier.get("programme"), earlier.get("period")) == (e["programme"], e["period"])
    if e["kind"] == "batch":
        return earlier.get("run_id") == e.get("run_id")
    return True  # one_off: once per case
