"""Reads on the hot path (job status, profile): one statement, no transaction, no ORM.

A polling client reads the same small row many times a second. Through the request's ORM
session that read costs four PostgreSQL round trips (the pool's liveness ping, BEGIN, the
SELECT, the ROLLBACK at teardown) and the ORM's and SQLAlchemy's execution bookkeeping, which
cost more Python than the round trip. Here a `HotQuery` (a SELECT compiled once) goes
straight to the driver on an autocommit connection of a pool of its own, which skips the
ping; each request thread keeps one of those connections checked out (up to the pool's size),
so a read costs no checkout either: a connection found dead (PostgreSQL restarted, `pg_terminate_backend`) is discarded
with the rest of the pool and the read runs once more on a fresh one, which a SELECT can
safely do. The answer is rendered by orjson straight to a response, with the keys and formats
of the route's output schema (the route keeps `@bp.output` for its documentation)."""

from __future__ import annotations

import threading
import time
import weakref
from collections import namedtuple
from collections.abc import Mapping
from datetime import datetime
from functools import cached_property
from typing import Any

import orjson
from flask import Flask, Response, current_app
from sqlalchemy import create_engine, event
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Select

from server.core.extensions import db
from server.models.base import isoformat
from server.ops import database_optimizer

_ENGINE_KEY = "hot_reads_engine"
_lock = threading.Lock()
# Connections of the read pool per process: one per request thread is plenty (a read holds
# its connection for one statement).
POOL_SIZE = 5
MAX_OVERFLOW = 10


class HotQuery:
    """A SELECT prepared once for `read_row`: its SQL for PostgreSQL's driver and a row type
    whose fields are the selected columns' names."""

    def __init__(self, statement: Select):
        self.statement = statement
        self.row_type = namedtuple("HotRow", statement.selected_columns.keys())  # noqa: PYI024

    @cached_property
    def _compiled(self) -> tuple[str, tuple[str, ...]]:
        # Compiled at the first read, not at import: a process that never reads it (a CLI
        # command, a worker) does not pay for SQLAlchemy's first compilation.
        # Positional parameters (`%s`): the driver binds a tuple for less than a mapping.
        compiled = self.statement.compile(dialect=postgresql.psycopg.dialect(paramstyle="format"))
        return str(compiled), tuple(compiled.positiontup or ())

    @property
    def sql(self) -> str:
        return self._compiled[0]

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return self._compiled[1]


def read_row(query: HotQuery, params: Mapping[str, Any]) -> Any | None:
    """The first row of `query` with `params` (None when there is none), read on the
    hot-read pool: the statement goes to the driver as is, its row comes back as a tuple,
    without SQLAlchemy's execution and result machinery (whose Python costs more than the
    round trip). Types come back as SQLAlchemy would give them on PostgreSQL, where it
    converts none of these columns."""
    engine = _engine(current_app)
    if engine.url.get_backend_name() != "postgresql":
        with engine.connect() as conn:
            row = conn.execute(query.statement, params).first()
        return None if row is None else query.row_type._make(row)
    for attempt in (1, 2):
        raw = _kept_connection(engine)
        kept = raw is not None
        if raw is None:
            raw = engine.raw_connection()
        try:
            # A kept connection keeps its cursor too (one per thread, reused read after read).
            cursor = _kept.cursor if kept else raw.driver_connection.cursor()
            started = time.perf_counter()
            try:
                cursor.execute(query.sql, [params[name] for name in query.parameter_names])
                row = cursor.fetchone()
            finally:
                if not kept:
                    cursor.close()
            _time_statement(query.sql, time.perf_counter() - started)
        except engine.dialect.loaded_dbapi.Error as exc:
            lost = engine.dialect.is_disconnect(exc, raw.driver_connection, None)
            if kept:
                _forget_kept(engine)
            if lost:
                # PostgreSQL restarted, or the connection was terminated: the others in the
                # pool are likely gone too. A SELECT can run again, once, on a fresh one.
                raw.invalidate(exc)
                engine.dispose()
            else:
                raw.close()
            if lost and attempt == 1:
                continue
            raise DBAPIError.instance(
                query.sql,
                params,
                exc,
                engine.dialect.loaded_dbapi.Error,
                connection_invalidated=lost,
                dialect=engine.dialect,
            ) from exc
        if not kept and not _keep(engine, raw):
            raw.close()
        return None if row is None else query.row_type._make(row)
    raise AssertionError("unreachable")


_kept = threading.local()
# How many connections request threads keep, per pool (`engine.dispose()` replaces the pool).
_kept_counts: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def _kept_connection(engine: Engine) -> Any | None:
    """This thread's kept connection of the engine's current pool, if it has one."""
    if getattr(_kept, "pool", None) is engine.pool:
        return _kept.raw
    if getattr(_kept, "raw", None) is not None:
        _forget_kept(engine)  # the pool was replaced (disposed): close the old connection
    return None


def _keep(engine: Engine, raw: Any) -> bool:
    """Keep `raw` checked out for this thread while the pool has room for one more."""
    pool = engine.pool
    with _lock:
        count = _kept_counts.get(pool, 0)
        if count >= POOL_SIZE:
            return False
        _kept_counts[pool] = count + 1
    _kept.pool, _kept.raw, _kept.cursor = pool, raw, raw.driver_connection.cursor()
    return True


def _forget_kept(engine: Engine) -> None:
    """Drop this thread's kept connection (its read failed, or its pool was replaced)."""
    pool, raw = _kept.pool, _kept.raw
    _kept.cursor.close()
    _kept.pool = _kept.raw = _kept.cursor = None
    with _lock:
        if pool in _kept_counts:
            _kept_counts[pool] -= 1
    if pool is not engine.pool:
        raw.invalidate()  # closed now, rather than when the old pool is collected


def give_back_thread_connection() -> None:
    """Return this thread's kept connection to its pool, if it keeps one: called by a thread
    about to wait for minutes (an event stream), so the threads serving reads keep theirs
    (only `POOL_SIZE` are kept, and a read on a thread without one opens a connection)."""
    raw = getattr(_kept, "raw", None)
    if raw is None:
        return
    pool = _kept.pool
    _kept.cursor.close()
    _kept.pool = _kept.raw = _kept.cursor = None
    with _lock:
        if pool in _kept_counts:
            _kept_counts[pool] -= 1
    raw.close()


def _time_statement(sql: str, seconds: float) -> None:
    """Record a slow hot read like any other slow statement (these reads bypass the main
    engine's cursor events, so they are timed here)."""
    settings = current_app.config["SETTINGS"]
    if settings.slow_query_ms > 0 and seconds * 1000 >= settings.slow_query_ms:
        database_optimizer.record_slow_query(
            current_app, sql, seconds, keep=settings.slow_query_recent_max
        )


def _engine(app: Flask) -> Engine:
    engine = app.extensions.get(_ENGINE_KEY)
    if engine is not None:
        return engine
    with _lock:
        engine = app.extensions.get(_ENGINE_KEY)
        if engine is None:
            engine = _build_engine(app, db.engine)
            app.extensions[_ENGINE_KEY] = engine
    return engine


def _build_engine(app: Flask, main: Engine) -> Engine:
    if main.url.get_backend_name() == "sqlite":
        return main  # one file, no server round trips to save
    # The main engine's connection options (the statement timeout) apply here too.
    connect_args = database_optimizer.engine_options(app.config["SETTINGS"])["connect_args"]
    engine = create_engine(
        main.url,
        connect_args=connect_args,
        isolation_level="AUTOCOMMIT",
        pool_size=POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
        pool_recycle=1800,
        pool_pre_ping=False,
    )

    # Whoever disposes of the app's engine (after a fork, at the end of a test) means this
    # pool too.
    @event.listens_for(main, "engine_disposed")
    def _dispose_with_main(_main) -> None:
        engine.dispose()

    return engine


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return isoformat(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def render_json(data: Mapping[str, Any]) -> bytes | None:
    """`data` as the JSON body Flask would give (sorted keys, trailing newline); datetimes
    as ISO 8601 in UTC with a Z suffix, as the schemas' `UtcDateTime` renders them. None
    when orjson cannot (an integer wider than 64 bits in a stored result)."""
    try:
        body = orjson.dumps(
            data,
            default=_default,
            option=orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME,
        )
    except orjson.JSONEncodeError:
        return None
    return body + b"\n"


def json_response(data: Mapping[str, Any], status: int = 200) -> Response:
    """`data` as Flask's JSON answer, rendered by `render_json`."""
    body = render_json(data)
    if body is None:
        response = current_app.json.response(_plain(data))
        response.status_code = status
        return response
    return Response(body, status=status, mimetype="application/json")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return isoformat(value)
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value
