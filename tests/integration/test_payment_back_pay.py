"""Back pay (补发) on real databases: a change that reaches back into months payment has paid
tops each such month up to what it is now due — once, through a redelivered change, a second
rise and a restart — and a cut reaching back takes nothing back."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from services.payment.adapters.tables import bus, ledger, payments
from services.payment.adapters.vault import AccountVault
from services.payment.service_layer import banking, runs
from shared.events.catalogue import PaymentScheduled
from shared.uow import UnitOfWork
from tests.integration.test_payment_cycles import (
    REGION,
    approve,
    case,
    change,
    cycle,
)
from tests.integration.test_payment_cycles import engine as engine


def paid(engine, n: int = 1) -> dict[str, list[tuple[str, int]]]:
    """A case's payments by month: (kind, amount) in the order made."""
    out: dict[str, list[tuple[str, int]]] = {}
    with engine.connect() as conn:
        for period, kind, fen in conn.execute(
                select(payments.c.period, payments.c.kind, payments.c.amount_fen)
                .where(payments.c.case_id == case(n))
                .order_by(payments.c.scheduled_at, payments.c.payment_id)):
            out.setdefault(period, []).append((kind, fen))
    return out


def totals(engine, n: int = 1) -> dict[str, int]:
    return {m: sum(fen for _, fen in rows) for m, rows in paid(engine, n).items()}


def scheduled_events(engine) -> list[PaymentScheduled]:
    with engine.connect() as conn:
        values = conn.execute(select(bus.outbox.c.value).order_by(bus.outbox.c.id)).scalars()
        return [PaymentScheduled.model_validate_json(bytes(v)) for v in values
                if b'"payment_id"' in bytes(v) and b'"scheduled_at"' in bytes(v)]


def test_a_retroactive_rise_pays_each_paid_month_the_difference_once(engine):
    approve(engine, 1, 81_000, month="2026-11")  # pays November at approval
    cycle(engine, "2026-12")  # and December by its cycle
    assert totals(engine) == {"2026-11": 81_000, "2026-12": 81_000}

    change(engine, 1, "amount_changed", "2026-11", 90_000, days=30)  # published late, from Nov
    assert paid(engine) == {"2026-11": [("monthly", 81_000), ("back_pay", 9_000)],
                            "2026-12": [("monthly", 81_000), ("back_pay", 9_000)]}
    # The same change again (redelivered under another id, or handled again after a restart).
    change(engine, 1, "amount_changed", "2026-11", 90_000, days=30)
    assert totals(engine) == {"2026-11": 90_000, "2026-12": 90_000}

    # A second rise from November: only the difference to the new total.
    change(engine, 1, "amount_changed", "2026-11", 95_000, days=40)
    change(engine, 1, "amount_changed", "2026-11", 95_000, days=40)
    assert paid(engine)["2026-11"] == [("monthly", 81_000), ("back_pay", 9_000),
                                       ("back_pay", 5_000)]
    assert totals(engine) == {"2026-11": 95_000, "2026-12": 95_000}
    # January has not been paid: its cycle pays the new amount, no back pay.
    cycle(engine, "2027-01")
    assert paid(engine)["2027-01"] == [("monthly", 95_000)]

    # Each back pay was announced once, as a back pay for its month, and entered the ledger.
    back = [e for e in scheduled_events(engine) if e.kind == "back_pay"]
    assert sorted((e.period, e.amount_fen, e.tops_up_to_fen) for e in back) == [
        ("2026-11", 5_000, 95_000), ("2026-11", 9_000, 90_000), ("2026-12", 5_000, 95_000),
        ("2026-12", 9_000, 90_000)]  # each with the total it brings the month to (for audit)
    with engine.connect() as conn:
        assert conn.execute(select(func.sum(ledger.c.amount_fen)).where(
            ledger.c.kind == "back_pay", ledger.c.to_state == "scheduled")).scalar_one() == 28_000


def test_the_database_refuses_a_month_topped_up_to_the_same_total_twice(engine):
    approve(engine, 2, 81_000, month="2026-11")
    change(engine, 2, "amount_changed", "2026-11", 90_000, days=30)
    with engine.connect() as conn:
        row = dict(conn.execute(select(payments).where(payments.c.kind == "back_pay"))
                   .mappings().one())
    for other in ({"case_id": row["case_id"]}, {"case_id": "another-case-of-the-household"}):
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert(payments).values({**row, **other, "payment_id": "again"}))
    # A back pay must say which total it tops up to.
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(payments).values({**row, "payment_id": "no-total",
                                              "tops_up_to_fen": None}))


def test_a_cut_reaching_back_takes_nothing_back_and_a_rise_after_it_only_tops_up(engine):
    approve(engine, 3, 81_000, month="2026-11")
    cycle(engine, "2026-12")
    change(engine, 3, "amount_changed", "2026-11", 70_000, days=30)
    assert totals(engine, 3) == {"2026-11": 81_000, "2026-12": 81_000}  # no clawback
    change(engine, 3, "amount_changed", "2026-11", 85_000, days=40)
    assert totals(engine, 3) == {"2026-11": 85_000, "2026-12": 85_000}


def test_back_pay_goes_out_in_the_next_bank_file(engine):
    approve(engine, 4, 81_000, month="2026-11")
    change(engine, 4, "amount_changed", "2026-11", 90_000, days=30)
    with engine.connect() as conn:
        [(status,)] = conn.execute(select(payments.c.status)
                                   .where(payments.c.kind == "back_pay")).all()
    assert status == "scheduled"
    with engine.connect() as conn:
        due = conn.execute(select(payments.c.kind).where(banking._due(REGION, "2026-12"))).all()
    assert sorted(k for (k,) in due) == ["back_pay", "monthly"]


def test_a_failed_back_pay_is_reissued_once_for_the_same_top_up(engine):
    """A back pay the bank refused is paid again into the corrected account, as any payment:
    the re-issue carries the total it tops its month up to (the database requires it)."""
    approve(engine, 5, 81_000, month="2026-11")
    change(engine, 5, "amount_changed", "2026-11", 90_000, days=30)
    vault = AccountVault("test-account-secret")
    with UnitOfWork(engine, bus, "/test") as uow:
        banking.register_account(uow, vault, case(5), "ICBC", "6222020200112233445", "王秀英")
        uow.commit()
    with engine.begin() as conn:  # as the bank's results leave it: refused, the account sent
        [back] = conn.execute(select(payments.c.payment_id).where(
            payments.c.case_id == case(5), payments.c.kind == "back_pay")).scalars().all()
        conn.execute(update(payments).where(payments.c.payment_id == back).values(
            status="failed", failure_reason="account closed", bank_code="ICBC",
            account_sealed=vault.seal("6222020200112233445", bound_to=case(5)),
            holder_sealed=vault.seal("王秀英", bound_to=case(5))))
    with UnitOfWork(engine, bus, "/test") as uow:
        banking.register_account(uow, vault, case(5), "ICBC", "6222020200998877665", "王秀英")
        uow.commit()
    with UnitOfWork(engine, bus, "/test") as uow:
        again = banking.reissue(uow, vault, back)
        uow.commit()
    with engine.connect() as conn:
        row = conn.execute(select(payments).where(
            payments.c.payment_id == again["payment_id"])).mappings().one()
    assert (row["kind"], row["period"], row["amount_fen"], row["tops_up_to_fen"],
            row["reissue_of"], row["status"]) == ("back_pay", "2026-11", 9_000, 90_000, back,
                                                  "scheduled")


class HeldChunk(UnitOfWork):
    """A cycle's first chunk, held open after its reads and writes until released: the moment
    a benefit change may arrive for one of its entitlements."""

    def __init__(self, engine, written: threading.Event, release: threading.Event) -> None:
        super().__init__(engine, bus, "/test")
        self.written, self.release = written, release

    def commit(self) -> None:
        self.written.set()
        assert self.release.wait(60)
        super().commit()


def test_a_change_during_a_cycles_chunk_is_paid_in_full(engine):
    """A cycle reads an entitlement at the old amount and has not committed its payment when a
    rise for that month arrives: the month still comes to the new amount (the chunk holds its
    entitlements, so the change waits for the payment and tops it up; SQLite has one writer)."""
    approve(engine, 6, 81_000, month="2026-11")
    written, release = threading.Event(), threading.Event()
    made: list[UnitOfWork] = []

    def factory() -> UnitOfWork:
        made.append(HeldChunk(engine, written, release) if not made
                    else UnitOfWork(engine, bus, "/test"))
        return made[-1]

    with engine.begin() as conn:
        run = runs.open_cycle(conn, "2026-12", REGION, datetime.now(UTC))
    with ThreadPoolExecutor(2) as pool:
        cycling = pool.submit(runs.generate, factory, run["run_id"])
        assert written.wait(30)  # the chunk's payment is written, not committed
        changing = pool.submit(change, engine, 6, "amount_changed", "2026-12", 90_000, days=30)
        time.sleep(1.0)
        release.set()
        cycling.result(60)
        changing.result(60)
    assert totals(engine, 6)["2026-12"] == 90_000
