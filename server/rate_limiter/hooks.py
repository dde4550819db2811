"""Flask wiring: view decorators, the app's limiter, rate-limit headers and refusals, and
shortcuts on the current app's limiter for services, handlers and workers."""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable, Collection
from typing import Any

from flask import Flask, current_app, g, request

from server.core.config import Settings
from server.core.durations import duration_text
from server.core.errors import ServiceUnavailable, TooManyRequests
from server.rate_limiter.catalogue import (
    API_GLOBAL,
    API_PER_IP,
    API_PER_USER,
    API_READS_PER_USER,
    EXEMPT_PATH_PREFIXES,
    GLOBAL_SUBJECT,
    LIMITS,
    RateLimit,
    limits_from_settings,
)
from server.rate_limiter.fallback import count_metric
from server.rate_limiter.limiter import RateLimiter, build_limiter_redis
from server.rate_limiter.results import Decision, GeminiCaller, Lease, LimitState, Reservation

EXTENSION_KEY = "rate_limiter"


def rate_limit(*names: str) -> Callable[[Callable], Callable]:
    """Check the named limits (all or nothing, with the request's other limits) on a view.

    The subject is the authenticated user, else the client IP. Stacking adds names.
    """
    for name in names:
        if not isinstance(LIMITS.get(name), RateLimit):
            raise ValueError(f"@rate_limit: no window limit called {name!r}")

    def decorate(view: Callable) -> Callable:
        existing = getattr(view, "_rate_limits", ())
        view._rate_limits = tuple(dict.fromkeys((*names, *existing)))  # type: ignore[attr-defined]
        return view

    return decorate


def cheap_read(view: Callable) -> Callable:
    """Count a view against `api_reads_per_user_per_minute` instead of
    `api_requests_per_user_per_minute`: for cheap reads of the caller's own objects."""
    view._per_user_limit = API_READS_PER_USER  # type: ignore[attr-defined]
    return view


def get_rate_limiter(app: Flask | None = None) -> RateLimiter:
    """The limiter of this app (the current app by default)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return app.extensions[EXTENSION_KEY]


def init_app(
    app: Flask, *, client_subject: Callable[[], str], exempt_endpoints: Collection[str]
) -> None:
    """Build the limiter from settings and install the per-request check and headers.

    Call after `auth.init_app`, so the check runs once the user is known. `client_subject`:
    the request's client as per-address limits count it; `exempt_endpoints`: views no limit
    applies to (the health probes).
    """
    from server.core.redis_client import get_redis

    settings: Settings = app.config["SETTINGS"]
    limiter = RateLimiter(
        limits_from_settings(settings),
        functools.partial(build_limiter_redis, settings, functools.partial(get_redis, app)),
        enabled=settings.rate_limit_enabled,
    )
    app.extensions[EXTENSION_KEY] = limiter
    if not limiter.enabled:
        return

    @app.after_request
    def _rate_limit_headers(response):
        decision = g.get("rate_limit_decision")
        if decision is None and request.endpoint not in exempt_endpoints:
            # Turned away before the request gate counted it (the gate counts the requests it
            # refuses itself): it still counts against its address.
            if not g.get("ip_blocked") and not g.get("rate_limit_counted"):
                limiter.hit(_ADDRESS_ONLY, {"ip": client_subject()})
        elif decision is not None:
            response.headers.update(rate_limit_headers(decision))
        return response


_ADDRESS_ONLY = (API_PER_IP,)


def limits_of_request(app: Flask, *, authenticated: bool) -> tuple[str, ...]:
    """The limits of this request: its address's, then the /api budget and the view's own."""
    return limits_for(
        app,
        method=request.method,
        path=request.path,
        endpoint=request.endpoint,
        authenticated=authenticated,
    )


def limits_for(
    app: Flask, *, method: str, path: str, endpoint: str | None, authenticated: bool
) -> tuple[str, ...]:
    """The limits of a request to `endpoint` (see `limits_of_request`)."""
    if method == "OPTIONS":
        return _ADDRESS_ONLY
    names = [API_PER_IP]
    view = app.view_functions.get(endpoint) if endpoint else None
    if (path == "/api" or path.startswith("/api/")) and not path.startswith(EXEMPT_PATH_PREFIXES):
        names.append(API_GLOBAL)
        if authenticated:
            names.append(getattr(view, "_per_user_limit", API_PER_USER))
    names.extend(getattr(view, "_rate_limits", ()))
    return tuple(names)


def _retry_after_header(seconds: float) -> str:
    """Whole seconds, never before the real free time, with up to a second of jitter."""
    return str(math.ceil(seconds + random.random()))  # noqa: S311 - jitter, not a secret


def refusal(decision: Decision, *, anonymous: bool) -> Exception:
    """The 429 (or 503 when only the global budget refused) for a refused decision."""
    refused = [s for s in decision.refused_by if s.scope != "global"]
    retry = decision.retry_after
    headers = {"Retry-After": _retry_after_header(retry)}
    if not refused:
        count_metric("rate_limiter_load_shed_total")
        return ServiceUnavailable(
            "The service is overloaded; try again shortly",
            code="overloaded",
            details={"retry_after": round(retry, 3)},
            headers=headers,
        )
    worst = max(refused, key=lambda s: s.retry_after)
    # An anonymous client's per-user limits count its address (see `subject_for`).
    per_address = any(s.scope == "ip" or anonymous for s in refused)
    return TooManyRequests(
        f"Rate limit {worst.name} exceeded: {worst.limit} per {_window_text(worst)}; "
        f"retry in {duration_text(retry)}",
        details={
            "limit": worst.name,
            "limit_value": worst.limit,
            "window_seconds": worst.window_seconds,
            "retry_after": math.ceil(retry * 1000) / 1000,
        },
        headers=headers,
        per_address=per_address,
    )


def _window_text(state: LimitState) -> str:
    seconds = state.window_seconds
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds == size:
            return unit
    return f"{seconds:g} s"


_policies: dict[tuple[tuple[str, int, float], ...], str] = {}


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    """IETF draft `RateLimit-Policy`/`RateLimit` and `X-RateLimit-*` (delta seconds)."""
    top = decision.most_constraining
    if top is None:
        return {}
    rules = tuple((s.name, s.limit, s.window_seconds) for s in decision.states)
    policy = _policies.get(rules)
    if policy is None:  # the same few sets of limits, request after request
        policy = ", ".join(
            f'"{name}";q={limit};w={_number(window)}' for name, limit, window in rules
        )
        if len(_policies) < 1024:
            _policies[rules] = policy
    reset = math.ceil(top.reset_seconds)
    return {
        "RateLimit-Policy": policy,
        "RateLimit": f'"{top.name}";r={top.remaining};t={reset}',
        "X-RateLimit-Limit": str(top.limit),
        "X-RateLimit-Remaining": str(top.remaining),
        "X-RateLimit-Reset": str(reset),
    }


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# Module-level shortcuts on the current app's limiter, for services, handlers and workers.


def reserve_gemini_call(caller: GeminiCaller | None = None) -> Reservation:
    """Take one Gemini call slot (both windows, and the caller's allowance and share), or
    learn how long until one frees."""
    return get_rate_limiter().reserve_gemini_call(caller)


def spend_once(name: str, *, subject: str, token: str) -> Decision:
    """Count `token` once against a window limit of `subject` (admitted without counting
    when it was counted before; always admitted while request limits are off)."""
    limiter = get_rate_limiter()
    if not limiter.enabled:
        return Decision(True, ())
    return limiter.spend_once(name, subject, token)


def give_back_thread_connection() -> None:
    """Return this thread's limiter connection to its pool (see
    `RateLimiter.give_back_thread_connection`)."""
    get_rate_limiter().give_back_thread_connection()


def leave_gemini_share(caller: GeminiCaller) -> None:
    """The caller's job has stopped asking for Gemini: it leaves the share of the window."""
    get_rate_limiter().leave_gemini_share(caller)


def release_gemini_call(reservation: Reservation) -> bool:
    """Refund a reservation whose Gemini call was never made."""
    return get_rate_limiter().release_gemini_call(reservation)


def settle_gemini_call(reservation: Reservation) -> bool:
    """Count a made call's slot from the end of the call (see `RateLimiter.settle_gemini_call`)."""
    return get_rate_limiter().settle_gemini_call(reservation)


def pause_gemini(seconds: float, reason: str) -> float:
    """Hold every Gemini call for `seconds`."""
    return get_rate_limiter().pause_gemini(seconds, reason)


def record_gemini_error(error: Any) -> float | None:
    """Pause Gemini as a quota error asks; None when it is not a quota error."""
    return get_rate_limiter().record_gemini_error(error)


def gemini_quota_status() -> dict[str, Any]:
    """The Gemini quota's use and any pause."""
    return get_rate_limiter().gemini_quota_status()


def acquire(cap_name: str, holder_id: str, subject: str = GLOBAL_SUBJECT) -> Lease:
    """Take a concurrency slot."""
    return get_rate_limiter().acquire(cap_name, holder_id, subject)


def renew(cap_name: str, holder_id: str, subject: str = GLOBAL_SUBJECT) -> Lease:
    """Extend a concurrency slot's lease."""
    return get_rate_limiter().renew(cap_name, holder_id, subject)


def release(cap_name: str, holder_id: str, subject: str = GLOBAL_SUBJECT) -> None:
    """Give a concurrency slot back."""
    get_rate_limiter().release(cap_name, holder_id, subject)


def free_slots(cap_name: str, subject: str = GLOBAL_SUBJECT) -> int:
    """How many slots of a concurrency cap have no holder now."""
    return get_rate_limiter().free_slots(cap_name, subject)


def usage(subject: str, scope: str | None = None) -> list[dict[str, Any]]:
    """Every limit's use by `subject` (only the limits of `scope` when given)."""
    return get_rate_limiter().usage(subject, scope)


def reset(*, limit: str, subject: str) -> dict[str, Any]:
    """Reset one limit for one subject."""
    return get_rate_limiter().reset(limit, subject)


def give_back(*, holder: str, subject: str) -> list[str]:
    """Give back the job allowances spent under `holder` (a job id) by `subject` (a user id)."""
    return get_rate_limiter().give_back(holder=holder, subject=subject)


def degraded() -> bool:
    """True while the current app's limiter runs on per-process limits (Redis unreachable)."""
    return get_rate_limiter().degraded
