"""Authentication wiring: JWT settings, the token blocklist, and deny-by-default access.

Every endpoint needs a valid access token unless its view is marked `@public`; views marked
`@admin_required` also need the admin role, and `@refresh_token_required` views take a
refresh token instead. The check runs in `before_request`, so a new route cannot forget it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from flask import Flask, g, request
from flask_jwt_extended import get_jwt, verify_jwt_in_request
from flask_jwt_extended.exceptions import (
    JWTExtendedException,
    RevokedTokenError,
    UserLookupError,
    WrongTokenError,
)
from jwt import ExpiredSignatureError, PyJWTError

from server.errors import Forbidden, ServiceUnavailable, Unauthorized
from server.extensions import db, jwt
from server.models import User
from server.redis_client import get_redis

log = logging.getLogger("server.auth")

BLOCKLIST_PREFIX = "token_blocklist:"
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


def refresh_token_required(view: Callable) -> Callable:
    """Mark a view as taking a refresh token rather than an access token."""
    view._auth = "refresh"  # type: ignore[attr-defined]
    return view


def auth_mode(app: Flask, endpoint: str | None) -> str:
    """How an endpoint is protected: 'public', 'user', 'admin' or 'refresh'."""
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


def revoke_token(payload: dict[str, Any]) -> None:
    """Put a token's jti on the blocklist until the token would have expired anyway."""
    expires = datetime.fromtimestamp(payload["exp"], UTC)
    ttl = max(1, int((expires - datetime.now(UTC)).total_seconds()) + 1)
    get_redis().set(BLOCKLIST_PREFIX + payload["jti"], payload.get("type", "access"), ex=ttl)


def is_token_revoked(payload: dict[str, Any]) -> bool:
    """True when the token's jti is on the blocklist.

    If Redis cannot be reached, access tokens (15 minutes) are accepted and refresh tokens are
    refused with 503, so a revoked long-lived token never comes back to life.
    """
    try:
        return get_redis().exists(BLOCKLIST_PREFIX + payload["jti"]) > 0
    except redis.RedisError:
        if payload.get("type") == "refresh":
            raise ServiceUnavailable("Token store unavailable; try again shortly") from None
        log.warning(
            "token blocklist unavailable; accepting access token", extra={"jti": payload["jti"]}
        )
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
        return {"role": user.role}

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
            verify_jwt_in_request(refresh=(mode == "refresh"))
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
        if mode == "admin" and not user.is_admin:
            raise Forbidden("Admin role required")
