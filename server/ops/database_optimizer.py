"""The database engine and its pool, slow-query detection, and daily maintenance.

- Engine: PostgreSQL gets a pool of `DB_POOL_SIZE` (10) plus `DB_MAX_OVERFLOW` (20), waits
  `DB_POOL_TIMEOUT` for a free connection, recycles connections after `DB_POOL_RECYCLE`, pings
  each on checkout, and runs every statement under `DB_STATEMENT_TIMEOUT_MS`. A forked child
  (gunicorn worker) starts with an empty pool of its own: the parent's connections are left to
  the parent. SQLite keeps its own settings (no pool sizing, a lock timeout).
- Slow queries: every statement is timed through the cursor events; one slower than
  `SLOW_QUERY_MS` is logged with its normalised SQL, duration and request or job id, counted,
  and kept in a bounded list in Redis (`monitoring:slow_queries`, newest first).
  `pg_stat_statements` adds the server's own view when the extension is installed.
- Maintenance: `run_daily_maintenance()` deletes what has expired (finished jobs past
  retention, expired tokens and revocations, old security events and IP blocks, old
  side-effect records; never a user's resumes or applications), then runs `VACUUM (ANALYZE)`
  outside any transaction. Runbook: `python -c "from server.ops.database_optimizer import
  run_daily_maintenance; run_daily_maintenance()"` or `flask --app server maintenance run`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask, g, has_app_context
from sqlalchemy import Table, and_, create_engine, delete, event, exists, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from server.core import metrics
from server.core.config import Settings
from server.core.logging_config import current_job_id

log = logging.getLogger("server.database")

SLOW_QUERIES_KEY = "monitoring:slow_queries"
MAX_SQL_CHARS = 2000
DELETE_BATCH = 5000

# --- engine and pool ---------------------------------------------------------------------


def engine_options(settings: Settings) -> dict[str, Any]:
    """SQLAlchemy engine options for the configured database."""
    if settings.database_url.startswith("sqlite"):
        return {"connect_args": {"check_same_thread": False, "timeout": 30}}
    connect_args: dict[str, Any] = {}
    if settings.db_pgbouncer:
        # Transaction pooling hands each transaction any server connection: a statement psycopg
        # prepared on one is unknown on the next, and PgBouncer refuses the `options` startup
        # parameter (its `connect_query` sets the statement timeout instead).
        connect_args["prepare_threshold"] = None
    elif settings.db_statement_timeout_ms:
        connect_args["options"] = f"-c statement_timeout={settings.db_statement_timeout_ms}"
    return {
        "pool_pre_ping": True,
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout,
        "pool_recycle": settings.db_pool_recycle,
        "connect_args": connect_args,
    }


_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def _fresh_pools_after_fork() -> None:
    # The child must not use the parent's sockets; close=False leaves them to the parent.
    for engine in list(_engines):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_fresh_pools_after_fork)


def pool_status(engine: Engine) -> dict[str, Any]:
    """This process's pool: size, connections in use, overflow, and use of its capacity."""
    pool = engine.pool
    size = getattr(pool, "size", None)
    if not callable(size):  # SQLite's pools: no sizing
        return {
            "utilization_percent": 0.0,
            "pool_class": type(pool).__name__,
            "size": None,
            "checked_out": None,
            "checked_in": None,
            "overflow": None,
            "max_overflow": None,
            "max_connections": None,
        }
    checked_out = pool.checkedout()
    capacity = pool.size() + max(0, pool._max_overflow)  # type: ignore[attr-defined]
    return {
        "utilization_percent": round(100.0 * checked_out / capacity, 1) if capacity else 0.0,
        "pool_class": type(pool).__name__,
        "size": pool.size(),
        "checked_out": checked_out,
        "checked_in": pool.checkedin(),
        "overflow": max(0, pool.overflow()),
        "max_overflow": pool._max_overflow,  # type: ignore[attr-defined]
        "max_connections": capacity,
    }


# --- slow queries ------------------------------------------------------------------------

_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w$.])-?\d+(?:\.\d+)?\b")
_PLACEHOLDER = re.compile(r"%\(\w+\)s|%s|\?|:\w+|\$\d+")
_LIST = re.compile(r"\((?:\s*\?\s*,)+\s*\?\s*\)")
_SPACE = re.compile(r"\s+")


def normalise_sql(statement: str) -> str:
    """The statement's shape: literals and parameters as `?`, lists as `(...)`, one line."""
    shape = _STRING_LITERAL.sub("?", statement)
    shape = _PLACEHOLDER.sub("?", shape)
    shape = _NUMBER.sub("?", shape)
    shape = _LIST.sub("(...)", shape)
    shape = _SPACE.sub(" ", shape).strip()
    return shape[:MAX_SQL_CHARS]


def _context_ids() -> dict[str, str | None]:
    # The fast path (`server.web.fast_path`) answers in an app context of its own, with the
    # request's id in `g`.
    request_id = g.get("request_id") if has_app_context() else None
    return {"request_id": request_id, "job_id": current_job_id.get()}


def install_slow_query_timing(app: Flask, engine: Engine) -> None:
    """Time every statement of `engine`; record those slower than the app's SLOW_QUERY_MS."""
    settings: Settings = app.config["SETTINGS"]
    threshold = settings.slow_query_ms / 1000.0
    if threshold <= 0:
        return
    keep = settings.slow_query_recent_max
    clock = time.perf_counter
    # The engine outlives no app it was made for: its listeners hold the app weakly.
    app_ref = weakref.ref(app)

    @event.listens_for(engine, "before_cursor_execute")
    def _started(conn, _cursor, _statement, _parameters, _context, _executemany):
        conn.info.setdefault("_query_started", []).append(clock())

    @event.listens_for(engine, "after_cursor_execute")
    def _finished(conn, _cursor, statement, _parameters, _context, _executemany):
        elapsed = clock() - conn.info["_query_started"].pop()
        if elapsed >= threshold and (owner := app_ref()) is not None:
            record_slow_query(owner, statement, elapsed, keep=keep)

    @event.listens_for(engine, "handle_error")
    def _failed(context):
        # A failed statement never reaches after_cursor_execute; drop its start time.
        started = context.connection.info.get("_query_started") if context.connection else None
        if started:
            started.pop()


def record_slow_query(app: Flask, statement: str, seconds: float, *, keep: int) -> dict[str, Any]:
    """Log, count and keep one slow statement (in Redis, newest first, at most `keep`)."""
    entry = {
        "sql": normalise_sql(statement),
        "duration_ms": round(seconds * 1000, 1),
        "at": time.time(),
        **_context_ids(),
    }
    metrics.SLOW_QUERIES.inc()
    log.warning("slow query", extra=entry)
    try:
        from server.core.redis_client import get_redis

        with get_redis(app).pipeline(transaction=False) as pipe:
            pipe.lpush(SLOW_QUERIES_KEY, json.dumps(entry))
            pipe.ltrim(SLOW_QUERIES_KEY, 0, keep - 1)
            pipe.execute()
    except Exception as exc:  # noqa: BLE001 - the query's caller must not fail for this
        log.debug("slow query not kept in Redis", extra={"error": f"{type(exc).__name__}: {exc}"})
    return entry


def recent_slow_queries(conn, *, limit: int = 20, since: float | None = None) -> list[dict]:
    """The latest slow statements kept in Redis, newest first (`since`: epoch seconds)."""
    entries = [json.loads(raw) for raw in conn.lrange(SLOW_QUERIES_KEY, 0, limit - 1)]
    if since is not None:
        entries = [e for e in entries if e.get("at", 0) >= since]
    return entries


def pg_stat_statements(connection, *, limit: int = 10) -> dict[str, Any]:
    """The statements PostgreSQL spent most time on (`pg_stat_statements`, PostgreSQL 13+
    columns), or why they are not available."""
    if connection.dialect.name != "postgresql":
        return {"available": False, "reason": "only PostgreSQL has pg_stat_statements"}
    installed = connection.scalar(
        text("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
    )
    if not installed:
        return {
            "available": False,
            "reason": "the pg_stat_statements extension is not installed (add it to "
            "shared_preload_libraries, then CREATE EXTENSION pg_stat_statements)",
        }
    try:
        with connection.begin_nested():
            rows = connection.execute(
                text(
                    "SELECT query, calls, total_exec_time, mean_exec_time, max_exec_time, rows "
                    "FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database()) "
                    "ORDER BY total_exec_time DESC LIMIT :limit"
                ),
                {"limit": limit},
            ).all()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0]
        return {"available": False, "reason": f"pg_stat_statements cannot be read: {reason}"}
    return {
        "available": True,
        "reason": None,
        "top": [
            {
                "sql": normalise_sql(row.query),
                "calls": int(row.calls),
                "total_ms": round(float(row.total_exec_time), 1),
                "mean_ms": round(float(row.mean_exec_time), 2),
                "max_ms": round(float(row.max_exec_time), 1),
                "rows": int(row.rows),
            }
            for row in rows
        ],
    }


# --- wiring --------------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    """Fresh pools after a fork, slow-query timing and pool gauges; call after `db.init_app`."""
    from server.core.extensions import db

    with app.app_context():
        engine = db.engine
    _engines.add(engine)
    install_slow_query_timing(app, engine)
    if app.config["SETTINGS"].metrics_enabled and callable(getattr(engine.pool, "size", None)):
        _install_pool_gauges(engine)


def _install_pool_gauges(engine: Engine) -> None:
    pool = engine.pool
    capacity = pool.size() + max(0, pool._max_overflow)  # type: ignore[attr-defined]
    metrics.DB_POOL_CAPACITY.inc(capacity)
    weakref.finalize(engine, metrics.DB_POOL_CAPACITY.dec, capacity)
    engine_ref = weakref.ref(engine)

    def _update(*_args) -> None:
        current = engine_ref()
        if current is not None:  # read engine.pool: dispose() replaces the pool
            metrics.DB_POOL_CHECKED_OUT.set(current.pool.checkedout())
            metrics.DB_POOL_OVERFLOW.set(max(0, current.pool.overflow()))

    # Listeners on the pool move to its replacement when the engine is disposed.
    event.listen(pool, "checkout", _update)
    event.listen(pool, "checkin", _update)


# --- maintenance ---------------------------------------------------------------------------

# Extra clean-ups other modules add: name -> function(settings, now) -> rows deleted. Each runs
# in the maintenance's app context and owns its transaction.
CLEANUPS: dict[str, Callable[[Settings, Any], int]] = {}
_maintenance_lock = threading.Lock()


def register_cleanup(name: str) -> Callable:
    """Add a clean-up step to the daily maintenance (a module's own expired records)."""

    def add(function: Callable[[Settings, Any], int]) -> Callable[[Settings, Any], int]:
        CLEANUPS[name] = function
        return function

    return add


def _delete_in_batches(engine: Engine, table: Table, where) -> int:
    """Delete the rows matching `where`, a batch per transaction, so locks stay short."""
    key = table.primary_key.columns.values()[0]
    total = 0
    while True:
        with engine.begin() as sql:
            ids = select(key).where(where).limit(DELETE_BATCH).scalar_subquery()
            deleted = sql.execute(delete(table).where(key.in_(ids))).rowcount or 0
        total += deleted
        if deleted < DELETE_BATCH:
            return total


def _referenced_elsewhere(table: Table):
    """A condition true for rows of `table` another table points at with a foreign key: those
    rows are kept, so deleting a job never takes a user's application with it."""
    from server.core.extensions import db

    conditions = []
    for other in db.metadata.tables.values():
        for fk in other.foreign_keys:
            if fk.column.table is table:
                conditions.append(exists().where(fk.parent == fk.column))
    return conditions


def cleanup_expired_records(settings: Settings, now) -> dict[str, int]:
    """Delete what has outlived its use; returns rows deleted per kind."""
    from server.core.extensions import db
    from server.models import IpBlock, Job, OneTimeToken, Posting, SecurityEvent, SideEffect
    from server.models.job import TERMINAL_STATUSES
    from server.security_manager.lockout import prune_expired_login_failures
    from server.security_manager.token_revocations import prune_expired_revocations

    engine = db.engine
    jobs = Job.__table__
    job_cutoff = now - timedelta(days=settings.job_retention_days)
    kept = _referenced_elsewhere(jobs)
    finished_jobs = and_(
        jobs.c.status.in_(TERMINAL_STATUSES),
        jobs.c.finished_at < job_cutoff,
        *(~condition for condition in kept),
    )
    deleted = {"jobs": _delete_in_batches(engine, jobs, finished_jobs)}
    effects = SideEffect.__table__
    open_job = exists().where(
        jobs.c.id == effects.c.job_id, jobs.c.status.not_in(TERMINAL_STATUSES)
    )
    deleted["side_effects"] = _delete_in_batches(
        engine,
        effects,
        and_(
            effects.c.created_at < now - timedelta(days=settings.side_effect_retention_days),
            ~open_job,
        ),
    )
    tokens = OneTimeToken.__table__
    deleted["one_time_tokens"] = _delete_in_batches(engine, tokens, tokens.c.expires_at <= now)
    deleted["token_revocations"] = prune_expired_revocations()
    event_cutoff = now - timedelta(days=settings.security_event_retention_days)
    events = SecurityEvent.__table__
    deleted["security_events"] = _delete_in_batches(
        engine, events, events.c.created_at < event_cutoff
    )
    blocks = IpBlock.__table__
    deleted["ip_blocks"] = _delete_in_batches(engine, blocks, blocks.c.expires_at < event_cutoff)
    deleted["login_failures"] = prune_expired_login_failures(now=now)
    # Postings no search has found again for a while; one an application points at stays.
    postings = Posting.__table__
    posting_cutoff = now - timedelta(days=settings.posting_retention_days)
    deleted["postings"] = _delete_in_batches(
        engine,
        postings,
        and_(
            postings.c.updated_at < posting_cutoff,
            *(~condition for condition in _referenced_elsewhere(postings)),
        ),
    )
    for name, cleanup in CLEANUPS.items():
        deleted[name] = cleanup(settings, now)
    return deleted


def vacuum_analyze(engine: Engine, *, pooled: bool = False) -> str:
    """`VACUUM (ANALYZE)` (SQLite: `VACUUM` then `ANALYZE`), outside any transaction and
    without the statement timeout; returns what ran. `pooled`: the engine reaches PgBouncer in
    transaction mode, where a session's SET would outlive the statement on a shared server
    connection, so the VACUUM runs under the pool's statement timeout."""
    with engine.connect() as connection:
        autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
        if engine.dialect.name == "postgresql":
            if pooled:
                autocommit.exec_driver_sql("VACUUM (ANALYZE)")
                return "VACUUM (ANALYZE)"
            autocommit.exec_driver_sql("SET statement_timeout = 0")
            autocommit.exec_driver_sql("VACUUM (ANALYZE)")
            autocommit.exec_driver_sql("RESET statement_timeout")
            return "VACUUM (ANALYZE)"
        autocommit.exec_driver_sql("VACUUM")
        autocommit.exec_driver_sql("ANALYZE")
        return "VACUUM; ANALYZE"


def maintain(settings: Settings) -> dict[str, Any]:
    """Clean up, then vacuum and analyse, in the current app context; returns the report."""
    from server.core.extensions import db
    from server.models import utcnow

    with _maintenance_lock:
        started = time.monotonic()
        now = utcnow()
        report: dict[str, Any] = {"started_at": now.isoformat().replace("+00:00", "Z")}
        report["deleted"] = cleanup_expired_records(settings, now)
        if settings.db_pgbouncer and settings.database_direct_url:
            # VACUUM needs a session of its own: straight to PostgreSQL, not through PgBouncer.
            direct = create_engine(settings.database_direct_url, poolclass=NullPool)
            try:
                report["vacuum"] = vacuum_analyze(direct)
            finally:
                direct.dispose()
        else:
            report["vacuum"] = vacuum_analyze(db.engine, pooled=settings.db_pgbouncer)
        report["database"] = db.engine.dialect.name
        report["duration_seconds"] = round(time.monotonic() - started, 3)
    log.info("daily maintenance done", extra={"report": report})
    return report


def run_daily_maintenance(app: Flask | None = None) -> dict[str, Any]:
    """Run the daily maintenance and return its report.

    Works from anywhere: inside an app context (the scheduler, the CLI) it uses that app;
    otherwise (the runbook's `python -c` one-liner) it builds one from the configuration.
    """
    from server.core.config import get_settings

    if app is None and has_app_context():
        return maintain(get_settings())
    if app is None:
        from server import create_app

        app = create_app()
    with app.app_context():
        try:
            return maintain(app.config["SETTINGS"])
        finally:
            from server.core.extensions import db

            db.session.remove()
