"""Sign-in, sign-out and the language switch."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

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
