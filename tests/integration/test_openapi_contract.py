"""The OpenAPI documents as a contract (issue 21): every operation documents the errors it can
answer, with the bodies it answers them with (shared/contract.py), and what the fuzzing
(test_openapi_fuzz.py) found answers as documented — each test here fails without its fix.

Each service is its real app, built by its bootstrap's ``create_app(settings)`` on a database its
own migrations made, without its bus (no lifespan), called with tokens signed by the development
key its verifier trusts.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from deploy.tokens import DevTokens
from services.approval.bootstrap import create_app as create_approval
from services.audit.bootstrap import create_app as create_audit
from services.intake.bootstrap import create_app as create_intake
from services.payment.bootstrap import create_app as create_payment
from services.verification.adapters.repositories.partners import PartnerRepository
from services.verification.bootstrap import create_app as create_verification
from services.verification.bootstrap import demo_token
from shared.settings import load_settings
from tests.conftest import migrated_engine

CREATE_APP: dict[str, Callable[..., FastAPI]] = {
    "intake": create_intake, "verification": create_verification, "approval": create_approval,
    "payment": create_payment, "audit": create_audit}
PROBLEM = {"$ref": "#/components/schemas/Problem"}
UNPROCESSABLE = {"$ref": "#/components/schemas/Unprocessable"}
REGION = "330282"


def documents(tmp_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, create in CREATE_APP.items():
        settings = load_settings(env="test", data_dir=tmp_path, **{
            f"{name}_database_url": f"sqlite:///{tmp_path / name}.db"})
        app = create(settings)
        try:
            yield name, app.openapi()
        finally:
            app.state.runtime.engine.dispose()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_every_operation_documents_its_errors_and_their_bodies(tmp_path):
    for name, document in documents(tmp_path):
        schemas = document["components"]["schemas"]
        assert {"Problem", "Unprocessable", "Violation"} <= set(schemas), name
        assert "HTTPValidationError" not in schemas, name  # it says `input`, which we never send
        assert schemas["Violation"]["required"] == ["type", "loc", "msg"]
        assert schemas["Violation"]["additionalProperties"] is False
        for label, operation in operations(document):
            responses = operation["responses"]
            where = f"{name} {label}"
            params = {p["in"] for p in operation.get("parameters", [])}
            headers = {p["name"].lower() for p in operation.get("parameters", [])
                       if p["in"] == "header"}
            if "security" in operation or "authorization" in headers:
                assert {"401", "403"} <= set(responses), where
                assert "WWW-Authenticate" in responses["401"]["headers"], where
            if "path" in params:
                assert "404" in responses, where
            if "idempotency-key" in headers:
                assert "409" in responses, where
            if params or "requestBody" in operation:
                assert responses["422"]["content"]["application/json"]["schema"] == \
                    UNPROCESSABLE, where
            for code, answer in responses.items():
                if code.startswith("4") and code != "422":
                    assert answer["content"]["application/json"]["schema"] == PROBLEM, where
                    assert answer["description"], where


def test_a_route_adds_what_its_shape_does_not_show(tmp_path):
    found = dict(documents(tmp_path))
    action = found["approval"]["paths"]["/cases/{case_id}/actions"]["post"]["responses"]["409"]
    assert "stage" in action["description"]
    assert action["content"]["application/json"]["schema"] == PROBLEM
    lookup = found["intake"]["paths"]["/identity-lookups"]["post"]["responses"]
    assert lookup["404"]["content"]["application/json"]["schema"] == PROBLEM
    # An operation with nothing to refuse documents no refusal.
    assert set(found["audit"]["paths"]["/health"]["get"]["responses"]) == {"200"}
    # Reports offer CSV beside JSON (ST105 in the fuzzing: text/csv was undocumented).
    report = found["audit"]["paths"]["/reports/{name}"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "text/csv"} <= set(report)


@pytest.fixture
def start(database_url: str, tmp_path: Path) -> Callable[[str], Any]:
    @contextlib.asynccontextmanager
    async def running(name: str) -> AsyncIterator[tuple[httpx.AsyncClient, DevTokens, FastAPI]]:
        settings = load_settings(env="test", data_dir=tmp_path,
                                 **{f"{name}_database_url": database_url})
        with migrated_engine(database_url, name):
            app = CREATE_APP[name](settings)
            try:
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                             base_url=f"http://{name}") as http:
                    yield http, DevTokens(settings), app
            finally:
                app.state.runtime.engine.dispose()

    return running


def violations(response: httpx.Response) -> list[dict[str, Any]]:
    """A 422's problems, each exactly as the document's Violation says: type, loc, msg."""
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail and all(set(d) == {"type", "loc", "msg"} for d in detail), detail
    return detail  # type: ignore[no-any-return]


async def test_the_policy_422_has_the_documented_body(start):
    async with start("approval") as (http, _tokens, _app):
        answer = await http.get("/policy/33028")
        assert violations(answer)[0]["loc"] == ["path", "region_code"]


async def test_a_nul_in_a_query_or_path_parameter_is_a_422_after_the_credential_check(start):
    """On PostgreSQL ``GET /applications?status=%00`` was a 500 (text cannot hold a NUL)."""
    async with start("intake") as (http, tokens, _app):
        clerk = tokens.clerk(REGION)
        for params in ({"status": "\x00"}, {"programme": "dibao\x00"}):
            answer = await http.get("/applications", params=params, headers=clerk)
            assert violations(answer) == [{"type": "string_nul", "loc": ["query", *params],
                                           "msg": "must not contain NUL (U+0000)"}]
            stranger = await http.get("/applications", params=params)
            assert stranger.status_code == 401, stranger.text
            assert "WWW-Authenticate" in stranger.headers
        answer = await http.get(f"/applications/{REGION}-%00", headers=clerk)
        assert violations(answer)[0]["loc"] == ["path", "case_id"]
        # A parameter the route does not read is ignored, NUL or not, as FastAPI ignores it.
        answer = await http.get("/applications", params={"unread": "\x00"}, headers=clerk)
        assert answer.status_code == 200, answer.text



async def test_a_partner_record_whose_kind_is_not_text_is_a_422(start):
    """``{"kind": {}}`` was a 500 (TypeError: unhashable type), found by the fuzzing."""
    async with start("verification") as (http, _tokens, app):
        with app.state.runtime.uow() as uow:
            PartnerRepository(uow.conn).set_token("civil_affairs", demo_token("civil_affairs"))
            uow.commit()
        record = {"record_id": "r-1", "kind": {}, "resident_id": "330282195806060517",
                  "amount_fen": 1, "as_of": "2026-01-01"}
        answer = await http.post("/partner-records", json={"records": [record]}, headers={
            "Authorization": f"Bearer {demo_token('civil_affairs')}"})
        assert violations(answer)[0]["loc"][:2] == ["body", "records"], answer.text
