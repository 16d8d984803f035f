"""Payments and the ledger that moves them: whether a payment (or one that stands for it) was
scheduled already, writing one or a cycle's chunk of them exactly once, the ledger entry of every
change of state, and the sums read back — what a case was paid month by month, and its
household's temporary assistance in a year.

Apart from the other tables because this is where no effect may happen twice: the statements
here lean on the once-only unique indexes (and their partial forms), and are written so that
SQLite and PostgreSQL use them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    union_all,
)

from services.payment.adapters.tables import case_members, entitlements, ledger, payments
from services.payment.domain.model import ScheduledPayment
from shared.bulk import insert_rows

# Run for every approval and change, so built once (see intake's repository for why). The kind
# is written into the SQL, not bound: SQLite (and PostgreSQL with a generic plan) uses a partial
# index (WHERE kind = 'monthly' AND reissue_of IS NULL) only when it can see that the query
# asks for exactly that.
_FIRST_ISSUE = payments.c.reissue_of.is_(None)
_MONTHLY = and_(payments.c.kind == literal_column("'monthly'"), _FIRST_ISSUE)
# Two searches, one per unique index, rather than one OR, which SQLite answered by scanning a
# whole index (EXPLAIN QUERY PLAN).
_MONTHLY_EXISTS = union_all(
    select(payments.c.payment_id).where(_MONTHLY, payments.c.case_id == bindparam("cid"),
                                        payments.c.programme == bindparam("prog"),
                                        payments.c.period == bindparam("per")),
    select(payments.c.payment_id).where(_MONTHLY, payments.c.beneficiary_ref == bindparam("ben"),
                                        payments.c.programme == bindparam("prog"),
                                        payments.c.period == bindparam("per")))
_ONE_OFF_EXISTS = (
    select(payments.c.payment_id)
    .where(payments.c.kind == literal_column("'one_off'"), _FIRST_ISSUE)
    .where(payments.c.case_id == bindparam("cid"))
    .where(payments.c.programme == bindparam("prog")))
# What was paid, or is on its way, for each month of a case from a month on: its monthly
# payment and any back pay, first issues (a re-issue pays its original again), not held.
_PAID_BY_MONTH = (
    select(payments.c.period, func.sum(payments.c.amount_fen))
    .where(payments.c.case_id == bindparam("cid"), payments.c.programme == bindparam("prog"),
           payments.c.kind.in_(("monthly", "back_pay")), _FIRST_ISSUE,
           payments.c.status != "held", payments.c.period >= bindparam("from_month"))
    .group_by(payments.c.period))
_ADD_LEDGER = insert(ledger)
# The chunk's entitlements: those of a region with case ids in (after, last] — a range the
# region index reads in order.
_CHUNK = (select(entitlements.c.case_id, entitlements.c.beneficiary_ref,
                 entitlements.c.programme)
          .where(entitlements.c.region_code == bindparam("region"),
                 entitlements.c.case_id > bindparam("after"),
                 entitlements.c.case_id <= bindparam("last"))
          .subquery())
# Monthly payments already made for the period, for the chunk's cases (by case) or households
# (by beneficiary and programme): one search per once-only index.
_TAKEN_MONTHLY = union_all(
    select(payments.c.case_id, payments.c.beneficiary_ref, payments.c.programme)
    .join(_CHUNK, _CHUNK.c.case_id == payments.c.case_id)
    .where(_MONTHLY, payments.c.period == bindparam("period")),
    select(literal_column("NULL").label("case_id"), payments.c.beneficiary_ref,
           payments.c.programme)
    .join(_CHUNK, (_CHUNK.c.beneficiary_ref == payments.c.beneficiary_ref)
          & (_CHUNK.c.programme == payments.c.programme))
    .where(_MONTHLY, payments.c.period == bindparam("period")))
_TAKEN_BATCH = (select(payments.c.beneficiary_ref)
                .join(_CHUNK, _CHUNK.c.beneficiary_ref == payments.c.beneficiary_ref)
                .where(payments.c.kind == literal_column("'batch'"), _FIRST_ISSUE,
                       payments.c.run_id == bindparam("run")))


@dataclass(frozen=True)
class NewPayment:
    """A payment about to be written, with where it came from."""

    payment_id: str
    payment: ScheduledPayment
    status: str = "scheduled"  # or "held", with a reason
    decision_id: str | None = None
    run_id: str | None = None
    reissue_of: str | None = None
    hold_reason: str | None = None


class Payments:
    """Payments, their ledger, and what was paid (``PaymentRepository`` gathers it with the
    other tables)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def exists(self, payment: ScheduledPayment) -> bool:
        """Whether this payment, or one that stands for it, was already scheduled: for a monthly
        payment, one for the same month through this case or any case of the beneficiary."""
        if payment.kind == "monthly":
            found = self.conn.execute(_MONTHLY_EXISTS, {
                "cid": payment.case_id, "ben": payment.beneficiary_ref,
                "prog": payment.programme, "per": payment.period}).first()
        else:
            found = self.conn.execute(_ONE_OFF_EXISTS, {
                "cid": payment.case_id, "prog": payment.programme}).first()
        return found is not None

    def add(self, new: NewPayment, at: datetime) -> None:
        self.conn.execute(insert(payments), _payment_row(new, at))
        self.move([new], "approved", new.status, at, ref=new.run_id or new.decision_id)

    def add_many_once(self, news: Sequence[NewPayment], at: datetime, *,
                      region_code: str, after: str | None, last: str) -> list[NewPayment]:
        """Writes those of a run's payments (one run, one kind, one month) for the region's
        entitlements with case ids in (``after``, ``last``] that do not exist yet, with their
        ledger entries, and answers with them. What exists is read first and skipped — a
        household already paid for the month through another case, a first month paid at
        approval; a duplicate among ``news`` itself is skipped too. Anything that slips past
        (two writers racing) meets the unique indexes, which fail the transaction rather than
        pay twice."""
        if not news:
            return []
        first = news[0]
        taken = self._taken(first.payment.kind, first.payment.period, first.run_id,
                            region_code, after, last)
        created = []
        for new in news:
            p = new.payment
            if p.once_key in taken or (p.kind == "monthly" and p.case_id in taken):
                continue
            taken.add(p.once_key)
            created.append(new)
        if created:
            insert_rows(self.conn, payments, [_payment_row(n, at) for n in created])
            self.move(created, "approved", "scheduled", at, ref=first.run_id)
        return created

    def _taken(self, kind: str, period: str, run_id: str | None, region_code: str,
               after: str | None, last: str) -> set[Any]:
        """What already stands for a payment of the chunk: fixed statements over the chunk's
        case-id range (an IN list of a chunk's ids made a new statement per chunk, and SQLite
        answered it by scanning an index)."""
        params = {"region": region_code, "after": after or "", "last": last, "period": period,
                  "run": run_id}
        if kind == "monthly":
            rows = self.conn.execute(_TAKEN_MONTHLY, params).all()
            return ({r.case_id for r in rows if r.case_id is not None}
                    | {(r.beneficiary_ref, r.programme) for r in rows})
        beneficiaries = self.conn.execute(_TAKEN_BATCH, params).scalars()
        return {(b, "") for b in beneficiaries}

    def move(self, news: Iterable[NewPayment], from_state: str, to_state: str, at: datetime,
             ref: str | None = None) -> None:
        """Ledger entries for money moving between states."""
        rows = [{"at": at, "payment_id": n.payment_id, "case_id": n.payment.case_id,
                 "region_code": n.payment.region_code, "programme": n.payment.programme,
                 "kind": n.payment.kind, "period": n.payment.period, "from_state": from_state,
                 "to_state": to_state, "amount_fen": n.payment.amount_fen, "ref": ref}
                for n in news]
        if rows:
            self.conn.execute(_ADD_LEDGER, rows)

    def payment(self, payment_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
        query = select(payments).where(payments.c.payment_id == payment_id)
        if for_update:
            query = query.with_for_update()
        row = self.conn.execute(query).mappings().first()
        return None if row is None else dict(row)

    def for_case(self, case_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(select(payments).where(payments.c.case_id == case_id)
                                 .order_by(payments.c.period, payments.c.kind,
                                           payments.c.scheduled_at)).mappings()
        return [dict(r) for r in rows]

    def temporary_paid_in_year(self, case_id: str, year: int) -> int:
        """What the household of a case was granted in one-off temporary assistance in a
        calendar year — failed payments included, since their re-issue pays them, and held
        ones excluded, since they pay nothing. The household is every case of the year's
        temporary assistance linked to this one through shared members, however long the chain
        (approval's rule too: temporary.toml)."""
        temporary = (payments.c.kind == literal_column("'one_off'"), _FIRST_ISSUE,
                     payments.c.programme == "temporary",
                     payments.c.period.between(f"{year:04d}-01", f"{year:04d}-12"))
        of_year = select(payments.c.case_id).where(*temporary)
        m = case_members.c
        linked, people = {case_id}, set[str]()
        frontier_cases = {case_id}
        while frontier_cases:
            new_people = set(self.conn.execute(
                select(m.person_ref).distinct()
                .where(m.case_id.in_(sorted(frontier_cases)))).scalars()) - people
            if not new_people:
                break
            people |= new_people
            frontier_cases = set(self.conn.execute(
                select(m.case_id).distinct().where(m.person_ref.in_(sorted(new_people)))
                .where(m.case_id.in_(of_year))).scalars()) - linked
            linked |= frontier_cases
        total = self.conn.execute(
            select(func.coalesce(func.sum(payments.c.amount_fen), 0))
            .where(*temporary, payments.c.status != "held",
                   payments.c.case_id.in_(sorted(linked)))).scalar_one()
        return int(total)

    def paid_by_month(self, case_id: str, programme: str, from_month: str) -> dict[str, int]:
        """What a case was paid, or is being paid, for each month from ``from_month`` on."""
        rows = self.conn.execute(_PAID_BY_MONTH, {"cid": case_id, "prog": programme,
                                                  "from_month": from_month})
        return {period: int(fen) for period, fen in rows}


def _payment_row(new: NewPayment, at: datetime) -> dict[str, Any]:
    p = new.payment
    return {"payment_id": new.payment_id, "case_id": p.case_id, "programme": p.programme,
            "kind": p.kind, "period": p.period, "amount_fen": p.amount_fen,
            "beneficiary_ref": p.beneficiary_ref, "region_code": p.region_code,
            "status": new.status, "scheduled_at": at, "decision_id": new.decision_id,
            "run_id": new.run_id, "reissue_of": new.reissue_of, "hold_reason": new.hold_reason,
            "tops_up_to_fen": p.tops_up_to_fen}


def as_new_payment(row: dict[str, Any]) -> NewPayment:
    """A stored payment row, in the shape the ledger moves."""
    return NewPayment(
        payment_id=row["payment_id"], status=row["status"], decision_id=row["decision_id"],
        run_id=row["run_id"], reissue_of=row["reissue_of"], hold_reason=row["hold_reason"],
        payment=ScheduledPayment(
            case_id=row["case_id"], programme=row["programme"], kind=row["kind"],
            period=row["period"], amount_fen=row["amount_fen"],
            beneficiary_ref=row["beneficiary_ref"], region_code=row["region_code"],
            tops_up_to_fen=row.get("tops_up_to_fen")))
