"""Wires payment: engine, bus, consumer, HTTP app.

Run alone with ``uvicorn services.payment.bootstrap:create_app --factory --port 8004``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.payment.adapters.tables import bus, metadata
from services.payment.entrypoints.http import router
from services.payment.service_layer.handlers import HANDLERS
from shared.events import topics
from shared.service import build_runtime, health_router, lifespan
from shared.settings import Settings, load_settings

NAME = "payment"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    runtime = build_runtime(
        name=NAME, settings=settings, metadata=metadata, bus=bus,
        migrations_dir=Path(__file__).parent / "migrations",
        topics=[topics.DECISIONS],
        handlers=HANDLERS,  # type: ignore[arg-type]
    )
    app = FastAPI(title="OneDoor payment (资金发放)", version="0.1.0",
                  description="Approvals in; scheduled payments out, never twice.",
                  lifespan=lambda _app: lifespan(runtime))
    app.state.runtime = runtime
    app.include_router(router)
    app.include_router(health_router(runtime))
    return app
