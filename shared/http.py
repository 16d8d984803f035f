"""The route class of every OneDoor API router: ``APIRouter(route_class=CheckedRoute)``.

Two things FastAPI does not do by itself:

- a JSON body is parsed strictly — an object that names a member twice is refused (422, naming
  where) instead of the last one silently winning (shared/inputs.py);
- a caller who is not signed in, or whose role may not use the route, hears so (401, 403) even
  when the body is bad too: FastAPI reads the body before it runs any dependency, so a bad body
  from anyone would otherwise answer 422 and tell a stranger what the route expects.

The second needs to know how a route authenticates: a dependency that does carries a ``gate``
attribute, an ``async (request) -> None`` that makes the same check and raises its refusal
(``require`` in shared/auth and verification's partner credential do).
"""

from __future__ import annotations

import email.message
import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import Request, Response, params
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from shared.inputs import DuplicateMember, loads_unique

Gate = Callable[[Request], Awaitable[None]]


class CheckedRoute(APIRoute):
    """An APIRoute whose JSON body is parsed strictly, and whose gates speak before a 422."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        gates = _gates(self.dependant)
        json_body = self.body_field is not None and not isinstance(
            self.body_field.field_info, params.Form)

        async def checked(request: Request) -> Response:
            try:
                if json_body:
                    await _parse_strictly(request)
                return await handler(request)
            except RequestValidationError:
                for gate in gates:
                    await gate(request)  # raises 401 or 403, which come first
                raise

        return checked


def _gates(dependant: Dependant) -> list[Gate]:
    found: list[Gate] = []
    for sub in dependant.dependencies:
        gate = getattr(sub.call, "gate", None)
        if gate is not None:
            found.append(gate)
        else:
            found.extend(_gates(sub))
    return found


def _is_json(content_type: str | None) -> bool:
    if not content_type:  # FastAPI reads a body without a type as JSON
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json"))


async def _parse_strictly(request: Request) -> None:
    """Parse the body as FastAPI would, but refusing duplicate members; the value is left where
    Starlette's ``Request.json`` keeps it, so FastAPI does not parse it a second time."""
    body = await request.body()
    if not body or not _is_json(request.headers.get("content-type")):
        return
    try:
        request._json = loads_unique(body)  # Starlette's cache of request.json()
    except json.JSONDecodeError as exc:  # the same 422 FastAPI gives
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos),
                                       "msg": "JSON decode error"}]) from None
    except DuplicateMember as exc:
        loc = ("body", *exc.path, *([exc.name] if exc.name else []))
        raise RequestValidationError([{
            "type": "json_duplicate_member", "loc": loc,
            "msg": "appears twice in one object: send each member once" if exc.name else
                   "a member appears twice in this object: send each member once"}]) from None
    except (UnicodeDecodeError, RecursionError):
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body",),
                                       "msg": "JSON decode error"}]) from None
