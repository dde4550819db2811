"""The security manager: passwords, lockout, IP blocking, sanitising, uploads, events, audit.

Submodules own one concern each:

- `passwords`        policy (length and lists, no composition rules) and bcrypt hashing
- `lockout`          failed-login counters, tiered account locks, the per-IP throttle
- `ip_blocking`      the Redis block set, automatic blocks, the allowlist
- `token_revocations` revoked tokens and login families
- `security_cache`   the Redis copy of revocations, blocks and locks, and its rebuild
- `one_time_tokens`  email-verification and password-reset tokens (stored hashed)
- `uploads`          the one validator every upload goes through
- `sanitising`       nh3 for free text that is stored and shown again
- `outbound`         the one client every outbound request goes through (public addresses only)
- `encryption`       Fernet/MultiFernet for third-party secrets at rest
- `events`           the audit trail (table and security.log)
- `audit`            the checks behind POST /api/admin/security/audit

`init_app` installs the request-path parts: the watch for bursts of error responses and
per-address 429s, and CORS for the configured origins. The IP-block check itself is part of the
request gate's one Redis round trip (`server.web.request_gate`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, g, request

# The records of the Redis security copy register their readers with `security_cache` when
# imported; importing them with the package makes every process's rebuild find all three.
from server.security_manager import ip_blocking, lockout, token_revocations  # noqa: F401
from server.security_manager.passwords import (
    dummy_password_check,
    hash_cost,
    hash_password,
    needs_rehash,
    password_problem,
    verify_password,
)

__all__ = [
    "dummy_password_check",
    "hash_cost",
    "hash_password",
    "init_app",
    "needs_rehash",
    "password_problem",
    "verify_password",
]

log = logging.getLogger("server.security")

CORS_ALLOWED_HEADERS = "Authorization, Content-Type, X-Request-ID, Idempotency-Key"
CORS_EXPOSED_HEADERS = (
    "X-Request-ID, Retry-After, RateLimit, RateLimit-Policy, X-RateLimit-Limit, "
    "X-RateLimit-Remaining, X-RateLimit-Reset, Location, Content-Disposition"
)
CORS_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"


def init_app(app: Flask, *, defer_error_signal: Callable[[Flask, Any], None]) -> None:
    """Watch responses for bursts of errors, answer CORS.

    `defer_error_signal(app, signal)` hands an error signal to the request gate, which counts
    it in its next round trip.
    """
    settings = app.config["SETTINGS"]
    allowed_origins = frozenset(settings.cors_origins)

    @app.after_request
    def _watch_response(response):
        status = response.status_code
        if g.get("ip_blocked") or (status != 429 and status not in ip_blocking.ERROR_STATUSES):
            return response
        signal = ip_blocking.error_signal(
            ip=request.remote_addr,
            status=status,
            settings=settings,
            address_throttled=getattr(g.get("api_error"), "per_address", False),
        )
        if signal is not None:
            # Counted by this process's next request gate, in its one round trip.
            defer_error_signal(app, signal)
        return response

    @app.after_request
    def _cors(response):
        origin = request.headers.get("Origin")
        if not origin or not request.path.startswith("/api/"):
            return response
        response.vary.add("Origin")
        if origin not in allowed_origins and "*" not in allowed_origins:
            return response
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSED_HEADERS
        if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
            response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
            response.headers["Access-Control-Allow-Headers"] = CORS_ALLOWED_HEADERS
            response.headers["Access-Control-Max-Age"] = "600"
        return response
