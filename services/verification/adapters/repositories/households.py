"""Households as applications declared them, locked while a report is made on them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    insert,
    or_,
    select,
)

from services.verification.adapters.tables import (
    case_decisions,
    declared_incomes,
    household_members,
    households,
    recipients,
    temporary_grants,
)
from services.verification.domain.household import Household, HouseholdMember
from shared.clock import as_utc
from shared.sql import among

# Statements run for every application or publication, built once (see intake's repository).
_HOUSEHOLD_EXISTS = select(households.c.case_id).where(households.c.case_id == bindparam("cid"))
# The cases new partner data about some persons concerns: open cases (not yet decided: a new
# report) and the households early warnings watch (domain.monitoring) — active recipients' (a new
# report too) and those granted temporary assistance (the caller keeps the grants still inside
# their window).
_WATCHED_CASES_OF = (
    select(household_members.c.case_id)
    .where(among(household_members.c.person_ref, "refs"),
           or_(household_members.c.case_id.in_(
               select(recipients.c.case_id).where(recipients.c.active)),
               household_members.c.case_id.in_(select(temporary_grants.c.case_id)),
               household_members.c.case_id.not_in(select(case_decisions.c.case_id)))))
_MEMBERS_AMONG = select(household_members.c.person_ref).where(
    among(household_members.c.person_ref, "refs")).distinct()


def _households_where(condition: ColumnElement[bool]) -> Select[Any]:
    """Households with their members and declared incomes, one row per member and income kind
    (a member who declared nothing has one row, without a kind).

    The households' rows are locked (PostgreSQL; SQLite has one writer anyway): whoever reports
    on a case next waits, and then compares with this report, not the one before it."""
    return (
        select(households, household_members.c.person_ref, household_members.c.age_years,
               household_members.c.consent_signed, declared_incomes.c.kind,
               declared_incomes.c.monthly_amount_fen)
        .join(household_members, household_members.c.case_id == households.c.case_id)
        .outerjoin(declared_incomes,
                   and_(declared_incomes.c.case_id == household_members.c.case_id,
                        declared_incomes.c.person_ref == household_members.c.person_ref))
        .where(condition)
        # One order for every writer, so that two never wait for each other's cases.
        .order_by(households.c.case_id, household_members.c.position)
        .with_for_update(of=households)
    )


_HOUSEHOLD = _households_where(households.c.case_id == bindparam("cid"))
_WATCHED_HOUSEHOLDS_OF = _households_where(households.c.case_id.in_(_WATCHED_CASES_OF))


def _assemble(rows: Iterable[Any]) -> list[Household]:
    cases: dict[str, tuple[Any, dict[str, tuple[Any, dict[str, int]]]]] = {}
    for row in rows:
        _, members = cases.setdefault(row.case_id, (row, {}))
        _, declared = members.setdefault(row.person_ref, (row, {}))
        if row.kind is not None:
            declared[row.kind] = row.monthly_amount_fen
    return [Household(case_id=head.case_id, region_code=head.region_code,
                      town_code=head.town_code, programme=head.programme,
                      applicant_ref=head.applicant_ref,
                      submitted_at=as_utc(head.submitted_at),
                      members=tuple(HouseholdMember(person_ref=m.person_ref,
                                                    age_years=m.age_years,
                                                    declared_fen_by_kind=declared,
                                                    consent_signed=m.consent_signed)
                                    for m, declared in members.values()))
            for head, members in cases.values()]


class HouseholdRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def exists(self, case_id: str) -> bool:
        return self.conn.execute(_HOUSEHOLD_EXISTS, {"cid": case_id}).first() is not None

    def add(self, household: Household) -> None:
        self.conn.execute(insert(households).values(
            case_id=household.case_id, region_code=household.region_code,
            town_code=household.town_code,
            programme=household.programme, applicant_ref=household.applicant_ref,
            submitted_at=household.submitted_at))
        self.conn.execute(insert(household_members), [
            {"case_id": household.case_id, "person_ref": m.person_ref, "position": i,
             "age_years": m.age_years, "consent_signed": m.consent_signed}
            for i, m in enumerate(household.members)])
        incomes = [{"case_id": household.case_id, "person_ref": m.person_ref, "kind": kind,
                    "monthly_amount_fen": fen}
                   for m in household.members for kind, fen in m.declared_fen_by_kind.items()]
        if incomes:
            self.conn.execute(insert(declared_incomes), incomes)

    def area(self, case_id: str) -> tuple[str, str | None] | None:
        """The case's district and town, for the jurisdiction check; None for no such case."""
        row = self.conn.execute(select(households.c.region_code, households.c.town_code)
                                .where(households.c.case_id == case_id)).first()
        return None if row is None else (row[0], row[1])

    def get_for_update(self, case_id: str) -> Household | None:
        found = _assemble(self.conn.execute(_HOUSEHOLD, {"cid": case_id}))
        return found[0] if found else None

    def watched_among(self, person_refs: list[str]) -> list[Household]:
        """The households with any of these persons as a member that new partner data about
        them concerns — open cases, active recipients', and those granted temporary assistance —
        locked for update: one query, however many persons a partner published about."""
        if not person_refs:
            return []
        return _assemble(self.conn.execute(_WATCHED_HOUSEHOLDS_OF, {"refs": person_refs}))

    def members_among(self, person_refs: Sequence[str]) -> set[str]:
        """Those of these persons who are a member of some household: who has applied."""
        return set(self.conn.execute(_MEMBERS_AMONG, {"refs": list(person_refs)}).scalars())
