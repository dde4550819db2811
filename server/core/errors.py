"""One JSON error shape for every error, and the exceptions services raise.

Every error response body is::

    {"error": {"status": 404, "code": "not_found", "message": "...",
               "details": {...}, "request_id": "..."}}

Services raise `ApiError` subclasses (no Flask imports needed to raise them); one processor
renders them, Werkzeug's HTTP errors and schema validation errors alike.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import redis
import sqlalchemy.exc
from apiflask import APIFlask, HTTPError, Schema
from apiflask.fields import Dict, Integer, Nested, String
from flask import g, has_request_context
from werkzeug.exceptions import HTTPException, InternalServerError

from server.core.outages import outage_log

log = logging.getLogger("server.core.errors")

# What a 503 for a backing service that is down tells clients to wait.
RETRY_AFTER_SECONDS = 5

CODES_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(HTTPError):
    """An error with an HTTP status, a stable machine code and a human message."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            status_code=status or self.status_code,
            message=message,
            detail=dict(details or {}),
            headers=dict(headers or {}),
        )
        if code:
            self.code = code


class BadRequest(ApiError):
    status_code, code = 400, "bad_request"


class Unauthorized(ApiError):
    status_code, code = 401, "unauthorized"


class Forbidden(ApiError):
    status_code, code = 403, "forbidden"


class NotFound(ApiError):
    """404 with the one code `not_found` (a `code` given is not used: see the error processor);
    `resource` names what was looked for, in `details.resource`."""

    status_code, code = 404, "not_found"

    def __init__(
        self,
        message: str | None = None,
        *,
        resource: str | None = None,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if resource:
            details = {"resource": resource, **(details or {})}
        super().__init__(
            message or (f"No such {resource}" if resource else None),
            details=details,
            headers=headers,
        )


class Conflict(ApiError):
    status_code, code = 409, "conflict"


class ValidationFailed(ApiError):
    status_code, code = 422, "validation_error"


class TooManyRequests(ApiError):
    """A 429. `per_address` when a limit on the client's address refused, not a user's quota:
    only those count towards blocking the address (a user's quota says nothing about it)."""

    status_code, code = 429, "rate_limited"

    def __init__(self, message: str | None = None, *, per_address: bool = False, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.per_address = per_address


class ServiceUnavailable(ApiError):
    status_code, code = 503, "unavailable"


class StorageUnavailable(ServiceUnavailable):
    """The file store (the bucket) cannot be reached: a request answers 503 with a
    `Retry-After` and records nothing; a job tries again later."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message or "A backing service is temporarily unavailable; try again shortly.",
            details={"dependency": "storage"},
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )


class UserFacingError(Exception):
    """A failure whose message is written for the person who asked for the work (a job's
    owner, an operator running a command): it is shown to them as it is.

    Any other exception's message may carry internals (SQL text, file paths, keys): a job
    failing with one shows its owner a reference to the log instead (see
    `job_handlers.error_for_owner`).
    """

    # True for a failure of the service or of one it uses (a refused API key), not of what the
    # user asked for: a job ending with it gives back the daily allowance it spent.
    service_failure = False


class RetryableJobError(UserFacingError):
    """A transient failure: the job is tried again after a backoff (its message is shown)."""


class QuotaWait(Exception):  # noqa: N818
    """A quota or concurrency cap is not available: wait, at the same place in line.

    `cap`: the concurrency cap whose slot the job waits for; the job is then brought forward
    as soon as a slot frees, and `retry_after_seconds` is only the longest wait.
    """

    def __init__(self, retry_after_seconds: float, reason: str, *, cap: str | None = None):
        super().__init__(f"waiting {retry_after_seconds:.1f}s for {reason}")
        self.retry_after_seconds = max(0.0, float(retry_after_seconds))
        self.reason = reason
        self.cap = cap


def database_unavailable(exc: BaseException) -> bool:
    """True when PostgreSQL could not be reached or the connection died: worth retrying.

    The driver's OperationalError covers a refused or terminated connection (and a deadlock or
    serialisation failure, which a retry also cures); a full pool raises SQLAlchemy's own
    TimeoutError.
    """
    if isinstance(exc, sqlalchemy.exc.TimeoutError | sqlalchemy.exc.OperationalError):
        return True
    if isinstance(exc, sqlalchemy.exc.InterfaceError):
        return True
    return isinstance(exc, sqlalchemy.exc.DBAPIError) and bool(exc.connection_invalidated)


def unavailable_response(dependency: str):
    """The 503 for a backing service that is down: JSON, with a `Retry-After`."""
    body = error_body(
        503,
        "unavailable",
        "A backing service is temporarily unavailable; try again shortly.",
        {"dependency": dependency},
    )
    return body, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}


class ErrorBody(Schema):
    status = Integer(required=True, metadata={"description": "HTTP status code"})
    code = String(required=True, metadata={"description": "Stable machine-readable code"})
    message = String(required=True, metadata={"description": "What went wrong, for humans"})
    details = Dict(metadata={"description": "Field errors or other structured detail"})
    request_id = String(metadata={"description": "Echoes the X-Request-ID response header"})


class ErrorResponse(Schema):
    """The body of every error response."""

    error = Nested(ErrorBody, required=True)


def _flatten_validation_detail(detail: Mapping[str, Any]) -> list[str]:
    """Turn APIFlask's {location: {field: [messages]}} into 'field: message' phrases."""
    phrases: list[str] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, (Mapping, list, tuple)):
                    walk(prefix, item)
                else:
                    phrases.append(f"{prefix}: {item}")
        else:
            phrases.append(f"{prefix}: {value}")

    for location, fields in detail.items():
        # "json.email: Not a valid email address." reads better as "email: ...".
        walk("" if location in ("json", "form", "files") else str(location), fields)
    return phrases


def error_body(status: int, code: str, message: str, details: Mapping[str, Any] | None = None):
    """Build the error body; the request id comes from the request context when there is one."""
    body: dict[str, Any] = {"status": status, "code": code, "message": message}
    body["details"] = dict(details or {})
    try:
        body["request_id"] = g.get("request_id")
    except RuntimeError:  # outside a request
        pass
    return {"error": body}


def _process_http_error(error: HTTPError):
    if has_request_context():
        g.api_error = error  # for after_request hooks that react to what was refused
    status = error.status_code
    code = getattr(error, "code", None)
    details = error.detail if isinstance(error.detail, Mapping) else {}
    message = error.message
    if not isinstance(code, str) or status == 404:
        # One code per "not there", whatever was looked for (details name the resource).
        code = CODES_BY_STATUS.get(status, "error")
    if status == 422 and not isinstance(error, ApiError):
        phrases = _flatten_validation_detail(details)
        message = "Invalid input: " + "; ".join(phrases) if phrases else "Invalid input"
        code = "validation_error"
    elif status == 400 and not isinstance(error, ApiError) and details:
        phrases = _flatten_validation_detail(details)
        if phrases:
            message = "Bad request: " + "; ".join(phrases)
    body = error_body(status, code, message, details)
    return body, status, error.headers


def init_app(app: APIFlask) -> None:
    """Install the JSON error processor and the catch-all for unexpected exceptions."""
    app.config["HTTP_ERROR_SCHEMA"] = ErrorResponse
    app.config["VALIDATION_ERROR_SCHEMA"] = ErrorResponse
    app.error_processor(_process_http_error)

    @app.errorhandler(redis.exceptions.ConnectionError)
    @app.errorhandler(redis.exceptions.TimeoutError)
    def _redis_unavailable(exc: Exception):
        # A dependency being down is not a bug in the request: say so, and say retry. The
        # outage is logged when it starts and ends, not once per request.
        outage_log("redis").failed("request", exc)
        return unavailable_response("redis")

    @app.errorhandler(sqlalchemy.exc.DBAPIError)
    @app.errorhandler(sqlalchemy.exc.TimeoutError)
    def _database_unavailable(exc: Exception):
        if not database_unavailable(exc):
            return _unexpected(exc)
        outage_log("database").failed("request", exc)
        return unavailable_response("database")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if isinstance(exc, HTTPException) and not isinstance(exc, InternalServerError):
            headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
            return _process_http_error(HTTPError(exc.code or 500, exc.description, headers=headers))
        log.exception("unhandled exception", extra={"request_id": g.get("request_id")})
        body = error_body(
            500,
            "internal_error",
            "An unexpected error occurred. Quote the request id when reporting it.",
        )
        return body, 500
