"""The archive's signing key: from the settings, or (development only) made once in data_dir."""

from __future__ import annotations

from services.audit.domain.checkpoint import Signer
from shared.files import write_once
from shared.settings import Settings


class NoSigningKey(LookupError):
    """The archive's signing key is not where the settings say."""


def load_signer(settings: Settings, *, create: bool = True) -> Signer:
    """The configured key; in development, the one in data_dir — made there the first time only
    when ``create`` (the service). A command-line tool never makes one: a new key would sign
    checkpoints no auditor holds, and export a public key none of the checkpoints match."""
    if settings.audit_signing_key is not None:
        return Signer(settings.audit_signing_key.get_secret_value().encode())
    if settings.env == "production":
        # A key made on the spot would sign checkpoints nobody holds the public key of.
        raise ValueError("ONEDOOR_AUDIT_SIGNING_KEY (an Ed25519 private key, PEM) must be set "
                         "in production")
    path = settings.data_dir / "audit-signing-key.pem"
    if not path.exists() and not create:
        raise NoSigningKey(f"no audit signing key at {path.resolve()}: set ONEDOOR_DATA_DIR to "
                           "the audit service's data directory, or ONEDOOR_AUDIT_SIGNING_KEY")
    if not path.exists():
        write_once(path, Signer.generate().private_key_pem())
    return Signer(path.read_bytes())
