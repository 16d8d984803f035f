"""Signing in to the window through an OpenID Connect provider (issue 6: "an OpenID Connect
provider can be configured instead"), on a real database.

The provider is deploy/oidc_provider.py served by uvicorn on a real port, which the window's OIDC
client reaches over HTTP (discovery, token endpoint, published keys); the browser's part — the
window sending it to the provider, the provider sending it back — is played by following each
redirect by hand, so every hop is checked. Hostile or broken providers are the same provider told
to misbehave: another audience, an expired token, a bad signature, another nonce, a code replayed.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import func, select
from starlette.testclient import TestClient

from deploy.oidc_provider import Provider, build_app
from services.window.adapters.oidc import Pending
from services.window.adapters.tables import sessions
from services.window.bootstrap import create_app
from services.window.entrypoints.i18n import translate
from services.window.service_layer.demo import DEMO_PASSWORD
from shared.bus.broker import free_port
from shared.settings import load_settings

CLIENT_ID, SECRET = "onedoor-window", "window-secret"
SESSION, OIDC = "onedoor_session", "onedoor_oidc"
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    port = free_port()
    pretend = Provider(f"http://127.0.0.1:{port}", CLIENT_ID, SECRET)
    server = uvicorn.Server(uvicorn.Config(build_app(pretend), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the pretend provider did not start"
        time.sleep(0.05)
    yield pretend
    server.should_exit = True
    thread.join(10)


@pytest.fixture(autouse=True)
def behaving(provider: Provider) -> Iterator[None]:
    yield
    provider.tamper, provider.bad_signature = {}, False


@dataclass
class Window:
    app: FastAPI
    http: TestClient

    def sessions(self) -> int:
        with self.app.state.web.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(sessions)).scalar_one())


@pytest.fixture
def window(database_url: str, tmp_path: Path, provider: Provider) -> Iterator[Window]:
    nowhere = f"http://127.0.0.1:{free_port()}"
    app = create_app(load_settings(
        env="test", data_dir=tmp_path, window_database_url=database_url, intake_url=nowhere,
        verification_url=nowhere, approval_url=nowhere, payment_url=nowhere,
        window_identity_provider="oidc", window_oidc_issuer=provider.issuer,
        window_oidc_client_id=CLIENT_ID, window_oidc_client_secret=SECRET))
    with TestClient(app, follow_redirects=False) as http:
        yield Window(app, http)


def says(response: httpx.Response, key: str) -> bool:
    return translate(key, "zh") in response.text


def to_provider(window: Window, next_path: str = "/monitoring") -> tuple[str, dict[str, str]]:
    """The browser follows the window's link to the provider: the authorization URL and its
    query."""
    started = window.http.get("/sign-in/oidc", params={"next": next_path})
    assert started.status_code == 303, started.text
    assert OIDC in started.cookies or OIDC in window.http.cookies
    where = started.headers["location"]
    return where, {k: v[0] for k, v in parse_qs(urlsplit(where).query).items()}


def at_provider(where: str, username: str) -> str:
    """The person identifies at the provider; the provider sends the browser back: the window
    URL it redirects to."""
    with httpx.Client(timeout=10, follow_redirects=False) as browser:
        page = browser.get(where)
        assert page.status_code == 200, page.text
        form: dict[str, Any] = dict(_HIDDEN.findall(page.text))
        form["username"] = username
        back = browser.post(where.split("?")[0], data=form)
    assert back.status_code == 302, back.text
    return back.headers["location"]


def back_at_window(window: Window, location: str) -> httpx.Response:
    parts = urlsplit(location)
    assert parts.path == "/sign-in/oidc/callback", location
    return window.http.get(f"{parts.path}?{parts.query}")


def test_a_person_the_provider_vouches_for_is_signed_in_to_their_own_account(window):
    page = window.http.get("/sign-in")
    assert 'href="/sign-in/oidc?next=' in page.text and 'type="password"' not in page.text
    where, query = to_provider(window)
    assert where.startswith(window.app.state.web.oidc.issuer + "/authorize?")
    # Authorization code with PKCE (S256), a state and a nonce, for our client and callback.
    assert (query["response_type"], query["client_id"], query["code_challenge_method"]) == \
        ("code", CLIENT_ID, "S256")
    assert query["redirect_uri"] == "http://testserver/sign-in/oidc/callback"
    assert "openid" in query["scope"].split()
    assert len(query["state"]) >= 16 and len(query["nonce"]) >= 16
    assert query["code_challenge"] != query["state"]

    done = back_at_window(window, at_provider(where, "c-cixi-001"))
    assert done.status_code == 200, done.text
    # Onwards by a page of the window's own (a redirect would carry on the provider's
    # cross-site navigation, without the SameSite=Strict session cookie).
    assert 'http-equiv="refresh" content="0; url=/monitoring"' in done.text
    assert SESSION in window.http.cookies and window.sessions() == 1
    home = window.http.get("/monitoring")
    assert home.status_code == 200 and "演示窗口受理员（一镇）" in home.text


def test_pkce_challenge_is_the_s256_of_the_verifier():
    # RFC 7636, appendix B.
    pending = Pending("s" * 16, "n" * 16, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
    assert pending.challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_an_answer_for_a_sign_in_this_browser_did_not_start_is_refused(window):
    where, _ = to_provider(window)
    location = at_provider(where, "c-cixi-001")
    # Another browser — an attacker's page sending a victim's browser with the attacker's code.
    stranger = TestClient(window.app, follow_redirects=False)
    parts = urlsplit(location)
    refused = stranger.get(f"{parts.path}?{parts.query}")
    assert refused.status_code == 403 and SESSION not in refused.cookies
    # The right browser, a state that is not its own.
    forged = location.replace("state=", "state=x")
    assert back_at_window(window, forged).status_code == 403
    assert window.sessions() == 0


def test_someone_without_an_active_account_here_is_not_signed_in(window):
    where, _ = to_provider(window)
    refused = back_at_window(window, at_provider(where, "somebody-else"))
    assert refused.status_code == 403 and says(refused, "no_account")
    assert SESSION not in refused.cookies and window.sessions() == 0


@pytest.mark.parametrize("misbehaviour", [
    {"aud": "another-client"},
    {"iss": "http://127.0.0.1:1/elsewhere"},
    {"exp": 1_000_000_000, "iat": 999_999_000},  # 2001
    {"iat": 4_000_000_000, "exp": 4_000_000_300},  # 2096
    {"nonce": "not-the-nonce-this-sign-in-sent"},
    {"aud": [CLIENT_ID, "another-client"], "azp": "another-client"},
    {"preferred_username": None},
    "bad_signature",
], ids=["audience", "issuer", "expired", "issued-in-future", "nonce", "azp", "no-username",
        "signature"])
def test_an_id_token_that_does_not_hold_signs_nobody_in(window, provider, misbehaviour):
    if misbehaviour == "bad_signature":
        provider.bad_signature = True
    else:
        provider.tamper = dict(misbehaviour)
    where, _ = to_provider(window)
    refused = back_at_window(window, at_provider(where, "c-cixi-001"))
    assert refused.status_code == 401 and says(refused, "oidc_failed"), refused.text
    assert SESSION not in refused.cookies and window.sessions() == 0


def test_the_same_answer_cannot_sign_in_twice(window):
    where, _ = to_provider(window)
    location = at_provider(where, "c-cixi-001")
    assert back_at_window(window, location).status_code == 200
    # The sign-in cookie is gone, and the code was spent at the provider.
    window.http.cookies.clear()
    assert back_at_window(window, location).status_code == 403
    assert window.sessions() == 1


def test_passwords_are_refused_when_the_provider_signs_people_in(window):
    form = window.http.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]*)"', form.text)
    assert token is None  # no password form to fill in
    window.http.cookies.set("onedoor_sign_in", "t" * 43, path="/sign-in")
    refused = window.http.post("/sign-in", data={
        "account": "c-cixi-001", "password": DEMO_PASSWORD, "csrf_token": "t" * 43})
    assert refused.status_code == 401 and SESSION not in refused.cookies
    assert window.sessions() == 0


def test_a_provider_that_does_not_answer_is_said_so(database_url, tmp_path):
    app = create_app(load_settings(
        env="test", data_dir=tmp_path, window_database_url=database_url,
        window_identity_provider="oidc", window_oidc_issuer=f"http://127.0.0.1:{free_port()}",
        window_oidc_client_id=CLIENT_ID))
    with TestClient(app, follow_redirects=False) as http:
        answer = http.get("/sign-in/oidc")
    assert answer.status_code == 502 and says(answer, "oidc_failed")


def test_oidc_without_an_issuer_refuses_to_start(tmp_path):
    with pytest.raises(ValueError, match="ONEDOOR_WINDOW_OIDC_ISSUER"):
        create_app(load_settings(env="test", data_dir=tmp_path,
                                 window_identity_provider="oidc"))
