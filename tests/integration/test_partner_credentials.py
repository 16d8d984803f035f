"""Demo partner credentials exist in development and tests, never in production."""

from pathlib import Path

from services.verification.adapters.repositories.partners import PartnerRepository
from services.verification.adapters.tables import bus, metadata
from services.verification.bootstrap import _demo_credentials, demo_token
from shared.db import reading
from shared.migrations import upgrade
from shared.service import build_runtime
from shared.settings import Settings

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "verification" / "migrations"


def department_of(runtime, token: str) -> str | None:  # type: ignore[no-untyped-def]
    with reading(runtime.engine) as conn:
        return PartnerRepository(conn).department_for_token(token)


def test_production_revokes_demo_credentials_left_by_development(database_url):
    upgrade(database_url, MIGRATIONS)
    runtime = build_runtime(
        name="verification", metadata=metadata, bus=bus, migrations_dir=MIGRATIONS, topics=[],
        handlers={}, settings=Settings(env="test", verification_database_url=database_url))
    try:
        _demo_credentials(runtime, production=False)
        assert department_of(runtime, demo_token("bank")) == "bank"
        with runtime.uow() as uow:
            PartnerRepository(uow.conn).set_token("bank", "a-real-secret-token-from-the-bank")
            uow.commit()
        _demo_credentials(runtime, production=True)
        assert department_of(runtime, demo_token("public_security")) is None
        assert department_of(runtime, "a-real-secret-token-from-the-bank") == "bank"
    finally:
        runtime.engine.dispose()
