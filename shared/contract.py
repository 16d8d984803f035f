"""What every service's OpenAPI document says beyond what FastAPI infers, written in once for
all routes by :func:`document_problems`, so that a partner can code against the document.

Every refusal is ``{"detail": ...}``: a sentence for 400, 401, 403, 404, 409, 413 and 415 (an
``HTTPException``), a list of ``{type, loc, msg}`` for 422 (shared/service.py's handler, and the
routes that refuse a value the schema cannot express). Each route is read once and documented
with what it can answer from what it is:

- 401 and 403 when it reads a credential (the bearer scheme of ``require`` in shared/auth, or an
  ``Authorization`` header of its own, as partner departments' routes do);
- 404 when it has path parameters (the thing they name may not exist);
- 409 when it takes an ``Idempotency-Key`` (the key used before with another request);
- 422 when it takes any input;
- and ``text/csv`` beside JSON for its success when it has a ``format`` query parameter
  offering ``csv``.

A route adds what its shape does not show with FastAPI's own ``responses=``, a description being
enough (``responses={409: {"description": "the case's stage does not allow it"}}``): the body's
schema is filled in here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema


class Problem(BaseModel):
    """A refusal other than 422, in words."""

    detail: str = Field(description="What was refused, and why")


class Violation(BaseModel):
    """One input the request got wrong: where, what kind of error, and why — never the value."""

    model_config = ConfigDict(extra="forbid")
    type: str = Field(description="The kind of error, e.g. missing, string_pattern_mismatch")
    loc: list[str | int] = Field(description="Where: body, query, path or header, then the "
                                             "field's path")
    msg: str


class Unprocessable(BaseModel):
    """422: the request was understood but an input is not acceptable."""

    detail: list[Violation]


DESCRIPTIONS = {
    400: "The request is malformed",
    401: "No valid credential: sign in and send Authorization: Bearer <token>",
    403: "The credential's role does not grant this, or the thing lies outside its jurisdiction",
    404: "Nothing by that name (or nothing the caller may see)",
    409: "Conflicts with the thing's state, or the Idempotency-Key was used for another request",
    413: "The request is too large",
    415: "The request's Content-Type is not one this operation reads",
    422: "An input is not acceptable: each problem names where and why, never the value",
}
_REF = "#/components/schemas/{model}"
_PROBLEM = {"$ref": _REF.format(model="Problem")}
_UNPROCESSABLE = {"$ref": _REF.format(model="Unprocessable")}
_FASTAPI_422 = ("HTTPValidationError", "ValidationError")  # replaced by Unprocessable


def document_problems(app: FastAPI) -> None:
    """From the first time ``app``'s OpenAPI document is made, it documents each operation's
    error answers (module docstring). Routes may be added before or after this call."""
    generate = app.openapi
    documented: list[int] = []  # FastAPI makes the document again when routes are added

    def openapi() -> dict[str, Any]:
        document = generate()
        if documented != [id(document)]:
            _document(app, document)
            documented[:] = [id(document)]
        return document

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's way to extend its document


def expected(route: APIRoute) -> set[int]:
    """The error statuses ``route`` can answer, from its shape alone."""
    codes: set[int] = set()
    headers = {(f.alias or f.name).lower() for d in dependants(route.dependant)
               for f in d.header_params}
    if "authorization" in headers or any(isinstance(d.call, SecurityBase)
                                         for d in dependants(route.dependant)):
        codes |= {401, 403}
    if route.dependant.path_params or any(d.path_params for d in dependants(route.dependant)):
        codes.add(404)
    if "idempotency-key" in headers:
        codes.add(409)
    if _takes_input(route):
        codes.add(422)
    return codes


def api_routes(app: FastAPI) -> Iterator[APIRoute]:
    """Each route as the app serves it: FastAPI 0.13x+ keeps included routers' routes inside
    them, with their prefixes and dependencies, and lists them through ``iter_route_contexts``."""
    contexts = getattr(routing, "iter_route_contexts", None)
    if contexts is None:
        yield from (r for r in app.routes if isinstance(r, APIRoute))
        return
    for context in contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context  # an APIRoute as included: path, methods, dependant


def dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from dependants(sub)


def _takes_input(route: APIRoute) -> bool:
    body = (route.openapi_extra or {}).get("requestBody")
    return body is not None or any(
        d.path_params or d.query_params or d.header_params or d.cookie_params or d.body_params
        for d in dependants(route.dependant))


def _document(app: FastAPI, document: dict[str, Any]) -> None:
    _, schemas = models_json_schema([(Problem, "serialization"), (Unprocessable, "serialization")],
                                    ref_template=_REF)
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components.update(schemas["$defs"])
    for route in api_routes(app):
        if not route.include_in_schema:
            continue
        item = document["paths"].get(route.path_format, {})
        for method in route.methods or ():
            operation = item.get(method.lower())
            if operation is not None:
                _responses(operation.setdefault("responses", {}), expected(route))
                if _offers_csv(operation):
                    _csv_too(operation["responses"])
    if _REF.format(model="HTTPValidationError") not in json.dumps(document["paths"]):
        for name in _FASTAPI_422:
            components.pop(name, None)


def _responses(responses: dict[str, Any], codes: set[int]) -> None:
    for code in codes:
        responses.setdefault(str(code), {"description": DESCRIPTIONS[code]})
    for key, answer in responses.items():
        if not key.startswith("4"):
            continue
        if key == "422":  # FastAPI's own schema says `input` and `ctx`, which we never send
            answer["content"] = {"application/json": {"schema": _UNPROCESSABLE}}
        else:
            answer.setdefault("content", {"application/json": {"schema": _PROBLEM}})
        if key == "401":
            answer.setdefault("headers", {"WWW-Authenticate": {
                "description": "The scheme to authenticate with: Bearer",
                "required": True, "schema": {"type": "string"}}})



def _offers_csv(operation: dict[str, Any]) -> bool:
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "query" and parameter.get("name") == "format":
            return "csv" in json.dumps(parameter.get("schema", {}))
    return False


def _csv_too(responses: dict[str, Any]) -> None:
    for key, answer in responses.items():
        if key.startswith("2") and "content" in answer:
            answer["content"].setdefault("text/csv", {"schema": {"type": "string"}})
