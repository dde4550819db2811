"""Per-request plumbing: request ids, the trusted client IP, and response headers."""

from __future__ import annotations

import itertools
import logging
import os
import re
import uuid

import redis
from flask import Flask, g, request
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from server.core.extensions import db
from server.core.outages import outage_log
from server.core.redis_client import get_redis
from server.security_manager.ip_blocking import address_subject, canonical_ip

log = logging.getLogger("server.request")
security_log = logging.getLogger("server.security")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# What the request hooks note in `g` about the current request.
PER_REQUEST_KEYS = (
    "ip_blocked",
    "api_error",
    "rate_limit_decision",
    "rate_limit_counted",
    "current_user",
    "user_id",
    "jwt",
    "session_state",
    "prefetched_rank",
)

SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# The interactive docs page loads Swagger UI's script and styles from this server only; the
# page's own small script and style are inline.
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
)


class AsciiIntegerConverter(IntegerConverter):
    """`<int:...>` that matches ASCII digits only: Werkzeug's `\\d+` also matches `١` and `１`,
    which `int()` then reads as 1."""

    regex = r"[0-9]+"


class CanonicalClientAddress:
    """WSGI middleware: one spelling per client address (`::ffff:1.2.3.4` is `1.2.3.4`).

    Blocks, lockouts, rate-limit keys and audit records all key on `request.remote_addr`, so
    two spellings of one address must not count as two clients. A forwarded address that is
    not an IP (`not-an-ip`, `10.8.8.8:4444`) is not trusted: the peer's address is used and
    the value is logged, so a client cannot pick a subject that can never be blocked.
    """

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        address = environ.get("REMOTE_ADDR")
        if address:
            try:
                environ["REMOTE_ADDR"] = canonical_ip(address)
            except ValueError:
                peer = environ.get("werkzeug.proxy_fix.orig", {}).get("REMOTE_ADDR")
                if peer is not None and peer != address:
                    security_log.warning(
                        "forwarded client address is not an IP; using the peer's",
                        extra={"forwarded_for": address[:100], "client_ip": peer},
                    )
                    environ["REMOTE_ADDR"] = _canonical_or_same(peer)
                # else not an address (a unix socket peer): leave it as the server gave it
        return self.wsgi_app(environ, start_response)


def _canonical_or_same(address: str) -> str:
    try:
        return canonical_ip(address)
    except ValueError:
        return address


class NoCookieSession(SecureCookieSessionInterface):
    """No cookie session: the API authenticates with bearer tokens and keeps nothing in
    Flask's `session`. Flask's own interface would build a signing serializer for every
    request to look for a cookie that is never set; this one hands out the null session
    (which refuses writes) and sets no cookie."""

    def open_session(self, app, request):
        return self.make_null_session(app)

    def save_session(self, app, session, response) -> None:
        return None


_request_ids: tuple[int, str, itertools.count] | None = None


def new_request_id() -> str:
    """32 hex digits, unique: a random prefix per process and a counter (no system call per
    request, as `uuid4` makes)."""
    global _request_ids
    ids = _request_ids
    if ids is None or ids[0] != os.getpid():  # a forked child draws its own prefix
        ids = _request_ids = (os.getpid(), uuid.uuid4().hex[:16], itertools.count())
    return f"{ids[1]}{next(ids[2]) & 0xFFFFFFFFFFFFFFFF:016x}"


def client_subject() -> str:
    """This request's client as per-address limits and blocks count it (IPv6: its /64)."""
    return subject_of(request.remote_addr)


def subject_of(address: str | None) -> str:
    """A client address as per-address limits and blocks count it (IPv6: its /64)."""
    address = address or "unknown"
    try:
        return address_subject(address)
    except ValueError:
        return address


def request_id_of(environ: dict) -> str:
    """The request's id: the client's `X-Request-ID` when it is a sensible one, else new."""
    incoming = environ.get("HTTP_X_REQUEST_ID", "")
    return incoming if _REQUEST_ID.match(incoming) else new_request_id()


def init_app(app: Flask) -> None:
    """Install ProxyFix for the configured proxy hops, request ids and security headers."""
    hops = app.config["SETTINGS"].trusted_proxy_count
    # Match paths as sent: Werkzeug would answer `/api/auth//login` with a 308 whose Location
    # is built from the request's Host header. A doubled slash is a 404 like any unknown path.
    app.url_map.merge_slashes = False
    app.url_map.converters["int"] = AsciiIntegerConverter
    app.wsgi_app = CanonicalClientAddress(app.wsgi_app)  # type: ignore[method-assign]
    if hops:
        # Outermost, so the address it takes from X-Forwarded-For is canonicalised too.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    app.session_interface = NoCookieSession()

    @app.teardown_request
    def _discard_uncommitted(_exc) -> None:
        # Services commit what they mean to keep; whatever a request left pending is dropped,
        # even when the app context (and so the session) outlives the request. The response
        # may already be on its way: raising here would turn it into the WSGI server's 500.
        if not db.session.registry.has():
            return  # the request never opened a session (the hot reads do not)
        try:
            db.session.rollback()
        except Exception as exc:  # noqa: BLE001 - logged; a teardown must never raise
            # A dead connection cannot roll back, and needs not: the server dropped the
            # transaction with it, and the pool discards the connection.
            log.warning(
                "rollback at the end of a request failed; connection discarded",
                extra={"request_id": g.get("request_id"), "error": f"{type(exc).__name__}: {exc}"},
            )
            try:
                db.session.remove()
            except Exception:
                log.warning("closing the request's database session failed", exc_info=True)

    @app.after_request
    def _probe_dependencies_after_an_outage(response):
        # An outage is logged when it starts; someone has to notice when it ends. While a
        # dependency is marked down, one request a second checks it.
        redis_outage = outage_log("redis")
        if redis_outage.probe_due():
            try:
                get_redis().ping()
                redis_outage.recovered()
            except redis.RedisError as exc:
                redis_outage.failed("probe", exc)
        database_outage = outage_log("database")
        if database_outage.probe_due():
            try:
                with db.engine.connect() as sql:
                    sql.execute(text("SELECT 1"))
                database_outage.recovered()
            except SQLAlchemyError as exc:
                database_outage.failed("probe", exc)
        return response

    @app.before_request
    def _start_request() -> None:
        # `g` outlives a request that runs inside an app context pushed earlier (a test's, a
        # CLI command's): what the hooks note about one request must not leak into the next.
        noted = vars(g._get_current_object())  # one lookup, not one per key
        for key in PER_REQUEST_KEYS:
            noted.pop(key, None)
        noted["request_id"] = request_id_of(request.environ)

    @app.after_request
    def _response_headers(response):
        headers = response.headers
        headers["X-Request-ID"] = g.get("request_id") or new_request_id()
        present = {name.lower() for name, _value in headers.items()}
        for name, value in SECURITY_HEADERS.items():
            if name.lower() not in present:  # a view's own value stands
                headers.add(name, value)
        if request.endpoint == "openapi.docs":
            response.headers["Content-Security-Policy"] = DOCS_CSP
        if g.get("user_id") is not None or request.headers.get("Authorization"):
            response.headers["Cache-Control"] = "no-store"
        return response
