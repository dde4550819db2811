"""Two lanes of HTTP threads in a web process: job event streams, and every other request.

An event stream (`GET /api/jobs/<job_id>/events`) holds its thread for as long as it is open,
minutes at a time, while it waits for its job to change. So the entry points' WSGI servers
(`gunicorn.conf.py`, `server/web/api_server.py`) run `server_threads`: their HTTP threads plus
`JOB_EVENTS_MAX_STREAMS` more, and the streams of a process are capped at that number
(`services.jobs.EventStreamSlots`, 503 beyond). However many streams are open, the HTTP
threads stay free for the other requests. `OrdinaryLane` keeps those requests to the HTTP
threads' number at once, as when the server had no others: the spare threads are the
streams', not extra capacity for a burst of ordinary requests (which would only contend for
the interpreter and the database pool).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # gunicorn.conf.py imports this module in the master process: keep it light
    from flask import Flask

    from server.core.config import Settings

EVENT_STREAM_PATH = re.compile(r"/api/jobs/[^/]+/events")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def server_threads(settings: Settings, *, http_threads: int) -> int:
    """The threads a web process runs: its HTTP threads and one per event stream it allows."""
    return http_threads + settings.job_events_max_streams


class OrdinaryLane:
    """WSGI middleware: requests other than event streams run `threads` at a time.

    A request holds its permit while the application makes its response, not while the
    server writes it out (a download's bytes): writing waits on the client, not on this
    process.
    """

    def __init__(self, app: WSGIApp, *, threads: int):
        self._app = app
        self._permits = threading.BoundedSemaphore(threads)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        if EVENT_STREAM_PATH.fullmatch(environ.get("PATH_INFO", "")):
            return self._app(environ, start_response)
        with self._permits:
            return self._app(environ, start_response)


def install(app: Flask, *, http_threads: int) -> None:
    """Put the ordinary lane outside the app's WSGI layers (called by the entry points, in
    each web process, once its server has `server_threads` threads)."""
    app.wsgi_app = OrdinaryLane(app.wsgi_app, threads=http_threads)  # type: ignore[method-assign]
