"""The ceiling of approval: pure rule evaluation, decisions per second on one core.

Facts for every programme built from the sample households (and their partner data), assessed
with the packaged policy; no database, no bus. Run alone: ``python -m bench.decisions``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import date

from deploy.households import make_households
from services.approval.domain.assessment import assess
from services.approval.domain.facts import Assets, CaseFacts, Member, TemporaryRequest
from services.approval.domain.policy import load_policy
from services.approval.rules import DEFAULT_POLICY

PROGRAMMES = ("dibao", "marginal", "tekun", "temporary", "disability")


def sample_facts(n: int) -> list[CaseFacts]:
    facts = []
    for i, h in enumerate(make_households(max(n // len(PROGRAMMES), 10), seed=11)):
        members = tuple(Member(
            person_ref=f"p-{i}-{k}", relation=m["relation"], age_years=40 + k,
            declared_monthly_fen=sum(d["monthly_amount_fen"] for d in m["declared_incomes"]),
            disability_grade=m.get("disability_grade"), self_care="partial",
            counted_monthly_fen=sum(d["monthly_amount_fen"] for d in m["declared_incomes"]),
            employment_monthly_fen=sum(d["monthly_amount_fen"] for d in m["declared_incomes"]
                                       if d["kind"] == "wage"))
            for k, m in enumerate(h.members))
        records = [r for rs in h.partner_records.values() for r in rs]
        assets = Assets(sum(r["kind"] == "real_estate" for r in records),
                        sum(r["kind"] == "vehicle" for r in records),
                        sum(r["amount_fen"] for r in records if r["kind"] == "deposit"))
        base = CaseFacts(case_id=f"c{i}", programme="dibao", region_code="330282",
                         members=members, assets=assets, report_id=f"r{i}")
        for programme in PROGRAMMES:
            facts.append(replace(
                base, programme=programme,
                temporary=TemporaryRequest("spending", 300_000, "illness", 1_200_000)
                if programme == "temporary" else None))
    return facts[:n]


def decisions_per_second(n: int = 20_000) -> tuple[float, dict[str, int]]:
    table = load_policy(DEFAULT_POLICY)
    facts = sample_facts(n)
    on = date(2026, 11, 22)
    outcomes: dict[str, int] = {}
    start = time.perf_counter()
    for f in facts:
        result = assess(f, table, on)
        key = f"{f.programme}:{result.eligible}"
        outcomes[key] = outcomes.get(key, 0) + 1
    return len(facts) / (time.perf_counter() - start), outcomes


def main() -> None:
    rate, outcomes = decisions_per_second()
    print(f"decisions: {rate:,.0f}/s pure rule evaluation on one core "
          f"({', '.join(f'{k} {v}' for k, v in sorted(outcomes.items()))})")


if __name__ == "__main__":
    main()
