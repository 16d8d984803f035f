"""One household's path is one trace (shared/tracing/): intake, verification, approval and
payment run in this process, as their bootstraps build them, on SQLite and an embedded broker of
the test's own; spans go to an in-memory exporter through the same scrubbing as an OTLP export.

The context crosses every service through the broker: intake's request span → the outbox row's
``ce_traceparent`` → verification's handling of the application → its report → approval's
handling of it; the town's and the district's actions (sent in the case's trace, as a window that
carried it would) → the decision → payment's handling of it → the scheduled payment → intake's
handling of that."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import select

from deploy.households import make_households
from deploy.tokens import DevTokens
from services.approval.bootstrap import DEFAULT_POLICY
from services.approval.bootstrap import create_app as create_approval
from services.intake.adapters.tables import bus
from services.intake.bootstrap import create_app as create_intake
from services.payment.bootstrap import create_app as create_payment
from services.verification.bootstrap import create_app as create_verification
from services.verification.bootstrap import demo_token
from shared import tracing
from shared.events.catalogue import CaseStageChanged
from shared.settings import Settings
from shared.uow import UnitOfWork
from tests.conftest import ROOT, bus_settings, migrated_engine
from tests.integration.busutil import until_assigned

HOUSEHOLD = next(h for h in make_households(10, seed=2502) if h.expect == "approved")
TRACE_ID = "5ba0d2c1e0f14f6b9a3c7d8e1f2a3b4c"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
# The packaged policy, with Cixi's public notice shortened to 0 days (as the end-to-end tests).
POLICY_PATHS = [DEFAULT_POLICY, ROOT / "tests" / "e2e" / "fast_notice.toml"]
CREATE = {"intake": create_intake, "verification": create_verification,
          "approval": create_approval, "payment": create_payment}


@pytest.fixture
def spans() -> AsyncIterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = tracing.make_provider("test")
    provider.add_span_processor(tracing.exporting_to(exporter))
    tracing.start(provider)
    try:
        yield exporter  # type: ignore[misc]
    finally:
        tracing.stop()
        provider.shutdown()


@pytest.fixture
async def services(spans, own_broker, tmp_path) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    settings = Settings(env="test", data_dir=tmp_path, policy_paths=POLICY_PATHS,
                        consumer_retry_backoff_s=0.05,
                        **bus_settings(own_broker))  # type: ignore[arg-type]
    async with contextlib.AsyncExitStack() as stack:
        clients, runtimes = {}, []
        for name, create in CREATE.items():  # made with tracing on: instrumented
            app = create(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            clients[name] = await stack.enter_async_context(httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=f"http://{name}"))
            runtimes.append(app.state.runtime)
        await asyncio.gather(*(until_assigned(r) for r in runtimes))
        clients["tokens"] = DevTokens(settings)  # type: ignore[assignment]
        yield clients


async def until(check, timeout_s: float = 30, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while (found := await check()) is None or found is False:
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)
    return found


async def test_one_households_spans_share_one_trace_across_four_services(services, spans):
    http, tokens = services, services["tokens"]
    for dept, records in HOUSEHOLD.partner_records.items():  # the partners' data, untraced
        answer = await http["verification"].post(
            "/partner-records", json={"records": records},
            headers={"Authorization": f"Bearer {demo_token(dept)}"})
        assert answer.status_code == 200, answer.text
    in_trace = {"traceparent": TRACEPARENT}
    application = HOUSEHOLD.application()
    taken = await http["intake"].post("/applications", json=application, headers={
        **tokens.clerk(application["region_code"]), **in_trace})
    assert taken.status_code == 201, taken.text
    case_id = taken.json()["case_id"]

    async def case() -> dict | None:  # type: ignore[type-arg]
        answer = await http["approval"].get(f"/cases/{case_id}", headers=tokens.service())
        return answer.json() if answer.status_code == 200 else None

    async def assessed() -> dict | None:  # type: ignore[type-arg]
        found = await case()
        return found if found and found["stage"] == "awaiting_review" and found.get(
            "assessment") else None

    found = await until(assessed, what="approval's assessment of the verified case")
    assert found["assessment"]["eligible"] is True, found["assessment"]
    place = found.get("town_code") or found["region_code"]

    async def act(action: str, who: dict[str, str], **body: object) -> str:
        answer = await http["approval"].post(f"/cases/{case_id}/actions", headers={
            **who, **in_trace}, json={"action": action, **body})
        assert answer.status_code == 200, answer.text
        return str(answer.json()["stage"])

    today = datetime.now(UTC).date().isoformat()
    await act("accept", tokens.reviewer(place), note="report and survey agree", home_survey={
        "surveyors": "t-1, t-2", "findings": "as declared", "surveyed_on": today})
    await act("approve", tokens.approver(found["region_code"]), note="approved as assessed")

    async def shown_paid() -> bool:
        answer = await http["intake"].get(f"/applications/{case_id}", headers=tokens.service())
        return answer.json()["status"] == "payment_scheduled"

    await until(shown_paid, what="intake showing the payment scheduled")
    await until(lambda: _settled(spans), what="the last spans")

    mine = [s for s in spans.get_finished_spans() if f"{s.context.trace_id:032x}" == TRACE_ID]
    handled = {(s.attributes.get("onedoor.service"), s.name) for s in mine
               if s.kind is SpanKind.CONSUMER}
    assert {("verification", "process onedoor.application.submitted"),
            ("approval", "process onedoor.verification.reported"),
            ("payment", "process onedoor.application.decided"),
            ("intake", "process onedoor.payment.scheduled")} <= handled, handled
    served = {(s.attributes.get("onedoor.service"), s.name) for s in mine
              if s.kind is SpanKind.SERVER}
    assert {("intake", "POST /applications"),
            ("approval", "POST /cases/{case_id}/actions")} <= served, served
    # Parent to child through the broker: verification's handling is a child of intake's
    # request, whose span was current when the application's event was staged.
    by_id = {s.context.span_id: s for s in mine}
    verifying = next(s for s in mine if s.name == "process onedoor.application.submitted")
    assert by_id[verifying.parent.span_id].name == "POST /applications"
    assert any(s.attributes.get("db.system") or s.attributes.get("db.system.name")
               for s in mine), "no statement spans (SQLAlchemy instrumentation)"
    assert any(link.context.trace_id == int(TRACE_ID, 16)
               for s in spans.get_finished_spans() if s.name == "publish outbox"
               for link in s.links), "no relay batch linked to the case's trace"
    # What leaves the process holds no case id, path or query (the logs' rule).
    for span in spans.get_finished_spans():
        for key, value in (span.attributes or {}).items():
            assert case_id not in str(value), (span.name, key)
            assert key not in ("url.query", "url.full", "http.target"), (span.name, key)


async def _settled(spans: InMemorySpanExporter) -> bool:
    """Intake's handling of the payment ends just after its commit, which the check saw."""
    return any(s.name == "process onedoor.payment.scheduled"
               for s in spans.get_finished_spans())


# -- off by default, and what leaves the process ----------------------------------------------

ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}


@pytest.mark.parametrize(("env", "on"), [
    ({}, False), (ENDPOINT, True),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318"}, True),
    ({"OTEL_TRACES_EXPORTER": "console"}, True),
    ({**ENDPOINT, "OTEL_TRACES_EXPORTER": "none"}, False),
    ({**ENDPOINT, "OTEL_SDK_DISABLED": "true"}, False)])
def test_export_is_off_unless_the_otel_variables_ask_for_it(env, on):
    assert tracing.export_configured(env) is on


def test_an_event_carries_the_context_of_the_span_current_when_it_is_staged(tmp_path):
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    with migrated_engine(url, "intake") as engine:
        def staged() -> dict[str, str]:
            with UnitOfWork(engine, bus, "/onedoor/intake") as uow:
                uow.publish(CaseStageChanged(
                    case_id="330282-20261122-5f0c0a1b2c3d", sequence=1, from_stage=None,
                    to_stage="awaiting_report", action="submitted", actor="system",
                    changed_at=datetime.now(UTC)))
                uow.commit()
            with engine.connect() as conn:
                headers = conn.execute(select(bus.outbox.c.headers)
                                       .order_by(bus.outbox.c.id.desc())).scalars().first()
            return dict(json.loads(headers))

        assert not tracing.enabled()
        assert "ce_traceparent" not in staged()  # off: nothing is added
        exporter = InMemorySpanExporter()
        provider = tracing.make_provider("test")
        provider.add_span_processor(tracing.exporting_to(exporter))
        tracing.start(provider)
        try:
            with provider.get_tracer("test").start_as_current_span("request") as span:
                carried = staged()
            ids = span.get_span_context()
            version, trace_id, parent_id, _flags = carried["ce_traceparent"].split("-")
            assert (version, trace_id, parent_id) == ("00", f"{ids.trace_id:032x}",
                                                      f"{ids.span_id:016x}")
            assert "ce_traceparent" not in staged()  # no span current: no context to carry
        finally:
            tracing.stop()
            provider.shutdown()


def test_spans_leave_without_path_query_address_or_exception_message():
    exporter = InMemorySpanExporter()
    provider = tracing.make_provider("test")
    provider.add_span_processor(tracing.exporting_to(exporter))
    resident = "330282195803150024"
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("GET /applications/{case_id}", attributes={
            "http.route": "/applications/{case_id}", "url.path": "/applications/330282-x",
            "url.query": f"resident_id={resident}", "url.full": "http://intake/applications/x",
            "client.address": "10.1.2.3", "http.request.method": "GET"},
            record_exception=False, set_status_on_exception=False) as span:
        span.record_exception(ValueError(f"bad resident id {resident}"))
        span.set_status(Status(StatusCode.ERROR, f"failed for {resident}"))
    provider.shutdown()
    (done,) = exporter.get_finished_spans()
    assert dict(done.attributes) == {"http.route": "/applications/{case_id}",
                                     "url.path": "/applications/{case_id}",
                                     "http.request.method": "GET"}
    assert [dict(e.attributes) for e in done.events] == [{"exception.type": "ValueError"}]
    assert done.status.status_code is StatusCode.ERROR and done.status.description is None
