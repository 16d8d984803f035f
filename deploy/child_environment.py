"""What each process the supervisor starts is given: the supervisor's environment without its
``ONEDOOR_*`` variables, and that service's own settings alone (shared/service_settings.py), so
that no child holds another service's secrets or database URL."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from pydantic import SecretStr

from shared.service_settings import settings_of
from shared.settings import Settings


def child_environment(settings: Settings, service: str, *, bootstrap: str, broker_kind: str,
                      urls: Mapping[str, list[str]],
                      extra_env: Mapping[str, str]) -> dict[str, str]:
    """The environment of ``service``'s processes: PATH, OTEL_* and the like from the
    supervisor's own (not ONEDOOR_SECRETS_DIR, whose folder holds every service's secrets), the
    broker and database the supervisor decided, where every service's instances listen, and
    ``extra_env`` last."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("ONEDOOR_")}
    # glibc gives each thread that allocates an arena of its own (up to 8 a core), and memory
    # freed in one stays there: a service's thread pools left ~10 MB more free-but-held memory a
    # process after ten minutes at 100 cases/s, still growing (docs/PERFORMANCE.md, "Memory over
    # a soak, where it goes"). Two arenas keep it flat at no cost the benches can see. Set
    # before exec, as glibc reads it once; a value the supervisor was given wins.
    env.setdefault("MALLOC_ARENA_MAX", "2")
    own = settings_of(service)
    decided: dict[str, object] = {
        "env": settings.env, "service": service, "data_dir": settings.data_dir,
        "kafka_bootstrap": bootstrap, "broker": broker_kind,
        f"{service}_database_url": settings.database_url(service),
        # Where each service was started: the window spreads its calls over them.
        **{f"{name}_url": ",".join(addresses) for name, addresses in urls.items()},
        "auth_public_keys": _public_keys(settings, signs="auth_signing_key" in own),
    }
    for name in sorted(own):
        value = decided[name] if name in decided else getattr(settings, name)
        # Everything else given to the supervisor that differs from the defaults (tuning,
        # intervals, keys): a setting given is never dropped for the service that reads it.
        if value is None or (name not in decided and value == _default(name)):
            continue
        env[f"ONEDOOR_{name.upper()}"] = _variable(value)
    env.update(extra_env)
    return env


def _public_keys(settings: Settings, *, signs: bool) -> str | None:
    """The public keys a service checks tokens against: those given, and for all but the
    window, which holds the signing key, that key's public half."""
    keys = [settings.auth_public_keys or ""]
    if not signs and settings.auth_signing_key is not None:
        private = serialization.load_pem_private_key(
            settings.auth_signing_key.get_secret_value().encode(), password=None)
        keys.append(private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo,
        ).decode())
    return "\n".join(key.strip() for key in keys if key) or None


def _default(name: str) -> object:
    return Settings.model_fields[name].get_default(call_default_factory=True)


def _variable(value: object) -> str:
    """A setting's value as its environment variable holds it; paths absolute, since the
    children run in the repository's root, not where the supervisor was started."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Path):
        return str(value.resolve())
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, Path) for v in value):
        return json.dumps([str(v.resolve()) for v in value])
    return json.dumps(value, default=str)
