"""A pretend OpenID Connect provider, for development and tests of the window's OIDC sign-in.

It is what a province's single sign-on looks like from the window: discovery, an authorization
page where a person types who they are, a token endpoint that checks the client's secret, the
redirect URI and the PKCE verifier, and ID tokens signed RS256 with a key published at
``/jwks``. It asks no password — it stands in for a real provider, it is not one.

    python -m deploy.oidc_provider --port 8900 --client-id onedoor-window --client-secret s3cret
    ONEDOOR_WINDOW_IDENTITY_PROVIDER=oidc ONEDOOR_WINDOW_OIDC_ISSUER=http://127.0.0.1:8900 \
      ONEDOOR_WINDOW_OIDC_CLIENT_ID=onedoor-window ONEDOOR_WINDOW_OIDC_CLIENT_SECRET=s3cret make up

``build_app(issuer, client_id, client_secret, tamper=...)`` lets a test make it misbehave the
way a hostile or broken provider would (another audience, a stale token, a bad signature…).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64int(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass
class Provider:
    issuer: str
    client_id: str
    client_secret: str
    # claims to change in the next ID tokens (a test's hostile provider): {"aud": "other"}…
    tamper: dict[str, Any] = field(default_factory=dict)
    bad_signature: bool = False
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))
    kid: str = field(default_factory=lambda: secrets.token_hex(8))
    codes: dict[str, dict[str, str]] = field(default_factory=dict)

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        return {"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
                          "n": _b64int(numbers.n), "e": _b64int(numbers.e)}]}

    def id_token(self, username: str, nonce: str) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": hashlib.sha256(username.encode()).hexdigest()[:20],
                  "aud": self.client_id, "iat": now, "exp": now + 300, "nonce": nonce,
                  "preferred_username": username, **self.tamper}
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing_input = (_b64(json.dumps(header).encode()) + "."
                         + _b64(json.dumps(claims).encode()))
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        if self.bad_signature:
            signature = bytes([signature[0] ^ 1]) + signature[1:]
        return f"{signing_input}.{_b64(signature)}"


def build_app(provider: Provider) -> FastAPI:
    app = FastAPI(title="Pretend OpenID Connect provider", docs_url=None, redoc_url=None)
    app.state.provider = provider

    @app.get("/.well-known/openid-configuration")
    def discovery() -> dict[str, Any]:
        return {"issuer": provider.issuer,
                "authorization_endpoint": provider.issuer + "/authorize",
                "token_endpoint": provider.issuer + "/token",
                "jwks_uri": provider.issuer + "/jwks",
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"]}

    @app.get("/jwks")
    def jwks() -> dict[str, Any]:
        return provider.jwks()

    @app.get("/authorize", response_class=HTMLResponse)
    def authorize_page(request: Request) -> str:
        q = request.query_params
        if q.get("client_id") != provider.client_id or q.get("response_type") != "code":
            raise HTTPException(400, "unknown client or response type")
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            raise HTTPException(400, "PKCE (S256) is required")
        hidden = "".join(f'<input type="hidden" name="{k}" value="{html.escape(v)}">'
                         for k, v in q.items())
        return ("<!doctype html><html lang=en><title>Pretend provider</title>"
                "<h1>Pretend identity provider</h1><form method=post action=/authorize>"
                f"{hidden}<label for=username>Username</label>"
                "<input id=username name=username autocomplete=off required>"
                "<button type=submit>Continue</button></form></html>")

    @app.post("/authorize")
    def authorize(username: Annotated[str, Form()], redirect_uri: Annotated[str, Form()],
                  state: Annotated[str, Form()], nonce: Annotated[str, Form()],
                  code_challenge: Annotated[str, Form()]) -> RedirectResponse:
        code = secrets.token_urlsafe(24)
        provider.codes[code] = {"username": username, "redirect_uri": redirect_uri,
                                "nonce": nonce, "challenge": code_challenge}
        sep = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{sep}{urlencode({'code': code, 'state': state})}",
                                status_code=302)

    @app.post("/token")
    async def token(request: Request) -> JSONResponse:
        form = await request.form()
        basic = request.headers.get("authorization", "")
        expected = "Basic " + base64.b64encode(
            f"{provider.client_id}:{provider.client_secret}".encode()).decode()
        if not secrets.compare_digest(basic, expected):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = provider.codes.pop(str(form.get("code")), None)  # a code works once
        verifier = str(form.get("code_verifier", ""))
        challenge = _b64(hashlib.sha256(verifier.encode()).digest())
        if (grant is None or form.get("redirect_uri") != grant["redirect_uri"]
                or not secrets.compare_digest(challenge, grant["challenge"])):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        return JSONResponse({"access_token": secrets.token_urlsafe(24), "token_type": "Bearer",
                             "expires_in": 300,
                             "id_token": provider.id_token(grant["username"], grant["nonce"])})

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--client-id", default="onedoor-window")
    parser.add_argument("--client-secret", default="dev-secret")
    args = parser.parse_args()
    provider = Provider(f"http://127.0.0.1:{args.port}", args.client_id, args.client_secret)
    uvicorn.run(build_app(provider), host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
