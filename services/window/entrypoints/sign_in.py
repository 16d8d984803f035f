"""Sign-in, sign-out and the language switch."""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from services.window.adapters import oidc
from services.window.entrypoints.i18n import LANGS
from services.window.entrypoints.web import (
    LANG_COOKIE,
    SIGN_IN_CSRF_COOKIE,
    CheckedForm,
    PageError,
    SignedIn,
    Web,
    WebApp,
    render,
    safe_next,
    see_other,
)
from services.window.service_layer import signin

router = APIRouter()
log = logging.getLogger("onedoor.window.signin")


def _sign_in_page(request: Request, web: Web, *, status: int = 200, message: str | None = None,
                  account: str = "", next_path: str = "/") -> Response:
    # Before sign-in there is no session to hold a CSRF token: the form's token is compared
    # with a cookie of its own (double submit), so another site cannot sign a browser in as
    # someone else.
    token = secrets.token_urlsafe(32)
    response = render(request, "sign_in.html", status=status, message=message, account=account,
                      next_path=safe_next(next_path), sign_in_csrf=token,
                      password_form=web.provider.password_form)
    response.set_cookie(SIGN_IN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=web.secure, path="/sign-in", max_age=3600)
    return response


@router.get("/sign-in")
def sign_in_page(request: Request, web: WebApp, next: str = "/",
                 expired: bool = False) -> Response:
    return _sign_in_page(request, web, message="expired" if expired else None, next_path=next)


@router.post("/sign-in")
async def sign_in(request: Request, web: WebApp, account: Annotated[str, Form(max_length=200)],
                  password: Annotated[str, Form(max_length=1024)],
                  csrf_token: Annotated[str, Form(max_length=100)] = "",
                  next: Annotated[str, Form(max_length=2000)] = "/") -> Response:
    expected = request.cookies.get(SIGN_IN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(csrf_token.encode(), expected.encode()):
        raise PageError(403, "forbidden_title", "csrf")
    try:
        done = await run_in_threadpool(
            signin.sign_in, web.engine, web.provider, account, password, web.now(),
            web.throttle, previous_session=request.cookies.get(web.session_cookie))
    except signin.SignInRefused as exc:
        message = "locked" if exc.reason == "locked" else "bad_credentials"
        return _sign_in_page(request, web, status=401, message=message,
                             account=account.strip()[:32], next_path=next)
    response = see_other(safe_next(next))
    # No Max-Age: the cookie goes when the browser closes; the server ends it sooner anyway.
    response.set_cookie(web.session_cookie, done.session_id, httponly=True, samesite="strict",
                        secure=web.secure, path="/")
    response.delete_cookie(SIGN_IN_CSRF_COOKIE, path="/sign-in")
    return response


OIDC_COOKIE = "onedoor_oidc"
OIDC_PATH = "/sign-in/oidc"


def _redirect_uri(request: Request, web: Web) -> str:
    base = web.settings.window_public_url or str(request.base_url)
    return base.rstrip("/") + OIDC_PATH + "/callback"


@router.get(OIDC_PATH)
async def sign_in_oidc(request: Request, web: WebApp, next: str = "/") -> Response:
    """Off to the identity provider. A GET link, not a form: the page's CSP allows forms to
    post to this site only, and a browser applies that to the redirect that follows."""
    if web.oidc is None:
        raise PageError(404, "not_found_title", "not_found_text")
    pending = oidc.Pending.new()
    try:
        where = await web.oidc.begin(pending, _redirect_uri(request, web))
    except oidc.SignInFailed as exc:
        log.warning("OpenID Connect sign-in could not start: %s", exc)
        return _sign_in_page(request, web, status=502, message="oidc_failed", next_path=next)
    response = see_other(where)
    # SameSite=Lax, not Strict: the provider sends the browser back with a cross-site GET,
    # which a Strict cookie would not accompany. Ten minutes to sign in at the provider.
    response.set_cookie(OIDC_COOKIE, oidc.pending_cookie(pending, safe_next(next)),
                        httponly=True, samesite="lax", secure=web.secure, path=OIDC_PATH,
                        max_age=600)
    return response


@router.get(OIDC_PATH + "/callback")
async def sign_in_oidc_callback(request: Request, web: WebApp, code: str = "", state: str = "",
                                error: str = "") -> Response:
    if web.oidc is None:
        raise PageError(404, "not_found_title", "not_found_text")
    found = oidc.pending_from_cookie(request.cookies.get(OIDC_COOKIE))
    # The answer must belong to a sign-in this browser started: otherwise another site could
    # send the browser here with its own code and sign it in as someone else.
    if found is None or not state or not hmac.compare_digest(state.encode(),
                                                             found[0].state.encode()):
        raise PageError(403, "forbidden_title", "csrf")
    pending, next_path = found
    try:
        if error or not code:
            raise oidc.SignInFailed(f"the provider answered error {error[:40]!r}")
        staff_id = await web.oidc.complete(code, pending, _redirect_uri(request, web))
        done = await run_in_threadpool(
            signin.sign_in_verified, web.engine, staff_id, web.now(),
            previous_session=request.cookies.get(web.session_cookie))
    except oidc.SignInFailed as exc:
        log.warning("OpenID Connect sign-in refused: %s", exc)
        response = _sign_in_page(request, web, status=401, message="oidc_failed",
                                 next_path=next_path)
    except signin.SignInRefused:
        response = _sign_in_page(request, web, status=403, message="no_account",
                                 next_path=next_path)
    else:
        # A page that moves on by itself rather than a redirect: a redirect would continue the
        # provider's cross-site navigation, and the SameSite=Strict session cookie just set
        # would not go with it.
        response = render(request, "continue.html", next_path=next_path)
        response.set_cookie(web.session_cookie, done.session_id, httponly=True,
                            samesite="strict", secure=web.secure, path="/")
    response.delete_cookie(OIDC_COOKIE, path=OIDC_PATH)
    return response


@router.post("/sign-out")
async def sign_out(web: WebApp, user: SignedIn, _form: CheckedForm) -> Response:
    await run_in_threadpool(signin.sign_out, web.engine, user.session_id)
    response = see_other("/sign-in")
    response.delete_cookie(web.session_cookie, path="/")
    return response


@router.get("/lang/{lang}")
def switch_language(lang: str, web: WebApp, next: str = "/") -> Response:
    """A preference, not an action on anything: a GET that sets one cookie."""
    response = see_other(safe_next(next))
    if lang in LANGS:
        response.set_cookie(LANG_COOKIE, lang, samesite="lax", secure=web.secure, path="/",
                            max_age=365 * 24 * 3600)
    return response
