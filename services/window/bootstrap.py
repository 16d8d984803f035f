"""Wires the window: the staff web application and the sign-in service (docs/WINDOW.md).

Run alone with ``uvicorn services.window.bootstrap:create_app --factory --port 8000``. Unlike the
other services it reads no topic and publishes no event: it signs staff in and calls the other
services' HTTP APIs with a token minted for the signed-in person.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from services.window.adapters.services import Services
from services.window.domain.accounts import SessionPolicy, Throttle
from services.window.entrypoints import (
    apply,
    case_page,
    dashboard,
    lists,
    monitoring,
    policy,
    policy_simulation,
    sign_in,
    survey,
)
from services.window.entrypoints.web import STATIC, TEMPLATES, Web, install_error_pages
from services.window.service_layer import signin
from services.window.service_layer.demo import demo_accounts
from services.window.service_layer.identity import identity_provider
from shared import logs
from shared.auth.tokens import load_token_keys
from shared.db import make_engine
from shared.health import database_checks, probes, web_app_health
from shared.metrics import metrics_router
from shared.migrations import upgrade
from shared.settings import Settings, load_settings
from shared.version import VERSION

NAME = "window"
log = logging.getLogger("onedoor.window")
# Pages carry names and ID numbers: no other origin may frame, script or receive them.
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    issuer, _verifier = load_token_keys(settings)
    if issuer is None:
        raise ValueError("the window signs access tokens: it needs ONEDOOR_AUTH_SIGNING_KEY")
    engine = make_engine(settings.database_url(NAME))
    client = httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=3.0))
    urls = {"intake": settings.intake_url, "verification": settings.verification_url,
            "approval": settings.approval_url, "payment": settings.payment_url}
    provider, oidc = identity_provider(settings, client)
    web = Web(settings=settings, engine=engine, provider=provider, oidc=oidc,
              services=Services(urls, issuer, timedelta(minutes=settings.window_token_minutes),
                                client),
              templates=Jinja2Templates(directory=TEMPLATES),
              sessions=SessionPolicy(timedelta(minutes=settings.window_session_idle_minutes),
                                     timedelta(hours=settings.window_session_max_hours)),
              throttle=Throttle(settings.window_sign_in_max_failures,
                                timedelta(minutes=settings.window_sign_in_lockout_minutes)),
              now=lambda: datetime.now(UTC))

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(upgrade, settings.database_url(NAME),
                                Path(__file__).parent / "migrations")
        if settings.env != "production":
            made = await asyncio.to_thread(signin.ensure_accounts, engine, demo_accounts(),
                                           web.now())
            if made:
                log.info("demo accounts created: %s", ", ".join(made))
        pruning = asyncio.create_task(_prune(web))
        try:
            yield
        finally:
            pruning.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pruning
            await client.aclose()
            engine.dispose()

    app = FastAPI(title="OneDoor window (窗口)", version=VERSION, lifespan=lifespan,
                  description="The staff web application and sign-in.", docs_url=None,
                  redoc_url=None, openapi_url=None)
    app.state.web = web

    @app.middleware("http")
    async def _headers(request: Request,
                       call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.update(_SECURITY_HEADERS)
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"  # a shared PC's back button
        return response

    app.include_router(web_app_health(NAME, engine))  # /health, shaped as every service's

    # Ready when its own database is: the services it calls are not asked. Were they, one
    # service down would take the window out of rotation, its sign-in and its pages that say
    # which service is away with it; and every window instance would flap with them.
    app.include_router(probes(NAME, database_checks(engine, Path(__file__).parent / "migrations"),
                              drain_s=settings.shutdown_drain_s))
    app.include_router(metrics_router(NAME, engine))  # /metrics: requests, the database pool

    install_error_pages(app)
    for module in (sign_in, lists, monitoring, apply, case_page, policy, policy_simulation,
                   dashboard, survey):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    logs.set_up(app, NAME, settings.log_level)
    return app


async def _prune(web: Web) -> None:
    """Expired sessions are refused when seen; this removes the ones never seen again."""
    while True:
        await asyncio.sleep(600)
        try:
            await asyncio.to_thread(signin.prune_sessions, web.engine, web.now(), web.sessions)
        except Exception:
            log.exception("pruning expired sessions failed; trying again later")
