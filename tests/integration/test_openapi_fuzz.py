"""Every operation of every service's OpenAPI document, fuzzed (issue 21): schemathesis makes
requests from the document — valid ones, and ones the document says are invalid — and each answer
must be no 5xx, a status the operation documents, the content type and the body schema it
documents for that status; an invalid request must be refused (4xx).

Each request is sent twice: with the token of a role the service's work needs (in the district
330282, or nationwide for the nationwide roles) and with the token of a role it refuses, which
must answer 401 or 403. Partner departments' own routes (an ``Authorization`` header parameter)
get a department's credential, and then a credential nobody issued.

Each service is its real app, built by its bootstrap's ``create_app(settings)`` on a database its
own migrations made (SQLite, and PostgreSQL: its integers, text and dates overflow differently),
without its bus (no lifespan), called in-process. Bounded and reproducible: a fixed number of
examples per operation (``ONEDOOR_FUZZ_EXAMPLES``, default 25, and a fifth as many invalid),
derandomized, no example database. The longer run in docs/RELIABILITY.md raises the number and
writes its counts with ``ONEDOOR_FUZZ_REPORT=<file>``.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from deploy.tokens import DevTokens
from services.approval.bootstrap import create_app as create_approval
from services.audit.bootstrap import create_app as create_audit
from services.intake.bootstrap import create_app as create_intake
from services.payment.bootstrap import create_app as create_payment
from services.verification.adapters.repositories.partners import PartnerRepository
from services.verification.bootstrap import create_app as create_verification
from services.verification.bootstrap import demo_token
from shared.auth.principals import Role
from shared.settings import Settings, load_settings
from tests.conftest import migrated_engine

EXAMPLES = int(os.environ.get("ONEDOOR_FUZZ_EXAMPLES", "25"))
INVALID_EXAMPLES = max(1, EXAMPLES // 5)
REPORT = os.environ.get("ONEDOOR_FUZZ_REPORT")

DISTRICT = "330282"
CREATE_APP: dict[str, Callable[[Settings], FastAPI]] = {
    "intake": create_intake, "verification": create_verification, "approval": create_approval,
    "payment": create_payment, "audit": create_audit}
# Whose work each service is (shared.auth.permissions.PERMISSIONS), and a role it refuses.
ALLOWED: dict[str, tuple[Role, str]] = {
    "intake": (Role.WINDOW_CLERK, DISTRICT), "verification": (Role.ADMINISTRATOR, ""),
    "approval": (Role.DISTRICT_APPROVER, DISTRICT), "payment": (Role.DISTRICT_APPROVER, DISTRICT),
    "audit": (Role.AUDITOR, "")}
REFUSED: dict[str, tuple[Role, str]] = {
    "intake": (Role.PARTNER, DISTRICT), "verification": (Role.PARTNER, DISTRICT),
    "approval": (Role.PARTNER, DISTRICT), "payment": (Role.PARTNER, DISTRICT),
    "audit": (Role.WINDOW_CLERK, DISTRICT)}
DEPARTMENT = "civil_affairs"

VALID_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
                response_schema_conformance]


def refuses_invalid(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis' negative_data_rejection, but for a query parameter made a list or an
    object: on the wire that is the parameter repeated (``?programme=a&programme=b``), which is
    still valid, and FastAPI reads the last."""
    if any(isinstance(v, list | dict) for v in (case.query or {}).values()):
        return None
    return negative_data_rejection(ctx, response, case)


INVALID_CHECKS = [*VALID_CHECKS, refuses_invalid]
SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                    phases=[Phase.explicit, Phase.generate], report_multiple_bugs=False,
                    suppress_health_check=list(HealthCheck))


def without_lifespan(app: FastAPI) -> Callable[..., Any]:
    """The app with its lifespan answered and not run: no relay, no consumer, no broker."""
    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return

    return asgi


@dataclass
class Tally:
    """Requests sent and 5xx answers, per operation: the figures docs/RELIABILITY.md reports."""

    requests: Counter[str] = field(default_factory=Counter)
    server_errors: Counter[str] = field(default_factory=Counter)


TALLY = Tally()


@pytest.fixture
def service_app(request: pytest.FixtureRequest, database_url: str,
                tmp_path: Path) -> Iterator[tuple[str, Any, DevTokens]]:
    name = request.param
    settings = load_settings(env="test", data_dir=tmp_path,
                             **{f"{name}_database_url": database_url})
    with migrated_engine(database_url, name):
        app = CREATE_APP[name](settings)
        if name == "verification":
            with app.state.runtime.uow() as uow:
                PartnerRepository(uow.conn).set_token(DEPARTMENT, demo_token(DEPARTMENT))
                uow.commit()
        try:
            yield name, without_lifespan(app), DevTokens(settings)
        finally:
            app.state.runtime.engine.dispose()


def credentials(service: str, tokens: DevTokens, operation: Any
                ) -> tuple[dict[str, str], dict[str, str]] | None:
    """The allowed and the refused caller's headers for ``operation``; None when it is public."""
    responses = operation.definition.raw.get("responses", {})
    if "401" not in responses:
        return None
    partner = any(p.get("in") == "header" and p.get("name", "").lower() == "authorization"
                  for p in operation.definition.raw.get("parameters", []))
    if partner:
        return ({"Authorization": f"Bearer {demo_token(DEPARTMENT)}"},
                {"Authorization": "Bearer not-a-credential-anyone-issued"})
    role, place = ALLOWED[service]
    refused_role, refused_place = REFUSED[service]
    return (tokens.headers(role, f"fuzz-{role}", place),
            tokens.headers(refused_role, f"fuzz-{refused_role}", refused_place))


def fuzz(operation: Any, mode: GenerationMode, examples: int,
         callers: tuple[dict[str, str], dict[str, str]] | None) -> None:
    """``examples`` requests of ``mode`` to ``operation``, each as the allowed and the refused
    caller; raises the first failing check's error."""
    checks = VALID_CHECKS if mode is GenerationMode.POSITIVE else INVALID_CHECKS
    label = operation.label

    def send(case: Any, headers: dict[str, str] | None) -> Any:
        # Into the case, not beside it: schemathesis then knows an invalid case's missing or
        # malformed credential was replaced, and judges the rest of it.
        if headers is not None:
            case.headers = {**{k: v for k, v in (case.headers or {}).items()
                               if k.lower() != "authorization"}, **headers}
        TALLY.requests[label] += 1
        try:
            response = case.call()
        except Exception:  # the in-process client raises what the app raised: its 500
            TALLY.server_errors[label] += 1
            raise
        if response.status_code >= 500:
            TALLY.server_errors[label] += 1
        return response

    @settings(SETTINGS, max_examples=examples)
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        allowed = None if callers is None else callers[0]
        case.validate_response(send(case, allowed), checks=checks, headers=allowed)
        if callers is not None:
            response = send(case, callers[1])
            case.validate_response(response, checks=VALID_CHECKS, headers=callers[1])
            assert response.status_code in (401, 403), (
                f"{label} answered {response.status_code} to a refused caller: "
                f"{response.text[:300]}")

    run()


@pytest.mark.parametrize("service_app", list(CREATE_APP), indirect=True)
def test_every_operation_answers_as_documented(service_app):
    service, app, tokens = service_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        callers = credentials(service, tokens, operation)
        for mode, examples in ((GenerationMode.POSITIVE, EXAMPLES),
                               (GenerationMode.NEGATIVE, INVALID_EXAMPLES)):
            try:
                fuzz(operation, mode, examples, callers)
            except Unsatisfiable:  # no input to make invalid (GET /health)
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup
                # Each operation's first failure, then the next operation.
                failures.append(f"{operation.label} ({mode}): {exc}")
    if REPORT:
        _report(service, time.monotonic() - started)
    assert not failures, "\n\n".join(failures)


def _report(service: str, seconds: float) -> None:
    path = Path(REPORT)  # type: ignore[arg-type]
    known = json.loads(path.read_text()) if path.exists() else []
    known.append({"service": service, "examples": EXAMPLES, "seconds": round(seconds, 1),
                  "requests": dict(TALLY.requests), "server_errors": dict(TALLY.server_errors)})
    path.write_text(json.dumps(known, indent=1, ensure_ascii=False))
    TALLY.requests.clear()
    TALLY.server_errors.clear()
