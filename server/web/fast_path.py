"""The polled reads answered below Flask: `GET /api/jobs/<id>/status` and `GET /api/user/profile`.

Clients poll these two many times a minute, and for a poll the request's checks and its one row
cost less than Flask's machinery around them (the request context, the hooks, the response
object). So a WSGI layer just outside Flask (inside the client-address middleware, so it sees
the same address) answers the ordinary case itself, with the same checks, body and headers:

1. The token's claims come from this process's cache of verified tokens
   (`auth.verified_claims`). A token this process has not verified yet, an `Origin` header
   (CORS), or a dependency being probed after an outage: the request goes to Flask untouched.
2. The request gate's one Redis call (`request_gate.call_gate`), made as the gate makes it:
   the address's block, the token's revocation, the user's session state, every limit, and
   the job's place in line.
3. The row, in one statement (`server.services.hot_reads`), read while Redis runs the gate's script
   (so the two round trips overlap; it is answered only if the gate admits the request),
   rendered as the view renders it.
4. A 200 with the headers Flask's hooks add (request id, security headers, `Cache-Control`,
   rate-limit headers), counted in the metrics and written to the access log.

Any other outcome (blocked, revoked, disabled, over a limit, Redis unreachable, no such row,
someone else's row, a failed read) hands the request to Flask with the gate's call attached
(`request_gate.HANDED_CALL`): the gate decides from that call, so nothing is spent twice, and
Flask answers as it answers any request (the 404 for someone else's job records the probe).
A handed request keeps its request id and is timed from when the fast path began on it.

The price of the overlap: a poll the gate refuses has read its row all the same (one
primary-key SELECT, never answered), and a 404 reads twice (here, then in the view).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from flask import Flask, g

from server.core import metrics
from server.core.logging_config import STARTED_KEY, access_logger, log_access
from server.core.outages import outage_log
from server.rate_limiter import (
    API_PER_IP,
    RedisUnavailable,
    get_rate_limiter,
    limits_for,
    rate_limit_headers,
)
from server.security_manager import ip_blocking
from server.security_manager.auth import auth_mode, bearer_spelled, verified_claims
from server.services.hot_reads import render_json
from server.web.request_gate import HANDED_CALL, UNREACHABLE, GateCall, call_gate
from server.web.request_hooks import SECURITY_HEADERS, request_id_of, subject_of

log = logging.getLogger(__name__)

_STATUS_PATH = re.compile(
    r"/api/jobs/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/status"
)
_PROFILE_PATH = "/api/user/profile"
_SECURITY_HEADERS = tuple(SECURITY_HEADERS.items())


class _Route(NamedTuple):
    endpoint: str
    rule: str  # as the metrics label it
    mode: str  # `auth.auth_mode` of the view
    # The view's row for the user and the URL's object id (None when the view would not
    # answer 200: the request then goes to Flask), and its body from the row and the gate's
    # call.
    read: Callable[[int, str | None], Any | None]
    render: Callable[[Any, GateCall], dict[str, Any]]
    locate_rank: Callable[[dict[str, Any]], tuple[str, str]] | None


def _job_status_row(user_id: int, job_id: str | None) -> Any | None:
    from server.services import jobs

    return jobs.status_row_if_owned(user_id=user_id, job_id=job_id or "")


def _job_status(row: Any, call: GateCall) -> dict[str, Any]:
    from server.services import jobs

    return jobs.describe(row, with_position=True, known_rank=(call.rank,) if call.ranked else None)


def _profile_row(user_id: int, _object_id: str | None) -> Any | None:
    from server.services import profiles

    return profiles.row_if_active(user_id=user_id)


def _profile(row: Any, _call: GateCall) -> dict[str, Any]:
    from server.services import profiles

    return profiles.view_of(row)


class FastPath:
    """WSGI middleware in front of Flask's own `wsgi_app` (see the module's docstring)."""

    def __init__(self, app: Flask, flask_wsgi: Callable):
        self.app = app
        self.flask_wsgi = flask_wsgi
        self._routes: dict[str, _Route] | None = None
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        if environ.get("REQUEST_METHOD") != "GET":
            return self.flask_wsgi(environ, start_response)
        path = environ.get("PATH_INFO", "")
        if path == _PROFILE_PATH:
            name, object_id = "profile", None
        else:
            matched = _STATUS_PATH.fullmatch(path)
            if matched is None:
                return self.flask_wsgi(environ, start_response)
            name, object_id = "status", matched[1]
        header = environ.get("HTTP_AUTHORIZATION")
        if (
            not header
            or "HTTP_ORIGIN" in environ
            or outage_log("redis").down
            or outage_log("database").down
        ):
            return self.flask_wsgi(environ, start_response)
        route = self._route(name)
        if route is None:
            return self.flask_wsgi(environ, start_response)
        claims = verified_claims(self.app, route.mode, bearer_spelled(header))
        if claims is None:
            return self.flask_wsgi(environ, start_response)
        started = time.perf_counter()
        request_id = request_id_of(environ)
        with self.app.app_context():
            g.request_id = request_id  # for the slow-query log
            answered = self._answer(environ, path, route, object_id, claims, started, request_id)
        if isinstance(answered, GateCall) or answered is None:
            # One id for the request, whichever part answers it (Flask takes the header's).
            environ["HTTP_X_REQUEST_ID"] = request_id
            environ[STARTED_KEY] = started  # timed from here in the log and the metrics
            if answered is not None:
                environ[HANDED_CALL] = answered
            return self.flask_wsgi(environ, start_response)
        headers, body = answered
        start_response("200 OK", headers)
        return [body]

    def _answer(
        self,
        environ: dict[str, Any],
        path: str,
        route: _Route,
        object_id: str | None,
        claims: dict[str, Any],
        started: float,
        request_id: str,
    ) -> tuple[list[tuple[str, str]], bytes] | GateCall | None:
        """The 200's headers and body; else the gate's call to hand to Flask with the
        request (None: no call was made)."""
        app = self.app
        settings = app.config["SETTINGS"]
        limiter = get_rate_limiter(app)
        user_id = int(claims["sub"])
        address = environ.get("REMOTE_ADDR")
        subject = subject_of(address)
        names = limits_for(
            app, method="GET", path=path, endpoint=route.endpoint, authenticated=True
        )
        plan = limiter.plan_for(names if limiter.enabled else ())
        # The row is read while Redis runs the gate's script (it is answered only if the gate
        # admits the request): the two round trips overlap.
        read: list[Any] = []

        def read_row() -> None:
            try:
                read.append(route.read(user_id, object_id))
            except Exception as exc:  # noqa: BLE001 - the view reads again and answers
                read.append(exc)

        try:
            call = call_gate(
                limiter,
                check_block=bool(subject) and not ip_blocking.is_allowlisted(address, settings),
                subject=subject,
                payload=claims,
                mode=route.mode,
                early=None,
                plan=plan,
                keys=limiter.keys_for(plan, {"ip": subject, "user": str(user_id)}),
                refused=1 if plan.limits and plan.limits[0][0] == API_PER_IP else 0,
                ranked=route.locate_rank({"job_id": object_id}) if route.locate_rank else None,
                meanwhile=read_row,
            )
        except RedisUnavailable:
            return UNREACHABLE
        except Exception:  # noqa: BLE001 - Flask's gate makes the call again and reports it
            log.warning("fast path: the gate call failed; handing over", exc_info=True)
            return None
        if call.blocked_here or call.reply is None or call.reply[0] != "A":
            return call
        decision = limiter.decision_from_reply(plan, call.reply[2:])
        if not decision.allowed:
            return call
        row = read[0] if read else None
        if isinstance(row, Exception):
            log.debug("fast path: the read failed; handing over", exc_info=row)
            return call
        try:
            body = render_json(route.render(row, call)) if row is not None else None
        except Exception:  # noqa: BLE001 - the view renders again and answers as Flask does
            log.debug("fast path: the answer could not be rendered; handing over", exc_info=True)
            return call
        if body is None:
            return call
        limiter.note(decision)
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("X-Request-ID", request_id),
            *_SECURITY_HEADERS,
            ("Cache-Control", "no-store"),
            *rate_limit_headers(decision).items(),
        ]
        seconds = time.perf_counter() - started
        if settings.metrics_enabled:
            metrics.observe_request("GET", route.rule, 200, seconds)
        access = access_logger()
        if access.isEnabledFor(logging.INFO):
            log_access(
                access,
                method="GET",
                path=path,
                status=200,
                duration_ms=round(seconds * 1000, 2),
                user_id=user_id,
                client_ip=address,
                request_id=request_id,
            )
        return headers, body

    def _route(self, name: str) -> _Route | None:
        routes = self._routes
        if routes is None:
            with self._lock:
                if self._routes is None:
                    self._routes = _routes_of(self.app)
                routes = self._routes
        return routes.get(name)


def _routes_of(app: Flask) -> dict[str, _Route]:
    """The fast path's routes, from the app's own rules and views (built on first use, when
    every blueprint is registered). A view that takes `?token=` is left to Flask."""
    wanted = {
        "jobs.status": ("status", _job_status_row, _job_status),
        "user.profile": ("profile", _profile_row, _profile),
    }
    routes = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint not in wanted or "GET" not in (rule.methods or ()):
            continue
        view = app.view_functions[rule.endpoint]
        if getattr(view, "_scoped_token", None) is not None:
            continue
        name, read, render = wanted[rule.endpoint]
        routes[name] = _Route(
            endpoint=rule.endpoint,
            rule=rule.rule,
            mode=auth_mode(app, rule.endpoint),
            read=read,
            render=render,
            locate_rank=getattr(view, "_prefetch_rank", None),
        )
    return routes


def init_app(app: Flask) -> None:
    """Put the fast path in front of Flask; call before any other WSGI middleware wraps
    `app.wsgi_app`, so it sees the canonical client address like the views do."""
    app.wsgi_app = FastPath(app, app.wsgi_app)  # type: ignore[method-assign]
