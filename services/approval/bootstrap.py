"""Wires approval: engine, bus, consumer, the policy table, HTTP app.

Run alone with ``uvicorn services.approval.bootstrap:create_app --factory --port 8003``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.approval.adapters.tables import bus, metadata
from services.approval.domain.policy import load_policy
from services.approval.entrypoints.consent_http import router as consent_router
from services.approval.entrypoints.dashboard_http import router as dashboard_router
from services.approval.entrypoints.http import router
from services.approval.entrypoints.policy_http import router as policy_router
from services.approval.entrypoints.survey_http import router as survey_router
from services.approval.rules import DEFAULT_POLICY
from services.approval.service_layer import recalculation
from services.approval.service_layer.handlers import handlers
from services.approval.service_layer.policy_book import PolicyBook
from shared import logs
from shared.auth.tokens import load_token_keys
from shared.events import topics
from shared.service import build_runtime, health_router, lifespan, refuse_without_input
from shared.settings import Settings, load_settings
from shared.version import VERSION

NAME = "approval"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    # A bad policy file stops the service here, with the file's problems in the message, rather
    # than deciding cases on half a policy.
    packaged = load_policy(*(settings.policy_paths or [DEFAULT_POLICY]))
    # The packaged files are the first versions; what the bureau publishes is added on top.
    policy = PolicyBook(packaged)
    runtime = build_runtime(
        name=NAME, settings=settings, metadata=metadata, bus=bus,
        migrations_dir=Path(__file__).parent / "migrations",
        topics=[topics.APPLICATIONS, topics.VERIFICATIONS],
        handlers=handlers(policy),
    )
    policy.bind(runtime.engine)
    runtime.jobs.append(("recalculation", recalculation.worker(runtime, policy)))
    app = FastAPI(title="OneDoor approval (审批)", version=VERSION,
                  description=("Applications and verification reports in; pre-assessment, town "
                               "review, public notice and approval; decisions with their full "
                               "explanation out."),
                  lifespan=lambda _app: lifespan(runtime))
    app.state.runtime = runtime
    app.state.auth_verifier = load_token_keys(settings)[1]
    app.state.policy = policy
    app.include_router(policy_router)  # before /policy/{region_code}, which would match
    app.include_router(router)
    app.include_router(dashboard_router)
    app.include_router(survey_router)
    app.include_router(consent_router)
    app.include_router(health_router(runtime))
    refuse_without_input(app)
    logs.set_up(app, NAME, settings.log_level)
    return app
