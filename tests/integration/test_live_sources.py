"""Live partner sources over real HTTP (deploy/partner_simulator.py under uvicorn), on real SQLite
and PostgreSQL: an application waits until every live source has answered, says which one is
missing and why, is never reported on part of the data, and completes when the source recovers;
the circuit breaker stops asking a source that keeps failing."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn

from deploy.partner_simulator import Behaviour, Record, build_app
from deploy.tokens import DevTokens
from services.verification.adapters.live_sources import CircuitBreaker
from services.verification.adapters.repositories.reports import ReportRepository
from services.verification.bootstrap import _demo_credentials, create_app
from services.verification.service_layer import live
from shared.bus.broker import free_port
from shared.clock import today
from shared.events.envelope import Envelope, to_record
from shared.settings import load_settings
from tests.conftest import migrated_engine
from tests.integration.busutil import eventually, produce, until_assigned
from tests.integration.test_bus import settings
from tests.integration.test_monitoring import CASE, MOTHER, TOWN, apply, ref
from tests.integration.test_partner_publications import Service
from tests.integration.test_verification_reassessment import application


class Simulator:
    def __init__(self, url: str, behaviour: Behaviour) -> None:
        self.url, self.behaviour = url, behaviour

    def records(self, *records: Record) -> None:
        assert httpx.put(f"{self.url}/admin/records", timeout=5,
                         json=[r.model_dump() for r in records]).status_code == 200

    def behave(self, **how: object) -> None:
        assert httpx.post(f"{self.url}/admin/behaviour", json=how, timeout=5).status_code == 200


@pytest.fixture
def simulator(service_settings_key: bytes) -> Iterator[Simulator]:
    port, behaviour = free_port(), Behaviour()
    server = uvicorn.Server(uvicorn.Config(build_app(service_settings_key, "bank", behaviour),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the partner simulator did not start"
        time.sleep(0.05)
    yield Simulator(f"http://127.0.0.1:{port}", behaviour)
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def service_settings_key() -> bytes:
    return load_settings(env="test").pseudonym_key.get_secret_value().encode()


@pytest.fixture
def service(database_url: str, tmp_path: Path, simulator: Simulator) -> Iterator[Service]:
    settings = load_settings(env="test", data_dir=tmp_path,
                             verification_database_url=database_url,
                             verification_live_sources={"bank": simulator.url},
                             verification_live_timeout_s=0.5, verification_live_retries=1,
                             verification_live_breaker_failures=2,
                             verification_live_breaker_reset_s=3600)
    with migrated_engine(database_url, "verification") as engine:
        app = create_app(settings)
        _demo_credentials(app.state.runtime, production=False)
        try:
            yield Service(app, engine, settings)
        finally:
            app.state.runtime.engine.dispose()


class Clock:
    """The worker's clock, moved by the tests (a second ahead: the cases made after it are
    due at once)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now


def sweep(service: Service, clock: Clock) -> live.Outcome:
    state = service.app.state
    for source in state.live_sources:
        source.sleep = lambda _s: None  # the backoff between retries, not waited in tests
    return live.complete_due(state.runtime.engine, state.runtime.uow, state.live_sources,
                             state.monitoring, now=clock)


def pending(service: Service) -> list[dict]:
    answer = service.get("/pending-reports", DevTokens(service.settings).reviewer(TOWN))
    assert answer.status_code == 200, answer.text
    return answer.json()["pending"]


def deposit(amount: int) -> Record:
    return Record(record_id="acct-1", kind="deposit", resident_id=MOTHER, amount_fen=amount,
                  as_of=today().isoformat())


def test_an_outage_keeps_the_case_waiting_and_recovery_completes_it(service, simulator):
    clock = Clock()
    simulator.records(deposit(1_234_500))
    simulator.behave(down=True)
    apply(service)
    assert service.reports() == []  # waits: no report on part of the data
    assert sweep(service, clock) == live.Outcome(reported=0, waiting=1)
    (waiting,) = pending(service)
    assert waiting["case_id"] == CASE and waiting["attempts"] == 1
    elsewhere = DevTokens(service.settings).reviewer("330282102")  # another town's
    assert service.get("/pending-reports", elsewhere).json()["pending"] == []
    assert waiting["missing"] == [{"department": "bank", "reason": "answered 503"}]
    assert simulator.behaviour.queries == 2  # the try and one retry
    refused = service.get(f"/reports/{CASE}", DevTokens(service.settings).reviewer(TOWN))
    assert refused.status_code == 404 and "waits for live partner sources" in refused.text
    assert sweep(service, clock) == live.Outcome(0, 0)  # not due yet: backoff

    clock.now += timedelta(minutes=1)
    simulator.behave(down=False)
    assert sweep(service, clock) == live.Outcome(reported=1, waiting=0)
    (report,) = service.reports()
    assert report.occasion == "application" and report.assets.deposits_fen == 1_234_500
    assert [s.department for s in report.sources] == ["bank"] and not report.sources[0].stale
    assert pending(service) == []
    assert sweep(service, clock) == live.Outcome(0, 0)  # done once


def test_the_breaker_opens_and_stops_asking_a_failing_source(service, simulator):
    clock = Clock()
    simulator.behave(down=True)
    apply(service)
    sweep(service, clock)
    clock.now += timedelta(minutes=1)
    sweep(service, clock)  # second failure in a row: the breaker opens
    asked = simulator.behaviour.queries
    clock.now += timedelta(minutes=5)
    assert sweep(service, clock).waiting == 1
    assert simulator.behaviour.queries == asked  # not asked while open
    (waiting,) = pending(service)
    assert "circuit open" in waiting["missing"][0]["reason"]


def test_a_slow_source_times_out_and_a_record_it_no_longer_gives_is_gone(service, simulator):
    clock = Clock()
    simulator.records(deposit(500_000))
    simulator.behave(latency_ms=1_500)  # the timeout is 0.5 s
    apply(service)
    assert sweep(service, clock).waiting == 1
    assert "no answer within 0.5 s" in pending(service)[0]["missing"][0]["reason"]
    simulator.behave(latency_ms=0)
    clock.now += timedelta(minutes=1)
    # (The breaker counted one failure: two are needed to open it.)
    assert sweep(service, clock).reported == 1
    assert service.reports()[-1].assets.deposits_fen == 500_000
    assert service.records()[("bank", "acct-1")][1] == ref(service, MOTHER)


def test_a_breaker_half_opens_after_its_period():
    now = [0.0]
    breaker = CircuitBreaker(failures_to_open=2, reset_after_s=30, clock=lambda: now[0])
    breaker.failed()
    assert breaker.state == "closed"
    breaker.failed()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 31
    assert breaker.state == "half_open" and breaker.allow()
    breaker.failed()  # the trial failed: open again for a full period
    assert breaker.state == "open"
    now[0] = 62
    breaker.succeeded()
    assert breaker.state == "closed"




async def test_the_running_service_completes_a_waiting_case_by_itself(database_url, broker,
                                                                      simulator, tmp_path):
    """The worker in verification's lifespan, on the real broker: an application arrives while
    the bank is down, and its report is published once the bank answers — nobody calls in."""
    simulator.behave(down=True)
    app = create_app(settings(broker.bootstrap, verification_database_url=database_url,
                              data_dir=tmp_path,
                              verification_live_sources={"bank": simulator.url},
                              verification_live_retries=0))
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        await until_assigned(runtime)
        case_id = f"330282-20261122-{uuid.uuid4().hex[:12]}"
        record = to_record(Envelope(data=application(case_id, wage=30_000), source="/test"))
        await produce(broker.bootstrap, [(record.topic, record.key, record.value,
                                          record.headers)])

        def reports() -> list:
            with runtime.engine.connect() as conn:
                return ReportRepository(conn).of_case(case_id)

        def asked() -> bool:
            return simulator.behaviour.queries > 0

        await eventually(asked, what="the bank asked")
        assert reports() == []  # the bank is down: the case waits
        simulator.behave(down=False)
        # The first retry comes 5 s after the failure (service_layer/live.py).
        found = await eventually(reports, timeout_s=30, what="the report once the bank answers")
        assert found[0].occasion == "application"
