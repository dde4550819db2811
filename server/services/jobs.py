"""Jobs as clients see them: submit, inspect, list, cancel and watch."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import bindparam, func, select

from server import rate_limiter
from server.core.config import get_settings
from server.core.errors import (
    BadRequest,
    Forbidden,
    ServiceUnavailable,
    TooManyRequests,
    ValidationFailed,
    _flatten_validation_detail,
)
from server.core.extensions import db
from server.jobs import job_queue, job_types
from server.jobs.job_queue import JobPriority
from server.models import Job, JobStatus, User
from server.models.base import isoformat
from server.models.job import TERMINAL_STATUSES, new_job_id
from server.schemas.jobs import JOB_PAYLOAD_SCHEMAS, PUBLIC_JOB_TYPES
from server.security_manager import scoped_tokens
from server.services.hot_reads import HotQuery, give_back_thread_connection, read_row
from server.services.ownership import get_owned, read_owned

log = logging.getLogger("server.services.jobs")

USER_PRIORITIES = frozenset({JobPriority.NORMAL, JobPriority.LOW, JobPriority.BULK})
EVENTS_POLL_SECONDS = 0.5
# A comment line this often: a client that went away is noticed when the write fails.
EVENTS_KEEPALIVE_SECONDS = 15.0
EVENTS_RETRY_AFTER_SECONDS = 5

# (event, data, id): data None is a keep-alive; id is the stream position after the event.
JobEvent = tuple[str, dict[str, Any] | None, str | None]


class EventStreamSlots:
    """Caps on the event streams open in this process: in all, and per user.

    Each open stream holds one of the threads the web server keeps for streams
    (`server.web.request_lanes`); the cap in all is their number, so a stream beyond it is
    refused (503) rather than left waiting for a thread. The cap per user keeps one user
    from taking them all. Per process (no shared state to leak when a process dies): with
    several processes, a user may hold the per-user cap in each.
    """

    def __init__(self, *, total: int, per_user: int):
        self._total = total
        self._per_user = per_user
        self._open = 0
        self._open_by_user: dict[int, int] = {}
        self._lock = threading.Lock()

    def acquire(self, user_id: int) -> Callable[[], None]:
        """Take a slot for this user, or raise 429 (user at cap) or 503 (process full).

        Returns the release function; calling it more than once releases once.
        """
        retry = {"Retry-After": str(EVENTS_RETRY_AFTER_SECONDS)}
        with self._lock:
            if self._open_by_user.get(user_id, 0) >= self._per_user:
                raise TooManyRequests(
                    f"At most {self._per_user} job event streams may be open per user; "
                    "close one or poll the status endpoint",
                    code="too_many_event_streams",
                    headers=retry,
                )
            if self._open >= self._total:
                raise ServiceUnavailable(
                    "Too many job event streams are open on this server; retry shortly or "
                    "poll the status endpoint",
                    code="event_streams_full",
                    headers=retry,
                )
            self._open += 1
            self._open_by_user[user_id] = self._open_by_user.get(user_id, 0) + 1
        released = False

        def release() -> None:
            nonlocal released
            with self._lock:
                if released:
                    return
                released = True
                self._open -= 1
                left = self._open_by_user[user_id] - 1
                if left:
                    self._open_by_user[user_id] = left
                else:
                    del self._open_by_user[user_id]

        return release

    @property
    def open_streams(self) -> int:
        with self._lock:
            return self._open


def submit(
    *,
    user: User,
    job_type: str,
    payload: dict[str, Any],
    priority: str = "NORMAL",
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Validate a submission for this user and queue it."""
    if job_type not in PUBLIC_JOB_TYPES:
        raise ValidationFailed(
            f"type: unknown job type {job_type!r}",
            details={"type": [f"must be one of {', '.join(PUBLIC_JOB_TYPES)}"]},
        )
    try:
        payload = JOB_PAYLOAD_SCHEMAS[job_type]().load(payload)
    except ValidationError as exc:
        details = {"payload": exc.normalized_messages()}
        phrases = "; ".join(_flatten_validation_detail(details))
        raise ValidationFailed(f"Invalid input: {phrases}", details=details) from None
    spec = job_types.get_handler(job_type)
    if spec is None:
        raise ValidationFailed(
            f"job type {job_type} is not available yet",
            code="job_type_unavailable",
            details={"type": [f"job type {job_type} is not available yet"]},
        )
    if spec.admin_only and not user.is_admin:
        raise Forbidden(f"Job type {job_type} is for admins only")
    level = JobPriority[priority]
    if level not in USER_PRIORITIES and not user.is_admin:
        raise Forbidden(f"Priority {priority} is for admins only; choose NORMAL, LOW or BULK")
    if idempotency_key is not None and (
        not 1 <= len(idempotency_key) <= 255
        or any(ord(c) < 32 or ord(c) == 127 for c in idempotency_key)
    ):
        # A control character (NUL above all, which PostgreSQL cannot compare) names no key.
        raise ValidationFailed(
            "Idempotency-Key must be 1 to 255 characters, none of them control characters",
            details={"headers": {"Idempotency-Key": ["1 to 255 characters, no controls"]}},
        )
    if idempotency_key is not None:
        _hold_key(user, idempotency_key)
    job_id = new_job_id()
    spent = bool(spec.submit_limit) and not _is_replay(user, idempotency_key)
    if spent:
        _spend_submit_limit(spec.submit_limit, user, job_id=job_id)
    try:
        submitted = job_queue.submit(
            user_id=user.id,
            job_type=job_type,
            payload=payload,
            priority=level,
            idempotency_key=idempotency_key,
            job_id=job_id,
        )
    except Exception:
        if spent:  # not recorded (or its commit's fate unknown): the user is not charged
            rate_limiter.give_back(holder=job_id, subject=str(user.id))
        raise
    if spent and submitted.job_id != job_id:  # the same key's job, submitted at this moment
        rate_limiter.give_back(holder=job_id, subject=str(user.id))
    job_id = submitted.job_id
    return {
        "job_id": job_id,
        "status": submitted.status,
        "status_url": f"/api/jobs/{job_id}/status",
    }


def _hold_key(user: User, idempotency_key: str) -> None:
    """Hold this user's Idempotency-Key until the transaction ends (PostgreSQL).

    Retries sent at the same moment then run one after the other: the first spends the limit
    and records the job (its commit lets the next go), the others find that job and spend
    nothing. Without it each would see no job yet and spend the limit again.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        return  # SQLite (development only) has no such lock
    digest = hashlib.blake2b(
        f"idempotency-key:{user.id}:{idempotency_key}".encode(), digest_size=8
    ).digest()
    lock = int.from_bytes(digest, "big", signed=True)
    db.session.execute(select(func.pg_advisory_xact_lock(lock)))


def _is_replay(user: User, idempotency_key: str | None) -> bool:
    """Whether this submission repeats one already made with the same Idempotency-Key (it
    returns the first job, so it spends no limit again)."""
    if idempotency_key is None:
        return False
    found = db.session.scalar(
        select(Job.id).where(Job.user_id == user.id, Job.idempotency_key == idempotency_key)
    )
    return found is not None


def _spend_submit_limit(limit: str, user: User, *, job_id: str) -> None:
    """Count one submission against the type's per-user limit under the job's id (so a job
    that fails for a reason not the user's can give it back), or refuse it with 429."""
    limiter = rate_limiter.get_rate_limiter()
    if not limiter.enabled:
        return
    decision = limiter.hit((limit,), str(user.id), holder=job_id)
    if not decision.allowed:
        raise rate_limiter.refusal(decision, anonymous=False)


def describe(
    job: Job, *, with_position: bool = False, known_rank: tuple[int | None] | None = None
) -> dict[str, Any]:
    """The client view of a job. `known_rank`: its rank in the queue read already, as
    `(rank,)` (`(None,)`: not in it), for a place in line without a round trip of its own."""
    position = None
    if with_position and job.status == JobStatus.QUEUED.value:
        if known_rank is None:
            position = job_queue.queue_position(job_id=job.id)
        elif known_rank[0] is not None:
            position = known_rank[0] + 1
    return {
        "job_id": job.id,
        "type": job.job_type,
        "status": job.status,
        "priority": job_queue.priority_name(job.priority),
        "progress": {"percent": job.progress_percent, "message": job.progress_message},
        "result": job.result,
        "error": job.error,
        "attempts": job.attempts,
        "cancel_requested": job.cancel_requested,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "run_after": job.run_after,
        "queue_position": position,
    }


def _owned_job(user: User, job_id: str) -> Job:
    """The user's job; 404 for anyone else's (logged as an authorization failure)."""
    return get_owned(Job, object_id=job_id, user_id=user.id, object_type="job")


# What `describe` reads of a job, and the owner: the status poll reads these columns only
# (not the payload, which may be large). Built once (see `hot_reads.read_row`).
_JOBS = Job.__table__.c
_STATUS_QUERY = HotQuery(
    select(
        _JOBS.id,
        _JOBS.user_id,
        _JOBS.job_type,
        _JOBS.status,
        _JOBS.priority,
        _JOBS.progress_percent,
        _JOBS.progress_message,
        _JOBS.result,
        _JOBS.error,
        _JOBS.attempts,
        _JOBS.cancel_requested,
        _JOBS.created_at,
        _JOBS.started_at,
        _JOBS.finished_at,
        _JOBS.run_after,
    ).where(_JOBS.id == bindparam("job_id"))
)


def get_status(
    *, user_id: int, job_id: str, known_rank: tuple[int | None] | None = None
) -> dict[str, Any]:
    """A job of this user with its place in line; 404 for anyone else's.

    Clients poll this: one SELECT outside any transaction (`server.services.hot_reads`); the place in
    line comes from `known_rank` when the request gate read it (see `describe`)."""
    job = read_owned(
        _STATUS_QUERY,
        {"job_id": job_id},
        object_id=job_id,
        user_id=user_id,
        object_type="job",
    )
    return describe(job, with_position=True, known_rank=known_rank)  # type: ignore[arg-type]


def status_row_if_owned(*, user_id: int, job_id: str) -> Any | None:
    """The row `get_status` describes, for the fast path (`server.web.fast_path`): None, with
    nothing recorded, when the job is missing or someone else's (the request then takes the
    usual path, which answers 404 and records the probe)."""
    job = read_row(_STATUS_QUERY, {"job_id": job_id})
    return job if job is not None and job.user_id == user_id else None


def get_all(
    *, user_id: int, page: int, per_page: int, status: str | None, job_type: str | None
) -> dict[str, Any]:
    """One page of the user's jobs, newest first."""
    page_of = job_queue.get_all_jobs(
        user_id=user_id, page=page, per_page=per_page, status=status, job_type=job_type
    )
    return {"items": [describe(job) for job in page_of["items"]], "meta": page_of["meta"]}


def cancel(*, user: User, job_id: str) -> dict[str, Any]:
    """Cancel a job of this user."""
    _owned_job(user, job_id)
    return describe(job_queue.cancel_job(job_id=job_id, user_id=user.id), with_position=True)


def create_events_token(*, user: User, job_id: str, family: str | None) -> dict[str, Any]:
    """A token that opens this job's event stream, and only it, for this user, for a minute
    (`?token=`, for browsers' EventSource, which cannot send headers); 404 for anyone else's
    job."""
    settings = get_settings()
    _owned_job(user, job_id)
    seconds = settings.job_events_token_seconds
    token = scoped_tokens.issue(
        secret=settings.jwt_secret_key,
        audience=scoped_tokens.JOB_EVENTS,
        object_id=job_id,
        user_id=user.id,
        session_generation=user.session_generation or 0,
        family=family,
        seconds=seconds,
    )
    return {"token": token, "expires_in": seconds}


_EVENT_ID = re.compile(r"(-|[a-z]{1,20})\.(\d{1,3})\.([0-9a-f]{8})")


@dataclass(frozen=True)
class StreamPosition:
    """What a client of a job's event stream has been told: the job's status and progress.

    Every event's `id:` is the position after it, so a client that reconnects with
    `Last-Event-ID` is sent exactly what changed since, nothing twice. The progress message
    is kept as a digest, to keep ids short.
    """

    status: str | None = None
    percent: int | None = None
    message_digest: str | None = None

    @classmethod
    def parse(cls, event_id: str) -> StreamPosition:
        """The position an id names; 400 for anything this stream never sent."""
        match = _EVENT_ID.fullmatch(event_id.strip())
        status = match[1] if match else None
        if not match or (status != "-" and status not in _STATUSES):
            raise BadRequest(
                f"Last-Event-ID: {event_id[:80]!r} is not an event id of a job event stream"
            )
        return cls(None if status == "-" else status, int(match[2]), match[3])

    def __str__(self) -> str:
        return f"{self.status or '-'}.{self.percent}.{self.message_digest}"


_STATUSES = frozenset(status.value for status in JobStatus)


def _digest(message: str | None) -> str:
    return hashlib.blake2s((message or "").encode(), digest_size=4).hexdigest()


def _position_of(job: Job) -> StreamPosition:
    return StreamPosition(job.status, job.progress_percent, _digest(job.progress_message))


@dataclass(frozen=True)
class _WatchedRow:
    status: str
    progress_percent: int
    progress_message: str | None
    attempts: int


class JobWatcher:
    """Reads the jobs this process's event streams watch, all in one query a tick, and wakes
    the streams whose job changed.

    One thread per process, started with the first stream and idle while none is open: the
    database sees one query every `poll_seconds` however many streams are open, and a stream
    costs nothing while it waits.
    """

    def __init__(self, app: Any, *, poll_seconds: float = EVENTS_POLL_SECONDS):
        self._app = app
        self._poll_seconds = poll_seconds
        self._lock = threading.Condition()
        self._watches: dict[str, set[JobWatch]] = {}
        self._thread: threading.Thread | None = None

    def watch(self, job_id: str, row: Any) -> JobWatch:
        """Follow a job from `row` (its state now): the returned watch wakes when it changes."""
        watch = JobWatch(self, job_id, row)
        with self._lock:
            self._watches.setdefault(job_id, set()).add(watch)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="job-events-watcher", daemon=True
                )
                self._thread.start()
            self._lock.notify()
        return watch

    def forget(self, watch: JobWatch) -> None:
        """Stop following one stream's job."""
        with self._lock:
            watches = self._watches.get(watch.job_id)
            if watches is not None:
                watches.discard(watch)
                if not watches:
                    del self._watches[watch.job_id]

    @property
    def watched_jobs(self) -> int:
        with self._lock:
            return len(self._watches)

    def _run(self) -> None:
        with self._app.app_context():
            while True:
                with self._lock:
                    while not self._watches:
                        self._lock.wait()
                    ids = list(self._watches)
                try:
                    rows = {row.id: _WatchedRow(*row[1:]) for row in _read_watched(ids)}
                except Exception:  # noqa: BLE001 - the streams keep waiting; logged
                    log.warning("reading the watched jobs failed", exc_info=True)
                else:
                    with self._lock:
                        for job_id in ids:
                            for watch in self._watches.get(job_id, ()):
                                watch.offer(rows.get(job_id))
                time.sleep(self._poll_seconds)


def _read_watched(ids: list[str]) -> list[Any]:
    try:
        return list(
            db.session.execute(
                select(
                    Job.id, Job.status, Job.progress_percent, Job.progress_message, Job.attempts
                ).where(Job.id.in_(ids))
            )
        )
    finally:
        db.session.rollback()  # no transaction left open between polls


class JobWatch:
    """One stream's view of its job: the newest state the watcher read, and a wake-up."""

    def __init__(self, watcher: JobWatcher, job_id: str, row: Any):
        self.job_id = job_id
        self._watcher = watcher
        self._row = row
        self._changed = threading.Event()

    def offer(self, row: _WatchedRow | None) -> None:
        """The watcher's newest read (None: the job is gone); wakes the stream if it changed."""
        if row != self._row:
            self._row = row
            self._changed.set()

    def wait(self, timeout: float) -> bool:
        """Wait until the job changes (True) or `timeout` passes (False)."""
        changed = self._changed.wait(max(0.0, timeout))
        self._changed.clear()
        return changed

    @property
    def row(self) -> _WatchedRow | None:
        return self._row

    def close(self) -> None:
        self._watcher.forget(self)


def watch(
    *,
    user: User,
    job_id: str,
    slots: EventStreamSlots,
    watcher: JobWatcher,
    max_seconds: float,
    last_event_id: str | None = None,
) -> tuple[Iterator[JobEvent], Callable[[], None]] | None:
    """Events as the job's status or progress changes, until it finishes or `max_seconds`
    pass; a keep-alive when nothing was sent for a while. After `last_event_id`, only what
    changed since that event.

    Takes a stream slot (429/503 when none is free) and returns the events with the slot's
    release function; the events release it too when they end or are closed. None when the
    job has finished and the client was told everything already (nothing to stream).
    """
    since = StreamPosition.parse(last_event_id) if last_event_id else StreamPosition()
    job = _owned_job(user, job_id)  # 404 before the stream starts
    finished = job.status in TERMINAL_STATUSES and _position_of(job) == since
    row = _WatchedRow(job.status, job.progress_percent, job.progress_message, job.attempts)
    db.session.rollback()
    if finished:
        return None
    release = slots.acquire(user.id)

    def events() -> Iterator[JobEvent]:
        # This thread now waits for minutes: the connections threads keep for the hot path
        # go back to their pools, for the threads that serve requests meanwhile.
        give_back_thread_connection()
        rate_limiter.give_back_thread_connection()
        followed = watcher.watch(job_id, row)
        try:
            yield from _job_events(job_id, followed, since=since, max_seconds=max_seconds)
        finally:  # also on GeneratorExit, when the client went away
            followed.close()
            release()

    return events(), release


def _job_events(
    job_id: str, followed: JobWatch, *, since: StreamPosition, max_seconds: float
) -> Iterator[JobEvent]:
    sent = since
    now = time.monotonic()
    deadline = now + max_seconds
    last_sent = now
    while True:
        row = followed.row
        if row is None:
            return  # the job is gone (removed with the finished jobs past their retention)
        digest = _digest(row.progress_message)
        if (row.progress_percent, digest) != (sent.percent, sent.message_digest):
            sent = StreamPosition(sent.status, row.progress_percent, digest)
            last_sent = time.monotonic()
            data = {"job_id": job_id, "percent": row.progress_percent}
            yield "progress", {**data, "message": row.progress_message}, str(sent)
        if row.status != sent.status:
            sent = StreamPosition(row.status, sent.percent, sent.message_digest)
            data = {"job_id": job_id, "status": row.status, "attempts": row.attempts}
            if row.status in TERMINAL_STATUSES:
                data.update(_outcome_of(job_id))
            last_sent = time.monotonic()
            yield "status", data, str(sent)
        if row.status in TERMINAL_STATUSES:
            return
        now = time.monotonic()
        if now >= deadline:
            yield "timeout", {"job_id": job_id, "status": row.status}, str(sent)
            return
        if now - last_sent >= EVENTS_KEEPALIVE_SECONDS:
            last_sent = now
            yield "keep-alive", None, None
        followed.wait(min(deadline, last_sent + EVENTS_KEEPALIVE_SECONDS) - time.monotonic())


def _outcome_of(job_id: str) -> dict[str, Any]:
    """A finished job's result, error and end time (read once, at the stream's last event)."""
    try:
        row = db.session.execute(
            select(Job.result, Job.error, Job.finished_at).where(Job.id == job_id)
        ).one()
    finally:
        db.session.rollback()
    return {"result": row.result, "error": row.error, "finished_at": isoformat(row.finished_at)}


def queue_stats() -> dict[str, Any]:
    """Queue figures for operators."""
    return job_queue.queue_stats()
