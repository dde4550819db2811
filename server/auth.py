"""Authentication wiring: JWT settings, the token blocklist, and deny-by-default access.

Every endpoint needs a valid access token unless its view is marked `@public`; views marked
`@admin_required` also need the admin role, `@fresh_login_required` views need an access token
from a login (not from a refresh), and `@refresh_token_required` views take a refresh token
instead. The check runs in `before_request`, so a new route cannot forget it.

Sessions: every token carries the user's `sgen` (session generation; raising it ends every
session of the user at once) and a `family` shared by all tokens of one login. Refresh tokens
rotate; presenting an already-rotated refresh token revokes its whole family.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from flask import Flask, current_app, g, request
from flask_jwt_extended import get_jwt, verify_jwt_in_request
from flask_jwt_extended.exceptions import (
    FreshTokenRequired,
    JWTExtendedException,
    RevokedTokenError,
    UserLookupError,
    WrongTokenError,
)
from jwt import ExpiredSignatureError, PyJWTError

from server.errors import Forbidden, ServiceUnavailable, Unauthorized
from server.extensions import db, jwt
from server.models import User
from server.outages import outage_log
from server.redis_client import get_redis

log = logging.getLogger("server.auth")

BLOCKLIST_PREFIX = "token_blocklist:"
FAMILY_REVOKED_PREFIX = "token_family_revoked:"
ROTATED = "rotated"
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


def auth_mode(app: Flask, endpoint: str | None) -> str:
    """How an endpoint is protected: 'public', 'user', 'fresh', 'admin' or 'refresh'."""
    if endpoint is None or endpoint in PUBLIC_ENDPOINTS:
        return "public"
    view = app.view_functions.get(endpoint)
    return getattr(view, "_auth", "user")


def current_user() -> User:
    """The authenticated user of this request (set by the before_request check)."""
    user = g.get("current_user")
    if user is None:
        raise Unauthorized("Authentication required")
    return user


def _remaining_seconds(payload: dict[str, Any]) -> int:
    expires = datetime.fromtimestamp(payload["exp"], UTC)
    return max(1, int((expires - datetime.now(UTC)).total_seconds()) + 1)


def revoke_token(payload: dict[str, Any]) -> None:
    """Put a token's jti on the blocklist until the token would have expired anyway."""
    get_redis().set(
        BLOCKLIST_PREFIX + payload["jti"],
        payload.get("type", "access"),
        ex=_remaining_seconds(payload),
    )


def mark_refresh_token_rotated(payload: dict[str, Any]) -> bool:
    """Retire a refresh token that is being exchanged; False if it was already retired (reuse)."""
    return bool(
        get_redis().set(
            BLOCKLIST_PREFIX + payload["jti"], ROTATED, nx=True, ex=_remaining_seconds(payload)
        )
    )


def revoke_family(payload: dict[str, Any], *, reason: str) -> None:
    """Revoke every token of a login (its family), for as long as a refresh token can live."""
    family = payload.get("family")
    if not family:
        revoke_token(payload)
        return
    # A family lives as long as its newest refresh token can.
    ttl = int(current_app.config["JWT_REFRESH_TOKEN_EXPIRES"].total_seconds()) + 60
    get_redis().set(FAMILY_REVOKED_PREFIX + family, reason, ex=ttl)


def _on_refresh_reuse(payload: dict[str, Any]) -> None:
    from server.security_manager.events import record_event

    revoke_family(payload, reason="refresh token reuse")
    record_event(
        action="refresh_token_reuse",
        outcome="denied",
        actor_user_id=int(payload["sub"]) if str(payload.get("sub", "")).isdigit() else None,
        object_type="token_family",
        object_id=payload.get("family"),
        details={"effect": "every token of the login revoked"},
    )


def is_token_revoked(payload: dict[str, Any]) -> bool:
    """True when the token's jti is on the blocklist or its family was revoked.

    A rotated refresh token presented again means it leaked: the whole family is revoked.
    If Redis cannot be reached, access tokens (15 minutes) are accepted and refresh tokens are
    refused with 503, so a revoked long-lived token never comes back to life.
    """
    try:
        conn = get_redis()
        family = payload.get("family")
        pipe = conn.pipeline(transaction=False)
        pipe.get(BLOCKLIST_PREFIX + payload["jti"])
        if family:
            pipe.exists(FAMILY_REVOKED_PREFIX + family)
        state, *family_revoked = pipe.execute()
        if family_revoked and family_revoked[0]:
            return True
        if state == ROTATED and payload.get("type") == "refresh":
            _on_refresh_reuse(payload)
        return state is not None
    except redis.RedisError as exc:
        if payload.get("type") == "refresh":
            raise ServiceUnavailable("Token store unavailable; try again shortly") from None
        outage_log("redis").failed("token blocklist (access tokens accepted)", exc)
        return False


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

    @jwt.user_identity_loader
    def _identity(user: User) -> str:
        return str(user.id)

    @jwt.user_lookup_loader
    def _lookup(_header, payload) -> User | None:
        try:
            user = db.session.get(User, int(payload["sub"]))
        except (TypeError, ValueError):
            return None
        return user if user is not None and user.is_active else None

    @jwt.additional_claims_loader
    def _claims(user: User) -> dict[str, Any]:
        return {"role": user.role, "sgen": user.session_generation or 0}

    jwt.token_in_blocklist_loader(lambda _h, payload: is_token_revoked(payload))
    jwt.expired_token_loader(lambda _h, _p: _jwt_error("Token has expired"))
    jwt.invalid_token_loader(lambda reason: _jwt_error(f"Invalid token: {reason}"))
    jwt.unauthorized_loader(lambda reason: _jwt_error(f"Authentication required: {reason}"))
    jwt.revoked_token_loader(lambda _h, _p: _jwt_error("Token has been revoked"))
    jwt.needs_fresh_token_loader(lambda _h, _p: _jwt_error("A fresh login is required"))
    jwt.user_lookup_error_loader(lambda _h, _p: _jwt_error("User not found or disabled"))
    jwt.token_verification_failed_loader(lambda _h, _p: _jwt_error("Token verification failed"))

    @app.before_request
    def _authenticate() -> None:
        mode = auth_mode(app, request.endpoint)
        if mode == "public" or request.method == "OPTIONS":
            return
        try:
            verify_jwt_in_request(refresh=(mode == "refresh"), fresh=(mode == "fresh"))
        except FreshTokenRequired:
            raise Unauthorized(
                "This action needs a fresh login: log in again and retry",
                code="fresh_login_required",
            ) from None
        except ExpiredSignatureError:
            raise Unauthorized("Token has expired") from None
        except RevokedTokenError:
            raise Unauthorized("Token has been revoked") from None
        except WrongTokenError as exc:
            raise Unauthorized(f"Wrong token type: {exc}") from None
        except UserLookupError:
            raise Unauthorized("User not found or disabled") from None
        except (JWTExtendedException, PyJWTError) as exc:
            raise Unauthorized(f"Invalid token: {exc or type(exc).__name__}") from None
        from flask_jwt_extended import get_current_user

        user = get_current_user()
        g.current_user = user
        g.user_id = user.id
        g.jwt = get_jwt()
        if g.jwt.get("sgen", 0) != (user.session_generation or 0):
            g.current_user = g.user_id = None
            raise Unauthorized(
                "This session has ended (password changed or sessions revoked); log in again",
                code="session_revoked",
            )
        if mode == "admin" and not user.is_admin:
            from server.security_manager.events import record_event

            record_event(
                action="authorization_failure",
                outcome="denied",
                object_type="endpoint",
                object_id=request.endpoint,
                details={"method": request.method, "path": request.path},
            )
            raise Forbidden("Admin role required")
