"""Authentication wiring: JWT settings, the token blocklist, and deny-by-default access.

Every endpoint needs a valid access token unless its view is marked `@public`; views marked
`@admin_required` also need the admin role, `@fresh_login_required` views need an access token
from a login (not from a refresh), and `@refresh_token_required` views take a refresh token
instead. The check runs in `before_request` (the request gate, `server.web.request_gate`, which
decides revocation, the user's session state and the limits in one Redis round trip), so a new
route cannot forget it.

Sessions: every token carries the user's `sgen` (session generation; raising it ends every
session of the user at once) and a `family` shared by all tokens of one login. Refresh tokens
rotate; presenting an already-rotated refresh token revokes its whole family. Revocations live
in PostgreSQL and are cached in Redis (`server.security_manager.token_revocations`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask, g, request
from flask_jwt_extended import get_jwt, verify_jwt_in_request
from flask_jwt_extended.exceptions import (
    FreshTokenRequired,
    InvalidHeaderError,
    JWTExtendedException,
    NoAuthorizationError,
    WrongTokenError,
)
from jwt import DecodeError, ExpiredSignatureError, InvalidSignatureError, PyJWTError

from server.core.config import get_settings
from server.core.errors import Unauthorized
from server.core.extensions import db, jwt
from server.core.redis_client import get_redis
from server.models import User
from server.security_manager import token_revocations
from server.security_manager.session_state import SessionState

# Verified claims by (endpoint mode, Authorization header), per process, until the token's
# `exp`: a client that polls presents the same token many times, and checking its signature,
# type and freshness again gives the same answer. Revocation and the user's session state are
# not cached here (the request gate asks Redis every time).
_CLAIMS_CACHE = "verified_token_claims"
CLAIMS_CACHE_SIZE = 4096

PUBLIC_ENDPOINTS = frozenset(
    {"static", "openapi.spec", "openapi.docs", "openapi.swagger_ui_oauth_redirect"}
)


def public(view: Callable) -> Callable:
    """Mark a view as reachable without a token."""
    view._auth = "public"  # type: ignore[attr-defined]
    return view


def admin_required(view: Callable) -> Callable:
    """Mark a view as reachable by admins only."""
    view._auth = "admin"  # type: ignore[attr-defined]
    return view


def fresh_login_required(view: Callable) -> Callable:
    """Mark a view as needing a fresh access token (one issued by a login, not a refresh)."""
    view._auth = "fresh"  # type: ignore[attr-defined]
    return view


def refresh_token_required(view: Callable) -> Callable:
    """Mark a view as taking a refresh token rather than an access token."""
    view._auth = "refresh"  # type: ignore[attr-defined]
    return view


def scoped_token_accepted(audience: str, id_arg: str) -> Callable[[Callable], Callable]:
    """Let a view also be opened with `?token=`: a scoped token of `audience` for the object
    whose id is the URL argument `id_arg` (see `security_manager.scoped_tokens`)."""

    def mark(view: Callable) -> Callable:
        view._scoped_token = (audience, id_arg)  # type: ignore[attr-defined]
        return view

    return mark


def auth_mode(app: Flask, endpoint: str | None) -> str:
    """How an endpoint is protected: 'public', 'user', 'fresh', 'admin' or 'refresh'."""
    if endpoint is None or endpoint in PUBLIC_ENDPOINTS:
        return "public"
    view = app.view_functions.get(endpoint)
    return getattr(view, "_auth", "user")


def current_user() -> User:
    """The authenticated user of this request, loaded from the database on first use.

    The request gate authorizes from the cached session state (`current_identity`); only views
    that need the whole account pay for its row.
    """
    user = g.get("current_user")
    if user is not None:
        return user
    user_id = g.get("user_id")
    if user_id is None:
        raise Unauthorized("Authentication required")
    user = db.session.get(User, user_id)
    if user is None or not user.is_active:
        raise Unauthorized("User not found or disabled")
    g.current_user = user
    return user


def current_identity() -> SessionState:
    """Who this request acts for, as authorization sees it (no database query)."""
    state = g.get("session_state")
    if state is None:
        raise Unauthorized("Authentication required")
    return state


def is_token_revoked(payload: dict[str, Any]) -> bool:
    """True when the token or its family was revoked (see `token_revocations`).

    A rotated refresh token presented again means it leaked: the whole family is revoked.
    """
    conn = get_redis()
    state = token_revocations.check_token(conn, payload=payload)
    if state == token_revocations.ROTATED and payload.get("type") == "refresh":
        token_revocations.revoke_family_after_reuse(conn, payload=payload, settings=get_settings())
    return state is not None


def _accept_any_case_of_bearer() -> None:
    """Spell the scheme `Bearer` for flask-jwt-extended, which matches it case-sensitively.

    Authentication schemes are case-insensitive (RFC 7235, section 2.1): `bearer` and `BEARER`
    name the same scheme.
    """
    header = request.environ.get("HTTP_AUTHORIZATION", "")
    spelled = bearer_spelled(header)
    if spelled != header:
        request.environ["HTTP_AUTHORIZATION"] = spelled


def bearer_spelled(header: str) -> str:
    """An `Authorization` header with any case of the `Bearer` scheme spelled `Bearer`."""
    scheme, space, credentials = header.strip().partition(" ")
    if space and scheme != "Bearer" and scheme.lower() == "bearer":
        return "Bearer " + credentials.strip()
    return header


def _jwt_error(message: str):
    raise Unauthorized(message)


def init_app(app: Flask) -> None:
    """Configure flask-jwt-extended and install the deny-by-default check."""
    settings = app.config["SETTINGS"]
    app.config.update(
        JWT_SECRET_KEY=settings.jwt_secret_key,
        JWT_ALGORITHM="HS256",
        JWT_DECODE_ALGORITHMS=["HS256"],
        JWT_TOKEN_LOCATION=["headers"],
        JWT_ACCESS_TOKEN_EXPIRES=timedelta(minutes=settings.access_token_minutes),
        JWT_REFRESH_TOKEN_EXPIRES=timedelta(days=settings.refresh_token_days),
        JWT_DECODE_LEEWAY=0,
        JWT_ERROR_MESSAGE_KEY="message",
    )
    jwt.init_app(app)
    app.extensions[_CLAIMS_CACHE] = {}

    @jwt.user_identity_loader
    def _identity(user: User) -> str:
        return str(user.id)

    @jwt.additional_claims_loader
    def _claims(user: User) -> dict[str, Any]:
        return {"role": user.role, "sgen": user.session_generation or 0}

    jwt.expired_token_loader(lambda _h, _p: _jwt_error("Token has expired"))
    jwt.invalid_token_loader(lambda reason: _jwt_error(f"Invalid token: {reason}"))
    jwt.unauthorized_loader(lambda reason: _jwt_error(f"Authentication required: {reason}"))
    jwt.revoked_token_loader(lambda _h, _p: _jwt_error("Token has been revoked"))
    jwt.needs_fresh_token_loader(lambda _h, _p: _jwt_error("A fresh login is required"))
    jwt.user_lookup_error_loader(lambda _h, _p: _jwt_error("User not found or disabled"))
    jwt.token_verification_failed_loader(lambda _h, _p: _jwt_error("Token verification failed"))


def decode_request_token(app: Flask, mode: str) -> dict[str, Any]:
    """The claims of this request's token for an endpoint of `mode`, checked locally
    (signature, expiry, type, freshness; a scoped `?token=` where the view takes one).

    Raises Unauthorized. Revocation and the user's session state are the request gate's.
    """
    scoped = getattr(app.view_functions.get(request.endpoint), "_scoped_token", None)
    if scoped is not None and "token" in request.args:
        return _decode_scoped_token(*scoped)
    _accept_any_case_of_bearer()
    header = request.environ.get("HTTP_AUTHORIZATION")
    cache = app.extensions[_CLAIMS_CACHE]
    claims = verified_claims(app, mode, header) if header else None
    if claims is not None:
        return claims
    payload = _verify_request_token(mode)
    exp = payload.get("exp")
    if header and isinstance(exp, int | float):
        if len(cache) >= CLAIMS_CACHE_SIZE:
            cache.clear()  # tokens live minutes: refilling costs one verification each
        cache[(mode, header)] = (dict(payload), exp)
    return payload


def verified_claims(app: Flask, mode: str, header: str) -> dict[str, Any] | None:
    """The claims of a token (an `Authorization` header as `bearer_spelled` gives it) that
    this process has verified for an endpoint of `mode` and that have not expired yet; None
    when it has not (the token is then verified as usual)."""
    cache = app.extensions[_CLAIMS_CACHE]
    cached = cache.get((mode, header))
    if cached is None:
        return None
    claims, expires = cached
    if time.time() < expires:  # PyJWT: expired when exp <= now (no leeway)
        return dict(claims)
    cache.pop((mode, header), None)
    return None


def _verify_request_token(mode: str) -> dict[str, Any]:
    try:
        verify_jwt_in_request(refresh=(mode == "refresh"), fresh=(mode == "fresh"))
    except (NoAuthorizationError, InvalidHeaderError):
        raise Unauthorized(
            "Authentication required: send the header 'Authorization: Bearer <token>'"
        ) from None
    except FreshTokenRequired:
        raise Unauthorized(
            "This action needs a fresh login: log in again and retry",
            code="fresh_login_required",
        ) from None
    except ExpiredSignatureError:
        raise Unauthorized("Token has expired") from None
    except WrongTokenError as exc:
        raise Unauthorized(f"Wrong token type: {exc}") from None
    except InvalidSignatureError:
        raise Unauthorized("Invalid token: the signature does not match") from None
    except DecodeError:
        raise Unauthorized(
            "Malformed token: expected a JWT (three base64url-encoded parts separated by dots)",
            code="malformed_token",
        ) from None
    except (JWTExtendedException, PyJWTError) as exc:
        raise Unauthorized(f"Invalid token: {exc or type(exc).__name__}") from None
    payload = get_jwt()
    if _user_id(payload) is None:
        raise Unauthorized("User not found or disabled")
    return payload


def _user_id(payload: dict[str, Any]) -> int | None:
    subject = str(payload.get("sub", ""))
    return int(subject) if subject.isdigit() and 0 < int(subject) < 2**31 else None


def _decode_scoped_token(audience: str, id_arg: str) -> dict[str, Any]:
    """The claims of this request's `?token=`, which must be a scoped token of `audience` for
    the object named in the URL (its session is checked by the request gate)."""
    from server.security_manager import scoped_tokens

    try:
        payload = scoped_tokens.decode(
            request.args["token"],
            secret=get_settings().jwt_secret_key,
            audience=audience,
        )
    except ExpiredSignatureError:
        raise Unauthorized("The token has expired; ask for a new one") from None
    except PyJWTError:
        raise Unauthorized(
            f"Invalid token: `?token=` takes a {audience} token, not an access token"
        ) from None
    if payload["obj"] != str((request.view_args or {}).get(id_arg)):
        raise Unauthorized(f"This {audience} token is for another {id_arg.removesuffix('_id')}")
    if _user_id(payload) is None:
        raise Unauthorized("User not found or disabled")
    return payload
