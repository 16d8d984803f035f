"""Which settings each service reads, and so the only ones it is given.

One table, read by the supervisor (deploy/supervisor.py passes each child process its own
settings and nothing else), by production's start-up check (shared/settings.py asks a service
only for its own secrets), and by the tests that hold the deployment descriptions
(deploy/compose.yaml, deploy/k8s/) to it. A service holding another's secret is one more place
that secret can leak from: a crash report, a debugger, a compromised dependency.
tests/unit/test_service_settings.py checks the table against the code's reads.
"""

from __future__ import annotations

# Every service: where it runs, how it logs and drains, and the public keys access tokens are
# checked against (public, so given to all: each service checks the tokens it is called with).
EVERY_SERVICE = frozenset({
    "env", "service", "data_dir", "log_level", "shutdown_drain_s", "auth_public_keys"})

# The services on the bus (shared/service.py's runtime, its readiness check): all but the window.
ON_THE_BUS = frozenset({
    "kafka_bootstrap", "broker", "topic_partitions", "topic_replication_factor",
    "consumer_batch_size", "consumer_fetch_max_wait_ms", "consumer_max_attempts",
    "consumer_retry_backoff_s"})

# The settings that are secrets. A database URL is one: it carries its role's password.
SECRETS = frozenset({
    "pseudonym_key", "payment_account_key", "audit_signing_key", "auth_signing_key",
    "window_oidc_client_secret",
    "intake_database_url", "verification_database_url", "approval_database_url",
    "payment_database_url", "audit_database_url", "window_database_url"})

SETTINGS_OF: dict[str, frozenset[str]] = {
    "intake": EVERY_SERVICE | ON_THE_BUS | {
        "intake_database_url",
        # Intake turns the resident ID numbers it is given into person references (HMACs
        # under this key) before anything leaves it: the bus carries references only.
        "pseudonym_key",
    },
    "verification": EVERY_SERVICE | ON_THE_BUS | {
        "verification_database_url",
        # Partner departments' records arrive with ID numbers and are pseudonymised on
        # arrival under the same key as intake's, or they would never meet the applications.
        "pseudonym_key",
        "monitoring_policy_paths", "verification_live_sources", "verification_live_timeout_s",
        "verification_live_retries", "verification_live_breaker_failures",
        "verification_live_breaker_reset_s",
    },
    "approval": EVERY_SERVICE | ON_THE_BUS | {
        "approval_database_url",
        "policy_paths",
    },
    "payment": EVERY_SERVICE | ON_THE_BUS | {
        "payment_database_url",
        # Bank accounts are sealed at rest under a key derived from it
        # (services/payment/adapters/vault.py); only payment ever reads an account.
        "payment_account_key",
    },
    "audit": EVERY_SERVICE | ON_THE_BUS | {
        "audit_database_url",
        # Signs the archive's checkpoints (services/audit/adapters/keys.py), which auditors
        # later check a restored archive against.
        "audit_signing_key",
        "audit_checkpoint_interval_s",
        "policy_paths",  # the replay re-runs approval's rules under approval's policy
    },
    "window": EVERY_SERVICE | {
        "window_database_url",
        # The window signs staff in and mints the access tokens it calls the services with;
        # they only check tokens, against its public key (auth_public_keys).
        "auth_signing_key",
        # The window's own credential at the OpenID Connect provider that signs staff in,
        # when one does (docs/WINDOW.md).
        "window_oidc_client_secret",
        "window_identity_provider", "window_oidc_issuer", "window_oidc_client_id",
        "window_oidc_username_claim", "window_public_url",
        "window_session_idle_minutes", "window_session_max_hours", "window_token_minutes",
        "window_sign_in_max_failures", "window_sign_in_lockout_minutes",
        # The services it calls on the signed-in person's behalf.
        "intake_url", "verification_url", "approval_url", "payment_url",
    },
}


def settings_of(service: str) -> frozenset[str]:
    """The names of the settings ``service`` reads (``Settings`` fields)."""
    try:
        return SETTINGS_OF[service]
    except KeyError:
        raise ValueError(f"unknown service {service!r}") from None


def secrets_of(service: str) -> frozenset[str]:
    """The secrets ``service`` holds: its own and no other's."""
    return settings_of(service) & SECRETS
