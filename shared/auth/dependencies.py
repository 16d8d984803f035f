"""The FastAPI side of sign-in: ``require(permission)`` as a route's dependency,
``check_jurisdiction`` once a case's place is known, and every refusal logged (a 401 or 403)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.auth.permissions import PERMISSIONS
from shared.auth.principals import Principal, Role
from shared.auth.tokens import TokenVerifier, Unauthenticated

access_log = logging.getLogger("onedoor.access")


class Refused(HTTPException):
    """401 (who are you?) or 403 (not you, or not here). ``detail`` says what was refused."""


def _refuse(status: int, detail: str, reason: str, *, request: Request | None,
            principal: Principal | None = None, permission: str | None = None,
            area: str | None = None) -> Refused:
    method = request.method if request is not None else None
    path = request.url.path if request is not None else None  # the path only: no query values
    if permission is None and request is not None:
        permission = getattr(request.state, "permission", None)
    subject = principal.subject if principal else None
    outcome = "unauthenticated" if status == 401 else "forbidden"
    fields = {"subject": subject, "role": str(principal.role) if principal else None,
              "permission": permission, "method": method, "path": path, "area": area,
              "reason": reason, "outcome": outcome}
    # %r: the path comes percent-decoded, and could carry control characters into the log.
    access_log.warning("refused %s %r to %s (%s): %s", method, path, subject or "unknown caller",
                       outcome, reason, extra=fields)
    challenge = 'Bearer error="invalid_token"' if reason != "no bearer token" else "Bearer"
    return Refused(status, detail, {"WWW-Authenticate": challenge} if status == 401 else None)


_bearer = HTTPBearer(auto_error=False, description="an access token from OneDoor's sign-in")


def require(permission: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller's Principal when their token is good and their role grants
    ``permission``; otherwise a logged 401 or 403. Reads ``request.app.state.auth_verifier``."""
    roles = PERMISSIONS[permission]  # a typo fails where the route is declared

    async def dependency(request: Request, credentials: Annotated[
            HTTPAuthorizationCredentials | None, Security(_bearer)]) -> Principal:
        return _admit(request, credentials, permission, roles)

    async def gate(request: Request) -> None:
        # The same check, for a route to make before it answers 422 (shared/http.py).
        _admit(request, await _bearer(request), permission, roles)

    dependency.gate = gate  # type: ignore[attr-defined]  # read by CheckedRoute (shared/http.py)
    dependency.permission = permission  # type: ignore[attr-defined]  # for tests of the gates
    return dependency


def _admit(request: Request, credentials: HTTPAuthorizationCredentials | None, permission: str,
           roles: frozenset[Role]) -> Principal:
    verifier: TokenVerifier | None = getattr(request.app.state, "auth_verifier", None)
    if verifier is None:  # a 500, not a 401: the service is broken, not the caller
        raise RuntimeError("app.state.auth_verifier is unset: the service's bootstrap must "
                           "put load_token_keys(settings)[1] there")
    request.state.permission = permission
    if credentials is None:
        raise _refuse(401, "sign-in required: send Authorization: Bearer <access token>",
                      "no bearer token", request=request)
    try:
        principal = verifier.verify(credentials.credentials)
    except Unauthenticated as exc:
        detail = "access token expired" if exc.reason == "expired" else "invalid access token"
        raise _refuse(401, detail, exc.reason, request=request) from None
    request.state.principal = principal
    if principal.role not in roles:
        raise _refuse(403, f"role {principal.role} does not grant {permission!r}",
                      "role lacks permission", request=request, principal=principal)
    return principal


def check_jurisdiction(principal: Principal, area: str | None, *,
                       request: Request | None = None) -> None:
    """403 (logged) unless ``area`` lies within the principal's jurisdiction."""
    if not principal.covers(area):
        where = f"region {area!r}" if area is not None else "a case with no known region"
        raise _refuse(403, f"{where} is outside your jurisdiction", "outside jurisdiction",
                      request=request, principal=principal, area=area)
