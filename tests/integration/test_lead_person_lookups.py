"""Who a discovery lead is (issue 26), through verification's real app on real SQLite and
PostgreSQL, asking a partner department over real HTTP: deploy/partner_simulator.py under uvicorn
plays medical insurance (which owns the lead's bills and knows the person), as in
test_live_sources.py, and a small partner of the test's own answers what the simulator never
would (another person, nonsense).

A town's case worker asks with a reason; the department's answer goes back to them only. Every
ask is logged with its reason and outcome — resolved, not found, the department unable to
answer, or not connected at all — and listed to auditors within their reach; the event says ids
and codes only, and the person named is in no log, no outbox row and no table."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import select

from deploy.partner_simulator import Behaviour, Record, build_app
from deploy.tokens import DevTokens
from services.verification.adapters.tables import bus, lead_person_lookups
from services.verification.bootstrap import _demo_credentials, create_app
from shared.auth.principals import Role
from shared.bus.broker import free_port
from shared.clock import today
from shared.settings import load_settings
from tests.conftest import migrated_engine
from tests.integration.test_live_sources import Simulator
from tests.integration.test_monitoring import OTHER_TOWN, RECENT, STRANGER, TOWN, leads, publish
from tests.integration.test_partner_publications import NEIGHBOUR, Service, rec

DISTRICT = TOWN[:6]
NAME, ADDRESS, PHONE = "孙七", "慈溪市观海卫镇卫西村 12 号", "13857400000"
REASON = "入户核实大额医疗支出，了解生活困难情况"
DEPARTMENT = "medical_insurance"


@contextmanager
def _serving(app: FastAPI) -> Iterator[str]:
    """``app`` under uvicorn on a free port, until the block ends: its URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    try:
        while not server.started:
            assert time.monotonic() < deadline, "the partner did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    key = load_settings(env="test").pseudonym_key.get_secret_value().encode()
    behaviour = Behaviour()
    with _serving(build_app(key, DEPARTMENT, behaviour)) as url:
        yield Simulator(url, behaviour)


@pytest.fixture
def service(database_url: str, tmp_path: Path, simulator: Simulator) -> Iterator[Service]:
    settings = load_settings(env="test", data_dir=tmp_path,
                             verification_database_url=database_url,
                             verification_live_sources={DEPARTMENT: simulator.url},
                             verification_live_timeout_s=0.5, verification_live_retries=1,
                             verification_live_breaker_failures=5)
    with migrated_engine(database_url, "verification") as engine:
        app = create_app(settings)  # no lifespan: no broker, and no live worker
        _demo_credentials(app.state.runtime, production=False)
        for source in app.state.live_sources:
            source.sleep = lambda _s: None  # the backoff between retries, not waited here
        try:
            yield Service(app, engine, settings)
        finally:
            app.state.runtime.engine.dispose()


@pytest.fixture
def tokens(service: Service) -> DevTokens:
    return DevTokens(service.settings)


def bill(**who: Any) -> Record:
    """The bill medical insurance holds, and whom it knows it by."""
    return Record(record_id="m-1", kind="large_medical_bill", resident_id=STRANGER,
                  amount_fen=3_000_000, as_of=RECENT, **who)


def a_lead(service: Service, tokens: DevTokens) -> dict[str, Any]:
    """The stranger's large bill makes a lead for the town (the bureau published it)."""
    publish(service, DEPARTMENT, rec("m-1", "large_medical_bill", STRANGER, 3_000_000,
                                     as_of=RECENT, town_code=TOWN))
    (lead,) = leads(service, tokens.reviewer(TOWN))
    return lead


def ask(service: Service, lead: dict[str, Any], who: dict[str, str],
        body: Any = None) -> httpx.Response:
    return service.post(f"/leads/{lead['lead_id']}/person",
                        {"reason": REASON} if body is None else body, who)


def logged(service: Service) -> list[dict[str, Any]]:
    with service.engine.connect() as conn:
        return [dict(r) for r in conn.execute(
            select(lead_person_lookups).order_by(lead_person_lookups.c.at)).mappings()]


def published(service: Service) -> list[dict[str, Any]]:
    """Every outbox row's value, and the look-up events among them."""
    with service.engine.connect() as conn:
        rows = conn.execute(select(bus.outbox.c.value, bus.outbox.c.headers)).all()
    return [{"type": dict(json.loads(h)).get("ce_type"), "text": bytes(v).decode(),
             "value": json.loads(v)} for v, h in rows]


def listed(service: Service, who: dict[str, str], **params: str) -> list[dict[str, Any]]:
    answer = service.get("/leads/person-lookups?" + "&".join(
        f"{k}={v}" for k, v in params.items()), who)
    assert answer.status_code == 200, answer.text
    return answer.json()["lookups"]


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every log record's message, arguments and extra fields, as one text."""
    return "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)


def test_the_towns_reviewer_learns_who_the_lead_is_and_the_ask_is_logged(
        service, simulator, tokens, caplog):
    simulator.records(bill(name=NAME, address=ADDRESS, phone=PHONE))
    lead = a_lead(service, tokens)
    with caplog.at_level(logging.DEBUG):
        answer = ask(service, lead, tokens.reviewer(TOWN))
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    found = answer.json()
    assert found["person"] == {"resident_id": STRANGER, "name": NAME, "address": ADDRESS,
                               "phone": PHONE}
    assert (found["lead_id"], found["department"], found["outcome"]) == (
        lead["lead_id"], DEPARTMENT, "resolved")
    assert simulator.behaviour.resolutions == 1

    # Logged in verification: who, in which role, which lead, which department and record,
    # why, and what came of it; never whom.
    (row,) = logged(service)
    assert {k: row[k] for k in ("lookup_id", "subject", "role", "lead_id", "region_code",
                                "town_code", "department", "record_id", "reason", "outcome",
                                "detail")} == {
        "lookup_id": found["lookup_id"], "subject": f"demo-town-{TOWN}", "role": "town_reviewer",
        "lead_id": lead["lead_id"], "region_code": DISTRICT, "town_code": TOWN,
        "department": DEPARTMENT, "record_id": "m-1", "reason": REASON, "outcome": "resolved",
        "detail": None}
    # The archive's event: ids and codes; no reason, no person, in it or any other row.
    events = published(service)
    (event,) = [e["value"] for e in events if e["type"] == "onedoor.lead.person_looked_up"]
    assert event == {
        "case_id": lead["lead_id"], "lookup_id": found["lookup_id"], "lead_id": lead["lead_id"],
        "region_code": DISTRICT, "town_code": TOWN, "department": DEPARTMENT,
        "outcome": "resolved", "looked_up_by": f"demo-town-{TOWN}", "role": "town_reviewer",
        "looked_up_at": event["looked_up_at"]}
    secrets = (STRANGER, NAME, ADDRESS, PHONE, REASON)
    for text in [e["text"] for e in events] + [everything_logged(caplog)]:
        assert not [s for s in secrets if s in text], text[:300]
    assert not [s for s in (STRANGER, NAME, ADDRESS, PHONE)
                if s in json.dumps([{**r, "at": str(r["at"])} for r in logged(service)],
                                   ensure_ascii=False)]

    # Auditors read it within their reach, with the reason; nobody's identity is listed.
    auditor = tokens.auditor()
    (entry,) = listed(service, auditor)
    assert (entry["lookup_id"], entry["reason"], entry["outcome"], entry["subject"]) == (
        found["lookup_id"], REASON, "resolved", f"demo-town-{TOWN}")
    assert not [s for s in (STRANGER, NAME, ADDRESS, PHONE) if s in json.dumps(
        entry, ensure_ascii=False)]
    assert len(listed(service, tokens.headers(Role.AUDITOR, "a-district", DISTRICT))) == 1
    assert listed(service, tokens.headers(Role.AUDITOR, "a-elsewhere", "370202")) == []
    assert len(listed(service, auditor, region=TOWN)) == 1
    assert listed(service, auditor, region=OTHER_TOWN) == []
    day = today()
    assert len(listed(service, auditor, since=day.isoformat(), until=day.isoformat())) == 1
    assert listed(service, auditor, until=(day - timedelta(days=1)).isoformat()) == []
    assert listed(service, auditor, since=(day + timedelta(days=1)).isoformat()) == []
    # A case worker does not read the log.
    assert service.get("/leads/person-lookups", tokens.reviewer(TOWN)).status_code == 403


def test_no_reason_no_look_up(service, simulator, tokens):
    simulator.records(bill(name=NAME))
    lead = a_lead(service, tokens)
    reviewer = tokens.reviewer(TOWN)
    for body in ({}, {"reason": ""}, {"reason": "    \n "}, {"reason": "查询" + "\u202e很急"},
                 {"reason": "孙" * 501}, {"reason": REASON, "name": NAME}):
        refused = ask(service, lead, reviewer, body)
        assert refused.status_code == 422, (body, refused.text)
        locations = [d["loc"] for d in refused.json()["detail"]]
        assert ["body", "reason"] in locations or ["body", "name"] in locations, refused.text
        assert "孙" not in refused.text and "很急" not in refused.text
    assert simulator.behaviour.resolutions == 0 and logged(service) == []


def test_only_the_towns_case_workers_may_ask(service, simulator, tokens):
    simulator.records(bill(name=NAME))
    lead = a_lead(service, tokens)
    for who in (tokens.reviewer(OTHER_TOWN), tokens.approver("370202"), tokens.clerk(TOWN),
                tokens.auditor(), tokens.headers(Role.ADMINISTRATOR, "admin-1"),
                tokens.headers(Role.SOCIAL_WORKER, "s-1", TOWN)):
        refused = ask(service, lead, who)
        assert refused.status_code == 403, refused.text
        assert STRANGER not in refused.text and NAME not in refused.text
    assert simulator.behaviour.resolutions == 0 and logged(service) == []
    # The district's approver is above the town: they may.
    allowed = ask(service, lead, tokens.approver(DISTRICT))
    assert allowed.status_code == 200 and allowed.json()["person"]["name"] == NAME
    assert [(r["role"], r["outcome"]) for r in logged(service)] == [
        ("district_approver", "resolved")]
    assert ask(service, {"lead_id": "no-such-lead"}, tokens.reviewer(TOWN)).status_code == 404


def test_every_outcome_is_logged_and_published(service, simulator, tokens, caplog):
    lead = a_lead(service, tokens)
    reviewer = tokens.reviewer(TOWN)
    # The department holds the bill but not the person for it: not found.
    simulator.records(bill())
    nobody = ask(service, lead, reviewer)
    assert nobody.status_code == 200, nobody.text
    assert (nobody.json()["outcome"], nobody.json()["person"]) == ("not_found", None)
    # The department is down: it cannot say (the try and one retry).
    simulator.behave(down=True)
    with caplog.at_level(logging.DEBUG):
        down = ask(service, lead, reviewer)
    assert down.status_code == 503 and "answered 503" in down.json()["detail"], down.text
    assert down.headers["cache-control"] == "no-store"
    assert simulator.behaviour.resolutions == 3
    # The department is not queried live here at all: nothing to ask, and said so.
    simulator.behave(down=False)
    sources = service.app.state.live_sources
    service.app.state.live_sources = []
    try:
        unconnected = ask(service, lead, reviewer)
    finally:
        service.app.state.live_sources = sources
    assert unconnected.status_code == 409, unconnected.text
    assert "no live source is configured" in unconnected.json()["detail"]
    assert simulator.behaviour.resolutions == 3

    rows = logged(service)
    assert [(r["outcome"], r["detail"]) for r in rows] == [
        ("not_found", None), ("department_unavailable", "answered 503"),
        ("department_unavailable",
         "no live source is configured for this department: ask it directly")]
    assert all(r["reason"] == REASON for r in rows)
    events = [e["value"] for e in published(service)
              if e["type"] == "onedoor.lead.person_looked_up"]
    assert [(e["lookup_id"], e["outcome"]) for e in events] == [
        (r["lookup_id"], r["outcome"]) for r in rows]
    assert [e["outcome"] for e in listed(service, tokens.auditor())] == [
        "department_unavailable", "department_unavailable", "not_found"]  # newest first
    assert "live source medical_insurance unavailable" in everything_logged(caplog)  # seen
    assert REASON not in everything_logged(caplog)


def test_a_department_that_names_someone_else_or_answers_nonsense_is_not_believed(
        service, tokens, caplog):
    lead = a_lead(service, tokens)
    answers: list[tuple[int, Any]] = []
    partner = FastAPI()

    @partner.post("/persons:resolve")
    def resolve(body: dict[str, Any]) -> JSONResponse:
        status, answer = answers.pop(0)
        if isinstance(answer, dict):  # about the person asked, as far as it says
            answer = {"person_ref": body["person_ref"], **answer}
        return JSONResponse(answer, status_code=status)

    with _serving(partner) as url:
        for source in service.app.state.live_sources:
            source.url = url  # medical insurance's own adapter, of the test's making
        answers.extend([(200, {"resident_id": NEIGHBOUR, "name": "周八"}),
                        (200, {"resident_id": STRANGER}),  # no name
                        (200, {"resident_id": STRANGER, "name": "孙\u001b七"}),
                        (200, ["not", "an", "object"])])
        with caplog.at_level(logging.DEBUG):
            for _ in range(4):
                refused = ask(service, lead, tokens.reviewer(TOWN))
                assert refused.status_code == 503, refused.text
                for text in (refused.text, everything_logged(caplog)):
                    assert NEIGHBOUR not in text and "周八" not in text
                    assert STRANGER not in text and "孙" not in text
    assert [r["detail"] for r in logged(service)] == [
        "answered with a person other than the lead's",
        "answered something unreadable (name is missing)",
        "answered something unreadable (name is not one line of at most 100 characters)",
        "answered something unreadable (not about the person asked)"]
    assert {r["outcome"] for r in logged(service)} == {"department_unavailable"}


def test_a_closed_lead_is_not_looked_up(service, simulator, tokens):
    simulator.records(bill(name=NAME))
    lead = a_lead(service, tokens)
    closed = service.post(f"/leads/{lead['lead_id']}/close", {"outcome": "not_in_need"},
                          tokens.reviewer(TOWN))
    assert closed.status_code == 200, closed.text
    refused = ask(service, lead, tokens.reviewer(TOWN))
    assert refused.status_code == 409 and "closed" in refused.json()["detail"]
    assert simulator.behaviour.resolutions == 0 and logged(service) == []
