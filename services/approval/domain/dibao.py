"""The minimum living guarantee (最低生活保障, Dibao) decision: a pure function.

Same report, same policy table, same day → same decision, so an auditor can re-run it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from services.approval.domain.policy import DIBAO_FIGURES, Figure, PolicyTable


@dataclass(frozen=True)
class HouseholdFacts:
    """What verification found, as the decision needs it (money in fen)."""

    region_code: str
    household_size: int
    per_capita_monthly_income_fen: int
    real_estate_count: int
    vehicle_count: int
    deposits_fen: int


@dataclass(frozen=True)
class Reason:
    rule: str
    passed: bool
    detail: str
    figures: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    outcome: str  # approved | rejected | undecidable
    monthly_amount_fen: int
    start_month: str | None
    policy_version: str | None
    reasons: tuple[Reason, ...]


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def decide(facts: HouseholdFacts, table: PolicyTable, on: date) -> Decision:
    found = {name: table.figure(name, facts.region_code, on) for name in DIBAO_FIGURES}
    missing = [name for name, fig in found.items() if fig is None]
    if missing:
        return Decision("undecidable", 0, None, None, (Reason(
            "policy_in_force", False,
            f"no Dibao policy in force for region {facts.region_code} on {on.isoformat()}: "
            f"missing {', '.join(missing)}"),))
    figs: dict[str, Figure] = found  # type: ignore[assignment]
    standard = figs["monthly_standard_fen"].value
    size = facts.household_size
    deposit_limit = standard * size * figs["deposit_limit_months"].value

    def ref(*names: str) -> dict[str, str]:
        return {n: f"{figs[n].value} ({figs[n].ref}; {figs[n].source})" for n in names}

    per_capita = facts.per_capita_monthly_income_fen
    reasons = (
        Reason("income_below_standard", per_capita < standard,
               f"per-capita monthly income {yuan(per_capita)} yuan "
               f"{'is below' if per_capita < standard else 'is not below'} "
               f"the standard {yuan(standard)} yuan",
               {"per_capita_monthly_income_fen": str(per_capita),
                **ref("monthly_standard_fen")}),
        Reason("real_estate", facts.real_estate_count <= figs["max_real_estate"].value,
               f"{facts.real_estate_count} properties (at most "
               f"{figs['max_real_estate'].value})",
               {"real_estate_count": str(facts.real_estate_count), **ref("max_real_estate")}),
        Reason("vehicles", facts.vehicle_count <= figs["max_vehicles"].value,
               f"{facts.vehicle_count} vehicles (at most {figs['max_vehicles'].value})",
               {"vehicle_count": str(facts.vehicle_count), **ref("max_vehicles")}),
        Reason("deposits", facts.deposits_fen <= deposit_limit,
               f"deposits {yuan(facts.deposits_fen)} yuan (at most {yuan(deposit_limit)} yuan)",
               {"deposits_fen": str(facts.deposits_fen), "deposit_limit_fen": str(deposit_limit),
                **ref("monthly_standard_fen", "deposit_limit_months")}),
    )
    version = ",".join(sorted(f.ref for f in figs.values()))
    if not all(r.passed for r in reasons):
        return Decision("rejected", 0, None, version, reasons)
    # 差额救助: the household is topped up to the standard for every member.
    amount = (standard - per_capita) * size
    amount_reason = Reason("amount", True,
                           f"({yuan(standard)} − {yuan(per_capita)}) × {size} = {yuan(amount)} "
                           "yuan per month",
                           {"monthly_amount_fen": str(amount), "household_size": str(size)})
    return Decision("approved", amount, f"{on:%Y-%m}", version, (*reasons, amount_reason))
