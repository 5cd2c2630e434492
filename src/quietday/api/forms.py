"""What every page with forms shares: the same-origin and CSRF checks, the server's signing
secret, and the signed-in areas (the dashboard, the inspector's door, the agency's desk), each
its own path and cookies with one way to sign in and out.

An area's sign-in form carries a token also held in a cookie of the area (double submit); a
session cookie names a `dashboard_session` row (`planning/signin.py`), so signing out ends it on
the server. Every post of a signed-in page carries the session's own CSRF token.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from quietday.config import Settings
from quietday.errors import AuthenticationError, ForbiddenError
from quietday.persistence import session_scope
from quietday.planning.signin import SESSION_HOURS, session_secret

__all__ = ["FORM_EXPIRED", "Area", "clock_now", "matches", "same_origin", "signing_secret"]

LOGIN_EXPIRED = "登录表单已失效,请重新提交。"
# What a signed-in page's form says when it came without the session's token or from elsewhere.
FORM_EXPIRED = "表单已失效,请刷新页面后重试。"


def same_origin(request: Request, settings: Settings) -> bool:
    """A POST's Origin (or else Referer), when the browser sends one, names this site."""
    sent = request.headers.get("origin") or request.headers.get("referer")
    if not sent:
        return True
    parts = urlsplit(sent)
    origin = f"{parts.scheme}://{parts.netloc}"
    own = {f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"}
    if settings.public_url:
        public = urlsplit(settings.public_url)
        own.add(f"{public.scheme}://{public.netloc}")
    return origin in own


def matches(held: str, sent: str) -> bool:
    """A CSRF token is ASCII: anything else sent (or held in a cookie) is no match, in constant
    time for the rest (`hmac.compare_digest` refuses non-ASCII text)."""
    return held.isascii() and sent.isascii() and hmac.compare_digest(held, sent)


def signing_secret(request: Request, settings: Settings) -> bytes:
    """The secret that signs session cookies, read once per process (it never changes once
    stored); a generated one is committed at once, whatever becomes of the request."""
    secret: bytes | None = getattr(request.app.state, "dashboard_secret", None)
    if secret is None:
        with session_scope(request.app.state.engine) as own:
            secret = session_secret(own, settings.session_secret)
        request.app.state.dashboard_secret = secret
    return secret


def clock_now(request: Request) -> datetime:
    """Now, by the app's clock (tests set it)."""
    now: datetime = request.app.state.clock()
    return now


@dataclass(frozen=True, slots=True)
class Area:
    """A signed-in area of pages: its path (its cookies' too), its session and sign-in-form
    cookies, the headers of its answers, and where signing in leads."""

    path: str
    cookie: str
    login_cookie: str
    headers: Mapping[str, str]
    landing: str

    def redirect(self, to: str) -> RedirectResponse:
        return RedirectResponse(to, status_code=303, headers=dict(self.headers))

    def set_cookie(
        self, request: Request, response: Response, name: str, value: str, age: int
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=age,
            path=self.path,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    def login_form(
        self,
        request: Request,
        render: Callable[..., HTMLResponse],
        *,
        error: str | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        """The sign-in form, `render(status=…, csrf=…, error=…)`, with a fresh form token."""
        token = secrets.token_urlsafe(24)
        response = render(status=status, csrf=token, error=error)
        self.set_cookie(request, response, self.login_cookie, token, 3600)
        return response

    def sign_in(
        self,
        request: Request,
        settings: Settings,
        csrf: str,
        start: Callable[[bytes], str],
        render: Callable[..., HTMLResponse],
    ) -> Response:
        """A posted sign-in form: `start(secret)` opens the session (the cookie's value), then
        the area's landing page; the form again with why it was refused."""
        held = request.cookies.get(self.login_cookie, "")
        if not same_origin(request, settings) or not held or not matches(held, csrf):
            return self.login_form(request, render, error=LOGIN_EXPIRED, status=403)
        try:
            value = start(signing_secret(request, settings))
        except AuthenticationError:
            return self.login_form(request, render, error="密钥无效或已被吊销。", status=401)
        except ForbiddenError as exc:
            return self.login_form(request, render, error=str(exc), status=403)
        response = self.redirect(self.landing)
        self.set_cookie(request, response, self.cookie, value, SESSION_HOURS * 3600)
        response.delete_cookie(self.login_cookie, path=self.path)
        return response

    def signed_out(self) -> RedirectResponse:
        """After the session's row is gone: back to the sign-in form, the cookie dropped."""
        response = self.redirect(f"{self.path}/login")
        response.delete_cookie(self.cookie, path=self.path)
        return response

    def posted(self, request: Request, settings: Settings, held: str, sent: str) -> bool:
        """A signed-in page's form: from this site, with the session's CSRF token."""
        return same_origin(request, settings) and matches(held, sent)
