"""Wires audit: engine, the archiver (every topic), the checkpoint signer, HTTP app.

The archiver and the signer run in one instance of the service at a time, whichever holds
their lock; the others stand by to take over.

Run alone with ``uvicorn services.audit.bootstrap:create_app --factory --port 8005``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI

from services.approval.rules import DEFAULT_POLICY, load_policy
from services.audit.adapters.keys import load_signer
from services.audit.adapters.tables import bus, metadata
from services.audit.entrypoints.archiver import Archiver, checkpoints
from services.audit.entrypoints.http import router
from shared import logs, metrics
from shared.auth.tokens import load_token_keys
from shared.bus.routing import Routes
from shared.service import build_runtime, health_router, lifespan, refuse_without_input, supervised
from shared.settings import Settings, load_settings
from shared.singleton import run_singleton
from shared.version import VERSION

NAME = "audit"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    runtime = build_runtime(name=NAME, settings=settings, metadata=metadata, bus=bus,
                            migrations_dir=Path(__file__).parent / "migrations",
                            topics=[], handlers=Routes())
    signer = load_signer(settings)
    archiver = Archiver(runtime)

    @contextlib.asynccontextmanager
    async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with lifespan(runtime):
            # Once per service, not per instance: the hash chains have one writer, and the
            # checkpoints one signer (shared/singleton.py).
            runtime.tasks.append(supervised("audit-archiver", lambda: run_singleton(
                runtime.engine, "audit-archiver", archiver.run)))
            runtime.tasks.append(supervised("audit-checkpoints", lambda: run_singleton(
                runtime.engine, "audit-checkpoints", lambda: checkpoints(runtime, signer))))
            yield

    app = FastAPI(title="OneDoor audit (审计)", version=VERSION,
                  description="Every event, archived append-only and hash-chained, with signed "
                              "checkpoints; for auditors.",
                  lifespan=_lifespan)
    app.state.runtime = runtime
    app.state.signer = signer
    app.state.auth_verifier = load_token_keys(settings)[1]
    # The rules' figures a replay re-runs decisions with: approval's, as configured here. The
    # base only: each replay amends it by the publications archived by then (policies.py).
    app.state.policy = load_policy(*(settings.policy_paths or [DEFAULT_POLICY]))
    app.state.archiver = archiver
    app.include_router(router)
    app.include_router(health_router(runtime))
    # /metrics also says how far the archiver is behind the bus, where it runs.
    archiver_lag = metrics.LagGauge(NAME, metrics.ARCHIVER_LAG)
    metrics.read_when_scraped(app, lambda: metrics.archiver_state(NAME, archiver_lag,
                                                                  archiver.consumer))
    refuse_without_input(app)
    logs.set_up(app, NAME, settings.log_level)
    return app
