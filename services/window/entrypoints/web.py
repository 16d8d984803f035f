"""What every page shares: who is signed in, the form-forgery check, rendering, error pages.

Sessions are server-side (services/window/service_layer/signin.py); the cookie holds only a
random id, HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it) and
Secure in production. Every POST carries the session's CSRF token in a hidden field, compared in
constant time: SameSite alone is not enough on older browsers, or for a sibling subdomain.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from starlette.datastructures import FormData

from services.window.adapters.oidc import OpenIDConnect
from services.window.adapters.services import Answer, Services, Unreachable
from services.window.domain.accounts import SessionPolicy, StaffAccount, Throttle
from services.window.entrypoints.i18n import LANGS, label, translate
from services.window.service_layer import signin
from services.window.service_layer.identity import IdentityProvider
from shared import clock
from shared.auth.permissions import PERMISSIONS
from shared.settings import Settings

LANG_COOKIE = "onedoor_lang"
SIGN_IN_CSRF_COOKIE = "onedoor_sign_in"
CASE_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z-]{0,39}")  # never a path of the services' URLs


@dataclass
class Web:
    """The window's running parts, at ``app.state.web``."""

    settings: Settings
    engine: Engine
    provider: IdentityProvider
    oidc: OpenIDConnect | None  # set when an OpenID Connect provider signs people in
    services: Services
    templates: Jinja2Templates
    sessions: SessionPolicy
    throttle: Throttle
    now: Callable[[], datetime]  # a clock the tests can move

    @property
    def secure(self) -> bool:
        return self.settings.env == "production"

    @property
    def session_cookie(self) -> str:
        # __Host-: the browser accepts it only over HTTPS, for this host alone, on path /.
        return "__Host-onedoor_session" if self.secure else "onedoor_session"


def web_of(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


WebApp = Annotated[Web, Depends(web_of)]


@dataclass(frozen=True)
class User:
    account: StaffAccount
    session_id: str
    csrf_token: str
    lang: str

    def may(self, permission: str) -> bool:
        return self.account.role in PERMISSIONS[permission]


class SignInNeeded(Exception):
    def __init__(self, expired: bool) -> None:
        super().__init__("sign-in needed")
        self.expired = expired


class PageError(Exception):
    """An error page: 403, 404, 502… with its title and text keys (i18n)."""

    def __init__(self, status: int, title: str, text: str) -> None:
        super().__init__(title)
        self.status, self.title, self.text = status, title, text


def refuse_unless_ok(answer: Answer) -> None:
    """A service's refusal as the page to show: 403 (401 too: the token is the window's, the
    person needs no other sign-in), 404, or 502 for anything else that is not a success."""
    if answer.status in (401, 403):
        raise PageError(403, "forbidden_title", "forbidden_text")
    if answer.status == 404:
        raise PageError(404, "not_found_title", "not_found_text")
    if not answer.ok:
        raise PageError(502, "error_title", "error_text")


def lang_of(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, "zh")
    return lang if lang in LANGS else "zh"


def current_user(request: Request, web: WebApp) -> User:
    """The signed-in person, or a redirect to the sign-in page (SignInNeeded)."""
    session_id = request.cookies.get(web.session_cookie)
    found = signin.current(web.engine, session_id, web.now(), web.sessions)
    if found is None:
        raise SignInNeeded(expired=session_id is not None)
    session, account = found
    return User(account, session_id or "", session.csrf_token, lang_of(request))


SignedIn = Annotated[User, Depends(current_user)]


async def checked_form(request: Request, user: SignedIn) -> FormData:
    """The POSTed form, once its CSRF token is the session's (a logged 403 otherwise)."""
    form = await request.form()
    sent = form.get("csrf_token")
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(),
                                                            user.csrf_token.encode()):
        raise PageError(403, "forbidden_title", "csrf")
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


def yuan(fen: object) -> str:
    if not isinstance(fen, int):
        return "—"
    # The sign apart: floor division would print -150 fen as "-2.50".
    sign, fen = ("-", -fen) if fen < 0 else ("", fen)
    return f"{sign}{fen // 100:,}.{fen % 100:02d}"


def local_time(value: object, with_time: bool = True) -> str:
    """An ISO moment from a service, as the office's clock shows it (China time)."""
    if not value:
        return "—"
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    moment = clock.as_utc(moment).astimezone(clock.CHINA)
    return moment.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def render(request: Request, template: str, *, user: User | None = None, status: int = 200,
           **context: Any) -> HTMLResponse:
    web = web_of(request)
    lang = user.lang if user else lang_of(request)
    return web.templates.TemplateResponse(request, template, status_code=status, context={
        "user": user, "lang": lang, "csrf": user.csrf_token if user else "",
        "t": lambda key, *args: translate(key, lang, *args),
        "label": lambda kind, code: label(kind, code, lang),
        "yuan": yuan, "when": local_time, "path": request.url.path,
        # Reasons written "中文 | English" by the services (verification's warnings and leads).
        "in_lang": lambda text: _in_language(str(text), lang),
        **context})


def _in_language(text: str, lang: str) -> str:
    zh, found, en = text.partition(" | ")
    return (en if lang == "en" else zh) if found else text


def safe_next(target: str | None) -> str:
    """Only a path of this site: an open redirect would lend the window's name to phishing."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(SignInNeeded)
    async def _sign_in(request: Request, exc: SignInNeeded) -> Response:
        # Back to the very page after sign-in, filters included (a POST's form is not kept).
        where = request.url.path if request.method == "GET" else "/"
        if request.method == "GET" and request.url.query:
            where += "?" + request.url.query
        expired = "&expired=1" if exc.expired else ""
        response = see_other(f"/sign-in?next={quote(where)}{expired}")
        if exc.expired:
            response.delete_cookie(web_of(request).session_cookie, path="/")
        return response

    @app.exception_handler(PageError)
    async def _page(request: Request, exc: PageError) -> Response:
        return render(request, "message.html", status=exc.status, title=exc.title,
                      text=exc.text, user=_user_or_none(request))

    @app.exception_handler(Unreachable)
    async def _down(request: Request, exc: Unreachable) -> Response:
        return render(request, "message.html", status=502, title="error_title",
                      text="error_text", user=_user_or_none(request))


def _user_or_none(request: Request) -> User | None:
    try:
        return current_user(request, web_of(request))
    except SignInNeeded:
        return None


TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
