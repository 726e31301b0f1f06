"""Signing in, the session cookie, CSRF tokens and the security headers of every console answer.

The session is the pasted token itself, kept in an HttpOnly, SameSite=Strict cookie (Secure over
https) scoped to /ui; it never appears in a URL or a page. Every state-changing form carries a CSRF
token, an HMAC of the session under a key this app instance draws at start, and a cross-site Origin is
refused as well.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from ee_retry.domain.values import User
from ee_retry.errors import AuthenticationError, PermissionDenied
from ee_retry.service.deps import Deps

COOKIE = "ee_retry_session"
COOKIE_PATH = "/ui"
SESSION_MAX_AGE_S = 12 * 3600  # a browser forgets the token after a working day
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class Sessions:
    """Cookie and CSRF handling for one app instance."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self._key = secrets.token_bytes(32)

    def token(self, request: Request) -> str | None:
        return request.cookies.get(COOKIE) or None

    async def user(self, request: Request) -> User:
        token = self.token(request)
        if token is None:
            raise AuthenticationError("Sign in with your token to use the console")
        return await self.deps.auth.user_for_token(token)

    def csrf(self, request: Request) -> str:
        """The CSRF token of this session (empty before sign-in)."""
        token = self.token(request) or ""
        return hmac.new(self._key, token.encode(), hashlib.sha256).hexdigest()

    def check_origin(self, request: Request) -> None:
        """A browser names the page a POST came from; another site's is refused."""
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
            raise PermissionDenied("This request came from another site and was refused")

    def check_csrf(self, request: Request, sent: object) -> None:
        self.check_origin(request)
        if (
            not isinstance(sent, str)
            or not hmac.compare_digest(sent, self.csrf(request))
            or not self.token(request)
        ):
            raise PermissionDenied(
                "The form is out of date or did not come from this console; reload the page"
            )

    @staticmethod
    def sign_in(response: Response, request: Request, token: str) -> None:
        response.set_cookie(
            COOKIE,
            token,
            max_age=SESSION_MAX_AGE_S,
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    @staticmethod
    def sign_out(response: Response, request: Request) -> None:
        response.delete_cookie(
            COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=request.url.scheme == "https"
        )


def secured(response: Response) -> Response:
    response.headers.update(HEADERS)
    return response
