"""Running entitlements: opened by an approval, moved by benefit changes, shown by the API; and
migration 0003 on a database that already holds payments."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from deploy.tokens import DevTokens
from services.payment.adapters.repository import PaymentRepository
from services.payment.adapters.tables import bus, entitlements
from services.payment.entrypoints import banks, http
from services.payment.service_layer.handlers import (
    UnknownEntitlement,
    on_application_decided,
    on_benefit_changed,
)
from shared.auth.tokens import load_token_keys
from shared.bus.consumer import _is_infrastructure_failure
from shared.db import make_engine
from shared.events.catalogue import ApplicationDecided, BenefitChanged
from shared.events.envelope import Envelope
from shared.service import current_runtime
from shared.settings import load_settings
from shared.uow import UnitOfWork
from tests.conftest import ROOT, migrated_engine

CASE = "330282-20261122-000000000001"
DECIDED = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url):
    with migrated_engine(database_url, "payment") as engine:
        yield engine


def approval(case_id: str = CASE, monthly_fen: int = 81_000) -> ApplicationDecided:
    return ApplicationDecided(
        case_id=case_id, decision_id="d1", outcome="approved", programme="dibao",
        region_code="330282", beneficiary_ref="p-abc", household_size=2,
        monthly_amount_fen=monthly_fen, start_month="2026-11", policy_version="v", reasons=[],
        decided_at=DECIDED)


def change(kind: str, month: str, amount_fen: int = 81_000, days: int = 30,
           end_month: str | None = None) -> BenefitChanged:
    return BenefitChanged(
        case_id=CASE, change=kind, programme="dibao", beneficiary_ref="p-abc",  # type: ignore[arg-type]
        effective_month=month, end_month=end_month, monthly_amount_fen=amount_fen,
        reason="test", changed_at=DECIDED + timedelta(days=days))


def handle(engine, event) -> None:  # type: ignore[no-untyped-def]
    handler = (on_application_decided if isinstance(event, ApplicationDecided)
               else on_benefit_changed)
    with UnitOfWork(engine, bus, "/test") as uow:
        handler(event, Envelope(data=event, source="/test"), uow)
        uow.commit()


def state(engine, case_id: str = CASE) -> tuple[object, ...] | None:
    with engine.connect() as conn:
        e = PaymentRepository(conn).entitlement(case_id)
    if e is None:
        return None
    return (e.status, e.status_from, e.end_month, e.monthly_amount_fen, e.amount_from)


def test_an_approval_opens_an_entitlement_once(engine):
    handle(engine, approval())
    handle(engine, approval(monthly_fen=90_000))  # a second decision does not reset it
    assert state(engine) == ("active", "2026-11", None, 81_000, "2026-11")
    with engine.connect() as conn:
        r = conn.execute(select(entitlements)).one()
    assert (r.programme, r.beneficiary_ref, r.region_code, r.start_month) == (
        "dibao", "p-abc", "330282", "2026-11")


def test_a_one_off_decision_opens_no_entitlement(engine):
    handle(engine, approval(monthly_fen=0).model_copy(update={"one_off_amount_fen": 50_000}))
    assert state(engine) is None


def test_benefit_changes_move_the_entitlement(engine):
    handle(engine, approval())
    handle(engine, change("amount_changed", "2027-01", amount_fen=60_000, days=40))
    assert state(engine) == ("active", "2026-11", None, 60_000, "2027-01")
    handle(engine, change("gradual_exit", "2027-03", amount_fen=60_000, days=100,
                          end_month="2027-08"))
    assert state(engine) == ("exiting", "2027-03", "2027-08", 60_000, "2027-01")
    handle(engine, change("suspended", "2027-04", amount_fen=0, days=130))
    assert state(engine) == ("suspended", "2027-04", "2027-08", 60_000, "2027-01")
    handle(engine, change("resumed", "2027-06", amount_fen=60_000, days=190))
    # Resumed into the exit planned before the suspension, not into an open-ended benefit.
    assert state(engine) == ("exiting", "2027-06", "2027-08", 60_000, "2027-01")
    handle(engine, change("terminated", "2027-07", amount_fen=0, days=220))
    assert state(engine) == ("terminated", "2027-07", "2027-06", 60_000, "2027-01")


def test_a_redelivered_or_late_change_has_no_second_effect(engine):
    handle(engine, approval())
    suspended = change("suspended", "2027-01", days=40)
    handle(engine, suspended)
    handle(engine, change("resumed", "2027-03", days=100))
    handle(engine, suspended)  # an older change sent again must not undo the resumption
    assert state(engine) == ("active", "2027-03", None, 81_000, "2026-11")
    terminated = change("terminated", "2027-05", days=160)
    handle(engine, terminated)
    handle(engine, terminated)
    assert state(engine) == ("terminated", "2027-05", "2027-04", 81_000, "2026-11")


def test_a_change_for_an_unknown_case_fails_so_it_is_dead_lettered(engine):
    with pytest.raises(UnknownEntitlement) as raised:
        handle(engine, change("suspended", "2027-01"))
    # Not a database outage, so the consumer retries it a few times, then dead-letters it.
    assert not _is_infrastructure_failure(raised.value)
    assert CASE in str(raised.value)
    assert state(engine) is None


def test_the_payments_of_a_case_come_with_its_entitlement(engine, tmp_path):
    handle(engine, approval())
    settings = load_settings(env="test", data_dir=tmp_path)
    app = FastAPI()
    app.include_router(http.router)
    app.include_router(banks.router)
    app.dependency_overrides[current_runtime] = lambda: SimpleNamespace(engine=engine)
    app.state.auth_verifier = load_token_keys(settings)[1]
    # OneDoor's own machine reads everywhere, so an unknown case answers empty, not 404.
    client = TestClient(app, headers=DevTokens(settings).service())
    body = client.get(f"/cases/{CASE}/payments").json()
    assert [(p["kind"], p["period"], p["amount_fen"]) for p in body["payments"]] == [
        ("monthly", "2026-11", 81_000)]
    assert {k: body["entitlement"][k] for k in ("status", "monthly_amount_fen", "end_month")} == {
        "status": "active", "monthly_amount_fen": 81_000, "end_month": None}
    assert body["entitlement"]["periods"] == [
        {"from_month": "2026-11", "status": "active", "amount_fen": 81_000, "end_month": None}]
    assert client.get("/cases/unknown/payments").json() == {
        "case_id": "unknown", "payments": [], "entitlement": None, "account": None}


def test_migration_0003_keeps_existing_payments_monthly_and_opens_their_entitlements(
        database_url):
    config = Config()
    config.set_main_option("script_location", str(ROOT / "services" / "payment" / "migrations"))
    config.attributes["url"] = database_url
    command.upgrade(config, "0002")
    engine = make_engine(database_url)
    old = {"programme": "dibao", "amount_fen": 81_000, "region_code": "330282",
           "status": "scheduled", "scheduled_at": datetime(2026, 11, 1, tzinfo=UTC)}
    try:
        with engine.begin() as conn:  # the table as 0002 left it, without a kind
            conn.execute(_INSERT_0002, [
                {**old, "payment_id": "a", "case_id": "c1", "period": "2026-10",
                 "beneficiary_ref": "p1"},
                {**old, "payment_id": "b", "case_id": "c1", "period": "2026-11",
                 "beneficiary_ref": "p1"},
                {**old, "payment_id": "c", "case_id": "c2", "period": "2026-11",
                 "beneficiary_ref": "p2", "amount_fen": 50_000}])
        command.upgrade(config, "0003")
        with engine.connect() as conn:
            kinds = conn.execute(text("SELECT DISTINCT kind FROM payments")).scalars().all()
            rows = conn.execute(text(
                "SELECT case_id, start_month, monthly_amount_fen, status FROM entitlements "
                "ORDER BY case_id")).all()
        assert kinds == ["monthly"]
        assert [tuple(r) for r in rows] == [
            ("c1", "2026-10", 81_000, "active"), ("c2", "2026-11", 50_000, "active")]
        command.downgrade(config, "0002")  # no one-off payments yet, so the old keys hold
        command.upgrade(config, "head")
        # 0004: the state became a schedule, and the ledger starts from the payments made.
        with engine.connect() as conn:
            repo = PaymentRepository(conn)
            c1 = repo.entitlement("c1")
            entries = conn.execute(text(
                "SELECT payment_id, from_state, to_state, amount_fen FROM ledger "
                "ORDER BY payment_id")).all()
        assert c1 is not None and c1.amount_for("2026-12") == 81_000
        assert [tuple(e) for e in entries] == [
            ("a", "approved", "scheduled", 81_000), ("b", "approved", "scheduled", 81_000),
            ("c", "approved", "scheduled", 50_000)]
    finally:
        engine.dispose()


_INSERT_0002 = text(
    "INSERT INTO payments (payment_id, case_id, programme, period, amount_fen, beneficiary_ref,"
    " region_code, status, scheduled_at) VALUES (:payment_id, :case_id, :programme, :period,"
    " :amount_fen, :beneficiary_ref, :region_code, :status, :scheduled_at)")
