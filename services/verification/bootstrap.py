"""Wires verification: engine, bus, consumer, HTTP app, and (in development) demo credentials.

Run alone with ``uvicorn services.verification.bootstrap:create_app --factory --port 8002``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.verification.adapters.live_sources import CircuitBreaker, LiveSource
from services.verification.adapters.repositories.partners import PartnerRepository
from services.verification.adapters.tables import bus, metadata, policy_figures
from services.verification.domain.monitoring import FIGURES as MONITORING_FIGURES
from services.verification.domain.partners import DEPARTMENT_KINDS
from services.verification.entrypoints import monitoring, partner_topics, publications
from services.verification.entrypoints.http import router
from services.verification.service_layer import live
from services.verification.service_layer.handlers import handlers
from shared import logs
from shared.auth.tokens import load_token_keys
from shared.bus.consumer import one_at_a_time
from shared.events import topics
from shared.policy import PolicyTable, load_policy
from shared.policy_book import PolicyBook
from shared.service import (
    ServiceRuntime,
    build_runtime,
    health_router,
    lifespan,
    refuse_without_input,
    supervised,
)
from shared.settings import Settings, load_settings
from shared.singleton import run_singleton
from shared.version import VERSION

NAME = "verification"
DEFAULT_MONITORING = Path(__file__).parent / "policies"
log = logging.getLogger(__name__)


def demo_token(department: str) -> str:
    """The credential each department has in development and tests (never in production)."""
    return f"demo-{department}-token"


def _demo_credentials(runtime: ServiceRuntime, production: bool) -> None:
    """Development and tests get each department's demo credential; production refuses them,
    including any left behind in a database that was once used for development."""
    with runtime.uow() as uow:
        # Instances starting together would each find no credential and insert it (found by
        # CI: the second instance died on the unique key). One at a time, the second updates.
        one_at_a_time(uow.conn, [b"verification-demo-credentials"])
        repo = PartnerRepository(uow.conn)
        if production:
            revoked = repo.revoke_tokens([demo_token(d) for d in DEPARTMENT_KINDS])
            if revoked:
                log.warning("revoked %d demo partner credentials (production)", revoked)
        else:
            for dept in DEPARTMENT_KINDS:
                repo.set_token(dept, demo_token(dept))
        uow.commit()


@functools.cache
def packaged_monitoring() -> PolicyTable:
    """The packaged figures (tests, benchmarks, tools)."""
    return load_policy([DEFAULT_MONITORING], MONITORING_FIGURES)


def load_monitoring(settings: Settings) -> PolicyTable:
    """The early-warning indicators and discovery thresholds: the packaged figures, or a
    region's own files (``monitoring_policy_paths``). A bad file stops the service here."""
    return load_policy(settings.monitoring_policy_paths or [DEFAULT_MONITORING],
                       MONITORING_FIGURES)


def live_sources(settings: Settings, client: httpx.Client) -> list[LiveSource]:
    unknown = sorted(set(settings.verification_live_sources) - set(DEPARTMENT_KINDS))
    if unknown:  # a misspelt department would never be asked, and no case would wait for it
        raise ValueError(f"verification_live_sources: unknown department(s) {', '.join(unknown)}")
    return [LiveSource(department, url.rstrip("/"), client, CircuitBreaker(
                settings.verification_live_breaker_failures,
                settings.verification_live_breaker_reset_s),
                timeout_s=settings.verification_live_timeout_s,
                retries=settings.verification_live_retries)
            for department, url in sorted(settings.verification_live_sources.items())]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    # The packaged figures (or the region's files), then whatever the bureau has published.
    policy = PolicyBook(load_monitoring(settings), policy_figures)
    client = httpx.Client()
    sources = live_sources(settings, client)
    runtime = build_runtime(
        name=NAME, settings=settings, metadata=metadata, bus=bus,
        migrations_dir=Path(__file__).parent / "migrations",
        topics=[topics.APPLICATIONS, topics.DECISIONS, topics.POLICY],
        handlers=handlers(
            policy, frozenset(source.department for source in sources)),
    )
    policy.bind(runtime.engine)

    @contextlib.asynccontextmanager
    async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with lifespan(runtime):
            _demo_credentials(runtime, production=settings.env == "production")
            if sources:
                # One worker per service: two would ask the partners twice for each case. The
                # partner topics below are a consumer group, which shares itself out.
                live_worker = functools.partial(live.run, runtime.engine, runtime.uow, sources,
                                                policy)
                runtime.tasks.append(supervised(f"{NAME}-live-sources", lambda: run_singleton(
                    runtime.engine, f"{NAME}-live-sources", live_worker)))
            runtime.tasks.append(supervised(f"{NAME}-partner-topics", functools.partial(
                partner_topics.run, settings.kafka_bootstrap, runtime.cluster, runtime.uow,
                pseudonym_key=settings.pseudonym_key.get_secret_value().encode(),
                monitoring=policy)))
            try:
                yield
            finally:
                client.close()

    app = FastAPI(title="OneDoor verification (核对)", version=VERSION,
                  description="Partner departments' data in; household economic status reports "
                              "out.", lifespan=_lifespan)
    app.state.runtime = runtime
    app.state.monitoring = policy
    app.state.live_sources = sources
    app.state.auth_verifier = load_token_keys(settings)[1]
    app.include_router(router)
    app.include_router(publications.router)
    app.include_router(monitoring.router)
    app.include_router(health_router(runtime))
    refuse_without_input(app)
    logs.set_up(app, NAME, settings.log_level)
    return app
