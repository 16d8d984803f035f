"""Each service's own settings (shared/service_settings.py): the table says what the code reads,
and production asks a service for its own secrets and no other's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from shared.service_settings import ON_THE_BUS, SECRETS, SETTINGS_OF, secrets_of, settings_of
from shared.settings import SERVICES, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]

# Read somewhere in shared/ that a service imports, yet never by that service:
NOT_READ_BY: dict[str, frozenset[str]] = {
    # load_token_keys takes a signing key where one is given; only the window signs tokens,
    # the others check them against auth_public_keys.
    **{service: frozenset({"auth_signing_key"}) for service in SERVICES if service != "window"},
    # The window imports the bus's modules (through shared/health.py) but runs no consumer,
    # relay or broker check: it is a web application.
    "window": ON_THE_BUS,
}


def reads(service: str) -> set[str]:
    """The Settings fields the code of ``service`` and of shared/ reads (``settings.<field>``),
    its own database's URL, and ``service`` (production's start-up check reads it)."""
    found: set[str] = set()
    for path in [*(ROOT / "services" / service).rglob("*.py"), *(ROOT / "shared").rglob("*.py")]:
        if "migrations" not in path.parts:
            found |= set(re.findall(r"settings\.([a-z_]+)", path.read_text()))
    return ((found & set(Settings.model_fields)) | {f"{service}_database_url", "service"}) \
        - NOT_READ_BY[service]


def test_the_table_names_every_service_and_only_settings_that_exist():
    assert set(SETTINGS_OF) == set(SERVICES)
    for service, names in SETTINGS_OF.items():
        assert names <= set(Settings.model_fields), service
    assert set(Settings.model_fields) >= SECRETS
    with pytest.raises(ValueError, match="unknown service"):
        settings_of("bank")


@pytest.mark.parametrize("service", SERVICES)
def test_the_table_is_what_the_code_reads(service):
    assert reads(service) - settings_of(service) == set(), "read but not in the table"
    assert settings_of(service) - reads(service) == set(), "in the table but never read"


def test_every_secret_setting_is_declared_a_secret():
    for name, field in Settings.model_fields.items():
        if SecretStr in (field.annotation, *getattr(field.annotation, "__args__", ())):
            assert name in SECRETS, name
    for service in SERVICES:
        assert f"{service}_database_url" in SECRETS


def test_each_secret_has_its_holders_and_no_service_holds_another_database():
    holders = {secret: {s for s in SERVICES if secret in secrets_of(s)} for secret in SECRETS}
    assert holders == {
        "pseudonym_key": {"intake", "verification"},
        "payment_account_key": {"payment"},
        "audit_signing_key": {"audit"},
        "auth_signing_key": {"window"},
        "window_oidc_client_secret": {"window"},
        **{f"{s}_database_url": {s} for s in SERVICES},
    }


# The keys production refuses to start with their development defaults.
KEYS = {"pseudonym_key": "a pseudonym key of our own", "payment_account_key": "an account key"}


@pytest.mark.parametrize("service", SERVICES)
def test_production_asks_a_service_for_its_own_keys_only(service, monkeypatch):
    for name in KEYS:
        monkeypatch.delenv(f"ONEDOOR_{name.upper()}", raising=False)
    monkeypatch.delenv("ONEDOOR_SECRETS_DIR", raising=False)
    own = {name: value for name, value in KEYS.items() if name in settings_of(service)}
    settings = load_settings(env="production", service=service, **own)
    for name, value in own.items():
        assert getattr(settings, name).get_secret_value() == value
    for name in own:  # and still refuses without one of its own
        with pytest.raises(ValidationError, match=f"ONEDOOR_{name.upper()} must be set"):
            load_settings(env="production", service=service,
                          **{k: v for k, v in own.items() if k != name})


def test_a_process_that_names_no_service_is_asked_for_every_key(monkeypatch):
    for name in KEYS:
        monkeypatch.delenv(f"ONEDOOR_{name.upper()}", raising=False)
    monkeypatch.delenv("ONEDOOR_SECRETS_DIR", raising=False)
    with pytest.raises(ValidationError, match="ONEDOOR_PAYMENT_ACCOUNT_KEY must be set"):
        load_settings(env="production", pseudonym_key=KEYS["pseudonym_key"])
    assert load_settings(env="production", **KEYS).service is None
    with pytest.raises(ValidationError, match="service"):
        load_settings(env="production", service="bank", **KEYS)
