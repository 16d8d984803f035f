"""Sign-in for every OneDoor HTTP API: who is calling, and what they may do where.

The staff web app signs people in and calls the services with a short-lived access token on
their behalf; partner departments and OneDoor's own jobs hold tokens too. A service only verifies:
its bootstrap puts ``load_token_keys(settings)[1]`` at ``app.state.auth_verifier``, each route asks
for ``Depends(require("case.read"))``, and once it knows the case's region it calls
``check_jurisdiction(principal, region, request=request)``.

Tokens are compact JWTs (RFC 7519) signed with Ed25519 (``alg: EdDSA``, RFC 8037), so any JWT
library can read them; they are parsed here by hand so that exactly one shape is accepted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.clock import as_utc
from shared.files import write_once
from shared.settings import Settings

access_log = logging.getLogger("onedoor.access")

ISSUER = "onedoor"
MAX_TTL = timedelta(hours=12)  # one working day: a token copied today is useless tomorrow
LEEWAY = timedelta(seconds=30)  # the signing and the verifying host's clocks drift a little
DEV_KEY_FILE = "auth-signing-key.pem"
_MAX_TOKEN_CHARS = 4096  # ours are ~400: anything much longer is not ours and is not parsed


class Role(StrEnum):
    WINDOW_CLERK = "window_clerk"
    TOWN_REVIEWER = "town_reviewer"
    DISTRICT_APPROVER = "district_approver"
    AUDITOR = "auditor"
    ADMINISTRATOR = "administrator"
    PARTNER = "partner"  # another department's system
    SERVICE = "service"  # OneDoor's own machines: the CLI, the demo, internal jobs


_ROLES = {role.value: role for role in Role}
# Only work that is not tied to a place may reach every region.
_NATIONWIDE = frozenset({Role.ADMINISTRATOR, Role.AUDITOR, Role.SERVICE})
_JURISDICTION = re.compile(r"[0-9]{6}|[0-9]{9}")  # [0-9], not \d: \d also matches "٣"
# Subjects end up in every access log line: ids only, in a charset that cannot forge a log line.
_SUBJECT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_RESIDENT_ID = re.compile(r"[0-9]{15}|[0-9]{17}[0-9Xx]")


def _principal_problem(subject: object, role: object, jurisdiction: object) -> str | None:
    if not isinstance(subject, str) or not _SUBJECT.fullmatch(subject):
        return "subject is not a staff or client id"
    if _RESIDENT_ID.fullmatch(subject):
        return "subject looks like a resident ID number"
    if not isinstance(role, str) or role not in _ROLES:
        return "unknown role"
    if not isinstance(jurisdiction, str) or not (
            jurisdiction == "" or _JURISDICTION.fullmatch(jurisdiction)):
        return "jurisdiction is not a 6- or 9-digit region code"
    if jurisdiction == "" and _ROLES[role] not in _NATIONWIDE:
        return f"role {role} may not hold every region"
    return None


@dataclass(frozen=True)
class Principal:
    """Who is calling. No name and no ID number: it is logged with every refusal."""

    subject: str  # staff id or client id, e.g. "c-0142"
    role: Role
    jurisdiction: str  # region-code prefix: "" everywhere, 6 digits a district, 9 a town
    expires_at: datetime

    def __post_init__(self) -> None:
        if problem := _principal_problem(self.subject, self.role, self.jurisdiction):
            raise ValueError(problem)
        object.__setattr__(self, "role", Role(self.role))

    @property
    def key_scope(self) -> str:
        """Whose Idempotency-Keys these are: the caller in their jurisdiction, as a payment
        provider scopes keys to an account. A key used elsewhere is another caller's, unseen."""
        return f"{self.subject}@{self.jurisdiction}"

    def covers(self, area: str | None) -> bool:
        """Whether ``area`` (a region code) is within reach. A case known only at district level
        is not a town's to see: it may belong to another town of the district."""
        if area is None:
            return self.jurisdiction == ""
        return area.startswith(self.jurisdiction)


class Unauthenticated(Exception):
    """The token proves nothing. ``reason`` is for the log; it never quotes the token."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    """Strict base64url without padding: one spelling per value, anything else is ValueError."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64encode(raw) != text:  # stray bits in the last character
        raise ValueError("not canonical base64url")
    return raw


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two "role" members: which one did the signer mean? Parsers disagree, so refuse.
    if len({key for key, _ in pairs}) != len(pairs):
        raise ValueError("duplicate member")
    return dict(pairs)


def _json_segment(segment: str) -> dict[str, Any]:
    value = json.loads(_b64decode(segment), object_pairs_hook=_unique_members)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _b64json(value: Mapping[str, Any]) -> str:
    return _b64encode(json.dumps(value, separators=(",", ":"), sort_keys=True).encode())


def _int(value: object) -> bool:
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
        if problem := _principal_problem(subject, role, jurisdiction):
            raise ValueError(problem)
        issued = int(as_utc(now or datetime.now(UTC)).timestamp())
        header = {"alg": "EdDSA", "typ": "JWT", "kid": self.key_id}
        claims = {"iss": ISSUER, "sub": subject, "role": str(role), "jur": jurisdiction,
                  "iat": issued, "exp": issued + int(ttl.total_seconds()),
                  "jti": secrets.token_urlsafe(16)}
        signing_input = f"{_b64json(header)}.{_b64json(claims)}"
        return f"{signing_input}.{_b64encode(self._key.sign(signing_input.encode()))}"


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
            header = _json_segment(segments[0])
            signature = _b64decode(segments[2])
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
            claims = _json_segment(segments[1])
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
        if problem := _principal_problem(claims.get("sub"), claims.get("role"), claims.get("jur")):
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


# --- keys -------------------------------------------------------------------------------------

_PEM_PUBLIC = re.compile(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)


def _public_keys(text: str) -> list[Ed25519PublicKey]:
    blocks = _PEM_PUBLIC.findall(text)
    # Anything besides the blocks could be a private key pasted into this unsecret setting.
    if not blocks or _PEM_PUBLIC.sub("", text).strip():
        raise ValueError("ONEDOOR_AUTH_PUBLIC_KEYS must hold PEM public keys and nothing else")
    keys = [serialization.load_pem_public_key(block.encode()) for block in blocks]
    if not all(isinstance(key, Ed25519PublicKey) for key in keys):
        raise ValueError("ONEDOOR_AUTH_PUBLIC_KEYS may hold only Ed25519 public keys")
    return keys  # type: ignore[return-value]


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


# --- passwords --------------------------------------------------------------------------------

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
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64encode(salt)}${_b64encode(digest)}"


def _parse_stored(stored: object) -> tuple[int, int, int, bytes, bytes] | None:
    parts = stored.split("$") if isinstance(stored, str) else []
    if len(parts) != 6 or parts[0] != "scrypt":
        return None
    if not all(re.fullmatch(r"[1-9][0-9]{0,9}", part) for part in parts[1:4]):
        return None
    n, r, p = (int(part) for part in parts[1:4])
    try:
        salt, digest = _b64decode(parts[4]), _b64decode(parts[5])
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


# --- permissions ------------------------------------------------------------------------------

_R = Role
PERMISSIONS: Mapping[str, frozenset[Role]] = MappingProxyType({
    "case.submit": frozenset({_R.WINDOW_CLERK}),
    # SERVICE reads cases because the CLI and the demo follow a case to its end. Machine tokens
    # get nothing else but the payment run: one leaked from a job or a laptop must not browse the
    # audit archive, resolve persons or move money anywhere but through the run's own rules.
    "case.read": frozenset({_R.WINDOW_CLERK, _R.TOWN_REVIEWER, _R.DISTRICT_APPROVER,
                            _R.AUDITOR, _R.ADMINISTRATOR, _R.SERVICE}),
    # Finding a person's cases by resident ID number: the window and the case workers, never a
    # machine. Auditors resolve pseudonyms through the logged identity lookup instead.
    "case.search": frozenset({_R.WINDOW_CLERK, _R.TOWN_REVIEWER, _R.DISTRICT_APPROVER}),
    # Acting on a case in the workflow. Which action each role may take in which stage is the
    # workflow's rule (services/approval/domain/workflow.py), checked there with the token's role.
    "case.act": frozenset({_R.WINDOW_CLERK, _R.TOWN_REVIEWER, _R.DISTRICT_APPROVER}),
    "case.review": frozenset({_R.TOWN_REVIEWER}),
    "case.approve": frozenset({_R.DISTRICT_APPROVER}),
    # Recording another department's answer to a referral (专项救助), as it reaches the case.
    "referral.answer": frozenset({_R.TOWN_REVIEWER, _R.DISTRICT_APPROVER}),
    "payment.account.write": frozenset({_R.WINDOW_CLERK}),
    "payment.run": frozenset({_R.DISTRICT_APPROVER, _R.ADMINISTRATOR, _R.SERVICE}),
    "payment.bank_file.read": frozenset({_R.DISTRICT_APPROVER, _R.ADMINISTRATOR}),
    "payment.reconcile": frozenset({_R.DISTRICT_APPROVER, _R.AUDITOR, _R.ADMINISTRATOR}),
    "audit.read": frozenset({_R.AUDITOR, _R.ADMINISTRATOR}),
    "identity.lookup": frozenset({_R.AUDITOR, _R.ADMINISTRATOR}),
    "partner.publish": frozenset({_R.PARTNER}),
    # The list of partner departments' bulk publications and their rejected lines (each
    # department also reads its own, with its own credential: services/verification).
    "partner.publications.read": frozenset({_R.ADMINISTRATOR}),
    # Early warnings and discovery leads: the town's queue. The window clerk sees it (people
    # walk in), auditors read it; the case workers close items with an outcome.
    "monitoring.read": frozenset({_R.WINDOW_CLERK, _R.TOWN_REVIEWER, _R.DISTRICT_APPROVER,
                                  _R.AUDITOR, _R.ADMINISTRATOR}),
    "monitoring.close": frozenset({_R.TOWN_REVIEWER, _R.DISTRICT_APPROVER}),
    "admin": frozenset({_R.ADMINISTRATOR}),
})


def allowed(principal: Principal, permission: str) -> bool:
    """Whether the principal's role grants ``permission``; KeyError for a name not in the table,
    so that a typo fails loudly instead of refusing (or granting) quietly."""
    return principal.role in PERMISSIONS[permission]


# --- FastAPI ----------------------------------------------------------------------------------


class Refused(HTTPException):
    """401 (who are you?) or 403 (not you, or not here). ``detail`` says what was refused."""


def _refuse(status: int, detail: str, reason: str, *, request: Request | None,
            principal: Principal | None = None, permission: str | None = None,
            area: str | None = None) -> Refused:
    method = request.method if request is not None else None
    path = request.url.path if request is not None else None  # the path only: no query values
    if permission is None and request is not None:
        permission = getattr(request.state, "permission", None)
    subject = principal.subject if principal else None
    outcome = "unauthenticated" if status == 401 else "forbidden"
    fields = {"subject": subject, "role": str(principal.role) if principal else None,
              "permission": permission, "method": method, "path": path, "area": area,
              "reason": reason, "outcome": outcome}
    # %r: the path comes percent-decoded, and could carry control characters into the log.
    access_log.warning("refused %s %r to %s (%s): %s", method, path, subject or "unknown caller",
                       outcome, reason, extra=fields)
    challenge = 'Bearer error="invalid_token"' if reason != "no bearer token" else "Bearer"
    return Refused(status, detail, {"WWW-Authenticate": challenge} if status == 401 else None)


_bearer = HTTPBearer(auto_error=False, description="an access token from OneDoor's sign-in")


def require(permission: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller's Principal when their token is good and their role grants
    ``permission``; otherwise a logged 401 or 403. Reads ``request.app.state.auth_verifier``."""
    roles = PERMISSIONS[permission]  # a typo fails where the route is declared

    async def dependency(request: Request, credentials: Annotated[
            HTTPAuthorizationCredentials | None, Security(_bearer)]) -> Principal:
        return _admit(request, credentials, permission, roles)

    async def gate(request: Request) -> None:
        # The same check, for a route to make before it answers 422 (shared/http.py).
        _admit(request, await _bearer(request), permission, roles)

    dependency.gate = gate  # type: ignore[attr-defined]
    dependency.permission = permission  # type: ignore[attr-defined]
    return dependency


def _admit(request: Request, credentials: HTTPAuthorizationCredentials | None, permission: str,
           roles: frozenset[Role]) -> Principal:
    verifier: TokenVerifier | None = getattr(request.app.state, "auth_verifier", None)
    if verifier is None:  # a 500, not a 401: the service is broken, not the caller
        raise RuntimeError("app.state.auth_verifier is unset: the service's bootstrap must "
                           "put load_token_keys(settings)[1] there")
    request.state.permission = permission
    if credentials is None:
        raise _refuse(401, "sign-in required: send Authorization: Bearer <access token>",
                      "no bearer token", request=request)
    try:
        principal = verifier.verify(credentials.credentials)
    except Unauthenticated as exc:
        detail = "access token expired" if exc.reason == "expired" else "invalid access token"
        raise _refuse(401, detail, exc.reason, request=request) from None
    request.state.principal = principal
    if principal.role not in roles:
        raise _refuse(403, f"role {principal.role} does not grant {permission!r}",
                      "role lacks permission", request=request, principal=principal)
    return principal


def area_of(region_code: str | None, town_code: str | None) -> str | None:
    """The most precise region a case is known by: its town when recorded, else its district."""
    return town_code or region_code


def check_jurisdiction(principal: Principal, area: str | None, *,
                       request: Request | None = None) -> None:
    """403 (logged) unless ``area`` lies within the principal's jurisdiction."""
    if not principal.covers(area):
        where = f"region {area!r}" if area is not None else "a case with no known region"
        raise _refuse(403, f"{where} is outside your jurisdiction", "outside jurisdiction",
                      request=request, principal=principal, area=area)


def bearer(token: str) -> dict[str, str]:
    """The header that carries ``token`` (tests, the CLI)."""
    return {"Authorization": f"Bearer {token}"}
