"""``GET /metrics`` (shared/metrics.py) on real services: intake taking an application over HTTP
on a migrated SQLite database, payment consuming decisions from the real embedded broker, and the
window.
Whatever the services were sent, the text names no case and no person: only route templates,
event types, programmes, districts, outcomes."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from deploy.households import make_households
from deploy.tokens import DevTokens
from services.intake.bootstrap import create_app as create_intake
from services.payment.bootstrap import create_app as create_payment
from services.window.bootstrap import create_app as create_window
from shared.bus.broker import free_port
from shared.settings import load_settings
from tests.conftest import migrated_engine
from tests.integration.busutil import eventually, produce, until_assigned
from tests.integration.test_bus import approval, payments_of, record_of, settings

HOUSEHOLD = make_households(1, seed=2501)[0]


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition, by name and labels (parsed as Prometheus would)."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float | None:  # type: ignore[type-arg]
    return found.get((name, frozenset(labels.items())))


def assert_no_case_or_person(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text
    labels = {v for _name, labelled in samples(text) for _k, v in labelled}
    # A district has 6 digits; a town 9, a resident ID 18, an account more.
    assert not [v for v in labels if re.search(r"\d{7,}", v)], labels


@pytest.fixture
async def intake(tmp_path):
    """Intake as its bootstrap builds it, without its bus: what it publishes stays in the
    outbox, a backlog that /metrics must show."""
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    with migrated_engine(url, "intake"):
        app_settings = load_settings(env="test", intake_database_url=url, data_dir=tmp_path)
        app = create_intake(app_settings)
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://intake") as http:
                yield http, DevTokens(app_settings)
        finally:
            app.state.runtime.engine.dispose()


async def test_intake_shows_requests_by_route_its_outbox_and_the_applications_taken(intake):
    http, tokens = intake
    before = samples((await http.get("/metrics")).text)
    application = HOUSEHOLD.application()
    clerk = tokens.clerk(application["region_code"])
    taken = await http.post("/applications", json=application, headers=clerk)
    assert taken.status_code == 201, taken.text
    case_id = taken.json()["case_id"]
    assert (await http.get(f"/applications/{case_id}", headers=clerk)).status_code == 200
    assert (await http.get("/applications/no-such-case", headers=clerk)).status_code == 404

    answer = await http.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    found = samples(answer.text)

    def grew(name: str, **labels: str) -> float:  # counters are the process's: other tests count
        return (value(found, name, **labels) or 0) - (value(before, name, **labels) or 0)

    route = {"service": "intake", "method": "GET", "route": "/applications/{case_id}"}
    count = "onedoor_http_request_duration_seconds_count"
    assert grew(count, **route, status="200") == 1
    assert grew(count, **route, status="404") == 1
    assert grew("onedoor_http_request_duration_seconds_bucket", **route, status="200",
                le="+Inf") == 1
    # The bus is not running: the application's event waits in the outbox.
    assert value(found, "onedoor_outbox_backlog", service="intake") == 1
    assert value(found, "onedoor_outbox_oldest_unpublished_age_seconds", service="intake") > 0
    assert value(found, "onedoor_db_pool_checked_out", service="intake") is not None
    taken_here = {"service": "intake", "programme": application["programme"],
                  "region": application["region_code"][:6]}
    assert grew("onedoor_applications_total", **taken_here) == 1
    assert grew("onedoor_events_committed_total", service="intake",
                type="onedoor.application.submitted") == 1
    # Only intake's own samples, and the process's.
    assert {dict(labels).get("service", "intake") for _name, labels in found} == {"intake"}
    assert "process_cpu_seconds_total" in answer.text or "python_gc" in answer.text
    members = [m["resident_id"] for m in application["members"]]
    assert_no_case_or_person(answer.text, case_id, *members,
                             *[m["name"] for m in application["members"]])


@pytest.fixture
async def payment(tmp_path, broker):
    app = create_payment(settings(broker, data_dir=tmp_path))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://payment") as http:
        runtime = app.state.runtime
        await until_assigned(runtime)
        yield runtime, http


async def test_payment_shows_events_handled_dead_lettered_lag_and_payments(payment, broker):
    runtime, http = payment
    case_id = f"330282-20261122-{uuid.uuid4().hex[:12]}"
    decided = record_of(approval(case_id))
    topic, key, value_, headers = decided
    # Not a type the catalogue knows, and named after the case: its label must say "unknown".
    stray = (topic, key, value_, [(k, f"{case_id}.evil".encode() if k == "ce_type" else v)
                                  for k, v in headers])
    before = samples((await http.get("/metrics")).text)
    await produce(broker.bootstrap, [stray, decided])
    await eventually(lambda: payments_of(runtime.engine, case_id), what="the payment")
    await eventually(lambda: runtime.consumer.dead_lettered_total, what="the dead letter")
    await eventually(lambda: runtime.relay.backlog() == 0, what="PaymentScheduled published")

    text = (await http.get("/metrics")).text
    found = samples(text)

    def grew(name: str, **labels: str) -> float:
        return (value(found, name, service="payment", **labels) or 0) - (
            value(before, name, service="payment", **labels) or 0)

    assert grew("onedoor_events_handled_total", type="onedoor.application.decided") == 1
    assert grew("onedoor_events_dead_lettered_total", type="unknown") == 1
    assert grew("onedoor_payments_total", programme="dibao", status="scheduled") == 1
    assert grew("onedoor_relay_published_events_total") >= 2  # the payment, the dead letter
    assert grew("onedoor_relay_publish_duration_seconds_count") >= 1
    assert grew("onedoor_relay_event_delay_seconds_count") >= 2
    assert grew("onedoor_consumer_batch_duration_seconds_count") >= 1
    lags = {dict(labels)["partition"]: v for (name, labels), v in found.items()
            if name == "onedoor_consumer_lag" and dict(labels)["topic"] == topic}
    assert lags and set(lags.values()) <= {0.0}, lags  # every partition read to its end
    assert value(found, "onedoor_outbox_backlog", service="payment") == 0
    assert_no_case_or_person(text, case_id, "evil")


async def test_the_window_shows_its_requests_and_its_database_pool(tmp_path):
    app = create_window(settings(f"127.0.0.1:{free_port()}", data_dir=tmp_path))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://window") as http:
        assert (await http.get("/health/live")).status_code == 200
        found = samples((await http.get("/metrics")).text)
    assert value(found, "onedoor_http_request_duration_seconds_count", service="window",
                 method="GET", route="/health/live", status="200") >= 1
    assert value(found, "onedoor_db_pool_checked_out", service="window") is not None
    assert {dict(labels).get("service", "window") for _name, labels in found} == {"window"}
