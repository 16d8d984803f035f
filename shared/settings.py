"""Settings for every OneDoor process, read from ``ONEDOOR_*`` environment variables.

Nothing here is built at import time: each process calls :func:`load_settings` once, in its
bootstrap, and passes the result down. Which of them each service reads, and so is given, is
declared in shared/service_settings.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.service_settings import settings_of

ServiceName = Literal["intake", "verification", "approval", "payment", "audit", "window"]
SERVICES: tuple[str, ...] = get_args(ServiceName)

# Development-only secret: refused outside development and test (see the validator below), so a
# deployment that forgets to set its own key fails at start-up instead of publishing guessable
# pseudonyms.
_DEV_PSEUDONYM_KEY = "onedoor-development-pseudonym-key-do-not-use-in-production"
# Development-only secret for the bank-account vault, refused in production for the same reason:
# a guessable key would make the encryption at rest decorative.
_DEV_PAYMENT_ACCOUNT_KEY = "onedoor-development-payment-account-key-do-not-use-in-production"
_DEV_SECRETS = {"pseudonym_key": _DEV_PSEUDONYM_KEY,
                "payment_account_key": _DEV_PAYMENT_ACCOUNT_KEY}
DEFAULT_BOOTSTRAP = "127.0.0.1:19092"
BrokerKind = Literal["embedded", "kafka"]


class Settings(BaseSettings):
    """Everything a OneDoor service needs to know about its surroundings."""

    model_config = SettingsConfigDict(env_prefix="ONEDOOR_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    # Which service this process is (the supervisor, compose and Kubernetes say): production
    # then asks it for its own secrets only (shared/service_settings.py). Unset (a tool such
    # as `onedoor migrate`, or a service started by hand), it is asked for both the pseudonym
    # and the account key below.
    service: ServiceName | None = None
    kafka_bootstrap: str = DEFAULT_BOOTSTRAP
    # Which broker ``kafka_bootstrap`` is: the "embedded" Tansu (memory only: forgets its log on
    # restart, refuses the idempotent producer) or Apache "kafka" (idempotent producer on, the
    # broker-epoch machinery idle). Per broker, never per test.
    broker: BrokerKind = "embedded"
    # Topics' replication factor on Apache Kafka; 0 takes min(3, brokers in the cluster).
    # min.insync.replicas follows it: 2 at a replication factor of 3 or more, else 1.
    topic_replication_factor: int = 0
    data_dir: Path = Path("var")
    # From which level the services log (JSON lines on stderr, shared/logs.py).
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # After SIGTERM an instance fails readiness and keeps serving this long before it shuts
    # down: the time a load balancer needs to stop sending to it (shared/health.py).
    shutdown_drain_s: float = 2.0
    pseudonym_key: SecretStr = SecretStr(_DEV_PSEUDONYM_KEY)
    # The secret the payment service derives its bank-account encryption key from. Changing it
    # makes existing sealed accounts unreadable until a key-rotation version is added.
    payment_account_key: SecretStr = SecretStr(_DEV_PAYMENT_ACCOUNT_KEY)

    intake_database_url: str | None = None
    verification_database_url: str | None = None
    approval_database_url: str | None = None
    payment_database_url: str | None = None
    audit_database_url: str | None = None
    window_database_url: str | None = None

    # The audit archive's Ed25519 signing key (PEM). Unset in development: a key is made once in
    # data_dir. Production refuses to start without one.
    audit_signing_key: SecretStr | None = None
    # How often the archive signs a checkpoint of its chains' heads (when they moved).
    audit_checkpoint_interval_s: float = 60.0

    # Staff sign-in (shared/auth/). The Ed25519 key access tokens are signed with (PEM): only
    # the side that signs users in needs it. Every service verifies tokens against its public key
    # and against ``auth_public_keys`` (PEM public keys, concatenated: the next key during a
    # rotation, or the only keys of a service that never signs). Both unset in development: a key
    # pair is made once in data_dir. Production refuses to start without one of them; that check
    # is made where the keys are loaded (load_token_keys), like the audit key's, so that a
    # process that serves no HTTP API need not carry them.
    auth_signing_key: SecretStr | None = None
    auth_public_keys: str | None = None

    # The staff web application (services/window, docs/WINDOW.md). The services it calls on the
    # signed-in person's behalf (the supervisor sets them to where it started each one).
    intake_url: str = "http://127.0.0.1:8001"
    verification_url: str = "http://127.0.0.1:8002"
    approval_url: str = "http://127.0.0.1:8003"
    payment_url: str = "http://127.0.0.1:8004"
    # Sessions end after this long without a request, and in any case this long after sign-in
    # (one working day), whichever comes first.
    window_session_idle_minutes: float = 30.0
    window_session_max_hours: float = 10.0
    # The access token the window mints per request for the services: minutes, not a day, so a
    # token seen in a proxy's memory is soon useless.
    window_token_minutes: float = 5.0
    # After this many failed sign-ins to one account within the lockout time, that account
    # refuses every password (the right one too) until the lockout time has passed.
    window_sign_in_max_failures: int = 5
    window_sign_in_lockout_minutes: float = 15.0
    # Who signs people in: "local" accounts in the window's database, or "oidc", an OpenID
    # Connect provider (authorization code with PKCE; docs/WINDOW.md). The claim of its ID token
    # that holds the staff id, and the window's address as browsers reach it (the redirect URI
    # registered with the provider is <window_public_url>/sign-in/oidc/callback).
    window_identity_provider: Literal["local", "oidc"] = "local"
    window_oidc_issuer: str | None = None
    window_oidc_client_id: str | None = None
    window_oidc_client_secret: SecretStr | None = None
    window_oidc_username_claim: str = "preferred_username"
    window_public_url: str | None = None

    # Approval's policy: the packaged files (services/approval/policies/*.toml), or these files
    # or directories instead when set (a region's own figures, a test's).
    policy_paths: list[Path] = []
    # Verification's early-warning indicators and discovery thresholds likewise (the packaged
    # services/verification/policies/*.toml unless set).
    monitoring_policy_paths: list[Path] = []
    # Partner departments verification queries live over HTTP (department → base URL, e.g.
    # ONEDOOR_VERIFICATION_LIVE_SOURCES='{"bank": "http://bank-adapter:9000"}'); none by default.
    # An application's report then waits until every one of them has answered.
    verification_live_sources: dict[str, str] = {}
    verification_live_timeout_s: float = 2.0
    verification_live_retries: int = 2  # after the first try, with backoff
    verification_live_breaker_failures: int = 3  # failures in a row that open a source's breaker
    verification_live_breaker_reset_s: float = 30.0  # how long it stays open before a trial

    # Consumer tuning: how many records one transaction may take, and how often an event that
    # fails is tried before it goes to the dead-letter topic.
    consumer_batch_size: int = 500
    # How long the broker may hold a fetch while waiting for data; unset, the broker's default
    # (shared/bus/poller.py): 500 ms on Apache Kafka, which answers as soon as a record arrives,
    # 20 ms on the embedded broker, which looks again only after half the remaining wait.
    consumer_fetch_max_wait_ms: int | None = None
    consumer_max_attempts: int = 4
    consumer_retry_backoff_s: float = 0.2
    topic_partitions: int = 3

    @model_validator(mode="after")
    def _refuse_development_secrets_in_production(self) -> Settings:
        if self.env != "production":
            return self
        # A service is not asked for a key it never reads: intake holds no account key.
        wanted = settings_of(self.service) if self.service else _DEV_SECRETS.keys()
        unset = [f"ONEDOOR_{name.upper()}" for name, dev_default in _DEV_SECRETS.items()
                 if name in wanted and getattr(self, name).get_secret_value() == dev_default]
        if unset:
            raise ValueError(
                f"{' and '.join(unset)} must be set to a secret of your own in production")
        return self

    def database_url(self, service: str) -> str:
        """The database of one service: its explicit URL, or a SQLite file in ``data_dir``."""
        if service not in SERVICES:
            raise ValueError(f"unknown service {service!r}")
        explicit: str | None = getattr(self, f"{service}_database_url")
        if explicit:
            return explicit
        return f"sqlite:///{(self.data_dir / f'{service}.db').resolve()}"


def instances(setting: str) -> list[str]:
    """The base URLs in a service's URL setting: one, or several separated by commas (the
    instances of a service that runs as several processes)."""
    found = [part.strip().rstrip("/") for part in setting.split(",") if part.strip()]
    if not found:
        raise ValueError("a service URL setting names no instance")
    return found


def load_settings(**overrides: Any) -> Settings:
    """Read the environment (and explicit overrides, for tests and the supervisor).

    A setting not in the environment is read from a file in ``ONEDOOR_SECRETS_DIR``, when that is
    set: one file per setting, named like its variable (``onedoor_pseudonym_key``, any case),
    holding the value — secrets as Docker and Kubernetes mount them (deploy/compose.yaml,
    deploy/k8s/), never in the environment, where every child process and crash report sees
    them."""
    return Settings(_secrets_dir=os.environ.get("ONEDOOR_SECRETS_DIR") or None,
                    **overrides)
