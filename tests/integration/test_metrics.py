"""``GET /metrics`` (shared/metrics.py) on real services: intake taking an application over HTTP
on a migrated SQLite database, payment consuming decisions from the real embedded broker, and the
window.
Whatever the services were sent, the text names no case and no person: only route templates,
event types, programmes, districts, outcomes."""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from deploy.households import make_households
from deploy.tokens import DevTokens
from services.audit.bootstrap import create_app as create_audit
from services.intake.bootstrap import create_app as create_intake
from services.payment.bootstrap import create_app as create_payment
from services.window.bootstrap import create_app as create_window
from shared.bus.broker import free_port
from shared.events.topics import ALL_TOPICS
from shared.settings import Settings, load_settings
from tests.conftest import migrated_engine
from tests.integration.busutil import eventually, produce, until_assigned
from tests.integration.test_bus import approval, payments_of, record_of, settings

HOUSEHOLD = make_households(1, seed=2501)[0]
T = TypeVar("T")


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition, by name and labels (parsed as Prometheus would)."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float | None:  # type: ignore[type-arg]
    return found.get((name, frozenset(labels.items())))


async def until(read: Callable[[], Awaitable[T]], done: Callable[[T], bool], what: str,
                timeout_s: float = 30.0) -> T:
    """What ``read`` answers once ``done`` says so (an async ``eventually``)."""
    deadline = time.monotonic() + timeout_s
    while not done(found := await read()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.1)
    return found


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
    # The application committed in a group of its own (shared/group_commit.py).
    assert grew("onedoor_group_commit_commands_count", service="intake") == 1
    assert grew("onedoor_group_commit_commands_sum", service="intake") == 1
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


async def test_payments_written_to_a_bank_file_count_as_sent_once_by_programme(payment, broker):
    """Payments sent: no event says so, so the bank-file export counts them at its commit —
    once, whatever the retries of the request (an idempotency key answered again adds
    nothing), by programme and never by bank, file or case."""
    runtime, http = payment
    tokens = DevTokens(runtime.settings)
    case_id = f"330282-20261123-{uuid.uuid4().hex[:12]}"
    await produce(broker.bootstrap, [record_of(approval(case_id))])
    await eventually(lambda: payments_of(runtime.engine, case_id), what="the payment")
    account = await http.put(f"/cases/{case_id}/account", headers=tokens.clerk("330282"),
                             json={"bank_code": "ICBC", "account_number": "6222020200112233445",
                                   "holder_name": "王秀英"})
    assert account.status_code == 200, account.text
    before = samples((await http.get("/metrics")).text)

    export = {"region_code": "330282", "up_to_month": "2026-11"}
    headers = {**tokens.approver("330282"), "Idempotency-Key": f"files-{case_id}"}
    answers = [await http.post("/bank-files", json=export, headers=headers) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200], answers[0].text
    assert answers[1].json() == answers[0].json()  # the stored answer, not a second export
    files = answers[0].json()["files"]
    written = sum(f["record_count"] for f in files)
    assert written >= 1
    nothing_left = await http.post("/bank-files", json=export, headers=tokens.approver("330282"))
    assert nothing_left.json()["files"] == []  # exported already: a new file would be empty

    text = (await http.get("/metrics")).text
    found = samples(text)
    sent = {"service": "payment", "programme": "dibao", "status": "sent"}
    assert (value(found, "onedoor_payments_total", **sent) or 0) - (
        value(before, "onedoor_payments_total", **sent) or 0) == written
    labelled = [dict(labels) for (name, labels) in found
                if name == "onedoor_payments_total" and dict(labels).get("status") == "sent"]
    assert labelled and all(set(labels) == {"service", "programme", "status"}
                            for labels in labelled)
    assert_no_case_or_person(text, case_id, "ICBC", "6222020200112233445", "王秀英",
                             *[f["file_id"] for f in files])


async def test_audit_shows_how_far_its_archiver_is_behind_the_bus(own_broker, tmp_path):
    """The archiver's lag per partition, on audit's /metrics: held up (its database writes
    wait), it shows the records it has not archived; let go, it shows 0 everywhere."""
    app = create_audit(Settings(env="test", kafka_bootstrap=own_broker.bootstrap,
                                data_dir=tmp_path, audit_checkpoint_interval_s=3600))
    archiver = app.state.archiver
    entered, let_go = threading.Event(), threading.Event()
    archive = archiver._archive

    def held_up(incoming):  # type: ignore[no-untyped-def]
        entered.set()
        let_go.wait(60)
        return archive(incoming)

    archiver._archive = held_up
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://audit") as http:
        async def scrape() -> dict:  # type: ignore[type-arg]
            return samples((await http.get("/metrics")).text)

        def lag_of(found: dict) -> dict[tuple[str, str], float]:  # type: ignore[type-arg]
            return {(dict(labels)["topic"], dict(labels)["partition"]): v
                    for (name, labels), v in found.items()
                    if name == "onedoor_audit_archiver_lag"}

        # Not started: this instance does not archive, and shows no lag of its own.
        idle = await scrape()
        assert value(idle, "onedoor_audit_archiver_active", service="audit") == 0
        assert lag_of(idle) == {}
        async with app.router.lifespan_context(app):
            case_id = f"330282-20261124-{uuid.uuid4().hex[:12]}"
            decided = [record_of(approval(case_id)) for _ in range(6)]  # one key: one partition
            topic = decided[0][0]
            await produce(own_broker.bootstrap, decided[:1])
            await eventually(entered.is_set, what="the archiver holding its first batch")
            await produce(own_broker.bootstrap, decided[1:])

            found = await until(scrape, lambda f: 5.0 in lag_of(f).values(),
                                "the five records behind shown")
            assert value(found, "onedoor_audit_archiver_active", service="audit") == 1
            lags = lag_of(found)
            assert {t for t, _p in lags} <= set(ALL_TOPICS)  # bounded: the topics' partitions
            assert [p for (t, p), v in lags.items() if v] == [p for (t, p), v in lags.items()
                                                              if t == topic and v == 5]

            let_go.set()
            await until(scrape, lambda f: bool(lag_of(f)) and set(lag_of(f).values()) == {0.0},
                        "the archiver caught up")
            assert_no_case_or_person((await http.get("/metrics")).text, case_id)


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
