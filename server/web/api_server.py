"""All-in-one entry point: production WSGI server (+ job workers and scheduler).

    python server/api_server.py [--host HOST] [--port PORT]

Serves with gunicorn on Linux (waitress where gunicorn cannot run). Binds 127.0.0.1:5000 by
default; `PORT` and `--port` override.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: make the project root importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from server.core.config import (  # noqa: E402
    ConfigError,
    graceful_timeout_seconds,
    load_settings,
)


def parse_args(argv: list[str] | None = None, *, default_host: str, default_port: int):
    parser = argparse.ArgumentParser(description="Run the Job Application Agent server.")
    parser.add_argument(
        "--host", default=default_host, help=f"bind address (default {default_host})"
    )
    parser.add_argument(
        "--port", type=int, default=default_port, help=f"port (default {default_port})"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=8,
        help="HTTP threads (default 8), besides JOB_EVENTS_MAX_STREAMS threads for event streams",
    )
    parser.add_argument(
        "--no-migrate", action="store_true", help="do not apply database migrations at start-up"
    )
    return parser.parse_args(argv)


def port_unavailable(host: str, port: int) -> str | None:
    """Why `host:port` cannot be listened on (e.g. 'Address already in use'), or None.

    Checked before anything starts, so a busy port is one line, not the WSGI server's
    retries and the background services' tracebacks.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return exc.strerror
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As the WSGI server will bind: a port held only by TIME_WAIT connections is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
            probe.listen(1)
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def apply_migrations(app) -> None:
    """Bring the database schema to the latest revision, leaving no pooled connection behind
    (a forked gunicorn worker must not share the parent's PostgreSQL connection)."""
    from flask_migrate import upgrade

    from server.core.extensions import db

    with app.app_context():
        upgrade()
        db.engine.dispose()


def gunicorn_options(settings, *, host: str, port: int, threads: int) -> dict:
    """The all-in-one server's gunicorn settings: one worker process, `threads` for requests
    and one more per event stream it allows (`server.web.request_lanes`)."""
    from server.web.request_lanes import server_threads

    return {
        "bind": f"{host}:{port}",
        "workers": 1,
        "worker_class": "gthread",
        "threads": server_threads(settings, http_threads=threads),
        "timeout": 120,
        # Longer than the job grace period, or the arbiter kills the worker before it has
        # released the leases of the jobs still running.
        "graceful_timeout": graceful_timeout_seconds(settings),
        "accesslog": None,
        "control_socket_disable": True,
    }


def main(argv: list[str] | None = None) -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args = parse_args(argv, default_host=settings.host, default_port=settings.port)
    problem = port_unavailable(args.host, args.port)
    if problem:
        print(f"error: cannot listen on {args.host}:{args.port}: {problem}", file=sys.stderr)
        return 2

    from server import create_app
    from server.web import request_lanes
    from server.workers.runtime import start_background_services

    app = create_app(settings)
    if settings.auto_migrate and not args.no_migrate:
        apply_migrations(app)
    request_lanes.install(app, http_threads=args.threads)

    if sys.platform == "win32":  # pragma: no cover - gunicorn needs fork
        from waitress import serve

        start_background_services(app)
        threads = request_lanes.server_threads(settings, http_threads=args.threads)
        serve(app, host=args.host, port=args.port, threads=threads)
        return 0

    from gunicorn.app.base import BaseApplication

    class AllInOne(BaseApplication):
        def load_config(self) -> None:
            options = gunicorn_options(
                settings, host=args.host, port=args.port, threads=args.threads
            )
            for name, value in options.items():
                self.cfg.set(name, value)
            self.cfg.set("post_worker_init", lambda worker: start_background_services(app))
            self.cfg.set("worker_exit", lambda server, worker: _stop(app))

        def load(self):
            return app

    print(
        f"serving on http://{args.host}:{args.port} "
        f"(env={settings.env}, database={'sqlite' if settings.database_is_default else 'configured'}, "
        f"redis={'configured' if settings.redis_configured else 'embedded'})",
        flush=True,
    )
    AllInOne().run()
    return 0


def _stop(app) -> None:
    from server.workers.runtime import stop_background_services

    stop_background_services(app)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
