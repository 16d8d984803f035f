"""What the supervisor starts each service with (deploy/supervisor.py): its own settings and
secrets, no other service's, and none of the supervisor's own ONEDOOR_* variables."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from deploy.supervisor import System
from shared.auth.tokens import load_token_keys
from shared.service_settings import SECRETS, secrets_of, settings_of
from shared.settings import SERVICES, Settings, load_settings

SIGNING_KEY = Ed25519PrivateKey.generate().private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption()).decode()
# A value for every secret, each told apart from the others, as a deployment would give them.
GIVEN = {
    "pseudonym_key": "the-pseudonym-key", "payment_account_key": "the-account-key",
    "audit_signing_key": "the-audit-signing-key", "auth_signing_key": SIGNING_KEY,
    "window_oidc_client_secret": "the-oidc-client-secret",
    **{f"{s}_database_url": f"postgresql://{s}:{s}-password@db:5432/{s}" for s in SERVICES},
}


@pytest.fixture
def system(tmp_path, monkeypatch) -> System:
    # The supervisor's own environment holds secrets too (as `make up` run with them set).
    monkeypatch.setenv("ONEDOOR_PAYMENT_ACCOUNT_KEY", GIVEN["payment_account_key"])
    monkeypatch.setenv("ONEDOOR_PSEUDONYM_KEY", GIVEN["pseudonym_key"])
    monkeypatch.setenv("ONEDOOR_SECRETS_DIR", str(tmp_path / "every-secret"))
    monkeypatch.setenv("ONEDOOR_TEST_POSTGRES_URL", GIVEN["payment_database_url"])
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    settings = Settings(env="production", data_dir=tmp_path, window_identity_provider="oidc",
                        verification_live_timeout_s=5.0, audit_checkpoint_interval_s=1.0,
                        **GIVEN)  # type: ignore[arg-type]
    return System(settings=settings)


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_is_given_its_own_secrets_and_no_other_services(system, service):
    env = system.environment(service)
    given = {name.removeprefix("ONEDOOR_").lower(): value for name, value in env.items()
             if name.startswith("ONEDOOR_")}
    assert set(given) <= settings_of(service)
    assert {name for name in given if name in SECRETS} == secrets_of(service)
    for name in secrets_of(service):
        assert given[name] == GIVEN[name]
    assert given["service"] == service
    # No other secret, under any name: not another service's database URL, key or password.
    others = {GIVEN[name] for name in SECRETS - secrets_of(service)}
    for name, value in env.items():
        assert not any(secret in value for secret in others), name
    assert "ONEDOOR_SECRETS_DIR" not in env and "ONEDOOR_TEST_POSTGRES_URL" not in env
    assert env["OTEL_TRACES_EXPORTER"] == "none" and env["PATH"]


def test_each_setting_given_reaches_the_service_that_reads_it_alone(system):
    envs = {service: system.environment(service) for service in SERVICES}
    assert envs["verification"]["ONEDOOR_VERIFICATION_LIVE_TIMEOUT_S"] == "5.0"
    assert envs["audit"]["ONEDOOR_AUDIT_CHECKPOINT_INTERVAL_S"] == "1.0"
    assert envs["window"]["ONEDOOR_WINDOW_IDENTITY_PROVIDER"] == "oidc"
    assert envs["window"]["ONEDOOR_PAYMENT_URL"] == system.url("payment")
    assert "ONEDOOR_KAFKA_BOOTSTRAP" not in envs["window"]  # it is on no bus
    for service in set(SERVICES) - {"window"}:
        assert "ONEDOOR_PAYMENT_URL" not in envs[service]
        assert envs[service]["ONEDOOR_KAFKA_BOOTSTRAP"] == system.bootstrap


@pytest.mark.parametrize("service", SERVICES)
def test_with_its_environment_each_service_loads_in_production(system, service, monkeypatch):
    """The child's own view: its settings load (production asks it for its own secrets only),
    and it accepts the tokens the window signs though it never holds the signing key."""
    for name in [n for n in os.environ if n.startswith("ONEDOOR_")]:
        monkeypatch.delenv(name)
    for name, value in system.environment(service).items():
        if name.startswith("ONEDOOR_"):
            monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.service == service and settings.env == "production"
    assert settings.database_url(service) == GIVEN[f"{service}_database_url"]
    window_issuer, _ = load_token_keys(
        Settings(env="production", data_dir=system.settings.data_dir, service="window",
                 auth_signing_key=SIGNING_KEY))  # type: ignore[arg-type]
    assert window_issuer is not None
    issuer, verifier = load_token_keys(settings)
    assert (issuer is not None) == (service == "window")
    token = window_issuer.issue("c-001", "window_clerk", "330282", timedelta(minutes=5))
    assert verifier.verify(token).subject == "c-001"


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_keeps_two_malloc_arenas_unless_told_otherwise(system, service, monkeypatch):
    assert system.environment(service)["MALLOC_ARENA_MAX"] == "2"
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")  # an operator's own choice is kept
    assert system.environment(service)["MALLOC_ARENA_MAX"] == "4"
