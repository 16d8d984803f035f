"""The window's sign-in and sessions over HTTP, on a real database (SQLite and PostgreSQL).

Each test starts the whole application with its lifespan (migrations, demo accounts) and drives
it with starlette's TestClient, never following redirects: where a response sends the browser is
part of what is checked. Time is the clock the application exposes (``app.state.web.now``),
moved by the tests instead of sleeping. The other services are not running and their URLs point
at a closed port: the pages used here either call none of them or show what they can without
them (the browser test, tests/e2e/test_window_browser.py, runs the whole system).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from sqlalchemy import Engine, Table, func, select
from starlette.testclient import TestClient

from deploy.households import resident_id
from services.window.adapters.passwords import verify_password
from services.window.adapters.tables import sessions, sign_in_failures, staff_accounts
from services.window.bootstrap import create_app
from services.window.domain.accounts import STAFF_ROLES, StaffAccount
from services.window.entrypoints.i18n import translate
from services.window.service_layer import signin
from services.window.service_layer.demo import DEMO_ACCOUNTS, DEMO_PASSWORD
from services.window.service_layer.identity import IdentityProvider
from shared.auth.principals import Role
from shared.bus.broker import free_port
from shared.settings import Settings, load_settings

START = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)  # 09:30 at a window in China
IDLE = timedelta(minutes=30)
LIFETIME = timedelta(hours=10)
MAX_FAILURES = 3
LOCKOUT = timedelta(minutes=15)
SESSION = "onedoor_session"
SIGN_IN_CSRF = "onedoor_sign_in"
CLERK = "c-cixi-001"
OTHER_CLERK = "c-cixi-002"
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')
_NEXT_FIELD = re.compile(r'name="next" value="([^"]*)"')
# Targets a `next` must never send the browser to. Browsers read "\" as "/" in a URL, so a
# backslash can make "//" out of what looks like a path.
OFF_SITE = ("//evil.example", "//evil.example/cases", "https://evil.example",
            "https://evil.example/sign-in", "\\\\evil.example", "/\\evil.example",
            "\\/evil.example", "http:evil.example", "javascript:alert(1)", "evil.example")


class Clock:
    """The application's clock, moved by hand."""

    def __init__(self, start: datetime) -> None:
        self.at = start

    def __call__(self) -> datetime:
        return self.at

    def advance(self, by: timedelta) -> None:
        self.at += by


@dataclass
class Window:
    app: FastAPI
    http: TestClient  # the first browser; it ran the lifespan
    clock: Clock

    @property
    def engine(self) -> Engine:
        return self.app.state.web.engine  # type: ignore[no-any-return]

    def browser(self) -> TestClient:
        """Another browser, with cookies of its own, on the same running application."""
        return TestClient(self.app, follow_redirects=False, base_url=str(self.http.base_url))

    def count(self, table: Table, **where: object) -> int:
        query = select(func.count()).select_from(table)
        for column, value in where.items():
            query = query.where(table.c[column] == value)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())


class CountingChecks:
    """The identity provider, counting the passwords it is asked to check."""

    def __init__(self, provider: IdentityProvider) -> None:
        self.provider = provider
        self.password_form = provider.password_form
        self.count = 0
        self._lock = threading.Lock()

    def check_password(self, password: str, stored_hash: str | None) -> bool:
        with self._lock:
            self.count += 1
        return self.provider.check_password(password, stored_hash)


def _settings(database_url: str, tmp_path: Path, **overrides: object) -> Settings:
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens: the services are down
    values: dict[str, object] = {
        "env": "test", "data_dir": tmp_path, "window_database_url": database_url,
        "intake_url": nowhere, "verification_url": nowhere, "approval_url": nowhere,
        "payment_url": nowhere,
        "window_session_idle_minutes": IDLE.total_seconds() / 60,
        "window_session_max_hours": LIFETIME.total_seconds() / 3600,
        "window_sign_in_max_failures": MAX_FAILURES,
        "window_sign_in_lockout_minutes": LOCKOUT.total_seconds() / 60,
        **overrides}
    return load_settings(**values)


@pytest.fixture
def window(database_url: str, tmp_path: Path) -> Iterator[Window]:
    app = create_app(_settings(database_url, tmp_path))
    clock = Clock(START)
    app.state.web.now = clock
    with TestClient(app, follow_redirects=False) as http:
        yield Window(app, http, clock)


# --- helpers ---------------------------------------------------------------------------------

def cookies_set(response: httpx.Response) -> dict[str, tuple[str, dict[str, str]]]:
    """Each Set-Cookie of a response: name → (value, {attribute (lower case): value})."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        first, *attributes = (part.strip() for part in header.split(";"))
        name, _, value = first.partition("=")
        found[name] = (value, {key.lower(): val for key, _, val in
                               (attribute.partition("=") for attribute in attributes)})
    return found


def session_of(response: httpx.Response, name: str = SESSION) -> str:
    value, attributes = cookies_set(response)[name]
    assert value and "max-age" not in attributes, response.headers
    return value


def deletes(response: httpx.Response, name: str = SESSION) -> bool:
    """Whether the response tells the browser to drop that cookie."""
    found = cookies_set(response).get(name)
    return found is not None and found[1].get("max-age") == "0"


def field(pattern: re.Pattern[str], page: httpx.Response) -> str:
    found = pattern.search(page.text)
    assert found, f"no such field in {page.request.url}: {page.text[:300]}"
    return found.group(1)


def says(response: httpx.Response, key: str) -> bool:
    return translate(key, "zh") in response.text


def sign_in(http: TestClient, account: str, password: str = DEMO_PASSWORD,
            next_path: str | None = None) -> httpx.Response:
    """As a person does it: the form first (its token and cookie), then the POST."""
    form = http.get("/sign-in")
    assert form.status_code == 200
    data = {"account": account, "password": password, "csrf_token": field(_CSRF_FIELD, form)}
    if next_path is not None:
        data["next"] = next_path
    return http.post("/sign-in", data=data)


def signed_in(http: TestClient, account: str) -> str:
    """Signs in and answers the session cookie's value."""
    response = sign_in(http, account)
    assert response.status_code == 303, response.text
    return session_of(response)


def with_session(value: str) -> dict[str, str]:
    """The request headers of a browser holding this session cookie (and no other)."""
    return {"Cookie": f"{SESSION}={value}"}


def is_sign_in_redirect(response: httpx.Response, next_path: str, *, expired: bool) -> bool:
    if response.status_code != 303:
        return False
    where = urlsplit(response.headers["location"])
    query = parse_qs(where.query)
    return (where.path == "/sign-in" and query.get("next") == [next_path]
            and ("expired" in query) == expired)


def stays_here(location: str) -> bool:
    """A Location a browser resolves to this site: a path, without "//" or "\\" to escape by."""
    parts = urlsplit(location)
    return (location.startswith("/") and not location.startswith("//") and "\\" not in location
            and not parts.scheme and not parts.netloc)


# --- accounts and passwords ------------------------------------------------------------------

def test_each_demo_account_exists_and_signs_in_with_the_demo_password_only(window):
    with window.engine.connect() as conn:
        rows = {r.staff_id: r for r in conn.execute(select(staff_accounts))}
    assert set(rows) == {a.staff_id for a in DEMO_ACCOUNTS}
    assert {Role(r.role) for r in rows.values()} == set(STAFF_ROLES)  # someone of every role
    for account in DEMO_ACCOUNTS:
        row = rows[account.staff_id]
        assert (Role(row.role), row.jurisdiction, row.active) == \
            (account.role, account.jurisdiction, True)

        wrong = window.browser()
        refused = sign_in(wrong, account.staff_id, DEMO_PASSWORD + "x")
        assert refused.status_code == 401 and says(refused, "bad_credentials")
        assert SESSION not in cookies_set(refused)
        assert wrong.get("/monitoring").status_code == 303  # still nobody

        person = window.browser()
        done = sign_in(person, account.staff_id)
        assert done.status_code == 303 and done.headers["location"] == "/"
        session_of(done)
        page = person.get("/")  # every role's home page (a policy officer has no monitoring)
        assert page.status_code == 200
        assert account.display_name in page.text
    assert window.count(sessions) == len(DEMO_ACCOUNTS)
    with window.engine.connect() as conn:
        assert all(conn.execute(select(staff_accounts.c.last_sign_in_at)).scalars())


def test_passwords_are_stored_as_salted_scrypt_hashes_and_sessions_by_hash(window):
    cookie = signed_in(window.http, CLERK)
    with window.engine.connect() as conn:
        hashes = list(conn.execute(select(staff_accounts.c.password_hash)).scalars())
        stored_sessions = list(conn.execute(select(sessions.c.session_hash)).scalars())
        everything = [str(row) for table in (staff_accounts, sessions, sign_in_failures)
                      for row in conn.execute(select(table))]
    assert len(hashes) == len(DEMO_ACCOUNTS)
    assert all(h.startswith("scrypt$") and DEMO_PASSWORD not in h for h in hashes)
    assert len(set(hashes)) == len(hashes)  # one password, as many salts
    assert all(verify_password(DEMO_PASSWORD, h) for h in hashes)
    assert not any(DEMO_PASSWORD in text or cookie in text for text in everything)
    # The session row holds the cookie's SHA-256: a copy of the table signs nobody in.
    assert stored_sessions == [hashlib.sha256(cookie.encode()).hexdigest()]


# --- signing in is needed --------------------------------------------------------------------

def test_pages_need_sign_in_and_sign_in_returns_to_the_page_asked_for(window):
    http = window.http
    for path in ("/", "/monitoring", "/cases", "/applications/new", "/cases/ABC-1",
                 "/cases/ABC-1/receipt", "/notices"):
        response = http.get(path)
        assert is_sign_in_redirect(response, path, expired=False), (path, response.headers)
    # A POST is not replayed after sign-in: it goes home afterwards.
    assert is_sign_in_redirect(http.post("/sign-out", data={"csrf_token": "x"}), "/",
                               expired=False)
    assert is_sign_in_redirect(http.post("/applications/new", data={}), "/", expired=False)
    # A cookie the window never issued is treated as a session that has ended, and dropped.
    forged = http.get("/monitoring", headers=with_session("made-up-session-id"))
    assert is_sign_in_redirect(forged, "/monitoring", expired=True) and deletes(forged)

    # The page's filters come back with it.
    filtered = "/cases?stage=under_notice&overdue=true"
    assert is_sign_in_redirect(http.get(filtered), filtered, expired=False)

    form = http.get("/sign-in", params={"next": "/applications/new"})
    assert field(_NEXT_FIELD, form) == "/applications/new"
    done = sign_in(http, CLERK, next_path="/applications/new")
    assert done.status_code == 303 and done.headers["location"] == "/applications/new"
    assert http.get("/applications/new").status_code == 200


# --- forged forms ----------------------------------------------------------------------------

def test_a_post_without_the_sessions_csrf_token_is_refused_and_changes_nothing(window):
    http = window.http
    cookie = signed_in(http, CLERK)
    token = field(_CSRF_FIELD, http.get("/monitoring"))
    other = window.browser()
    signed_in(other, OTHER_CLERK)
    others_token = field(_CSRF_FIELD, other.get("/monitoring"))
    assert token != others_token

    for sent in ({}, {"csrf_token": ""}, {"csrf_token": "not-the-token"},
                 {"csrf_token": token[:-1]}, {"csrf_token": others_token}):
        refused = http.post("/sign-out", data=sent)
        assert refused.status_code == 403 and says(refused, "csrf"), (sent, refused.text)
        assert not deletes(refused)
        # Refused before intake was asked (it is down: asking would have been a 502).
        assert http.post("/applications/new", data=sent).status_code == 403
        assert http.post("/cases/ABC-1/actions/accept", data=sent).status_code == 403
        assert http.post("/cases/person-search",
                         data={**sent, "resident_id": "11010519491231002X"}).status_code == 403
    # Still signed in, both of them: no forged sign-out ended a session.
    assert window.count(sessions) == 2
    assert http.get("/monitoring").status_code == 200
    assert other.get("/monitoring").status_code == 200
    # The session's own token is taken (the control: the refusals above were the token's).
    assert http.post("/applications/new", data={"csrf_token": token}).status_code == 422
    out = http.post("/sign-out", data={"csrf_token": token})
    assert out.status_code == 303 and deletes(out)
    assert window.count(sessions) == 1
    assert window.count(sessions, session_hash=hashlib.sha256(cookie.encode()).hexdigest()) == 0


def test_sign_in_itself_needs_the_forms_token_and_cookie(window):
    http = window.http
    token = field(_CSRF_FIELD, http.get("/sign-in"))
    stranger = window.browser()
    strangers_token = field(_CSRF_FIELD, stranger.get("/sign-in"))
    assert token != strangers_token
    right = {"account": CLERK, "password": DEMO_PASSWORD}

    attempts = [
        (http, {**right}),  # no token in the form
        (http, {**right, "csrf_token": ""}),
        (http, {**right, "csrf_token": strangers_token}),  # another browser's token
        (window.browser(), {**right, "csrf_token": token}),  # the token without its cookie
    ]
    for browser, data in attempts:
        refused = browser.post("/sign-in", data=data)
        assert refused.status_code == 403 and says(refused, "csrf"), refused.text
        assert SESSION not in cookies_set(refused)
    # Nothing happened: no session, no failure counted against the account, no sign-in noted.
    assert window.count(sessions) == 0 and window.count(sign_in_failures) == 0
    with window.engine.connect() as conn:
        assert conn.execute(select(staff_accounts.c.last_sign_in_at).where(
            staff_accounts.c.staff_id == CLERK)).scalar_one() is None

    done = http.post("/sign-in", data={**right, "csrf_token": token})
    assert done.status_code == 303 and deletes(done, SIGN_IN_CSRF)
    session_of(done)
    assert window.count(sessions) == 1


# --- throttling ------------------------------------------------------------------------------

def test_repeated_wrong_passwords_lock_the_account_until_the_lockout_passes(window):
    http = window.http
    for attempt in range(1, MAX_FAILURES + 1):
        refused = sign_in(http, CLERK, f"wrong-{attempt}")
        assert refused.status_code == 401
        assert says(refused, "locked" if attempt == MAX_FAILURES else "bad_credentials")
    # Locked: the right password is refused too, and the page says why.
    locked = sign_in(http, CLERK)
    assert locked.status_code == 401 and says(locked, "locked")
    assert SESSION not in cookies_set(locked) and window.count(sessions) == 0
    # One account, not the office: another clerk signs in meanwhile.
    assert sign_in(window.browser(), OTHER_CLERK).status_code == 303

    window.clock.advance(LOCKOUT - timedelta(seconds=1))
    assert says(sign_in(http, CLERK), "locked")
    assert says(sign_in(http, CLERK.upper()), "locked")  # the same account, typed otherwise
    window.clock.advance(timedelta(seconds=1))
    done = sign_in(http, CLERK)
    assert done.status_code == 303
    session_of(done)
    assert window.count(sign_in_failures, account=CLERK) == 0  # a success forgives


def test_an_unknown_account_locks_like_a_real_one_so_the_lockout_tells_nothing(window):
    for attempt in range(MAX_FAILURES):
        refused = sign_in(window.http, "nobody-here", f"guess-{attempt}")
        assert refused.status_code == 401
    assert says(sign_in(window.http, "nobody-here", "another"), "locked")


def test_failures_older_than_the_lockout_time_are_forgiven(window):
    http = window.http
    for attempt in range(MAX_FAILURES - 1):
        assert says(sign_in(http, CLERK, f"typo-{attempt}"), "bad_credentials")
    window.clock.advance(LOCKOUT)
    for attempt in range(MAX_FAILURES - 1):
        assert says(sign_in(http, CLERK, f"typo-again-{attempt}"), "bad_credentials")
    assert sign_in(http, CLERK).status_code == 303


def test_a_burst_of_concurrent_guesses_gets_no_more_tries_than_the_limit(window):
    """Every guess is counted before its password is checked, in a transaction holding the
    account's row: the guesses in flight together cannot all pass the check, nor overwrite one
    another's count (PostgreSQL runs them side by side)."""
    http = window.http
    web = window.app.state.web
    web.provider = checks = CountingChecks(web.provider)
    token = field(_CSRF_FIELD, http.get("/sign-in"))
    guesses = 4 * MAX_FAILURES

    def guess(number: int) -> httpx.Response:
        # Every failure page sets a fresh sign-in cookie; each guess sends the first pair.
        return http.post("/sign-in", headers={"Cookie": f"{SIGN_IN_CSRF}={token}"},
                         data={"account": CLERK, "password": f"guess-{number}",
                               "csrf_token": token})

    with ThreadPoolExecutor(guesses) as pool:
        answers = list(pool.map(guess, range(guesses)))
    assert [a.status_code for a in answers] == [401] * guesses
    assert checks.count == MAX_FAILURES, "more passwords were tried than the limit allows"
    assert sum(says(a, "bad_credentials") for a in answers) == MAX_FAILURES - 1
    assert sum(says(a, "locked") for a in answers) == guesses - MAX_FAILURES + 1
    with window.engine.connect() as conn:
        failures = conn.execute(select(sign_in_failures.c.failures).where(
            sign_in_failures.c.account == CLERK)).scalar_one()
    assert failures == MAX_FAILURES
    assert says(sign_in(http, CLERK), "locked")


# --- sessions end ----------------------------------------------------------------------------

def test_a_session_ends_after_the_idle_time_without_a_request(window):
    http = window.http
    cookie = signed_in(http, CLERK)
    for _ in range(3):  # each request within the idle time keeps it going
        window.clock.advance(IDLE - timedelta(seconds=1))
        assert http.get("/monitoring").status_code == 200
    window.clock.advance(IDLE)
    ended = http.get("/monitoring")
    assert is_sign_in_redirect(ended, "/monitoring", expired=True) and deletes(ended)
    assert window.count(sessions) == 0  # deleted on sight, not merely refused
    # The same cookie once more: still nobody (its row is gone, not just out of date).
    assert http.get("/monitoring", headers=with_session(cookie)).status_code == 303
    page = http.get(ended.headers["location"])
    assert page.status_code == 200 and says(page, "expired")


def test_a_session_ends_at_its_maximum_age_however_busy(window):
    http = window.http
    signed_in(http, CLERK)
    step = timedelta(minutes=25)
    while window.clock.at + step < START + LIFETIME:
        window.clock.advance(step)
        assert http.get("/monitoring").status_code == 200, window.clock.at
    window.clock.at = START + LIFETIME - timedelta(seconds=1)
    assert http.get("/monitoring").status_code == 200
    window.clock.advance(timedelta(seconds=1))  # seen a second ago, but the day is over
    ended = http.get("/monitoring")
    assert is_sign_in_redirect(ended, "/monitoring", expired=True) and deletes(ended)
    assert window.count(sessions) == 0


def test_sign_out_ends_the_session_on_the_server(window):
    http = window.http
    cookie = signed_in(http, CLERK)
    token = field(_CSRF_FIELD, http.get("/monitoring"))
    out = http.post("/sign-out", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"] == "/sign-in" and deletes(out)
    assert window.count(sessions) == 0
    # A copy of the cookie (kept by the browser, or by someone who took it) is worth nothing.
    again = http.get("/monitoring", headers=with_session(cookie))
    assert is_sign_in_redirect(again, "/monitoring", expired=True)
    replayed = http.post("/sign-out", headers=with_session(cookie), data={"csrf_token": token})
    assert is_sign_in_redirect(replayed, "/", expired=True)


def test_signing_in_ends_the_session_the_browser_held_before(window):
    """The session id changes at sign-in: an id planted in a browser before is worth nothing."""
    http = window.http
    first = signed_in(http, CLERK)
    second = signed_in(http, OTHER_CLERK)  # the browser still sends the first cookie
    assert second != first
    assert window.count(sessions) == 1
    assert http.get("/monitoring", headers=with_session(first)).status_code == 303
    page = http.get("/monitoring", headers=with_session(second))
    assert page.status_code == 200 and "演示窗口受理员（二镇）" in page.text


def test_a_disabled_account_loses_its_session(window):
    http = window.http
    signed_in(http, CLERK)
    with window.engine.begin() as conn:
        conn.execute(staff_accounts.update().where(staff_accounts.c.staff_id == CLERK)
                     .values(active=False))
    assert is_sign_in_redirect(http.get("/monitoring"), "/monitoring", expired=True)
    refused = sign_in(http, CLERK)
    assert refused.status_code == 401 and says(refused, "bad_credentials")


# --- redirects -------------------------------------------------------------------------------

def test_next_never_sends_the_browser_off_site(window):
    http = window.http
    for target in OFF_SITE:
        form = http.get("/sign-in", params={"next": target})
        assert field(_NEXT_FIELD, form) == "/", target
        done = sign_in(http, CLERK, next_path=target)
        assert done.status_code == 303 and done.headers["location"] == "/", target
        switched = http.get("/lang/en", params={"next": target})
        assert switched.status_code == 303 and switched.headers["location"] == "/", target
    # Whatever a path holds, the Location stays a path of this site.
    for target in ("/\t/evil.example", "/%2F%2Fevil.example", "/ /evil.example"):
        location = sign_in(http, CLERK, next_path=target).headers["location"]
        assert stays_here(location), (target, location)
    # The control: a path of this site is where it goes.
    done = sign_in(http, CLERK, next_path="/cases?stage=submitted")
    assert done.headers["location"] == "/cases?stage=submitted"
    assert http.get("/lang/zh", params={"next": "/notices"}).headers["location"] == "/notices"


# --- headers and cookies ---------------------------------------------------------------------

def test_every_page_carries_the_security_headers_and_is_not_cached(window):
    http = window.http
    answers = {"sign-in page": http.get("/sign-in"),
               "redirect to sign-in": http.get("/"),
               "refused sign-in": http.post("/sign-in", data={"account": "x", "password": "y"})}
    signed_in(http, CLERK)
    answers |= {"signed-in page": http.get("/monitoring"),
                "page whose services are down": http.get("/cases/ABC-1"),
                "not found": http.get("/cases/ABC-1/nothing-here"),
                "health": http.get("/health")}
    assert answers["refused sign-in"].status_code == 403
    assert answers["page whose services are down"].status_code == 502
    for what, response in answers.items():
        headers = response.headers
        policy = {d.split()[0]: d.split()[1:] for d in
                  headers["content-security-policy"].split(";") if d.strip()}
        assert policy["default-src"] == ["'self'"], what
        assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"], what
        assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"]
        assert policy["form-action"] == ["'self'"] and policy["base-uri"] == ["'none'"]
        assert "unsafe-inline" not in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY", what
        assert headers["x-content-type-options"] == "nosniff", what
        assert headers["referrer-policy"] == "same-origin", what
        assert headers["cache-control"] == "no-store", what
    # Static files may be cached (they hold nobody's data), but are typed all the same.
    style = http.get("/static/app.css")
    assert style.status_code == 200 and style.headers["x-content-type-options"] == "nosniff"
    assert style.headers.get("cache-control") != "no-store"


def test_the_session_and_sign_in_cookies_are_httponly_and_samesite_strict(window):
    form = window.http.get("/sign-in")
    _, token_flags = cookies_set(form)[SIGN_IN_CSRF]
    assert "httponly" in token_flags and token_flags["samesite"].lower() == "strict"
    assert token_flags["path"] == "/sign-in"

    done = sign_in(window.http, CLERK)
    _, flags = cookies_set(done)[SESSION]
    assert "httponly" in flags and flags["samesite"].lower() == "strict"
    assert flags["path"] == "/" and "domain" not in flags
    # Gone with the browser: no lifetime of its own (the server ends the session sooner).
    assert "max-age" not in flags and "expires" not in flags


def test_in_production_the_session_cookie_is_secure_and_host_only(database_url, tmp_path):
    key = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    app = create_app(_settings(database_url, tmp_path, env="production", auth_signing_key=key,
                               pseudonym_key="a-test-pseudonym-key",
                               payment_account_key="a-test-payment-account-key"))
    with TestClient(app, base_url="https://window.example", follow_redirects=False) as http:
        web = app.state.web
        # Production never makes the demonstration accounts.
        assert Window(app, http, Clock(START)).count(staff_accounts) == 0
        signin.ensure_accounts(web.engine, [(StaffAccount(CLERK, Role.WINDOW_CLERK, "330282001",
                                                          "测试受理员"), "a long passphrase")],
                               web.now())
        form = http.get("/sign-in")
        _, token_flags = cookies_set(form)[SIGN_IN_CSRF]
        assert "secure" in token_flags and "httponly" in token_flags
        done = sign_in(http, CLERK, "a long passphrase")
        assert done.status_code == 303
        found = cookies_set(done)
        assert SESSION not in found
        _, flags = found["__Host-onedoor_session"]
        assert {"secure", "httponly"} <= set(flags) and flags["samesite"].lower() == "strict"
        assert flags["path"] == "/" and "domain" not in flags
        assert http.get("/monitoring").status_code == 200


# --- language --------------------------------------------------------------------------------

def test_the_language_switches_to_english_and_back(window):
    http = window.http
    first = http.get("/sign-in")
    assert '<html lang="zh-CN">' in first.text and translate("sign_in", "zh") in first.text

    switched = http.get("/lang/en", params={"next": "/sign-in"})
    assert switched.status_code == 303 and switched.headers["location"] == "/sign-in"
    value, _ = cookies_set(switched)["onedoor_lang"]
    assert value == "en"
    page = http.get("/sign-in")
    assert '<html lang="en">' in page.text and ">Sign in</button>" in page.text
    assert translate("sign_in", "zh") + "</button>" not in page.text
    refused = sign_in(http, CLERK, "wrong")
    assert "Wrong account or password." in refused.text

    signed_in(http, CLERK)
    home = http.get("/monitoring")
    assert '<html lang="en">' in home.text and "Sign out" in home.text
    assert translate("warnings", "en") in home.text and translate("leads", "en") in home.text

    # An unknown language changes nothing; Chinese comes back on request.
    assert "onedoor_lang" not in cookies_set(http.get("/lang/fr", params={"next": "/"}))
    assert '<html lang="en">' in http.get("/monitoring").text
    http.get("/lang/zh", params={"next": "/monitoring"})
    assert '<html lang="zh-CN">' in http.get("/monitoring").text


# --- the new-application form ----------------------------------------------------------------

def test_a_disability_grade_that_is_not_a_number_is_named_on_the_form_not_a_500(window):
    http = window.http
    signed_in(http, CLERK)
    token = field(_CSRF_FIELD, http.get("/applications/new"))
    page = http.post("/applications/new", data={
        "csrf_token": token, "region_code": "330282", "programme": "dibao",
        "m0_name": "孙七", "m0_resident_id": resident_id("330282", date(1958, 6, 6), 53),
        "m0_relation": "applicant", "m0_disability_grade": "abc"})
    # Refused by the window itself: intake is down, and asking it would have been a 502.
    assert page.status_code == 422, page.text
    assert 'id="m0_disability_grade-error"' in page.text
    assert 'href="#m0_disability_grade"' in page.text
    assert "abc" not in page.text


def test_control_and_bidi_characters_are_refused_on_the_form_and_not_shown_again(window):
    http = window.http
    signed_in(http, CLERK)
    for hostile in ("孙\u0000七", "孙\u001b[31m七", "孙\u202e七"):
        token = field(_CSRF_FIELD, http.get("/applications/new"))
        page = http.post("/applications/new", data={
            "csrf_token": token, "region_code": "330282", "programme": "temporary",
            "m0_name": hostile, "m0_resident_id": resident_id("330282", date(1958, 6, 6), 55),
            "m0_relation": "applicant", "tmp_kind": "emergency", "tmp_cause": "fire",
            "tmp_yuan": "100", "tmp_description": "火灾\r\n" + hostile})
        # Refused by the window itself: intake is down, and asking it would have been a 502.
        assert page.status_code == 422, page.text
        assert 'id="m0_name-error"' in page.text, page.text[page.text.find('role="alert"'):][:800]
        assert 'id="tmp_description-error"' in page.text
        assert "不能包含控制字符" in page.text
        assert hostile not in page.text and "\u0000" not in page.text


def test_the_windows_health_has_every_services_shape_without_a_bus(window):
    """The window publishes and consumes nothing; its /health says so in the fields every
    service's /health has (shared/service.py), so one tool reads them all."""
    answer = window.http.get("/health")
    assert answer.status_code == 200
    assert answer.json() == {"service": "window", "status": "ok", "uses_bus": False,
                             "broker_epoch": None, "consumer": None, "dead_lettered": 0}
