"""Bank account numbers at rest: sealed with AES-256-GCM, and masked wherever they are shown.

A sealed account is ``"v1." + urlsafe-base64(nonce ‖ ciphertext ‖ tag)``. The version prefix
names the key that sealed it, so the key can be rotated without a flag day:

* derive the new key under a new label (``b"onedoor payment accounts v2"``) from the new secret,
  add it to ``AccountVault._ciphers`` under ``"v2"`` and make ``"v2"`` the current version;
* keep ``"v1"`` in ``_ciphers`` (built from the old secret) so existing rows still open;
* re-seal the ``v1`` rows in a migration, then drop ``"v1"`` and the old secret.

Each seal is bound to the case the account belongs to (GCM associated data): a token copied into
another case's row does not open. Errors never carry the account, the token or key material, since
they end up in logs and API responses.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import unicodedata

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_V1 = "v1"
_V1_LABEL = b"onedoor payment accounts v1"
_NONCE_BYTES = 12  # 96 bits: the size GCM is specified for; random per seal, never reused
_TAG_BYTES = 16

_ACCOUNT_MIN_DIGITS = 10
_ACCOUNT_MAX_DIGITS = 30
_HOLDER_MAX_CHARS = 60
_VISIBLE_DIGITS = 4

# What a clerk or a form may put between digit groups; anything else is refused, not guessed at.
_ACCOUNT_SEPARATORS = str.maketrans("", "", " \u3000-\uff0d")
# Full-width digits arrive from Chinese input methods; they are the same number.
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
# Explicit ASCII class: str.isdigit() and \d also accept Arabic-Indic and other digits.
_ACCOUNT_PATTERN = re.compile(r"[0-9]+")


class SealBroken(ValueError):
    """A sealed account that cannot be opened: wrong key, wrong case, tampered or unknown version.

    The message never contains the token, the account or key material.
    """


def _derive_key(secret: str, label: bytes) -> bytes:
    # HKDF rather than the secret itself: the operator's secret may be any length or shape, and a
    # per-version label gives every key version an independent key even from the same secret.
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(
        secret.encode())


class AccountVault:
    """Seals and opens bank account numbers with a key derived from the payment account secret."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("the payment account secret is empty")
        self._current = _V1
        self._ciphers: dict[str, AESGCM] = {_V1: AESGCM(_derive_key(secret, _V1_LABEL))}

    def __repr__(self) -> str:
        # Never let a debug print or a logged object show anything about the key.
        return f"AccountVault(current={self._current!r})"

    def seal(self, plaintext: str, *, bound_to: str) -> str:
        """Encrypt ``plaintext`` for the row of case ``bound_to``; every call gives a new token."""
        if not bound_to:
            # An empty binding would let a token open in any row that also forgot its case id.
            raise ValueError("a sealed account must be bound to a case id")
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[self._current].encrypt(
            nonce, plaintext.encode(), bound_to.encode())
        return f"{self._current}.{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def open(self, token: str, *, bound_to: str) -> str:
        """What :meth:`seal` sealed for the same ``bound_to``; :class:`SealBroken` otherwise."""
        version, dot, body = token.partition(".")
        cipher = self._ciphers.get(version) if dot else None
        if cipher is None:
            raise SealBroken("sealed account has an unknown version")
        try:
            raw = base64.b64decode(body.encode("ascii"), altchars=b"-_", validate=True)
        except (UnicodeEncodeError, binascii.Error):
            raise SealBroken("sealed account is not well-formed") from None
        if len(raw) < _NONCE_BYTES + _TAG_BYTES:
            raise SealBroken("sealed account is truncated")
        try:
            plaintext = cipher.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], bound_to.encode())
        except InvalidTag:
            # One message for wrong key, wrong case and tampering: telling them apart would help
            # only someone probing the vault.
            raise SealBroken("sealed account does not open with this key for this case") from None
        return plaintext.decode()


def normalise_account(raw: str) -> str:
    """The account number as 10–30 ASCII digits, without spaces or hyphens.

    Full-width digits become ASCII. Raises ValueError with a reason that does not repeat the input.
    """
    digits = raw.translate(_ACCOUNT_SEPARATORS).translate(_FULL_WIDTH_DIGITS)
    if not _ACCOUNT_PATTERN.fullmatch(digits):
        raise ValueError("account number may contain only digits, spaces and hyphens")
    if not _ACCOUNT_MIN_DIGITS <= len(digits) <= _ACCOUNT_MAX_DIGITS:
        raise ValueError(
            f"account number must have {_ACCOUNT_MIN_DIGITS} to {_ACCOUNT_MAX_DIGITS} digits")
    return digits


def mask(account_number: str) -> str:
    """The account as shown in responses and logs: ``"**** 1234"``, only the last 4 digits.

    The number of stars is always four, so the mask does not reveal the account's length. Input
    that is not a valid account number masks to ``"****"`` (nothing visible) rather than raising:
    masking happens on the way to a log line, where a failure would hide the real problem.
    """
    try:
        digits = normalise_account(account_number)
    except ValueError:
        return "****"
    return masked_last4(digits[-_VISIBLE_DIGITS:])


def masked_last4(last4: str) -> str:
    """The shown form from the last four digits alone (all a stored account keeps in clear)."""
    return f"**** {last4}"


def normalise_holder(raw: str) -> str:
    """The account holder's name, trimmed and with inner whitespace collapsed to single spaces.

    1–60 characters; control and invisible formatting characters are refused (they can forge log
    lines or reorder what a clerk sees). Raises ValueError with a reason that does not repeat
    the input.
    """
    trimmed = raw.strip()
    # Checked before collapsing: a tab or line break inside a name is refused, not made a space.
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in trimmed):
        raise ValueError("holder name contains a control character")
    name = " ".join(trimmed.split())
    if not name:
        raise ValueError("holder name is empty")
    if len(name) > _HOLDER_MAX_CHARS:
        raise ValueError(f"holder name is longer than {_HOLDER_MAX_CHARS} characters")
    return name
