"""Access tokens: compact JWTs (RFC 7519) signed with Ed25519 (``alg: EdDSA``, RFC 8037), so any
JWT library can read them; they are parsed here by hand so that exactly one shape is accepted.
And the keys a process signs and verifies them with."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shared.auth.principals import Principal, Role, principal_problem
from shared.clock import as_utc
from shared.files import write_once
from shared.settings import Settings

ISSUER = "onedoor"
MAX_TTL = timedelta(hours=12)  # one working day: a token copied today is useless tomorrow
LEEWAY = timedelta(seconds=30)  # the signing and the verifying host's clocks drift a little
DEV_KEY_FILE = "auth-signing-key.pem"
_MAX_TOKEN_CHARS = 4096  # ours are ~400: anything much longer is not ours and is not parsed


class Unauthenticated(Exception):
    """The token proves nothing. ``reason`` is for the log; it never quotes the token."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def b64encode(raw: bytes) -> str:
    """base64url without padding, as JOSE writes it."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    """Strict base64url without padding: one spelling per value, anything else is ValueError."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64encode(raw) != text:  # stray bits in the last character
        raise ValueError("not canonical base64url")
    return raw


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two "role" members: which one did the signer mean? Parsers disagree, so refuse.
    if len({key for key, _ in pairs}) != len(pairs):
        raise ValueError("duplicate member")
    return dict(pairs)


def json_segment(segment: str) -> dict[str, Any]:
    """A JOSE segment's JSON object (a token's header or claims); ValueError for anything else,
    a member named twice included."""
    value = json.loads(b64decode(segment), object_pairs_hook=_unique_members)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _b64json(value: Mapping[str, Any]) -> str:
    return b64encode(json.dumps(value, separators=(",", ":"), sort_keys=True).encode())


def _int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def key_id(public_key: Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 of the raw public key: names the key in a token's ``kid``."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


class TokenIssuer:
    """Signs access tokens. Only the sign-in side needs one."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise TypeError("access tokens are signed with an Ed25519 private key")
        self._key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)

    def issue(self, subject: str, role: Role | str, jurisdiction: str, ttl: timedelta, *,
              now: datetime | None = None) -> str:
        if not timedelta(seconds=1) <= ttl <= MAX_TTL:
            raise ValueError(f"a token lives between 1 s and {MAX_TTL}, not {ttl}")
        if problem := principal_problem(subject, role, jurisdiction):
            raise ValueError(problem)
        issued = int(as_utc(now or datetime.now(UTC)).timestamp())
        header = {"alg": "EdDSA", "typ": "JWT", "kid": self.key_id}
        claims = {"iss": ISSUER, "sub": subject, "role": str(role), "jur": jurisdiction,
                  "iat": issued, "exp": issued + int(ttl.total_seconds()),
                  "jti": secrets.token_urlsafe(16)}
        signing_input = f"{_b64json(header)}.{_b64json(claims)}"
        return f"{signing_input}.{b64encode(self._key.sign(signing_input.encode()))}"


class TokenVerifier:
    """Checks access tokens against the public keys it trusts (several during a key rotation)."""

    def __init__(self, public_keys: Mapping[str, Ed25519PublicKey]) -> None:
        if not public_keys:
            raise ValueError("a verifier that trusts no key would refuse everyone")
        for kid, key in public_keys.items():
            if not isinstance(key, Ed25519PublicKey) or key_id(key) != kid:
                raise ValueError(f"{kid!r} is not the key id of an Ed25519 public key given")
        self._keys = dict(public_keys)

    @classmethod
    def trusting(cls, *keys: Ed25519PublicKey) -> TokenVerifier:
        return cls({key_id(key): key for key in keys})

    def verify(self, token: str, now: datetime | None = None) -> Principal:
        """The principal the token speaks for, or Unauthenticated saying why not."""
        if not isinstance(token, str) or not token.isascii() or len(token) > _MAX_TOKEN_CHARS:
            raise Unauthenticated("malformed token")
        segments = token.split(".")
        if len(segments) != 3:
            raise Unauthenticated("malformed token: not three segments")
        try:
            header = json_segment(segments[0])
            signature = b64decode(segments[2])
        except (ValueError, RecursionError):
            raise Unauthenticated("malformed token") from None
        # The header is not signed yet: nothing in it is trusted beyond choosing a known key.
        if header.get("alg") != "EdDSA":
            raise Unauthenticated("algorithm refused: only EdDSA")
        if header.get("typ", "JWT") != "JWT" or "crit" in header:
            raise Unauthenticated("malformed token: unsupported header")
        kid = header.get("kid")
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise Unauthenticated("signed by an unknown key")
        try:
            key.verify(signature, f"{segments[0]}.{segments[1]}".encode())
        except InvalidSignature:
            raise Unauthenticated("bad signature") from None
        try:
            claims = json_segment(segments[1])
        except (ValueError, RecursionError):
            raise Unauthenticated("malformed claims") from None
        return self._principal(claims, as_utc(now or datetime.now(UTC)))

    @staticmethod
    def _principal(claims: dict[str, Any], now: datetime) -> Principal:
        if claims.get("iss") != ISSUER:
            raise Unauthenticated("wrong issuer")
        issued, expires, jti = claims.get("iat"), claims.get("exp"), claims.get("jti")
        if not (_int(issued) and _int(expires) and isinstance(jti, str) and 0 < len(jti) <= 64):
            raise Unauthenticated("malformed claims")
        if problem := principal_problem(claims.get("sub"), claims.get("role"), claims.get("jur")):
            raise Unauthenticated(problem)
        # In this order, so that exp is a sane timestamp by the time it is converted.
        if issued > (now + LEEWAY).timestamp():
            raise Unauthenticated("not yet valid")
        if not 0 < expires - issued <= MAX_TTL.total_seconds():
            raise Unauthenticated("lifetime longer than allowed")
        if expires <= (now - LEEWAY).timestamp():
            raise Unauthenticated("expired")
        return Principal(claims["sub"], Role(claims["role"]), claims["jur"],
                         datetime.fromtimestamp(expires, UTC))





_PEM_PUBLIC = re.compile(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)


def _public_keys(text: str) -> list[Ed25519PublicKey]:
    blocks = _PEM_PUBLIC.findall(text)
    # Anything besides the blocks could be a private key pasted into this unsecret setting.
    if not blocks or _PEM_PUBLIC.sub("", text).strip():
        raise ValueError("ONEDOOR_AUTH_PUBLIC_KEYS must hold PEM public keys and nothing else")
    loaded = [serialization.load_pem_public_key(block.encode()) for block in blocks]
    keys = [key for key in loaded if isinstance(key, Ed25519PublicKey)]
    if len(keys) != len(loaded):
        raise ValueError("ONEDOOR_AUTH_PUBLIC_KEYS may hold only Ed25519 public keys")
    return keys


def _private_key(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("ONEDOOR_AUTH_SIGNING_KEY must be an Ed25519 private key (PEM)")
    return key


def load_token_keys(settings: Settings) -> tuple[TokenIssuer | None, TokenVerifier]:
    """The issuer (None where only public keys are configured) and the verifier of a process.

    In development with no key configured, a key pair is made once in ``data_dir`` and shared by
    every service there. Production never makes one: tokens signed with a key made on the spot
    would be refused by every other service, and nobody would have chosen to trust it."""
    trusted = _public_keys(settings.auth_public_keys) if settings.auth_public_keys else []
    signing = settings.auth_signing_key
    pem = signing.get_secret_value().encode() if signing is not None else None
    if pem is None and not trusted:
        if settings.env == "production":
            raise ValueError("ONEDOOR_AUTH_SIGNING_KEY (an Ed25519 private key, PEM) or "
                             "ONEDOOR_AUTH_PUBLIC_KEYS (PEM public keys) must be set in production")
        path = settings.data_dir / DEV_KEY_FILE
        if not path.exists():
            write_once(path, Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
        pem = path.read_bytes()
    issuer = TokenIssuer(_private_key(pem)) if pem is not None else None
    if issuer is not None:
        trusted.append(issuer.public_key)
    return issuer, TokenVerifier.trusting(*trusted)



def bearer(token: str) -> dict[str, str]:
    """The header that carries ``token`` (tests, the CLI)."""
    return {"Authorization": f"Bearer {token}"}
