"""An OpenID Connect client: the authorization-code flow with PKCE, for a province's or a city's
identity provider (Keycloak, an e-government single sign-on, Azure AD…).

The provider only proves who is at the browser; what that person may do, and where, stays in
the window's own accounts (services/window/domain/accounts.py). So the answer of ``complete`` is
a staff id, read from one claim of a verified ID token, and an id the window has no active
account for signs nobody in.

What is checked, each for a reason:
- ``state`` (in the sign-in cookie, compared by the caller): the answer belongs to a sign-in this
  browser started, so another site cannot sign the browser in as someone else;
- PKCE (S256): a code stolen on its way back is useless without the verifier only we hold;
- the ID token's signature, by a key the provider publishes at its ``jwks_uri`` (RS256, ES256 or
  EdDSA; never ``none``, never a symmetric key an attacker could know);
- ``iss`` is the configured issuer, ``aud`` holds our client id (and ``azp`` is ours when there
  are several audiences), ``exp`` not passed and ``iat`` not in the future (a minute's leeway
  for clocks), ``nonce`` the one this sign-in sent: no token minted for another client, another
  sign-in, or long ago is accepted.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from shared.auth.tokens import b64decode, json_segment

log = logging.getLogger("onedoor.window.oidc")
LEEWAY_S = 60
_METADATA_TTL_S = 3600  # the provider's endpoints and keys are re-read hourly (key rotation)


class SignInFailed(Exception):
    """The provider's answer proves nothing. ``reason`` is for the log, never for the page."""


@dataclass(frozen=True)
class Pending:
    """What a started sign-in keeps in its cookie until the provider sends the browser back."""

    state: str
    nonce: str
    verifier: str  # the PKCE code verifier

    @classmethod
    def new(cls) -> Pending:
        return cls(secrets.token_urlsafe(24), secrets.token_urlsafe(24),
                   secrets.token_urlsafe(48))

    @property
    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OpenIDConnect:
    password_form = False

    def __init__(self, issuer: str, client_id: str, client_secret: str | None,
                 client: httpx.AsyncClient, *, username_claim: str = "preferred_username",
                 clock: Callable[[], float] = time.time) -> None:
        self.issuer = issuer.rstrip("/")
        self._client_id = client_id
        self._secret = client_secret
        self._http = client
        self._claim = username_claim
        self._clock = clock
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: dict[str | None, Any] = {}  # by kid (a key may have none)

    # --- the provider's published configuration ---------------------------------------------
    async def _config(self) -> dict[str, Any]:
        if self._metadata is None or time.monotonic() - self._metadata_at > _METADATA_TTL_S:
            url = self.issuer + "/.well-known/openid-configuration"
            metadata = await self._json("GET", url)
            # A document served for another issuer would let that issuer's tokens in.
            if str(metadata.get("issuer", "")).rstrip("/") != self.issuer:
                raise SignInFailed(f"discovery names issuer {metadata.get('issuer')!r}")
            for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(metadata.get(field), str):
                    raise SignInFailed(f"discovery lacks {field}")
            self._metadata, self._metadata_at, self._keys = metadata, time.monotonic(), {}
        return self._metadata

    async def _json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise SignInFailed(f"{url} did not answer: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise SignInFailed(f"{url} answered {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise SignInFailed(f"{url} answered no JSON") from exc
        if not isinstance(body, dict):
            raise SignInFailed(f"{url} answered no JSON object")
        return body

    async def _key(self, kid: str | None) -> Any:
        if kid not in self._keys:
            # An unknown kid: the provider may have rotated its keys since we last looked.
            jwks = await self._json("GET", (await self._config())["jwks_uri"])
            self._keys = {k.get("kid"): k for k in jwks.get("keys", []) if isinstance(k, dict)}
        if kid not in self._keys:
            raise SignInFailed(f"no published key {kid!r}")
        return self._keys[kid]

    # --- the flow ---------------------------------------------------------------------------
    async def begin(self, pending: Pending, redirect_uri: str) -> str:
        """Where to send the browser to sign in."""
        endpoint = (await self._config())["authorization_endpoint"]
        query = urlencode({
            "response_type": "code", "client_id": self._client_id,
            "redirect_uri": redirect_uri, "scope": f"openid profile {self._scope()}".strip(),
            "state": pending.state, "nonce": pending.nonce,
            "code_challenge": pending.challenge, "code_challenge_method": "S256"})
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    def _scope(self) -> str:
        return "" if self._claim in ("preferred_username", "sub") else self._claim

    async def complete(self, code: str, pending: Pending, redirect_uri: str) -> str:
        """The staff id the provider vouches for, or SignInFailed."""
        config = await self._config()
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "client_id": self._client_id, "code_verifier": pending.verifier}
        auth = (self._client_id, self._secret) if self._secret else None
        tokens = await self._json("POST", config["token_endpoint"], data=form, auth=auth,
                                  headers={"Accept": "application/json"})
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise SignInFailed("the token endpoint sent no id_token")
        claims = await self._verified(id_token, pending.nonce)
        staff_id = claims.get(self._claim)
        if not isinstance(staff_id, str) or not staff_id:
            raise SignInFailed(f"the ID token has no {self._claim} claim")
        return staff_id.strip().lower()

    async def _verified(self, token: str, nonce: str) -> dict[str, Any]:
        try:
            head, body, signature = token.split(".")
            header, claims = json_segment(head), json_segment(body)
            raw_signature = b64decode(signature)
        except ValueError as exc:
            raise SignInFailed("the ID token is malformed") from exc
        key = await self._key(header.get("kid"))
        _check_signature(str(header.get("alg")), key, f"{head}.{body}".encode(), raw_signature)
        now = self._clock()
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        problems = [
            what for what, bad in (
                ("iss", str(claims.get("iss", "")).rstrip("/") != self.issuer),
                ("aud", self._client_id not in audiences),
                ("azp", len(audiences) > 1 and claims.get("azp") != self._client_id),
                ("exp", not _number(claims.get("exp")) or claims["exp"] < now - LEEWAY_S),
                ("iat", not _number(claims.get("iat")) or claims["iat"] > now + LEEWAY_S),
                ("nonce", not secrets.compare_digest(str(claims.get("nonce", "")), nonce)),
            ) if bad]
        if problems:
            raise SignInFailed("the ID token's " + ", ".join(problems) + " do not hold")
        return claims


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_signature(alg: str, jwk: dict[str, Any], signed: bytes, signature: bytes) -> None:
    """Verify with the algorithm the key itself is for: a token cannot choose a weaker one."""
    try:
        kty = jwk.get("kty")
        if alg == "RS256" and kty == "RSA":
            public = rsa.RSAPublicNumbers(_uint(jwk["e"]), _uint(jwk["n"])).public_key()
            if public.key_size < 2048:
                raise SignInFailed("the provider's RSA key is shorter than 2048 bits")
            public.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "ES256" and kty == "EC" and jwk.get("crv") == "P-256":
            point = ec.EllipticCurvePublicNumbers(_uint(jwk["x"]), _uint(jwk["y"]), ec.SECP256R1())
            if len(signature) != 64:
                raise SignInFailed("an ES256 signature is 64 bytes")
            der = encode_dss_signature(int.from_bytes(signature[:32], "big"),
                                       int.from_bytes(signature[32:], "big"))
            point.public_key().verify(der, signed, ec.ECDSA(hashes.SHA256()))
        elif alg == "EdDSA" and kty == "OKP" and jwk.get("crv") == "Ed25519":
            Ed25519PublicKey.from_public_bytes(b64decode(jwk["x"])).verify(signature, signed)
        else:
            raise SignInFailed(f"algorithm {alg!r} refused for a {kty} key")
    except InvalidSignature as exc:
        raise SignInFailed("the ID token's signature does not verify") from exc
    except (KeyError, ValueError, TypeError) as exc:
        raise SignInFailed("the provider's key is malformed") from exc


def _uint(text: str) -> int:
    return int.from_bytes(b64decode(text), "big")


def pending_cookie(pending: Pending, next_path: str) -> str:
    """The cookie that carries a started sign-in (and where to go after it) to the callback."""
    return json.dumps([pending.state, pending.nonce, pending.verifier, next_path],
                      separators=(",", ":"))


def pending_from_cookie(value: str | None) -> tuple[Pending, str] | None:
    try:
        state, nonce, verifier, next_path = json.loads(value or "")
    except (ValueError, TypeError):
        return None
    if not all(isinstance(v, str) and 16 <= len(v) <= 100 for v in (state, nonce, verifier)):
        return None
    return Pending(state, nonce, verifier), str(next_path)
