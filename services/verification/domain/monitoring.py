"""Dynamic monitoring and proactive discovery (动态监测、主动发现, DOMAIN.md §5). Pure functions.

*Early warnings* (预警) watch the low-income population verification already knows: households of
active recipients, and of recent temporary assistance. Each indicator reads the household's partner
records and its reports before and after a change, and gives a ``Signal``: a tier (yellow, orange,
red), a reason a town worker can act on, and a *cause* — the fact that raised it, named so that the
same fact never raises a second warning, however often partners publish it again.

*Leads* (线索) are about people who have not applied at all: a person whose large medical bills
over the window pass a threshold becomes a lead for the town the medical-insurance bureau says they
live in, with the bills as evidence.

Every threshold and tier is a policy figure (``FIGURES``), by region and effective date, in
``services/verification/policies/``; a tier of 0 or a threshold of 0 turns an indicator off.
"""

from __future__ import annotations

import calendar
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from services.verification.domain.household import Household
from services.verification.domain.model import PartnerRecord, Report
from services.verification.domain.partners import DEPARTMENTS
from shared.monitoring_reasons import MAX_INT, ParamValue, ReasonCode
from shared.policy import PolicyTable

Tier = Literal["yellow", "orange", "red"]
TIERS: tuple[Tier, ...] = ("yellow", "orange", "red")  # figure value 1, 2, 3; 0 is off
Indicator = Literal["medical_spending", "income_loss", "earner_death", "member_death",
                    "repeated_temporary"]
INDICATORS: tuple[Indicator, ...] = ("medical_spending", "income_loss", "earner_death",
                                     "member_death", "repeated_temporary")
MEDICAL_KIND = "large_medical_bill"
DEATH_KIND = "death"
LEAD_KIND = "medical_hardship"  # what a lead signals; more kinds of lead can follow
# Kinds whose date is read (a bill in or out of the warnings' window; the date of a death or an
# imprisonment, which reports show): a record of these whose date alone changed is a change. For
# the others a new date with the same content is not: every monthly file moves every date.
DATED_KINDS = frozenset({MEDICAL_KIND, DEATH_KIND, "imprisonment"})

FIGURES: dict[str, tuple[str, str]] = {
    "monitoring.window_months": ("months of bills and grants an indicator looks back over",
                                 "监测回溯期(月)"),
    "monitoring.medical_min_fen": ("large medical bills below this in the window raise nothing",
                                   "大额医疗支出预警起点"),
    "monitoring.medical_yellow_permille": ("bills in the window as ‰ of household yearly income: "
                                           "yellow", "医疗支出占家庭年收入: 黄色(‰)"),
    "monitoring.medical_orange_permille": ("… orange", "医疗支出占家庭年收入: 橙色(‰)"),
    "monitoring.medical_red_permille": ("… red", "医疗支出占家庭年收入: 红色(‰)"),
    "monitoring.income_loss_permille": ("a member's verified income falling by this ‰ or more "
                                        "(a lost job or pension)", "收入骤降幅度(‰)"),
    "monitoring.income_loss_tier": ("tier of a lost income: 1 yellow, 2 orange, 3 red, 0 off",
                                    "失业、断保预警等级"),
    "monitoring.earner_death_tier": ("tier of the death of a member with income",
                                     "有收入成员死亡预警等级"),
    "monitoring.member_death_tier": ("tier of the death of another member",
                                     "其他家庭成员死亡预警等级"),
    "monitoring.temporary_yellow_count": ("temporary assistance grants in the window: yellow "
                                          "(0 off)", "多次临时救助: 黄色(次)"),
    "monitoring.temporary_orange_count": ("… orange", "多次临时救助: 橙色(次)"),
    "monitoring.temporary_red_count": ("… red", "多次临时救助: 红色(次)"),
    "discovery.medical_bill_fen": ("large medical bills in the window that make a person who "
                                   "has not applied a lead (0 off)", "主动发现: 大额医疗支出起点"),
    # How old a department's figures may be before a report marks them stale (0: never).
    **{f"freshness.{d.code}_days": (f"days {d.code}'s figures stay current in a report",
                                    f"{d.label}数据有效期(天)") for d in DEPARTMENTS},
}


def freshness_days(policy: PolicyTable, region: str, on: date) -> dict[str, int]:
    """Each department's freshness window in force (a department without one: never stale)."""
    found = {d.code: policy.figure(f"freshness.{d.code}_days", region, on) for d in DEPARTMENTS}
    return {code: f.value for code, f in found.items() if f is not None}


@dataclass(frozen=True)
class Indicators:
    """The figures in force for one region on one day."""

    window_months: int
    medical_min_fen: int
    medical_permille: tuple[int, int, int]  # yellow, orange, red; 0: that tier off
    income_loss_permille: int
    income_loss_tier: int
    earner_death_tier: int
    member_death_tier: int
    temporary_counts: tuple[int, int, int]
    lead_medical_bill_fen: int

    @classmethod
    def of(cls, policy: PolicyTable, region: str, on: date) -> Indicators:
        def value(name: str) -> int:
            found = policy.figure(name, region, on)
            # The packaged file sets every figure nationally, so this is a region's own file
            # without its national defaults: refuse rather than watch with an indicator missing.
            if found is None:
                raise LookupError(f"no figure {name} in force for {region} on {on}")
            return found.value

        return cls(
            window_months=value("monitoring.window_months"),
            medical_min_fen=value("monitoring.medical_min_fen"),
            medical_permille=(value("monitoring.medical_yellow_permille"),
                              value("monitoring.medical_orange_permille"),
                              value("monitoring.medical_red_permille")),
            income_loss_permille=value("monitoring.income_loss_permille"),
            income_loss_tier=value("monitoring.income_loss_tier"),
            earner_death_tier=value("monitoring.earner_death_tier"),
            member_death_tier=value("monitoring.member_death_tier"),
            temporary_counts=(value("monitoring.temporary_yellow_count"),
                              value("monitoring.temporary_orange_count"),
                              value("monitoring.temporary_red_count")),
            lead_medical_bill_fen=value("discovery.medical_bill_fen"),
        )

    def window_start(self, on: date) -> date:
        return months_before(on, self.window_months)


@dataclass(frozen=True)
class Signal:
    """A warning to raise on a case, unless its ``cause`` raised one on that case before."""

    indicator: Indicator
    cause: str  # the fact that raised it: a record, a figure's fall, a set of bills, a grant
    tier: Tier
    # Why, for the town worker: a code and its figures (shared/monitoring_reasons.py has the
    # words in each language); pseudonymous references only, never a name.
    reason_code: ReasonCode
    reason_params: Mapping[str, ParamValue]
    person_ref: str | None = None  # the member concerned, when it is one member


@dataclass(frozen=True)
class Evidence:
    department: str
    record_id: str
    kind: str
    amount_fen: int
    as_of: date


@dataclass(frozen=True)
class Lead:
    person_ref: str
    town_code: str
    kind: str
    cause: str
    reason_code: ReasonCode
    reason_params: Mapping[str, ParamValue]
    evidence: tuple[Evidence, ...]


def months_before(day: date, months: int) -> date:
    """The same day ``months`` earlier (the month's last day when it is shorter)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def household_signals(household: Household, records: Sequence[PartnerRecord],
                      before: Report | None, after: Report, on: date,
                      ind: Indicators) -> list[Signal]:
    """What new partner data says about a watched household: ``records`` are its members'
    records now, ``before`` and ``after`` its figures before and after the change."""
    members = {m.person_ref for m in household.members}
    own = [r for r in records if r.person_ref in members]
    signals: list[Signal] = []
    earning = {m.person_ref: m.counted_monthly_fen for m in (before or after).members}
    deceased = set()
    for record in own:
        if record.kind != DEATH_KIND:
            continue
        deceased.add(record.person_ref)
        earned = earning.get(record.person_ref, 0)
        indicator: Indicator = "earner_death" if earned else "member_death"
        tier = _tier(ind.earner_death_tier if earned else ind.member_death_tier)
        if tier:
            died: dict[str, ParamValue] = {"member": record.person_ref,
                                           "died_on": record.as_of.isoformat()}
            signals.append(Signal(
                indicator, f"death:{record.department}:{record.record_id}", tier, indicator,
                {**died, "counted_monthly_fen": earned} if earned else died, record.person_ref))
    if before is not None and (tier := _tier(ind.income_loss_tier)):
        now = {m.person_ref: m.verified_monthly_fen for m in after.members}
        for member in before.members:
            was, became = member.verified_monthly_fen, now.get(member.person_ref, 0)
            if (was > 0 and member.person_ref not in deceased
                    and (was - became) * 1000 >= was * ind.income_loss_permille > 0):
                signals.append(Signal(
                    "income_loss", f"income_loss:{member.person_ref}:{was}:{became}", tier,
                    "income_loss", {"member": member.person_ref, "was_monthly_fen": was,
                                    "now_monthly_fen": became}, member.person_ref))
    if signal := _medical(own, after, on, ind):
        signals.append(signal)
    return signals


def temporary_signal(case_id: str, grants_in_window: int, ind: Indicators) -> Signal | None:
    """Repeated temporary assistance: ``grants_in_window`` counts the household's grants in
    the window, the one just made (``case_id``) included."""
    tier = _highest(grants_in_window, ind.temporary_counts)
    if tier is None:
        return None
    return Signal("repeated_temporary", f"temporary:{case_id}", tier, "repeated_temporary",
                  {"grants": grants_in_window, "months": ind.window_months})


def discovery_lead(person_ref: str, records: Sequence[PartnerRecord], on: date,
                   ind: Indicators) -> Lead | None:
    """A lead for someone who has not applied, from their large medical bills in the window."""
    bills = sorted((r for r in records if r.person_ref == person_ref and r.kind == MEDICAL_KIND
                    and ind.window_start(on) < r.as_of <= on),
                   key=lambda r: (r.as_of, r.record_id))
    total = sum(r.amount_fen for r in bills)
    town = next((r.town_code for r in reversed(bills) if r.town_code), None)
    if not bills or town is None or not 0 < ind.lead_medical_bill_fen <= total:
        return None
    return Lead(person_ref=person_ref, town_code=town, kind=LEAD_KIND,
                cause=f"medical:{_digest(bills)}",
                reason_code="medical_hardship_lead",
                reason_params={"bills": len(bills), "total_fen": total,
                               "months": ind.window_months},
                evidence=tuple(Evidence(r.department, r.record_id, r.kind, r.amount_fen, r.as_of)
                               for r in bills))


def _medical(own: Sequence[PartnerRecord], after: Report, on: date,
             ind: Indicators) -> Signal | None:
    bills = sorted((r for r in own if r.kind == MEDICAL_KIND
                    and ind.window_start(on) < r.as_of <= on),
                   key=lambda r: (r.department, r.record_id))
    total = sum(r.amount_fen for r in bills)
    if not bills or total < max(ind.medical_min_fen, 1):
        return None
    yearly = after.household_monthly_income_fen * 12
    # No income at all: every threshold is passed.
    share = total * 1000 // yearly if yearly else 10**9
    tier = _highest(share, ind.medical_permille)
    if tier is None:
        return None
    figures: dict[str, ParamValue] = {"months": ind.window_months, "total_fen": total,
                                      "yearly_income_fen": yearly}
    if yearly:
        # Capped where the figure stops being one a reason may carry (a share of a few fen of
        # income): the tier is decided already.
        figures["share_permille"] = min(share, MAX_INT - 1)
    # The cause is the set of bills: a new bill is new evidence; the same bills sent again are
    # not. The tier is part of it, so a fall in income that raises the tier is seen.
    return Signal("medical_spending", f"medical:{tier}:{_digest(bills)}", tier,
                  "medical_spending", figures)


def _tier(value: int) -> Tier | None:
    return TIERS[min(value, 3) - 1] if value > 0 else None


def _highest(value: int, thresholds: tuple[int, int, int]) -> Tier | None:
    met = [tier for tier, at in zip(TIERS, thresholds, strict=True) if 0 < at <= value]
    return met[-1] if met else None


def _digest(records: Sequence[PartnerRecord]) -> str:
    text = "|".join(f"{r.department}:{r.record_id}" for r in records)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
