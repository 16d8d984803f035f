"""Wires intake: the one place that builds its engine, bus, consumer and HTTP app.

Run alone with ``uvicorn services.intake.bootstrap:create_app --factory --port 8001``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.intake.adapters.tables import bus, metadata
from services.intake.entrypoints.http import router
from services.intake.entrypoints.identities import router as identities_router
from services.intake.service_layer.handlers import HANDLERS
from shared import logs
from shared.auth.tokens import load_token_keys
from shared.events import topics
from shared.service import build_runtime, health_router, lifespan, refuse_without_input
from shared.settings import Settings, load_settings
from shared.version import VERSION

NAME = "intake"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    runtime = build_runtime(
        name=NAME, settings=settings, metadata=metadata, bus=bus,
        migrations_dir=Path(__file__).parent / "migrations",
        topics=[topics.VERIFICATIONS, topics.DECISIONS, topics.PAYMENTS, topics.REFERRALS],
        handlers=HANDLERS,
    )
    app = FastAPI(title="OneDoor intake (受理)", version=VERSION,
                  description="The service window: applications in, case status out.",
                  lifespan=lambda _app: lifespan(runtime))
    app.state.runtime = runtime
    app.state.auth_verifier = load_token_keys(settings)[1]
    app.include_router(router)
    app.include_router(identities_router)
    app.include_router(health_router(runtime))
    refuse_without_input(app)
    logs.set_up(app, NAME, settings.log_level)
    return app
