"""Staff passwords, hashed with scrypt: the window is the only service that signs people in with
one (the others verify its access tokens)."""

from __future__ import annotations

import hashlib
import hmac
import os
import re

from shared.auth.tokens import b64decode, b64encode

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1  # 32 MiB and ~0.12 s per guess here
# A stored value asking for more could be planted to make every sign-in exhaust memory.
_SCRYPT_MAX_MEMORY = 2**28
_PASSWORD_MAX_CHARS = 1024  # scrypt reads all of it; a megabyte "password" is an attack


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int, size: int = 32) -> bytes:
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=size,
                          maxmem=2 * 128 * r * (n + p))


def _password_bytes(password: object) -> bytes:
    if not isinstance(password, str) or not 1 <= len(password) <= _PASSWORD_MAX_CHARS:
        raise ValueError(f"a password has 1 to {_PASSWORD_MAX_CHARS} characters")
    return password.encode()  # a lone surrogate raises UnicodeEncodeError, a ValueError


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = _scrypt(_password_bytes(password), salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64encode(salt)}${b64encode(digest)}"


def _parse_stored(stored: object) -> tuple[int, int, int, bytes, bytes] | None:
    parts = stored.split("$") if isinstance(stored, str) else []
    if len(parts) != 6 or parts[0] != "scrypt":
        return None
    if not all(re.fullmatch(r"[1-9][0-9]{0,9}", part) for part in parts[1:4]):
        return None
    n, r, p = (int(part) for part in parts[1:4])
    try:
        salt, digest = b64decode(parts[4]), b64decode(parts[5])
    except ValueError:
        return None
    if (n < 2 or n & (n - 1) or 128 * r * (n + p) > _SCRYPT_MAX_MEMORY or p > 16
            or len(salt) < 8 or not 16 <= len(digest) <= 64):
        return None
    return n, r, p, salt, digest


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from; False, never an error, when
    either is unusable (a sign-in form must not answer 500 to a strange password)."""
    parsed = _parse_stored(stored)
    try:
        candidate = _password_bytes(password)
    except ValueError:
        return False
    if parsed is None:
        return False
    n, r, p, salt, digest = parsed
    return hmac.compare_digest(_scrypt(candidate, salt, n, r, p, len(digest)), digest)


def needs_rehash(stored: str) -> bool:
    """True when ``stored`` was made with weaker parameters than today's (or is unusable): the
    sign-in side re-hashes the password it has just verified."""
    parsed = _parse_stored(stored)
    if parsed is None:
        return True
    n, r, p, salt, digest = parsed
    return n < SCRYPT_N or r < SCRYPT_R or p < SCRYPT_P or len(salt) < 16 or len(digest) < 32
