"""Who may call the service: the bearer token, or the status page's login cookie.

The cookie holds no token: it is `<issued-at>.<HMAC-SHA256(token, issued-at)>`, and a
write it authenticates also needs the `X-CSRF-Token` header (an HMAC of the session).
Without a token configured everything is open (docs/control-api.md "Hostile input").
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Annotated

from fastapi import Header, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from maplecollect.api.deps import SettingsDep
from maplecollect.api.errors import ApiError
from maplecollect.config import Settings
from maplecollect.contract.models import CsrfRejectedError, UnauthorizedError
from maplecollect.contract.statuses import ErrorCode

SESSION_COOKIE = "maplecollect_session"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _mac(token: str, message: str) -> str:
    return hmac.new(token.encode(), message.encode(), hashlib.sha256).hexdigest()


def new_session(token: str, now: float | None = None) -> str:
    """A cookie value for a fresh login: `<issued-at>.<mac>` (no token inside)."""
    issued = str(int(time.time() if now is None else now))
    return f"{issued}.{_mac(token, 'session:' + issued)}"


def session_valid(token: str, value: str | None, max_age: float, now: float | None = None) -> bool:
    if not value:
        return False
    issued, _, mac = value.partition(".")
    if not issued.isdigit() or len(issued) > 12:
        return False
    age = (time.time() if now is None else now) - int(issued)
    if not -60 <= age <= max_age:  # a minute of clock skew between replicas
        return False
    return hmac.compare_digest(mac, _mac(token, "session:" + issued))


def csrf_token(token: str, session: str) -> str:
    """The value the page must echo in X-CSRF-Token (bound to this session)."""
    return _mac(token, "csrf:" + session)


def bearer_ok(token: str, authorization: str | None) -> bool:
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(
        given.strip().encode(), token.encode()
    )


def _unauthorized() -> ApiError:
    return ApiError(
        401,
        UnauthorizedError(error=ErrorCode.UNAUTHORIZED, message="missing or wrong bearer token"),
    )


def check_access(request: Request, settings: Settings, authorization: str | None) -> None:
    """Raise 401/403 unless the request is allowed (decided from headers only)."""
    token = settings.api_token_value()
    if not token:
        return
    if authorization is not None:
        if bearer_ok(token, authorization):
            return
        raise _unauthorized()
    session = request.cookies.get(SESSION_COOKIE)
    if session is None or not session_valid(token, session, settings.session_hours * 3600):
        raise _unauthorized()
    if request.method not in _SAFE_METHODS:
        given = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(given, csrf_token(token, session)):
            raise ApiError(
                403,
                CsrfRejectedError(
                    error=ErrorCode.CSRF_REJECTED,
                    message=(
                        f"a cookie-authenticated {request.method} needs the {CSRF_HEADER} header"
                    ),
                ),
            )


# Only documents the scheme in /openapi.json (auto_error off): `check_access` decides,
# from the raw header, so a wrong token and a status-page cookie are handled alike.
bearer = HTTPBearer(auto_error=False, description="MAPLECOLLECT_API_TOKEN, when it is set")
_Documented = Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
_RawAuthorization = Annotated[str | None, Header(include_in_schema=False)]


def require_access(
    request: Request,
    settings: SettingsDep,
    _scheme: _Documented,
    authorization: _RawAuthorization = None,
) -> None:
    """Bearer token or login cookie (+ CSRF header on writes) when a token is set."""
    check_access(request, settings, authorization)


def require_metrics_access(
    request: Request,
    settings: SettingsDep,
    _scheme: _Documented,
    authorization: _RawAuthorization = None,
) -> None:
    """Like `require_access`, unless MAPLECOLLECT_METRICS_PUBLIC=1."""
    if not settings.metrics_public:
        check_access(request, settings, authorization)


def page_session(request: Request, settings: Settings) -> str | None:
    """For HTML pages: '' when no token is configured, the session when logged in, else None."""
    token = settings.api_token_value()
    if not token:
        return ""
    session = request.cookies.get(SESSION_COOKIE)
    if session_valid(token, session, settings.session_hours * 3600):
        return session
    return None
