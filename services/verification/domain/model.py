"""Household economic status verification (居民家庭经济状况核对): the report.

Partner departments publish records about persons (``PartnerRecord``); verification compares
them with what the household declared (domain/household.py) and summarises income and assets for
the reviewer — income member by member and kind by kind, the assets, the flags a reviewer must
see and how current each department's data is. Pure functions only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from services.verification.domain.household import HouseholdMember
from services.verification.domain.partners import KINDS
from shared.policy import region_chain

# The kinds the report counts, by what it does with them (the registry, partners.DEPARTMENTS,
# says who publishes each). Income, monthly in fen, each at the larger of declared and recorded:
# unemployment benefit is transfer income (转移性收入), which counts like a pension; a registered
# business's monthly net income (经营净收入) is business income (民发〔2021〕57号 counts both).
INCOME_KINDS = frozenset({"wage", "pension", "unemployment_benefit", "business"})
# Assets, a value or balance in fen. Deposits, wealth products and commercial insurance's cash
# value are financial assets (金融资产: 民发〔2021〕57号 lists bank deposits, securities, funds,
# commercial insurance … among the movable property, 动产) and are tested together against the
# deposit limit; each is kept apart so that the assessment can show each with its source. The
# provident fund's balance is shown too, and counted only where the region says so (approval's
# ``dibao.count_provident_fund``): practice differs from place to place.
ASSET_KINDS = frozenset({"real_estate", "vehicle", "deposit", "wealth_product",
                         "insurance_policy", "provident_fund"})
# The declared kind (the application's: wage, pension, business, property, transfer, other) a
# recorded kind is compared with. Unemployment benefit is a transfer (转移性收入).
DECLARED_KIND_OF = {"wage": "wage", "pension": "pension", "unemployment_benefit": "transfer",
                    "business": "business"}
# Income from work, against which the employment-cost deduction (就业成本扣减) applies.
WORK_KINDS = frozenset({"wage", "business"})
# The tax department's taxable income: evidence of income the report carries beside the count,
# never in it (it overlaps wages and business income: adding it would count them twice).
TAXABLE_KIND = "taxable_income"
REGISTRATION_KIND = "household_registration"
IMPRISONMENT_KIND = "imprisonment"
# Kinds whose record is a dated event (a registration, a death, an imprisonment): its date says
# when it happened, not how current the department's figure is.
FACT_KINDS = frozenset(k.name for k in KINDS.values() if k.measure == "fact")


@dataclass(frozen=True)
class PartnerRecord:
    department: str
    record_id: str
    kind: str
    person_ref: str
    amount_fen: int  # 0 for kinds without an amount (partners.Measure)
    as_of: date
    grade: int | None = None  # for graded kinds (disability grade), else None
    town_code: str | None = None  # the person's town of residence, where the department says
    situation: str | None = None  # a parent's, for the situation kinds (partners.SITUATIONS)


@dataclass(frozen=True)
class KindIncome:
    """One kind of a member's income: as declared, as partners record it, and as counted."""

    kind: str  # the application's income kind
    declared_fen: int
    recorded_fen: int
    counted_fen: int  # the larger of the two
    sources: tuple[str, ...]  # "declared" and/or the department:kind of each record counted

    @property
    def counted_from(self) -> str:
        """Which figure the count took: the reviewer reads where each yuan comes from."""
        if self.recorded_fen > self.declared_fen:
            return "recorded"
        return "declared" if self.declared_fen > self.recorded_fen else "both"


@dataclass(frozen=True)
class MemberIncome:
    person_ref: str
    declared_monthly_fen: int
    verified_monthly_fen: int
    counted_monthly_fen: int
    sources: tuple[str, ...]
    employment_monthly_fen: int = 0  # the part of the counted income that comes from work
    by_kind: tuple[KindIncome, ...] = ()
    # The disabled persons' federation's grade on record (its newest record), which decides
    # over the grade declared on the form.
    disability_grade: int | None = None
    # Each parent's situation as the children's welfare information system records it (its
    # newest record of each), which decides over the situation declared on the form.
    father_on_record: str | None = None
    mother_on_record: str | None = None
    # The tax department's taxable income, monthly (the sum of its records: one per withholding
    # agent); None: no record. Beside the count, never in it (TAXABLE_KIND).
    taxable_income_fen: int | None = None
    # Whether the household registration (户籍所在地) on record — the newest registration record
    # that names its town — lies outside the case's region. False without such a record.
    registered_elsewhere: bool = False
    # The court's record of a prison sentence being served (the newest such record's date): the
    # record stands until the court deletes it on release. Approval leaves such a member out of
    # the household (民发〔2021〕57号 art. 8); the report still shows them, and flags them.
    imprisoned_since: date | None = None


FlagKind = Literal["deceased", "imprisoned", "second_property", "business_registered",
                   "registered_elsewhere", "provident_fund"]
# Records whose kind is one of these raise a flag on the member they concern: the report says so
# to the reviewer, who decides what it means (a deceased member leaves the household; a member in
# prison is supported by the state and not counted in it; a registered business is income to
# look into even when the department knows no figure for it; a provident fund balance is counted
# among the assets only where the region says so). A second property is the household's, from the
# count; a registration elsewhere is the member's, against the case's region.
FLAG_OF_KIND: Mapping[str, FlagKind] = {
    "death": "deceased", IMPRISONMENT_KIND: "imprisoned", "business": "business_registered",
    "provident_fund": "provident_fund"}


@dataclass(frozen=True)
class Flag:
    kind: FlagKind
    person_ref: str | None  # None for a flag on the household
    as_of: date | None
    source: str  # department:kind, or "report" for one the report's own figures raise


@dataclass(frozen=True)
class SourceStatus:
    """How current one department's data about the household is."""

    department: str
    records: int
    oldest_as_of: date  # of its records that carry a figure (facts are dated events, not data)
    newest_as_of: date
    stale: bool  # some figure is older than the department's freshness window


@dataclass(frozen=True)
class Report:
    members: tuple[MemberIncome, ...]
    real_estate_count: int
    vehicle_count: int
    deposits_fen: int
    flags: tuple[Flag, ...] = ()
    sources: tuple[SourceStatus, ...] = ()
    # Financial assets beside deposits (ASSET_KINDS), and the provident fund's balance.
    wealth_products_fen: int = 0
    insurance_value_fen: int = 0
    provident_fund_fen: int = 0

    @property
    def household_monthly_income_fen(self) -> int:
        return sum(m.counted_monthly_fen for m in self.members)

    @property
    def per_capita_monthly_income_fen(self) -> int:
        total = Decimal(self.household_monthly_income_fen) / Decimal(len(self.members))
        return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))

    @property
    def figures(self) -> tuple[object, ...]:
        """What a decision rests on: every income figure per member, and the assets. Sources
        are left out: a second department confirming the same amounts changes no decision."""
        incomes = sorted((m.person_ref, m.declared_monthly_fen, m.verified_monthly_fen,
                          m.counted_monthly_fen, m.employment_monthly_fen,
                          m.disability_grade or 0, m.father_on_record or "",
                          m.mother_on_record or "", -1 if m.taxable_income_fen is None
                          else m.taxable_income_fen, m.registered_elsewhere,
                          "" if m.imprisoned_since is None else m.imprisoned_since.isoformat())
                         for m in self.members)
        # A flag is part of what a decision rests on (a death in the household is a new
        # report); a source going stale with time alone is not.
        flags = sorted((f.kind, f.person_ref or "") for f in self.flags)
        return (tuple(incomes), self.real_estate_count, self.vehicle_count, self.deposits_fen,
                tuple(flags), self.wealth_products_fen, self.insurance_value_fen,
                self.provident_fund_fen)


def build_report(members: Iterable[HouseholdMember], records: Iterable[PartnerRecord], *,
                 on: date | None = None,
                 freshness_days: Mapping[str, int] | None = None,
                 region_code: str | None = None) -> Report:
    """Income per member and household assets, from the declaration and partner records; the
    flags the records raise; and, given the day (``on``) and each department's freshness window
    in days (``freshness_days``, 0 or absent: never stale), how current each source is. Given the
    case's region (``region_code``), a member registered outside it is flagged.

    A member's counted income is, kind by kind, the larger of what was declared and what
    partners record: an applicant cannot declare income away, income a partner does not know of
    (casual work, say) still counts when declared, and a declared wage cannot hide a recorded
    pension (comparing the two totals would count 1,000 yuan of wage and drop 600 of pension).
    The part that comes from work is the counted wage and business income.
    """
    members = tuple(members)
    records = tuple(records)
    by_person: dict[str, list[PartnerRecord]] = defaultdict(list)
    for record in records:
        by_person[record.person_ref].append(record)
    incomes = []
    registered: list[Flag] = []
    assets: dict[str, int] = defaultdict(int)  # kind → count (homes, vehicles) or fen
    for member in members:
        own = by_person.get(member.person_ref, [])
        kinds = _by_kind(member, own)
        counted = sum(k.counted_fen for k in kinds)
        taxed = [r.amount_fen for r in own if r.kind == TAXABLE_KIND]
        registration = _registration(own)
        elsewhere = (registration is not None and region_code is not None
                     and registration.town_code is not None
                     and not within(registration.town_code, region_code))
        incomes.append(MemberIncome(
            person_ref=member.person_ref,
            declared_monthly_fen=member.declared_monthly_fen,
            verified_monthly_fen=sum(k.recorded_fen for k in kinds),
            counted_monthly_fen=counted,
            sources=tuple(sorted({f"{r.department}:{r.kind}" for r in own})),
            employment_monthly_fen=sum(k.counted_fen for k in kinds if k.kind in WORK_KINDS),
            by_kind=kinds,
            disability_grade=_grade_on_record(own),
            father_on_record=_situation_on_record(own, "father_situation"),
            mother_on_record=_situation_on_record(own, "mother_situation"),
            taxable_income_fen=sum(taxed) if taxed else None,
            registered_elsewhere=elsewhere,
            imprisoned_since=_newest_date(own, IMPRISONMENT_KIND),
        ))
        if elsewhere and registration is not None:
            # Dibao is applied for where the household is registered (民发〔2021〕57号), though
            # some places take residence-permit holders where they live (Weihai, seed 004): a
            # flag for the reviewer, never a refusal.
            registered.append(Flag("registered_elsewhere", member.person_ref, registration.as_of,
                                   f"{registration.department}:{registration.kind}"))
        for r in own:
            if r.kind in ("real_estate", "vehicle"):
                assets[r.kind] += 1  # a count: their values are not tested (yet)
            elif r.kind in ASSET_KINDS:
                assets[r.kind] += r.amount_fen
    own = [r for m in members for r in by_person.get(m.person_ref, [])]
    flags = [Flag(FLAG_OF_KIND[r.kind], r.person_ref, r.as_of, f"{r.department}:{r.kind}")
             for r in sorted(own, key=lambda r: (r.as_of, r.department, r.record_id))
             if r.kind in FLAG_OF_KIND]
    flags += registered
    if assets["real_estate"] >= 2:
        flags.append(Flag("second_property", None, None, "report"))
    return Report(members=tuple(incomes), real_estate_count=assets["real_estate"],
                  vehicle_count=assets["vehicle"], deposits_fen=assets["deposit"],
                  flags=tuple(flags), sources=_sources(own, on, freshness_days or {}),
                  wealth_products_fen=assets["wealth_product"],
                  insurance_value_fen=assets["insurance_policy"],
                  provident_fund_fen=assets["provident_fund"])


def within(town_code: str, region_code: str) -> bool:
    """Whether a town (9 digits, its first six its county's code) lies in a region: the county
    itself, its city (xxxx00), its province (xx0000) or the nation, as policy regions nest."""
    return region_code in region_chain(town_code[:6])


def _registration(own: Iterable[PartnerRecord]) -> PartnerRecord | None:
    """The newest registration record that names the town (a move is a new record)."""
    found = [r for r in own if r.kind == REGISTRATION_KIND and r.town_code is not None]
    return max(found, key=lambda r: (r.as_of, r.record_id), default=None)


def _newest_date(own: Iterable[PartnerRecord], kind: str) -> date | None:
    return max((r.as_of for r in own if r.kind == kind), default=None)


def _grade_on_record(own: Iterable[PartnerRecord]) -> int | None:
    graded = [r for r in own if r.kind == "disability_grade" and r.grade is not None]
    newest = max(graded, key=lambda r: (r.as_of, r.record_id), default=None)
    return None if newest is None else newest.grade


def _situation_on_record(own: Iterable[PartnerRecord], kind: str) -> str | None:
    found = [r for r in own if r.kind == kind and r.situation is not None]
    newest = max(found, key=lambda r: (r.as_of, r.record_id), default=None)
    return None if newest is None else newest.situation


def _by_kind(member: HouseholdMember, own: Iterable[PartnerRecord]) -> tuple[KindIncome, ...]:
    declared = {kind: fen for kind, fen in member.declared_fen_by_kind.items() if fen}
    recorded: dict[str, int] = defaultdict(int)
    sources: dict[str, set[str]] = defaultdict(set)
    for record in own:
        if record.kind in INCOME_KINDS:
            kind = DECLARED_KIND_OF[record.kind]
            recorded[kind] += record.amount_fen
            sources[kind].add(f"{record.department}:{record.kind}")
    return tuple(
        KindIncome(kind, declared.get(kind, 0), recorded.get(kind, 0),
                   max(declared.get(kind, 0), recorded.get(kind, 0)),
                   tuple(sorted(sources[kind] | ({"declared"} if kind in declared else set()))))
        for kind in sorted(declared.keys() | recorded.keys()))


def _sources(own: Iterable[PartnerRecord], on: date | None,
             freshness_days: Mapping[str, int]) -> tuple[SourceStatus, ...]:
    dated: dict[str, list[date]] = defaultdict(list)
    for record in own:
        if record.kind not in FACT_KINDS:
            dated[record.department].append(record.as_of)
    statuses = []
    for department, days in sorted(dated.items()):
        window = freshness_days.get(department, 0)
        oldest = min(days)
        statuses.append(SourceStatus(
            department=department, records=len(days), oldest_as_of=oldest,
            newest_as_of=max(days),
            stale=bool(on and window and (on - oldest).days > window)))
    return tuple(statuses)
