"""What a decision is made from: the application's facts and, once it arrives, verification's.

Plain data, stored with every assessment (``to_dict``/``from_dict``) so that an auditor can re-run
the decision later with the same inputs. Money in fen.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from services.approval.domain.frozen import changed

if TYPE_CHECKING:  # the event models are only read here, never built
    from shared.events.catalogue import ApplicationSubmitted, VerificationReported


@dataclass(frozen=True)
class Member:
    person_ref: str
    relation: str
    age_years: int
    declared_monthly_fen: int
    disability_grade: int | None = None  # 1 most severe … 4
    able_to_work: bool | None = None
    self_care: str | None = None  # full | partial | none
    # From the verification report; None while it has not arrived.
    counted_monthly_fen: int | None = None
    employment_monthly_fen: int | None = None
    grade_on_record: int | None = None  # the disabled persons' federation's
    # A child's guardianship facts (orphans' allowance), codes as in the catalogue: each
    # parent's situation (ParentSituation), care (ChildCare) and schooling (Schooling) as
    # declared, and each parent's situation as the children's welfare information system
    # records it (from the verification report; None: no record).
    father: str | None = None
    mother: str | None = None
    child_care: str | None = None
    schooling: str | None = None
    father_on_record: str | None = None
    mother_on_record: str | None = None
    # From the verification report (issue 22): the day the court's record of a prison sentence
    # dates from (YYYY-MM-DD: the facts are stored as JSON), the tax department's monthly
    # taxable income (each None without a record), and whether the household registration on
    # record lies outside the case's region.
    in_prison_since: str | None = None
    taxable_income_fen: int | None = None
    registered_elsewhere: bool = False

    @property
    def grade(self) -> int | None:
        """The disability grade the rules use: the federation's record decides over the form;
        the form's stands where the federation has no record."""
        return self.disability_grade if self.grade_on_record is None else self.grade_on_record

    @property
    def parents(self) -> tuple[str | None, str | None]:
        """Each parent's situation the rules use (father, mother): the record decides over the
        form, as for the disability grade; the form's stands where there is no record."""
        return (self.father if self.father_on_record is None else self.father_on_record,
                self.mother if self.mother_on_record is None else self.mother_on_record)


@dataclass(frozen=True)
class Supporter:
    relation: str
    able_to_support: bool


@dataclass(frozen=True)
class TemporaryRequest:
    kind: str  # emergency | spending
    requested_amount_fen: int
    cause: str
    rigid_medical_spending_fen: int = 0


@dataclass(frozen=True)
class Assets:
    real_estate_count: int
    vehicle_count: int
    deposits_fen: int
    # Financial assets beside deposits (金融资产), tested with them against the deposit limit,
    # and the housing provident fund's balance, tested with them only where the region counts
    # it (``dibao.count_provident_fund``). Facts stored before issue 22 have none.
    wealth_products_fen: int = 0
    insurance_value_fen: int = 0
    provident_fund_fen: int = 0


@dataclass(frozen=True)
class CaseFacts:
    case_id: str
    programme: str
    region_code: str
    members: tuple[Member, ...]
    legal_supporters: tuple[Supporter, ...] = ()
    care_mode: str | None = None
    temporary: TemporaryRequest | None = None
    assets: Assets | None = None  # None: not verified yet
    report_id: str | None = None
    # Approval's own records, as of the assessment: temporary assistance this household already
    # got this calendar year, and the status it is recognised in (dibao / tekun / marginal).
    temporary_granted_this_year_fen: int = 0
    household_status: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def but(self, **changes: Any) -> CaseFacts:
        """These facts with some fields changed (``frozen.changed``)."""
        return changed(self, changes)

    @property
    def verified(self) -> bool:
        return self.assets is not None

    @property
    def applicant(self) -> Member:
        return next((m for m in self.members if m.relation == "applicant"), self.members[0])

    @property
    def size(self) -> int:
        return len(self.members)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseFacts:
        data = dict(data)
        data["members"] = tuple(Member(**m) for m in data["members"])
        data["legal_supporters"] = tuple(Supporter(**s) for s in data["legal_supporters"])
        if data.get("temporary") is not None:
            data["temporary"] = TemporaryRequest(**data["temporary"])
        if data.get("assets") is not None:
            data["assets"] = Assets(**data["assets"])
        return cls(**data)


def from_application(event: ApplicationSubmitted) -> CaseFacts:
    """The facts as the window recorded them. Approval opens a case with these."""
    return application_facts(event.model_dump())


def application_facts(data: Mapping[str, Any]) -> CaseFacts:
    """The facts of an application in its JSON form (every field present, as the catalogue
    writes it): the audit replay reads millions of archived events this way, without building
    the event's model, and so gets exactly the facts approval got (``from_application``)."""
    t = data["temporary"]
    return CaseFacts(
        case_id=data["case_id"], programme=data["programme"], region_code=data["region_code"],
        members=tuple(Member(
            person_ref=m["person_ref"], relation=m["relation"], age_years=m["age_years"],
            declared_monthly_fen=sum(i["monthly_amount_fen"] for i in m["declared_incomes"]),
            disability_grade=m["disability_grade"], able_to_work=m["able_to_work"],
            # Added with the orphans' allowance: applications archived before have none.
            self_care=m["self_care"], father=m.get("father"), mother=m.get("mother"),
            child_care=m.get("child_care"), schooling=m.get("schooling"))
            for m in data["members"]),
        legal_supporters=tuple(Supporter(s["relation"], s["able_to_support"])
                               for s in data["legal_supporters"]),
        care_mode=data["care_mode"],
        temporary=None if t is None else TemporaryRequest(
            t["kind"], t["requested_amount_fen"], t["cause"], t["rigid_medical_spending_fen"]))


@dataclass(frozen=True)
class ReportFindings:
    """What an assessment takes from a verification report."""

    report_id: str
    incomes: dict[str, tuple[int, int]]  # person_ref → (counted, from work) monthly fen
    assets: Assets
    grades: dict[str, int] = field(default_factory=dict)  # person_ref → grade on record
    # person_ref → (father, mother) situations on record, for members with a record of either
    parents: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    # person_ref → (in prison since, taxable income, registered elsewhere) on record, for
    # members with any of them (Member's fields of those names)
    records: dict[str, tuple[str | None, int | None, bool]] = field(default_factory=dict)


def report_findings(data: Mapping[str, Any]) -> ReportFindings:
    """A report's findings from its JSON form (every field present), as ``application_facts``."""
    a = data["assets"]
    return ReportFindings(
        data["report_id"],
        {m["person_ref"]: (m["counted_monthly_fen"], m["employment_monthly_fen"])
         for m in data["members"]},
        # Reports before issue 22 have deposits alone.
        Assets(a["real_estate_count"], a["vehicle_count"], a["deposits_fen"],
               a.get("wealth_products_fen", 0), a.get("insurance_value_fen", 0),
               a.get("provident_fund_fen", 0)),
        # Reports from before grades were reported have none.
        {m["person_ref"]: g for m in data["members"] if (g := m.get("disability_grade"))},
        # Nor parents' situations, before the orphans' allowance.
        {m["person_ref"]: (m.get("father_on_record"), m.get("mother_on_record"))
         for m in data["members"] if m.get("father_on_record") or m.get("mother_on_record")},
        # Nor these, before issue 22. The date is a date in the event's model and a string in
        # its JSON (the audit replay's): str() gives YYYY-MM-DD of either.
        {m["person_ref"]: (None if (d := m.get("imprisoned_since")) is None else str(d),
                           m.get("taxable_income_fen"), bool(m.get("registered_elsewhere")))
         for m in data["members"] if m.get("imprisoned_since") is not None
         or m.get("taxable_income_fen") is not None or m.get("registered_elsewhere")})


def with_report(facts: CaseFacts, report: VerificationReported) -> CaseFacts:
    """The facts with a verification report's findings: counted incomes and assets."""
    return with_findings(facts, report_findings(report.model_dump()))


def with_findings(facts: CaseFacts, found: ReportFindings) -> CaseFacts:
    """The facts with a report's findings. A member the report leaves out keeps what earlier
    reports found."""
    incomes, grades, parents = found.incomes, found.grades, found.parents
    members = tuple(changed(m, {"counted_monthly_fen": f[0], "employment_monthly_fen": f[1],
                                "grade_on_record": grades.get(m.person_ref),
                                **_parents_on_record(parents.get(m.person_ref)),
                                **_on_record(found.records.get(m.person_ref))})
                    if (f := incomes.get(m.person_ref)) is not None else m
                    for m in facts.members)
    return facts.but(members=members, report_id=found.report_id, assets=found.assets)


def _parents_on_record(found: tuple[str | None, str | None] | None) -> dict[str, str | None]:
    father, mother = found or (None, None)
    return {"father_on_record": father, "mother_on_record": mother}


_NO_RECORDS: dict[str, object] = {"in_prison_since": None, "taxable_income_fen": None,
                                  "registered_elsewhere": False}


def _on_record(found: tuple[str | None, int | None, bool] | None) -> dict[str, object]:
    if found is None:
        return _NO_RECORDS  # most members: one dict for all (the audit replay makes millions)
    return {"in_prison_since": found[0], "taxable_income_fen": found[1],
            "registered_elsewhere": found[2]}


def per_capita(total_fen: int, size: int) -> int:
    """Per-capita amount, rounded half up to the fen (never float)."""
    return int((Decimal(total_fen) / Decimal(size)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def share(amount_fen: int, permille: int) -> int:
    """``permille``‰ of an amount, rounded half up to the fen."""
    return int((Decimal(amount_fen) * permille / 1000).quantize(Decimal(1),
                                                                rounding=ROUND_HALF_UP))


# The same standards and limits come up in every explanation; a household's own amounts rarely
# twice. 65,536 entries of them took ~14 MB (tracemalloc) in each approval process, which the
# 30-minute soak saw as growth (issue 24); 4,096 keep the figures that repeat.
@functools.lru_cache(maxsize=4096)
def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100:,}.{fen % 100:02d}"
