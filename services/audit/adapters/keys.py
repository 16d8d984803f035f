"""The archive's signing key: from the settings, or (development only) made once in data_dir."""

from __future__ import annotations

import os

from services.audit.domain.checkpoint import Signer
from shared.settings import Settings


def load_signer(settings: Settings) -> Signer:
    if settings.audit_signing_key is not None:
        return Signer(settings.audit_signing_key.get_secret_value().encode())
    if settings.env == "production":
        # A key made on the spot would sign checkpoints nobody holds the public key of.
        raise ValueError("ONEDOOR_AUDIT_SIGNING_KEY (an Ed25519 private key, PEM) must be set "
                         "in production")
    path = settings.data_dir / "audit-signing-key.pem"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(Signer.generate().private_key_pem())
    return Signer(path.read_bytes())
