"""Simulation before publication (政策测算, issue 22 §4): "what if Cixi's standard becomes 1,105
yuan from January?", answered from approval's own records without writing anything.

Every household the figure reaches is assessed twice on the effective day, from the facts
approval holds for it: with the policy in force, and with the policy as it would be once the
figure is published. The households are the current recipients and everyone who applied in the
last 12 months (their latest report included), so a rise shows who would newly qualify too.
What changes only because the figure moved is counted; nothing else differs between the runs.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from services.approval.adapters.tables import case_members, cases
from services.approval.domain.assessment import Assessment, assess
from services.approval.domain.facts import CaseFacts
from services.approval.domain.policy import PolicyTable
from services.approval.domain.workflow import RECURRING
from services.approval.service_layer import casework
from services.approval.service_layer.policy_admin import in_region
from shared.policy import Figure

RUNNING = ("approved", "exiting")
STATUS_ORDER = ("tekun", "dibao", "marginal")  # as ApprovalRepository.household_status
BIN_FEN = 20_000  # the distribution's bars: 200 yuan each


@dataclass(frozen=True)
class Change:
    name: str
    region_code: str
    effective_from: date
    value: int


def households(conn: Connection, region: str, now: datetime) -> list[dict[str, Any]]:
    """The reached recipients and last year's applicants (recurring programmes, assessed)."""
    q = (select(cases.c.case_id, cases.c.town_code, cases.c.region_code, cases.c.stage,
                cases.c.facts)
         .where(in_region(region)).where(cases.c.programme.in_(sorted(RECURRING)))
         .where(or_(cases.c.stage.in_(RUNNING), and_(
             cases.c.submitted_at >= now - timedelta(days=365),
             cases.c.assessment_id.is_not(None))))
         .order_by(cases.c.case_id))
    return [dict(r) for r in conn.execute(q).mappings()]


def statuses(conn: Connection) -> dict[str, str]:
    """Each person's household status from the running cases, as approval knows it today."""
    found: dict[str, set[str]] = defaultdict(set)
    for ref, programme in conn.execute(
            select(case_members.c.person_ref, cases.c.programme)
            .join(cases, cases.c.case_id == case_members.c.case_id)
            .where(cases.c.stage.in_(RUNNING))
            .where(cases.c.programme.in_(STATUS_ORDER))):
        found[ref].add(programme)
    return {ref: next(s for s in STATUS_ORDER if s in held) for ref, held in found.items()}


def simulate(conn: Connection, current: PolicyTable, change: Change, figure: Figure,
             now: datetime) -> dict[str, Any]:
    started = time.perf_counter()
    candidate = current.amended([figure])
    on = change.effective_from
    known = statuses(conn)
    outcomes: Counter[str] = Counter()
    population: Counter[str] = Counter()
    towns: dict[str, dict[str, int]] = defaultdict(lambda: Counter())  # type: ignore[arg-type]
    before_bins: Counter[int] = Counter()
    after_bins: Counter[int] = Counter()
    applicants_new_fen = 0
    for row in households(conn, change.region_code, now):
        facts = _with_status(casework.facts_of(row), known)
        before, after = assess(facts, current, on), assess(facts, candidate, on)
        recipient = row["stage"] in RUNNING
        population["recipients" if recipient else "applications"] += 1
        kind = _compare(before, after)
        outcomes[kind] += 1
        town = row["town_code"] or row["region_code"]
        t = towns[town]
        t[kind] += 1
        if recipient:
            b = before.monthly_amount_fen if before.eligible else 0
            a = after.monthly_amount_fen if after.eligible else 0
            t["before_fen"] += b
            t["after_fen"] += a
            t["recipients"] += 1
        elif kind == "newly_eligible":
            applicants_new_fen += after.monthly_amount_fen
            t["applicants_newly_eligible_fen"] += after.monthly_amount_fen
        if before.eligible:
            before_bins[before.monthly_amount_fen // BIN_FEN] += 1
        if after.eligible:
            after_bins[after.monthly_amount_fen // BIN_FEN] += 1
    by_town = [{"town_code": code, "recipients": t["recipients"],
                "before_fen": t["before_fen"], "after_fen": t["after_fen"],
                "change_fen": t["after_fen"] - t["before_fen"],
                "newly_eligible": t["newly_eligible"], "newly_ineligible": t["newly_ineligible"],
                "changed": t["changed"],
                "applicants_newly_eligible_fen": t["applicants_newly_eligible_fen"]}
               for code, t in sorted(towns.items())]
    before_total = sum(t["before_fen"] for t in by_town)
    after_total = sum(t["after_fen"] for t in by_town)
    top = max([*before_bins, *after_bins], default=-1)
    return {
        "figure": {"name": change.name, "region_code": change.region_code,
                   "effective_from": on.isoformat(), "value": change.value,
                   "value_now": _in_force(current, change)},
        "population": {"recipients": population["recipients"],
                       "applications": population["applications"]},
        "households": {k: outcomes[k] for k in ("newly_eligible", "newly_ineligible", "changed",
                                                "unchanged", "undecided")},
        "monthly_cost_fen": {"before": before_total, "after": after_total,
                             "change": after_total - before_total,
                             "applicants_newly_eligible": applicants_new_fen},
        "by_town": by_town,
        "distribution": {"bin_fen": BIN_FEN, "bins": [
            {"from_fen": i * BIN_FEN, "before": before_bins[i], "after": after_bins[i]}
            for i in range(top + 1)]},
        "policy_version_now": current.version, "policy_version_after": candidate.version,
        "took_ms": round((time.perf_counter() - started) * 1000, 1),
    }


def _in_force(table: PolicyTable, change: Change) -> int | None:
    fig = table.figure(change.name, change.region_code, change.effective_from)
    return None if fig is None else fig.value


def _with_status(facts: CaseFacts, known: dict[str, str]) -> CaseFacts:
    held = {known.get(m.person_ref) for m in facts.members}
    status = next((s for s in STATUS_ORDER if s in held), None)
    return facts if status == facts.household_status else replace(facts, household_status=status)


def _compare(before: Assessment, after: Assessment) -> str:
    if after.eligible is None or before.eligible is None:
        return "undecided"
    if after.eligible and not before.eligible:
        return "newly_eligible"
    if before.eligible and not after.eligible:
        return "newly_ineligible"
    if before.eligible and before.monthly_amount_fen != after.monthly_amount_fen:
        return "changed"
    return "unchanged"


CSV_COLUMNS = ("town_code", "recipients", "before_fen", "after_fen", "change_fen",
               "newly_eligible", "newly_ineligible", "changed", "applicants_newly_eligible_fen")


def as_csv(result: dict[str, Any]) -> str:
    lines = [",".join(CSV_COLUMNS)]
    lines += [",".join(str(t[c]) for c in CSV_COLUMNS) for t in result["by_town"]]
    return "\n".join(lines) + "\n"
