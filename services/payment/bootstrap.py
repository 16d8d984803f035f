"""Wires payment: engine, bus, consumer, the account vault, the run generator, HTTP app.

Run alone with ``uvicorn services.payment.bootstrap:create_app --factory --port 8004``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI

from services.payment.adapters.tables import bus, metadata
from services.payment.adapters.vault import AccountVault
from services.payment.entrypoints import banks, http
from services.payment.entrypoints.runner import Runner
from services.payment.service_layer.handlers import HANDLERS
from shared import logs
from shared.auth.tokens import load_token_keys
from shared.events import topics
from shared.service import build_runtime, health_router, lifespan, refuse_without_input
from shared.settings import Settings, load_settings
from shared.version import VERSION

NAME = "payment"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    runtime = build_runtime(
        name=NAME, settings=settings, metadata=metadata, bus=bus,
        migrations_dir=Path(__file__).parent / "migrations",
        topics=[topics.DECISIONS],
        handlers=HANDLERS,
    )
    runner = Runner(runtime.uow, runtime.engine)
    # A cycle a crash stopped half-way completes at the start; a stop pauses runs between chunks.
    runtime.jobs.append(("runs", runner.run))

    @contextlib.asynccontextmanager
    async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with lifespan(runtime):
            yield

    app = FastAPI(title="OneDoor payment (资金发放)", version=VERSION,
                  description="Approvals in; monthly cycles, one-off and batch payments, bank "
                              "files and reconciliation out — never paying twice.",
                  lifespan=_lifespan)
    app.state.runtime = runtime
    app.state.auth_verifier = load_token_keys(settings)[1]
    app.state.vault = AccountVault(settings.payment_account_key.get_secret_value())
    app.state.runner = runner
    app.include_router(http.router)
    app.include_router(banks.router)
    app.include_router(health_router(runtime))
    # FastAPI's 422 echoes the rejected value; here that could be an account number. The field
    # and the reason are what the caller needs (shared/service.py).
    refuse_without_input(app)
    logs.set_up(app, NAME, settings.log_level)
    return app

