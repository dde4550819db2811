"""The job queue: PostgreSQL keeps the record, Redis dispatches.

A job is committed to PostgreSQL, then enqueued in Redis. Workers claim jobs with a lease (a
random token and an expiry); every later write of the worker, in Redis and in PostgreSQL, is
guarded by that token, so a worker that lost its lease cannot finish the job. The reaper puts
expired leases back in line; the reconciler re-enqueues whatever PostgreSQL says is waiting
but Redis does not hold. Delivery is at least once: handlers must be idempotent.

This module moves data; it does not know job types (handlers live in `server.workers.job_handlers`).
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import os
import random
import re
import secrets
import select as sockets
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import redis
import sqlalchemy.exc
from flask import current_app
from sqlalchemy import Text, bindparam, case, cast, func, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError

from server import rate_limiter
from server.core.config import Settings, get_settings
from server.core.errors import Conflict, NotFound, database_unavailable
from server.core.extensions import db
from server.core.outages import outage_log
from server.core.pagination import paginate
from server.core.redis_client import dedicated_client, get_redis
from server.jobs import job_queue_scripts as scripts
from server.models import Job, JobStatus
from server.models.base import as_utc, utcnow
from server.models.job import TERMINAL_STATUSES, WAITING_STATUSES, JobPriority, new_job_id

log = logging.getLogger("server.jobs.job_queue")

QUEUE_NAME = "default"
KEY_PREFIX = f"jobq:{{{QUEUE_NAME}}}:"
QUEUE_KEYS = [KEY_PREFIX + name for name in scripts.KEY_NAMES]
STATE_KEY = KEY_PREFIX + "state"
WAKE_KEY = KEY_PREFIX + "wake"
REBUILD_LOCK_KEY = KEY_PREFIX + "rebuild"
REBUILD_LOCK_SECONDS = 120.0
ENQUEUE_CHUNK = 500
# The per-user cap's subject for jobs of the service itself (no user): user ids start at 1.
SERVICE_SUBJECT = "0"
JOBS = Job.__table__


class OutcomeKind(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    RETRY = "retry"  # a retryable error: back in line after a backoff, attempt counted
    DEFER = "defer"  # waiting for quota: back in line at its place, attempt not counted
    RELEASE = "release"  # the worker gives the job back (shutdown): queued again


@dataclass
class ClaimedJob:
    """A job this worker holds a lease on."""

    job_id: str
    user_id: int | None
    job_type: str
    payload: dict[str, Any]
    priority: int
    attempt: int
    lease_token: str
    outage_retries: int = 0  # earlier runs cut short by an outage (not counted as attempts)


@dataclass
class Outcome:
    """What became of one run, written by `record_outcomes`."""

    job_id: str
    lease_token: str
    kind: OutcomeKind
    result: Any = None
    result_json: str | None = None  # `result` as `encode_result` wrote it (workers set it)
    error: str | None = None
    delay_seconds: float = 0.0
    duration_ms: int | None = None
    message: str | None = None
    uncount_attempt: bool = False
    # RETRY only: the run was cut short by a lost connection to Redis or PostgreSQL; counted in
    # `outage_retries`, not as an attempt.
    outage: bool = False
    # DEFER only: the concurrency cap whose slot the job waits for. It is brought forward
    # when one frees (`promote_cap_waiters`); `delay_seconds` is then only the fallback.
    waits_for: str | None = None


@dataclass
class NewJob:
    """One job for `submit_jobs`."""

    user_id: int | None  # None: a job of the service itself (mail)
    job_type: str
    payload: dict[str, Any] = field(default_factory=dict)
    priority: JobPriority = JobPriority.NORMAL


def _settings() -> Settings:
    return get_settings()


class _Scripts:
    """The Lua scripts registered on one Redis client (EVALSHA, loaded on first use)."""

    def __init__(self, conn: redis.Redis):
        self.enqueue = conn.register_script(scripts.ENQUEUE)
        self.claim = conn.register_script(scripts.CLAIM)
        self.renew = conn.register_script(scripts.RENEW)
        self.settle = conn.register_script(scripts.SETTLE)
        self.expired = conn.register_script(scripts.EXPIRED)
        self.cancel = conn.register_script(scripts.CANCEL)
        self.release_lock = conn.register_script(scripts.RELEASE_LOCK)
        self.finish_rebuild = conn.register_script(scripts.FINISH_REBUILD)
        self.promote_waiters = conn.register_script(scripts.PROMOTE_WAITERS)


class QueueStateLost(Exception):
    """Redis no longer holds the queue's state (flushed, or restarted empty): rebuild it."""


def _redis() -> tuple[redis.Redis, _Scripts]:
    conn = get_redis()
    registered = getattr(conn, "_job_queue_scripts", None)
    if registered is None:
        registered = _Scripts(conn)
        conn._job_queue_scripts = registered  # type: ignore[attr-defined]
    return conn, registered


def _key(name: str) -> str:
    return KEY_PREFIX + name


def _ms(seconds: float) -> int:
    return max(0, int(seconds * 1000))


def request_fingerprint(job_type: str, payload: Any, priority: int) -> str:
    """A stable digest of a submission, to tell a retried submit from a different one."""
    canonical = json.dumps([job_type, payload, int(priority)], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


# A NUL character as json.dumps escapes it (not preceded by an escaped backslash).
_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def encode_result(result: Any) -> str:
    """A handler's result as the JSON text stored; ValueError when it cannot be stored.

    Strict JSON only: no `default=str` (a datetime or a set is refused, not silently turned
    into a string), no NaN or Infinity, and no NUL character, which PostgreSQL's JSON and JSONB
    refuse.
    """
    try:
        encoded = json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"result is not JSON-serialisable: {exc}") from None
    if "\\u0000" in encoded and _ESCAPED_NUL.search(encoded):
        raise ValueError(
            "result is not JSON-serialisable: it contains a NUL character (\\u0000), "
            "which PostgreSQL cannot store"
        )
    return encoded


def _encoded_result(outcome: Outcome) -> str:
    return outcome.result_json if outcome.result_json is not None else encode_result(outcome.result)


def _result_value(outcome: Outcome, dialect: str):
    """The stored result, bound as the JSON text itself so every path stores the same value."""
    value = bindparam(None, _encoded_result(outcome), type_=Text)
    return cast(value, JSONB) if dialect == "postgresql" else value


def retry_delay_seconds(attempt: int, *, base: float, maximum: float) -> float:
    """Exponential backoff with jitter: between half and all of min(max, base * 2^(n-1))."""
    ceiling = min(maximum, base * (2 ** max(0, attempt - 1)))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not security


# --- submit -------------------------------------------------------------------------------


# (job id, user id, priority, delay seconds[, place in line: the row's `queue_seq`])
EnqueueItem = tuple[Any, ...]


def enqueue(jobs: Sequence[EnqueueItem], *, rebuilding: bool = False) -> int:
    """Put (job id, user id, priority, delay seconds[, queue_seq]) in Redis; jobs already held
    are skipped. Returns how many were added.

    While Redis has lost the queue's state (no marker) nothing is added and `QueueStateLost`
    is raised: the state must be rebuilt from PostgreSQL first (`rebuild_queue_state`, which
    enqueues every waiting job in its place). `rebuilding` is for the rebuild's own enqueues.
    """
    conn, registered = _redis()
    cap = _settings().job_queue_max_per_user
    added = 0
    for start in range(0, len(jobs), ENQUEUE_CHUNK):
        args: list[Any] = [cap, "1" if rebuilding else "0"]
        for job_id, user_id, priority, delay, *place in jobs[start : start + ENQUEUE_CHUNK]:
            subject = SERVICE_SUBJECT if user_id is None else user_id
            args += [job_id, subject, int(priority), _ms(delay), int(place[0] or 0) if place else 0]
        outcome = registered.enqueue(keys=QUEUE_KEYS, args=args)
        if outcome == "lost":
            raise QueueStateLost("the queue's Redis state is gone")
        added += int(outcome)
    return added


def _process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _enqueue_after_commit(jobs: Sequence[EnqueueItem]) -> None:
    try:
        enqueue(jobs)
        outage_log("redis").recovered()
    except QueueStateLost:
        # Redis lost the line: the late enqueues rebuild it from PostgreSQL (these rows with
        # it), off the request, which touches PostgreSQL no more after its commit.
        _late_enqueues().add([job_id for job_id, *_ in jobs])
    except redis.RedisError as exc:
        # The rows are committed: a background thread enqueues them as soon as Redis answers.
        outage_log("redis").failed("enqueue", exc)
        _late_enqueues().add([job_id for job_id, *_ in jobs])


class LateEnqueues:
    """Enqueues, within about a second, jobs committed but not enqueued by their submit.

    Redis may be down at the submit, or the connection to PostgreSQL may die while the commit
    is answered, leaving the submit unsure whether the row exists. Either way the job id comes
    here; a thread (started on first use, gone when nothing is left) asks PostgreSQL which of
    them are waiting and enqueues those, retrying every second or faster until both answer.
    The reconciler would find them too, but only at its next round (a minute by default).
    """

    MAX_HELD = 10_000  # past this the reconciler's round catches the rest
    RETRY_SECONDS = (0.1, 0.25, 0.5, 1.0)

    def __init__(self, app):
        self.app = app
        self._ids: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, job_ids: Iterable[str]) -> None:
        """Hold these job ids until they are in Redis (or no longer waiting)."""
        with self._lock:
            for job_id in job_ids:
                if len(self._ids) < self.MAX_HELD:
                    self._ids.add(job_id)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="job-late-enqueue", daemon=True
                )
                self._thread.start()
        self._wake.set()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._ids)

    def _run(self) -> None:
        failures = 0
        with self.app.app_context():
            while True:
                with self._lock:
                    ids = list(self._ids)
                    if not ids:
                        self._thread = None
                        return
                try:
                    enqueue_waiting(ids)
                except Exception as exc:
                    if isinstance(exc, QueueStateLost):
                        log.info("late enqueue waits for the queue's rebuild")
                    elif isinstance(exc, redis.RedisError):
                        outage_log("redis").failed("late enqueue", exc)
                    elif database_unavailable(exc):
                        outage_log("database").failed("late enqueue", exc)
                    else:
                        log.exception("late enqueue failed; retrying", extra={"jobs": len(ids)})
                    delay = self.RETRY_SECONDS[min(failures, len(self.RETRY_SECONDS) - 1)]
                    failures += 1
                    self._wake.wait(delay)
                    self._wake.clear()
                    continue
                finally:
                    db.session.remove()
                failures = 0
                with self._lock:
                    self._ids.difference_update(ids)
                log.info("jobs enqueued after their submit", extra={"jobs": len(ids)})


def _late_enqueues() -> LateEnqueues:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    found = app.extensions.get("job_queue_late_enqueues")
    if found is None:
        with _late_lock:
            found = app.extensions.setdefault("job_queue_late_enqueues", LateEnqueues(app))
    return found


_late_lock = threading.Lock()


def enqueue_waiting(job_ids: Sequence[str]) -> int:
    """Enqueue those of these jobs that PostgreSQL says are waiting; returns how many were
    added (jobs Redis already holds are skipped)."""
    now = utcnow()
    with db.engine.connect() as sql:
        rows = sql.execute(
            select(*_ENQUEUE_COLUMNS)
            .where(JOBS.c.id.in_(list(job_ids)), JOBS.c.status.in_(WAITING_STATUSES))
            .order_by(JOBS.c.priority, JOBS.c.created_at, JOBS.c.id)
        ).all()
    if not rows:
        return 0
    items = [_enqueue_item(row, now) for row in rows]
    try:
        added = enqueue(items)
    except QueueStateLost:
        # Rebuild the line from PostgreSQL (which enqueues these jobs with the rest, in their
        # places); another process rebuilding it raises `QueueStateLost` again: retry later.
        outcome, counts = _rebuild(_process_name())
        if outcome == "busy":
            raise
        added = counts["enqueued"] if outcome == "rebuilt" else enqueue(items)
    outage_log("redis").recovered()
    return added


_ENQUEUE_COLUMNS = (JOBS.c.id, JOBS.c.user_id, JOBS.c.priority, JOBS.c.run_after, JOBS.c.queue_seq)


def _enqueue_item(row, now: datetime) -> EnqueueItem:
    """What `enqueue` takes, from a row of `_ENQUEUE_COLUMNS`."""
    delay = (as_utc(row.run_after) - now).total_seconds() if row.run_after else 0.0
    return (row.id, row.user_id, row.priority, delay, row.queue_seq)


@dataclass
class SubmittedJob:
    """What a submit returns: the job's id and its status (a repeated key: the first job's)."""

    job_id: str
    status: str


def submit_job(
    *,
    user_id: int | None,
    job_type: str,
    payload: dict[str, Any],
    priority: JobPriority = JobPriority.NORMAL,
    idempotency_key: str | None = None,
) -> str:
    """Record a job, then enqueue it; returns its id (see `submit`)."""
    return submit(
        user_id=user_id,
        job_type=job_type,
        payload=payload,
        priority=priority,
        idempotency_key=idempotency_key,
    ).job_id


def submit(
    *,
    user_id: int,
    job_type: str,
    payload: dict[str, Any],
    priority: JobPriority = JobPriority.NORMAL,
    idempotency_key: str | None = None,
    job_id: str | None = None,
) -> SubmittedJob:
    """Record a job, then enqueue it. A repeated idempotency key returns the first job, or
    raises 409 when the same key came with a different request. `job_id`: the id to give it
    (one chosen before, to spend an allowance under it), else a new one.

    Nothing touches PostgreSQL after the commit: a connection lost then would answer an error
    for a job that exists (and a client retrying without a key would submit it twice). A
    connection lost during the commit leaves its fate unknown: a fresh connection asks; when
    none can be had, the id goes to the late enqueues (enqueued if the row exists) and the
    error (a 503) goes to the client.
    """
    fingerprint = request_fingerprint(job_type, payload, priority) if idempotency_key else None
    if idempotency_key:
        existing = _job_for_key(user_id, idempotency_key, fingerprint)
        if existing:
            return existing
    job_id = job_id or new_job_id()
    job = Job(
        id=job_id,
        user_id=user_id,
        job_type=job_type,
        priority=int(priority),
        payload=payload,
        status=JobStatus.QUEUED.value,
        idempotency_key=idempotency_key,
        idempotency_fingerprint=fingerprint,
    )
    db.session.add(job)
    place = None
    try:
        db.session.flush()  # the INSERT returns the job's place in line
        place = job.queue_seq
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if idempotency_key:
            existing = _job_for_key(user_id, idempotency_key, fingerprint)
            if existing:
                return existing
        raise
    except sqlalchemy.exc.DBAPIError as exc:
        if not database_unavailable(exc) or not _committed_after_all(job_id):
            raise
    _enqueue_after_commit([(job_id, user_id, int(priority), 0.0, place)])
    log.info("job submitted", extra={"job_id": job_id, "job_type": job_type, "user_id": user_id})
    return SubmittedJob(job_id, JobStatus.QUEUED.value)


def _committed_after_all(job_id: str) -> bool:
    """Whether a commit whose answer was lost took effect; raises while PostgreSQL is away,
    after handing the id to the late enqueues."""
    try:
        db.session.rollback()
    except sqlalchemy.exc.DBAPIError:
        db.session.remove()  # the dead connection goes; the pool hands out a live one
    try:
        with db.engine.connect() as sql:
            found = sql.scalar(select(JOBS.c.id).where(JOBS.c.id == job_id))
    except sqlalchemy.exc.DBAPIError:
        _late_enqueues().add([job_id])
        raise
    if found:
        log.warning(
            "the commit's answer was lost but the job was recorded", extra={"job_id": job_id}
        )
    return found is not None


def _job_for_key(user_id: int, key: str, fingerprint: str | None) -> SubmittedJob | None:
    row = db.session.execute(
        select(Job.id, Job.status, Job.idempotency_fingerprint).where(
            Job.user_id == user_id, Job.idempotency_key == key
        )
    ).first()
    if row is None:
        return None
    if row.idempotency_fingerprint != fingerprint:
        raise Conflict(
            "This Idempotency-Key was already used with a different request",
            code="idempotency_key_reused",
        )
    return SubmittedJob(row.id, row.status)


def submit_jobs(*, jobs: Iterable[NewJob]) -> list[str]:
    """Record many jobs in one transaction, then enqueue them in bulk; returns their ids."""
    now = utcnow()
    rows = [
        {
            "id": new_job_id(),
            "user_id": job.user_id,
            "job_type": job.job_type,
            "priority": int(job.priority),
            "payload": job.payload,
            "status": JobStatus.QUEUED.value,
            "progress_percent": 0,
            "attempts": 0,
            "lost_leases": 0,
            "outage_retries": 0,
            "cancel_requested": False,
            "created_at": now,
            "updated_at": now,
        }
        for job in jobs
    ]
    if not rows:
        return []
    places = dict(
        db.session.execute(
            JOBS.insert().returning(JOBS.c.id, JOBS.c.queue_seq, sort_by_parameter_order=True),
            rows,
        ).all()
    )
    db.session.commit()
    _enqueue_after_commit(
        [(r["id"], r["user_id"], r["priority"], 0.0, places[r["id"]]) for r in rows]
    )
    return [r["id"] for r in rows]


# --- claim and leases -----------------------------------------------------------------------


def _relaxed_commit(sql) -> None:
    """Let this transaction commit without waiting for its WAL flush (PostgreSQL).

    Only for writes whose loss in a database crash is harmless: the running mark of a claim
    (lost, the worker's fenced completion is refused and the reaper runs the job again) and
    progress. Outcomes are always committed durably.
    """
    if sql.dialect.name == "postgresql":
        sql.execute(text("SET LOCAL synchronous_commit = off"))


# Every claimed row marked running in one statement, committed without waiting for its WAL
# flush (`_relaxed_commit`'s reason): `set_config(..., true)` holds for the statement's own
# transaction, so it needs no BEGIN, SET or COMMIT round trip of its own. The queue's hot
# statements are driver SQL (psycopg's parameters), run with `exec_driver_sql`: building and
# compiling a statement per call costs a worker thread more than the round trip itself.
_MARK_RUNNING = """
    WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true))
    UPDATE jobs SET status = %(running)s, lease_token = %(token)s, worker_id = %(worker_id)s,
        attempts = jobs.attempts + 1, started_at = %(now)s, run_after = NULL,
        updated_at = %(now)s
    FROM relaxed
    WHERE jobs.id = ANY(%(ids)s) AND jobs.status = ANY(%(claimable)s)
    RETURNING jobs.id, jobs.user_id, jobs.job_type, jobs.payload, jobs.priority,
        jobs.attempts, jobs.outage_retries
""".strip()
_CLAIMABLE = [*WAITING_STATUSES, JobStatus.RUNNING.value]


def _mark_running(ids: list[str], *, token: str, worker_id: str, sql: KeptConnections | None):
    """Mark the claimed rows running under the lease; returns those that were waiting."""
    if db.engine.dialect.name == "postgresql":
        params = {
            "ids": ids,
            "claimable": _CLAIMABLE,
            "running": JobStatus.RUNNING.value,
            "token": token,
            "worker_id": worker_id,
            "now": utcnow(),
        }
        if sql is not None:
            return sql.run(lambda conn: conn.exec_driver_sql(_MARK_RUNNING, params).all())
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            return conn.exec_driver_sql(_MARK_RUNNING, params).all()
    with db.engine.begin() as conn:
        return conn.execute(
            update(JOBS)
            .where(
                JOBS.c.id.in_(ids),
                JOBS.c.status.in_(_CLAIMABLE),
            )
            .values(
                status=JobStatus.RUNNING.value,
                lease_token=token,
                worker_id=worker_id,
                attempts=JOBS.c.attempts + 1,
                started_at=utcnow(),
                run_after=None,
                updated_at=utcnow(),
            )
            .returning(
                JOBS.c.id,
                JOBS.c.user_id,
                JOBS.c.job_type,
                JOBS.c.payload,
                JOBS.c.priority,
                JOBS.c.attempts,
                JOBS.c.outage_retries,
            )
        ).all()


class KeptConnections:
    """PostgreSQL connections a worker pool keeps between jobs for the queue's own single
    statements (the running marks, the outcomes), in autocommit; its threads share them.

    Taken from the pool per job, each statement would cost a pre-ping, a BEGIN and a COMMIT
    besides itself. Kept, it costs the statement alone: instead of a ping, the socket is
    looked at (no round trip) before each use, and a connection the server closed or wrote to
    unasked (a terminated backend, a restart) is given up for a fresh one from the pool, which
    pings it. A statement that fails gives its connection up too; its caller's retry takes a
    fresh one. A connection kept `HOLD_SECONDS` goes back to the pool and is taken again, so
    the pool's recycling and pings still reach it. At most `keep` are kept (`keep_for`), so
    the pool always has room for the handlers' own sessions; a thread finding none kept takes
    one from the pool for its statement.
    """

    HOLD_SECONDS = 30.0

    def __init__(self, engine, *, keep: int = 1):
        self._engine = engine
        self._keep = keep
        self._kept: list[tuple[Any, float]] = []  # (connection, taken at); last in, first out
        self._lock = threading.Lock()
        self._closed = False

    @staticmethod
    def keep_for(engine, threads: int) -> int:
        """How many to keep for `threads` handler threads and their dispatcher: one each, at
        most half of what the pool's capacity leaves beside one session per handler thread
        (at least one)."""
        pool = engine.pool
        size = pool.size() if callable(getattr(pool, "size", None)) else threads + 1
        capacity = size + max(0, getattr(pool, "_max_overflow", 0))
        return max(1, min(threads + 1, (capacity - threads) // 2))

    def run(self, work):
        """`work(connection)`'s result, run on a kept connection (autocommit)."""
        conn, taken = self._take()
        try:
            result = work(conn)
            conn.commit()  # autocommit: ends SQLAlchemy's transaction, sends nothing
        except BaseException:
            _close(conn)
            raise
        with self._lock:
            if not self._closed and len(self._kept) < self._keep:
                self._kept.append((conn, taken))
                return result
        _close(conn)
        return result

    def close(self) -> None:
        """Give every kept connection back to the pool, and keep none from now on."""
        with self._lock:
            kept, self._kept, self._closed = self._kept, [], True
        for conn, _taken in kept:
            _close(conn)

    def _take(self):
        while True:
            with self._lock:
                if not self._kept:
                    break
                conn, taken = self._kept.pop()
            if (
                time.monotonic() - taken <= self.HOLD_SECONDS
                and not conn.invalidated
                and _socket_quiet(conn)
            ):
                return conn, taken
            _close(conn)
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return conn, time.monotonic()


def _close(conn) -> None:
    """Give a connection back to the pool (a broken one is dropped)."""
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - a broken connection is dropped either way
        log.debug("closing a kept connection failed", exc_info=True)


def _socket_quiet(conn) -> bool:
    """False when the server closed the connection or sent something unasked (psycopg 3);
    an idle, healthy connection has nothing to read."""
    dbapi = conn.connection.dbapi_connection
    if dbapi is None or getattr(dbapi, "closed", False) or getattr(dbapi, "broken", False):
        return False
    pgconn = getattr(dbapi, "pgconn", None)
    if pgconn is None:
        return True  # another driver: a statement on a dead connection fails and is retried
    try:
        readable, _, _ = sockets.select([pgconn.socket], [], [], 0)
    except Exception:  # noqa: BLE001 - no socket: not usable
        return False
    return not readable


def claim_jobs(
    *, worker_id: str, limit: int, sql: KeptConnections | None = None
) -> list[ClaimedJob]:
    """Lease up to `limit` of the best eligible jobs and mark them running in PostgreSQL.

    `sql`: the caller's kept connections (a worker pool's), for the running mark's one statement.
    """
    settings = _settings()
    conn, registered = _redis()
    token = secrets.token_hex(16)
    args = [settings.job_queue_max_per_user, limit, _ms(settings.job_queue_lease_seconds), token]
    raw = registered.claim(keys=QUEUE_KEYS, args=args)
    if raw == "lost":
        # Redis lost its data: claim nothing until the line and the per-user counts are rebuilt.
        if rebuild_queue_state(owner=worker_id) == "busy":
            return []
        raw = registered.claim(keys=QUEUE_KEYS, args=args)
    if not raw or raw == "lost":
        return []
    ids = raw[0::2]
    try:
        rows = _mark_running(ids, token=token, worker_id=worker_id, sql=sql)
    except Exception:
        # Give the leases back at once rather than waiting for them to expire.
        _settle([(job_id, token, "retry", 0) for job_id in ids])
        raise
    claimed = {
        row.id: ClaimedJob(
            job_id=row.id,
            user_id=row.user_id,
            job_type=row.job_type,
            payload=row.payload or {},
            priority=row.priority,
            attempt=row.attempts,
            lease_token=token,
            outage_retries=row.outage_retries,
        )
        for row in rows
    }
    # Finished, cancelled or deleted in PostgreSQL: drop from Redis, never run.
    stale = [(job_id, token, "ack", 0) for job_id in ids if job_id not in claimed]
    if stale:
        _settle(stale)
    return [claimed[job_id] for job_id in ids if job_id in claimed]


class WakeUps:
    """Waits for the queue's wake-up calls, on a connection of its own.

    The enqueue and settle scripts push a call on the `wake` list whenever a job becomes
    claimable (submitted, put back, or its user's slot freed); an idle claimer blocks on it
    (`BLPOP`) instead of polling, and wakes within a round trip, in any process. The wait is
    bounded, so the caller still polls now and then: for delayed jobs coming due, and a call
    lost with Redis's data. A blocking call holds its connection, so it never takes one from
    the shared pool; its socket timeout exceeds the longest wait, so a Redis that stops
    answering raises a second after it rather than hanging. `interrupt` ends a wait at once
    (a call on a key of this claimer's own, under the queue's hash tag).
    """

    def __init__(self, conn: redis.Redis, *, max_wait_seconds: float):
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # Two connections: one blocked in a wait, one for `interrupt`.
        self._client = dedicated_client(
            conn,
            max_connections=2,
            socket_timeout=max_wait_seconds + 1.0,
            # The caller's loop is the retry: a hidden one would hold up a shutdown.
            retry=Retry(NoBackoff(), 0),
        )
        self._pool = self._client.connection_pool
        self._own_key = f"{WAKE_KEY}:{secrets.token_hex(8)}"

    def wait(self, timeout: float) -> bool:
        """Block until a wake-up call arrives (True) or `timeout` seconds pass (False)."""
        keys = [self._own_key, WAKE_KEY]
        return self._client.blpop(keys, timeout=max(0.001, timeout)) is not None

    def interrupt(self) -> None:
        """End the current (or the next) wait at once; best effort."""
        try:
            with self._client.pipeline(transaction=False) as pipe:
                pipe.rpush(self._own_key, "stop")
                pipe.pexpire(self._own_key, 60_000)
                pipe.execute()
        except redis.RedisError:
            pass  # the wait ends at its timeout

    def close(self) -> None:
        """Close the connections."""
        self._pool.disconnect()


def wake_ups(*, max_wait_seconds: float) -> WakeUps:
    """A `WakeUps` on this app's Redis server, for one claimer (one thread)."""
    return WakeUps(get_redis(), max_wait_seconds=max_wait_seconds)


def renew_leases(leases: Sequence[tuple[str, str]]) -> list[int]:
    """Extend the leases (job id, token); per job 0 lost, 1 held, 2 held with a cancel asked.

    Raises `QueueStateLost` when Redis lost the queue's data (every lease with it).
    """
    if not leases:
        return []
    _conn, registered = _redis()
    args: list[Any] = [_ms(_settings().job_queue_lease_seconds)]
    for job_id, token in leases:
        args += [job_id, token]
    raw = registered.renew(keys=QUEUE_KEYS, args=args)
    if raw == "lost":
        raise QueueStateLost("the queue's Redis state is gone")
    return [int(x) for x in raw]


def _settle(ops: Sequence[tuple[str, str, str, int]]) -> list[int]:
    if not ops:
        return []
    _conn, registered = _redis()
    args: list[Any] = [_settings().job_queue_max_per_user]
    for op in ops:
        args += list(op)
    return [int(x) for x in registered.settle(keys=QUEUE_KEYS, args=args)]


def promote_cap_waiters(*, cap_name: str, count: int = 1) -> int:
    """Make ready the `count` earliest jobs deferred for a slot of the concurrency cap
    `cap_name`, and wake claimers for them: call it when a slot frees. Returns how many.

    A job brought forward still has to take the slot when it runs, so the cap holds; one that
    finds it taken again waits again.
    """
    _conn, registered = _redis()
    args = [_settings().job_queue_max_per_user, cap_name, count]
    return int(registered.promote_waiters(keys=QUEUE_KEYS, args=args))


def _outcome_values(outcome: Outcome, now: datetime, dialect: str) -> dict[str, Any]:
    kind = outcome.kind
    values: dict[str, Any] = {"updated_at": now}
    if outcome.duration_ms is not None:
        values["duration_ms"] = outcome.duration_ms
    if kind in (OutcomeKind.SUCCEEDED, OutcomeKind.FAILED, OutcomeKind.CANCELLED):
        values.update(status=kind.value, finished_at=now, lease_token=None)
        if kind == OutcomeKind.SUCCEEDED:
            values.update(result=_result_value(outcome, dialect), error=None, progress_percent=100)
        else:
            values.update(error=outcome.error)
        if outcome.message:
            values["progress_message"] = outcome.message[:500]
    else:
        values.update(lease_token=None, worker_id=None)
        if kind == OutcomeKind.RELEASE:
            values["status"] = JobStatus.QUEUED.value
        else:
            values.update(
                status=JobStatus.SCHEDULED.value,
                run_after=now + timedelta(seconds=outcome.delay_seconds),
            )
        if kind == OutcomeKind.RETRY:
            values["error"] = outcome.error
        if outcome.message:
            values["progress_message"] = outcome.message[:500]
        if outcome.uncount_attempt or kind == OutcomeKind.DEFER:
            values["attempts"] = _UNCOUNTED_ATTEMPTS
        if outcome.outage:
            values["outage_retries"] = JOBS.c.outage_retries + 1
    return values


# The run that ends does not count as an attempt (a quota wait, a shutdown, an outage, a lost
# worker): the infrastructure's faults never use up a job's own attempts.
_UNCOUNTED_ATTEMPTS = case((JOBS.c.attempts > 0, JOBS.c.attempts - 1), else_=0)


def _write_outcomes(sql, outcomes: Sequence[Outcome], now: datetime):
    """The fenced writes of `record_outcomes`; returns (accepted outcomes, settle ops)."""
    accepted: list[Outcome] = []
    ops: list[tuple[str, str, str, int]] = []
    remaining = list(outcomes)
    if sql.dialect.name == "postgresql":
        done = _record_successes_in_bulk(sql, remaining, now)
        for outcome in remaining:
            if outcome.job_id in done:
                accepted.append(outcome)
                ops.append((outcome.job_id, outcome.lease_token, "ack", 0))
        remaining = [o for o in remaining if o.job_id not in done]
    for outcome in remaining:
        guard = (
            (JOBS.c.id == outcome.job_id)
            & (JOBS.c.status == JobStatus.RUNNING.value)
            & (JOBS.c.lease_token == outcome.lease_token)
        )
        applied = sql.execute(
            update(JOBS)
            .where(guard, JOBS.c.cancel_requested.is_(False))
            .values(**_outcome_values(outcome, now, sql.dialect.name))
        ).rowcount
        kind = outcome.kind
        if not applied:
            applied = _mark_cancelled_by_request(sql, guard, now)
            kind = OutcomeKind.CANCELLED
        if not applied:
            log.warning(
                "outcome refused: the lease was lost",
                extra={"job_id": outcome.job_id, "outcome": outcome.kind.value},
            )
            continue
        accepted.append(outcome)
        if kind == OutcomeKind.DEFER and outcome.waits_for:
            op = f"wait:{outcome.waits_for}"
            ops.append((outcome.job_id, outcome.lease_token, op, _ms(outcome.delay_seconds)))
        elif kind in (OutcomeKind.RETRY, OutcomeKind.DEFER):
            ops.append((outcome.job_id, outcome.lease_token, "retry", _ms(outcome.delay_seconds)))
        elif kind == OutcomeKind.RELEASE:
            ops.append((outcome.job_id, outcome.lease_token, "retry", 0))
        else:
            ops.append((outcome.job_id, outcome.lease_token, "ack", 0))
    return accepted, ops


def record_outcomes(
    outcomes: Sequence[Outcome], *, sql: KeptConnections | None = None
) -> list[str]:
    """Write what became of runs (one transaction), then settle them in Redis.

    Every write is fenced: it only applies while the row is still `running` under the same
    lease token. A cancel asked while the job ran turns any outcome into `cancelled`, so a
    result cannot overwrite the cancel. Returns the ids whose outcome was accepted.

    `sql`: the caller's kept connections (a worker pool's), for one outcome: its one fenced
    statement (two when a cancel was asked) commits by itself, so it needs no transaction.
    """
    if not outcomes:
        return []
    now = utcnow()
    if sql is not None and len(outcomes) == 1 and db.engine.dialect.name == "postgresql":
        accepted, ops = sql.run(lambda conn: _write_outcomes(conn, outcomes, now))
    else:
        with db.engine.begin() as conn:
            accepted, ops = _write_outcomes(conn, outcomes, now)
    try:
        _settle(ops)
    except redis.RedisError:
        # PostgreSQL has the outcome; the reaper settles these leases when they expire.
        log.warning("settle failed; the reaper will settle", extra={"jobs": len(ops)})
    return [o.job_id for o in accepted]


def _mark_cancelled_by_request(sql, where, now: datetime) -> int:
    """End the rows matching `where` as cancelled by their owner; returns how many."""
    return sql.execute(
        update(JOBS)
        .where(where)
        .values(
            status=JobStatus.CANCELLED.value,
            finished_at=now,
            updated_at=now,
            lease_token=None,
            error="cancelled by request",
        )
    ).rowcount


_BULK_SUCCESS = text(
    """
    UPDATE jobs SET status = :succeeded, result = v.result::jsonb, error = NULL,
        progress_percent = 100, duration_ms = v.duration_ms, finished_at = :now,
        updated_at = :now, lease_token = NULL
    FROM (
        SELECT unnest(CAST(:ids AS text[])) AS id, unnest(CAST(:tokens AS text[])) AS token,
               unnest(CAST(:results AS text[])) AS result,
               unnest(CAST(:durations AS integer[])) AS duration_ms
    ) AS v
    WHERE jobs.id = v.id AND jobs.status = :running AND jobs.lease_token = v.token
      AND NOT jobs.cancel_requested
    RETURNING jobs.id
    """
)


_ONE_SUCCESS = """
    UPDATE jobs SET status = %(succeeded)s, result = CAST(%(result)s AS jsonb), error = NULL,
        progress_percent = 100, duration_ms = %(duration_ms)s, finished_at = %(now)s,
        updated_at = %(now)s, lease_token = NULL
    WHERE id = %(id)s AND status = %(running)s AND lease_token = %(token)s
      AND NOT cancel_requested
    RETURNING id
""".strip()


def _record_successes_in_bulk(sql, outcomes: Sequence[Outcome], now: datetime) -> set[str]:
    """One fenced UPDATE for every success in the batch (PostgreSQL); returns the ids applied.
    One success (a worker thread's) is driver SQL, as the running mark is.

    Rows it does not apply (a cancel was asked, or the lease was lost) go through the
    row-by-row path, which tells those cases apart.
    """
    successes = [o for o in outcomes if o.kind == OutcomeKind.SUCCEEDED and o.message is None]
    if not successes:
        return set()
    if len(successes) == 1:
        (success,) = successes
        rows = sql.exec_driver_sql(
            _ONE_SUCCESS,
            {
                "succeeded": JobStatus.SUCCEEDED.value,
                "running": JobStatus.RUNNING.value,
                "now": now,
                "id": success.job_id,
                "token": success.lease_token,
                "result": _encoded_result(success),
                "duration_ms": success.duration_ms,
            },
        )
        return {row.id for row in rows}
    rows = sql.execute(
        _BULK_SUCCESS,
        {
            "succeeded": JobStatus.SUCCEEDED.value,
            "running": JobStatus.RUNNING.value,
            "now": now,
            "ids": [o.job_id for o in successes],
            "tokens": [o.lease_token for o in successes],
            "results": [_encoded_result(o) for o in successes],
            "durations": [o.duration_ms for o in successes],
        },
    )
    return {row.id for row in rows}


def complete_job(*, job_id: str, lease_token: str, result: Any = None) -> bool:
    """Mark a leased job succeeded; False when the lease was lost (the write is refused)."""
    outcome = Outcome(job_id, lease_token, OutcomeKind.SUCCEEDED, result=result)
    return bool(record_outcomes([outcome]))


def fail_job(*, job_id: str, lease_token: str, error: str) -> bool:
    """Mark a leased job failed; False when the lease was lost."""
    return bool(record_outcomes([Outcome(job_id, lease_token, OutcomeKind.FAILED, error=error)]))


def retry_job(*, job_id: str, lease_token: str, error: str, delay_seconds: float) -> bool:
    """Put a leased job back in line after a delay; False when the lease was lost."""
    outcome = Outcome(
        job_id, lease_token, OutcomeKind.RETRY, error=error, delay_seconds=delay_seconds
    )
    return bool(record_outcomes([outcome]))


def set_progress(*, job_id: str, lease_token: str, percent: int, message: str | None) -> bool:
    """Record progress of a running job (fenced by its lease)."""
    with db.engine.begin() as sql:
        _relaxed_commit(sql)
        return bool(
            sql.execute(
                update(JOBS)
                .where(
                    JOBS.c.id == job_id,
                    JOBS.c.status == JobStatus.RUNNING.value,
                    JOBS.c.lease_token == lease_token,
                )
                .values(
                    progress_percent=max(0, min(100, int(percent))),
                    progress_message=(message or None) and message[:500],
                    updated_at=utcnow(),
                )
            ).rowcount
        )


# --- cancel ---------------------------------------------------------------------------------


def cancel_job(*, job_id: str, user_id: int) -> Job:
    """Cancel a job of this user: a waiting job at once, a running one at its next check."""
    job = db.session.execute(
        select(Job).where(Job.id == job_id, Job.user_id == user_id).with_for_update()
    ).scalar_one_or_none()
    if job is None:
        raise NotFound(resource="job")
    if job.status in TERMINAL_STATUSES:
        db.session.rollback()
        raise Conflict(f"The job has already {job.status}", code="job_finished")
    _mark_cancelled(job)
    db.session.commit()
    withdraw_cancelled(job_ids=[job_id])
    log.info("job cancel", extra={"job_id": job_id, "status": job.status})
    return job


def cancel_open_jobs(*, user_id: int) -> list[str]:
    """Mark every waiting or running job of this user cancelled in the caller's transaction,
    without committing it; the caller calls `withdraw_cancelled` with the ids once it has
    committed (a rolled-back caller leaves the jobs as they were, in PostgreSQL and Redis)."""
    jobs = db.session.scalars(
        select(Job)
        .where(Job.user_id == user_id, Job.status.not_in(TERMINAL_STATUSES))
        .order_by(Job.id)
        .with_for_update()
    ).all()
    for job in jobs:
        _mark_cancelled(job)
    return [job.id for job in jobs]


def _mark_cancelled(job: Job) -> None:
    job.cancel_requested = True
    if job.status in WAITING_STATUSES:
        job.status = JobStatus.CANCELLED.value
        job.finished_at = utcnow()
        job.error = "cancelled by request"


def withdraw_cancelled(*, job_ids: Sequence[str]) -> None:
    """After the cancel is committed: take waiting jobs out of Redis, flag running ones."""
    if not job_ids:
        return
    conn, registered = _redis()
    try:
        for job_id in job_ids:
            registered.cancel(keys=QUEUE_KEYS, args=[job_id, _settings().job_queue_max_per_user])
    except redis.RedisError as exc:
        # PostgreSQL has the cancel: a claim of this job acks it without running it.
        outage_log("redis").failed("cancel", exc)


# --- reads ----------------------------------------------------------------------------------


def queue_key() -> str:
    """The sorted set of waiting jobs, in the order they run (see `queue_position`)."""
    return _key("queue")


def queue_position(*, job_id: str) -> int | None:
    """1 for the next job to run, 2 behind it, ...; None when not waiting in line, or when
    Redis cannot be reached (the rest of a job's status comes from PostgreSQL)."""
    try:
        rank = get_redis().zrank(_key("queue"), job_id)
    except redis.RedisError as exc:
        outage_log("redis").failed("queue position", exc)
        return None
    return None if rank is None else int(rank) + 1


def get_all_jobs(
    *,
    user_id: int,
    page: int,
    per_page: int,
    status: str | None = None,
    job_type: str | None = None,
) -> dict[str, Any]:
    """One page of a user's jobs, newest first."""
    query = select(Job).where(Job.user_id == user_id)
    if status:
        query = query.where(Job.status == status)
    if job_type:
        query = query.where(Job.job_type == job_type)
    ordered = query.order_by(Job.created_at.desc(), Job.id.desc())
    return paginate(ordered, page=page, per_page=per_page)


def queue_stats() -> dict[str, Any]:
    """Sizes, active jobs, priority and type breakdowns, oldest wait and recent throughput.

    Served from PostgreSQL even when Redis is down: then `degraded` is true and `redis` None.
    """
    now = utcnow()
    by_priority = dict.fromkeys((p.name for p in JobPriority), 0)
    for priority, count in db.session.execute(
        select(Job.priority, func.count())
        .where(Job.status.in_(WAITING_STATUSES))
        .group_by(Job.priority)
    ):
        name = JobPriority(priority).name if priority in JobPriority._value2member_map_ else "OTHER"
        by_priority[name] = by_priority.get(name, 0) + count
    by_type: dict[str, dict[str, int]] = {}
    for job_type, status, count in db.session.execute(
        select(Job.job_type, Job.status, func.count()).group_by(Job.job_type, Job.status)
    ):
        by_type.setdefault(job_type, {})[status] = count
    by_status = {s.value: 0 for s in JobStatus}
    for counts in by_type.values():
        for status, count in counts.items():
            by_status[status] = by_status.get(status, 0) + count
    oldest = db.session.scalar(
        select(func.min(Job.created_at)).where(Job.status == JobStatus.QUEUED.value)
    )
    finished_last_minute = db.session.scalar(
        select(func.count()).where(
            Job.status.in_(TERMINAL_STATUSES), Job.finished_at >= now - timedelta(minutes=1)
        )
    )
    redis_figures: dict[str, int] | None = None
    try:
        with get_redis().pipeline(transaction=False) as pipe:
            for name in ("queue", "delayed", "running", "heads"):
                pipe.zcard(_key(name))
            ready, delayed, running, eligible_users = pipe.execute()
        redis_figures = {
            "ready": ready,
            "delayed": delayed,
            "leased": running,
            "users_eligible": eligible_users,
        }
    except redis.RedisError as exc:
        outage_log("redis").failed("queue stats", exc)
    return {
        "queue_size": by_status[JobStatus.QUEUED.value] + by_status[JobStatus.SCHEDULED.value],
        "queued": by_status[JobStatus.QUEUED.value],
        "scheduled": by_status[JobStatus.SCHEDULED.value],
        "active_jobs": by_status[JobStatus.RUNNING.value],
        "by_status": by_status,
        "by_priority": by_priority,
        "by_type": by_type,
        "oldest_waiting_seconds": (
            round((now - as_utc(oldest)).total_seconds(), 3) if oldest else None
        ),
        "throughput_last_minute": finished_last_minute,
        # PostgreSQL's figures are the record; Redis's are None while it cannot be reached.
        "degraded": redis_figures is None,
        "redis": redis_figures,
    }


# --- reaper and reconciler ------------------------------------------------------------------


def reap_expired_leases(*, limit: int = 500) -> dict[str, int]:
    """Put jobs whose lease expired back in line at their place; fail them after too many.

    PostgreSQL decides under a row lock, so a worker finishing at the same moment either wins
    (its outcome stands) or is fenced out (its write is refused); then Redis follows.
    """
    settings = _settings()
    _conn, registered = _redis()
    raw = registered.expired(keys=QUEUE_KEYS, args=[limit])
    counts = {"requeued": 0, "failed": 0, "dropped": 0}
    if not raw:
        return counts
    leases = dict(zip(raw[0::2], raw[1::2], strict=True))
    now = utcnow()
    ops: list[tuple[str, str, str, int]] = []
    gave_up: list[tuple[str, int | None]] = []
    with db.engine.begin() as sql:
        rows = {
            row.id: row
            for row in sql.execute(
                select(
                    JOBS.c.id,
                    JOBS.c.user_id,
                    JOBS.c.status,
                    JOBS.c.lost_leases,
                    JOBS.c.cancel_requested,
                    JOBS.c.run_after,
                )
                .where(JOBS.c.id.in_(list(leases)))
                .with_for_update()
            )
        }
        for job_id, token in leases.items():
            row = rows.get(job_id)
            if row is None or row.status in TERMINAL_STATUSES:
                ops.append((job_id, token, "ack", 0))
                counts["dropped"] += 1
            elif row.status in WAITING_STATUSES:
                # The worker recorded a retry but died before telling Redis.
                delay = (as_utc(row.run_after) - now).total_seconds() if row.run_after else 0
                ops.append((job_id, token, "retry", _ms(delay)))
                counts["requeued"] += 1
            elif row.cancel_requested:
                _mark_cancelled_by_request(sql, JOBS.c.id == job_id, now)
                ops.append((job_id, token, "ack", 0))
                counts["dropped"] += 1
            else:
                lost = row.lost_leases + 1
                if lost >= settings.job_queue_max_lost_leases:
                    values = {
                        "status": JobStatus.FAILED.value,
                        "finished_at": now,
                        "error": (
                            f"the job lost its worker lease {lost} times (the worker died or "
                            "stalled past its lease); giving up"
                        ),
                    }
                    ops.append((job_id, token, "ack", 0))
                    counts["failed"] += 1
                    gave_up.append((job_id, row.user_id))
                else:
                    # The worker's fault, not the job's: the run is not one of its attempts.
                    values = {
                        "status": JobStatus.QUEUED.value,
                        "worker_id": None,
                        "attempts": _UNCOUNTED_ATTEMPTS,
                    }
                    ops.append((job_id, token, "retry", 0))
                    counts["requeued"] += 1
                sql.execute(
                    update(JOBS)
                    .where(JOBS.c.id == job_id)
                    .values(lost_leases=lost, lease_token=None, updated_at=now, **values)
                )
    _settle(ops)
    for job_id, user_id in gave_up:  # its workers died, not its owner's doing
        if user_id is not None:
            rate_limiter.give_back(holder=job_id, subject=str(user_id))
    if counts["requeued"] or counts["failed"]:
        log.warning("expired leases reaped", extra=counts)
    return counts


def rebuild_queue_state(*, owner: str) -> str:
    """Rebuild the queue's Redis state from PostgreSQL when Redis lost it; once across
    processes.

    The claim, the heartbeat, the late enqueues and the reconciler see the loss (the state
    marker is gone) and call this. One caller takes the rebuild lock and reconciles; the marker is written at the end,
    and only if the lock survived (a flush during the rebuild is seen again). Returns "whole"
    (nothing was lost), "rebuilt", or "busy" (another caller is rebuilding).
    """
    return _rebuild(owner)[0]


_NOTHING_RECONCILED = {"enqueued": 0, "requeued_running": 0}


def _rebuild(owner: str) -> tuple[str, dict[str, int]]:
    conn, registered = _redis()
    if conn.exists(STATE_KEY):
        return "whole", dict(_NOTHING_RECONCILED)
    if not conn.set(REBUILD_LOCK_KEY, owner, nx=True, px=_ms(REBUILD_LOCK_SECONDS)):
        return "busy", dict(_NOTHING_RECONCILED)
    try:
        counts = _reconcile(rebuilding=True)
    except BaseException:
        registered.release_lock(keys=[REBUILD_LOCK_KEY], args=[owner])
        raise
    finished = registered.finish_rebuild(keys=[REBUILD_LOCK_KEY, STATE_KEY, WAKE_KEY], args=[owner])
    extra = {**counts, "marked": bool(finished), "owner": owner}
    if any(counts.values()):
        log.warning(
            "the queue's Redis state was gone (flushed, or restarted without its data); "
            "rebuilt it from PostgreSQL",
            extra=extra,
        )
    else:  # a fresh install, or a wipe while no job waited: nothing was lost
        log.info("the queue's Redis state was set up; no job was waiting to rebuild", extra=extra)
    return "rebuilt", counts


def _iter_rows(statement, size: int = 1000) -> Iterator[list[Any]]:
    with db.engine.connect() as sql:
        result = sql.execution_options(stream_results=True, yield_per=size).execute(statement)
        yield from result.partitions(size)


def reconcile() -> dict[str, int]:
    """Enqueue every job PostgreSQL says is waiting (or running) that Redis does not hold.

    A running job whose lease Redis lost goes back to waiting first (whoever runs it is fenced
    out, and the lost run is not counted as an attempt), and every job takes its own
    place in line (`queue_seq`), so after a Redis wipe the line comes back in the same order.
    Enqueueing is idempotent, so a job is never held twice. When Redis lost the queue's state
    this is the rebuild (`rebuild_queue_state`), done once across processes.
    """
    if get_redis().exists(STATE_KEY):
        try:
            return _reconcile(rebuilding=False)
        except QueueStateLost:
            pass  # lost on the way
    return _rebuild(_process_name())[1]


def _reconcile(*, rebuilding: bool) -> dict[str, int]:
    conn = get_redis()
    counts = dict(_NOTHING_RECONCILED)
    running = select(JOBS.c.id, JOBS.c.lease_token).where(JOBS.c.status == JobStatus.RUNNING.value)
    for rows in _iter_rows(running):
        held = conn.hmget(_key("jobs"), [row.id for row in rows])
        orphans = [row for row, present in zip(rows, held, strict=True) if present is None]
        for row in orphans:
            with db.engine.begin() as sql:
                counts["requeued_running"] += sql.execute(
                    update(JOBS)
                    .where(
                        JOBS.c.id == row.id,
                        JOBS.c.status == JobStatus.RUNNING.value,
                        JOBS.c.lease_token.is_not_distinct_from(row.lease_token),
                    )
                    .values(
                        status=JobStatus.QUEUED.value,
                        lease_token=None,
                        worker_id=None,
                        attempts=_UNCOUNTED_ATTEMPTS,
                        updated_at=utcnow(),
                    )
                ).rowcount
    now = utcnow()
    waiting = (
        select(*_ENQUEUE_COLUMNS)
        .where(JOBS.c.status.in_(WAITING_STATUSES))
        .order_by(JOBS.c.priority, JOBS.c.created_at, JOBS.c.id)
    )
    for rows in _iter_rows(waiting):
        held = conn.hmget(_key("jobs"), [row.id for row in rows])
        missing = [
            _enqueue_item(row, now)
            for row, present in zip(rows, held, strict=True)
            if present is None
        ]
        if missing:
            counts["enqueued"] += enqueue(missing, rebuilding=rebuilding)
    if counts["enqueued"] or counts["requeued_running"]:
        log.warning("reconciler enqueued jobs Redis did not hold", extra=counts)
    return counts


def priority_name(priority: int) -> str:
    """The name of a priority value ("HIGH"), or its number when it has none."""
    try:
        return JobPriority(priority).name
    except ValueError:
        return str(priority)
