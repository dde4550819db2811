"""Job handlers, registered by job type, and what a handler may use and raise.

A handler is a function `handler(job: JobContext) -> result` (any JSON value). It reports
progress with `job.report_progress(percent, message)` and calls `job.check_cancelled()`
between steps. It raises `RetryableJobError` for a transient failure (retried with backoff up
to the type's `max_attempts`), `QuotaWait` when a quota or concurrency cap is not available
(the job waits at its place in line; no attempt is counted), and anything else for a
permanent failure. The owner reads the message of a `RetryableJobError` or another
`UserFacingError` (or `ApiError`); any other exception is shown only as an internal error with
a reference (the job id), its message and traceback going to the log. The type's `timeout_seconds` is enforced cooperatively: `check_cancelled`
raises `JobTimeout` (retryable) once it has passed, but a handler that returns is done, late
or not. Delivery is at least once, so handlers must be idempotent; an effect outside our
databases (a mail, an application sent to a board) goes through `job.once(key)`, which records
the key in PostgreSQL before the effect and makes a re-run skip it. docs/queue.md's "Side effects
once" lists every handler's effects and what guards each on a re-run; a new handler's effects
go there too.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from sqlalchemy import delete, insert, update
from sqlalchemy.exc import IntegrityError

from server import rate_limiter
from server.core import mailer
from server.core.config import get_settings
from server.core.errors import (
    ApiError,
    QuotaWait,
    RetryableJobError,
    ServiceUnavailable,
    StorageUnavailable,
    UserFacingError,
    database_unavailable,
)
from server.core.extensions import db
from server.core.outages import outage_log
from server.jobs import job_queue
from server.jobs.job_types import HandlerSpec, add_handler, get_handler, unregister_handler
from server.models import SideEffect, SideEffectState, utcnow
from server.rate_limiter import quota_gate
from server.rate_limiter.quota_gate import GEMINI_SHARE_WAIT, reserve_gemini_call
from server.schemas.jobs import (
    PUBLIC_JOB_TYPES,
    DiagnosticPayload,
    JobSearchPayload,
    ResumeTailoringPayload,
)
from server.services.resumes import RESUME_PARSE_WAIT_SECONDS

# Defined below the job framework (the engines raise them too, and services read the
# registry); importable from here as ever.
__all__ = [
    "GEMINI_SHARE_WAIT",
    "RESUME_PARSE_WAIT_SECONDS",
    "HandlerSpec",
    "QuotaWait",
    "RetryableJobError",
    "get_handler",
    "reserve_gemini_call",
    "unregister_handler",
]

log = logging.getLogger("server.workers.job_handlers")

# Types clients may submit: the keys of the payload-schema mapping, so the API's enum, the
# OpenAPI document and this check cannot disagree. Those without a registered handler are
# refused with a clear 422 (after their payload is validated) until their handler lands.
# Internal types (registered here but not listed there) can never be submitted by a client.
KNOWN_JOB_TYPES = PUBLIC_JOB_TYPES

# How long a job waiting for a concurrency slot waits at most before it looks again: a slot
# that frees brings the earliest waiter forward at once (`bring_forward_cap_waiter`), so this
# only matters when that call is lost (a crashed holder, Redis's data lost).
CAP_RECHECK_SECONDS = 2.0


class JobTimeout(RetryableJobError):
    """The run took longer than its type allows.

    Enforced only cooperatively, by `check_cancelled`: a handler that returns a result after
    its deadline has still finished, and the result is kept.
    """


class JobCancelled(Exception):  # noqa: N818 - reads as an event, like KeyboardInterrupt
    """Raised by `check_cancelled` when the job's owner cancelled it."""


class LeaseLost(Exception):  # noqa: N818
    """Raised by `check_cancelled` when this worker no longer holds the job."""


class EffectUncertain(Exception):  # noqa: N818 - reads as an outcome
    """Raised in a `job.once` block when its effect may have been made (the request went out
    whole, its answer never came): the key stays `started`, so no run makes it again."""


def error_for_owner(exc: BaseException, *, job_id: str) -> str:
    """What a job's owner reads of the failure that ended (or postponed) a run.

    The message of an error written for them (`UserFacingError`, `ApiError`); for any other
    exception, whose message may carry SQL text, paths or keys, a generic line whose reference
    is the job id that the log line with the full error and traceback carries.
    """
    if isinstance(exc, ApiError) and exc.message:
        return str(exc.message)
    if isinstance(exc, UserFacingError) and str(exc):
        return str(exc)
    return f"internal error while running the job (reference {job_id})"


def register_handler(
    job_type: str,
    *,
    max_attempts: int = 3,
    timeout_seconds: float = 600.0,
    payload_schema: type | None = None,
    admin_only: bool = False,
    internal: bool = False,
    submit_limit: str | None = None,
) -> Callable[[Callable[[JobContext], Any]], Callable[[JobContext], Any]]:
    """Register the decorated function as the handler of `job_type`."""

    def decorate(run: Callable[[JobContext], Any]) -> Callable[[JobContext], Any]:
        add_handler(
            HandlerSpec(
                job_type,
                _as_running_job(run),
                max_attempts,
                timeout_seconds,
                payload_schema,
                admin_only,
                internal,
                submit_limit,
            )
        )
        return run

    return decorate


def _as_running_job(run: Callable[[JobContext], Any]) -> Callable[[JobContext], Any]:
    """`run` with its job known to the engines' quota gate (`reserve_gemini_call`); when
    the run ends other than by waiting for quota, the job leaves the Gemini share."""

    @functools.wraps(run)
    def running(job: JobContext) -> Any:
        waiting = False
        try:
            with quota_gate.spending_for(job):
                return run(job)
        except QuotaWait:
            waiting = True
            raise
        finally:
            if job.gemini_caller is not None and not waiting:
                rate_limiter.leave_gemini_share(job.gemini_caller)
                limit = rate_limiter.get_rate_limiter().rule(rate_limiter.GEMINI_MINUTE).limit
                bring_forward_cap_waiter(GEMINI_SHARE_WAIT, count=limit)

    return running


def bring_forward_cap_waiter(cap_name: str, *, only_if_free: bool = False, count: int = 1) -> None:
    """Make the earliest `count` jobs waiting for a slot of `cap_name` ready to run now.

    Called when a holder gives its slot back, and (`only_if_free`) once a job's wait has been
    recorded: a slot given back between the job's refusal and that record found nobody
    waiting. Waiters for a larger Gemini share (`GEMINI_SHARE_WAIT`) are brought forward when
    a job leaves the share only: one that missed it looks again after its delay. Never
    raises: a lost call only costs the waiting job its delay.
    """
    try:
        if only_if_free and (
            cap_name == GEMINI_SHARE_WAIT or rate_limiter.free_slots(cap_name) == 0
        ):
            return
        job_queue.promote_cap_waiters(cap_name=cap_name, count=count)
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        outage_log("redis").failed("bringing a cap waiter forward", exc)
    except Exception:
        log.exception("bringing a cap waiter forward failed", extra={"cap": cap_name})


class JobContext:
    """What a running handler knows and may do."""

    def __init__(self, claimed: job_queue.ClaimedJob, *, timeout_seconds: float):
        self.job_id = claimed.job_id
        self.user_id = claimed.user_id
        self.job_type = claimed.job_type
        self.payload = claimed.payload
        self.priority = claimed.priority
        self.attempt = claimed.attempt
        self.lease_token = claimed.lease_token
        self.deadline = time.monotonic() + timeout_seconds
        # Set by the worker's heartbeat or at shutdown; checked by `check_cancelled`.
        self.cancel_requested = False
        self.lease_lost = False
        self._held_caps: list[tuple[str, str]] = []
        # Set once the job asks for Gemini: it then takes part in the share of the window.
        self.gemini_caller: rate_limiter.GeminiCaller | None = None

    @property
    def timed_out(self) -> bool:
        return time.monotonic() > self.deadline

    def check_cancelled(self) -> None:
        """Raise `JobCancelled`, `LeaseLost` or `JobTimeout` when the run must stop.

        Reads the flags the worker's heartbeat keeps up to date (at most every
        `worker.HEARTBEAT_MAX_SECONDS`), so it makes no network call of its own and a Redis
        outage does not stop the run.
        """
        if self.lease_lost:
            raise LeaseLost(f"job {self.job_id}: this worker no longer holds the job")
        if self.cancel_requested:
            raise JobCancelled(f"job {self.job_id} was cancelled")
        if self.timed_out:
            raise JobTimeout(f"job {self.job_id} ran past its time limit")

    def renew_slots(self) -> None:
        """Extend the leases of the concurrency slots the handler holds (the heartbeat calls
        this, so a slot is kept however long a step runs between checks)."""
        for cap_name, subject in list(self._held_caps):
            rate_limiter.renew(cap_name, self.job_id, subject)

    def reserve_gemini_call(self) -> rate_limiter.Reservation:
        """Take one slot of the Gemini quota, or raise `QuotaWait` so the job waits its turn.

        Every Gemini call goes through here (or the module's `reserve_gemini_call`); a call
        that is not made after all is refunded with `rate_limiter.release_gemini_call`.
        """
        with quota_gate.spending_for(self):
            return reserve_gemini_call()

    def spend_daily_limit(self, name: str) -> rate_limiter.Decision:
        """Count this job once against one of its user's window limits (a run of the job
        again spends nothing more); the decision says whether there was room."""
        return rate_limiter.spend_once(name, subject=str(self.user_id), token=f"job:{self.job_id}")

    @contextmanager
    def concurrency_slot(
        self, cap_name: str, *, subject: str = rate_limiter.GLOBAL_SUBJECT
    ) -> Iterator[None]:
        """Hold one slot of a concurrency cap for the block, or raise `QuotaWait`.

        The slot is a lease held by this job; the worker's heartbeat renews it while the job
        runs, and a crashed worker's slot frees itself when the lease runs out. `subject`: the
        user a per-user cap counts (its waiters look again after `CAP_RECHECK_SECONDS`; a
        global cap's are brought forward as soon as a slot frees).
        """
        lease = rate_limiter.acquire(cap_name, self.job_id, subject)
        shared = subject == rate_limiter.GLOBAL_SUBJECT
        if not lease.acquired:
            # Brought forward when a holder gives its slot back; else look again soon.
            retry = min(max(lease.retry_after, 0.5), CAP_RECHECK_SECONDS)
            raise QuotaWait(retry, f"a free {cap_name} slot", cap=cap_name if shared else None)
        held = (cap_name, subject)
        self._held_caps.append(held)
        try:
            yield
        finally:
            self._held_caps.remove(held)
            rate_limiter.release(cap_name, self.job_id, subject)
            if shared:
                bring_forward_cap_waiter(cap_name)

    @contextmanager
    def once(self, key: str) -> Iterator[bool]:
        """Make the side effect in the block at most once across every run of every job.

        `with job.once(f"mail:{job.job_id}") as first:` yields True when the key is new: it is
        committed to PostgreSQL (state `started`) before the block runs, and marked `done` when
        the block ends. It yields False when any run recorded the key before: skip the effect.
        If the block raises, the effect is taken as not made and the key is forgotten, so a
        retry makes it; put nothing in the block that could fail after the effect. If it
        raises `EffectUncertain` (the effect may have been made: a request went out whole and
        its answer never came), or the process dies inside the block, the key stays `started`
        and no run repeats the effect: at most once (a lost mail can be asked for again; a
        duplicate cannot be taken back).
        """
        if not _record_side_effect(key, self.job_id):
            log.info("side effect already recorded; not repeating it", extra={"key": key})
            yield False
            return
        try:
            yield True
        except EffectUncertain:
            log.warning("side effect may have been made; not repeating it", extra={"key": key})
            raise
        except Exception:
            _forget_side_effect(key)
            raise
        _finish_side_effect(key)

    def keeps_lease(self) -> bool:
        """Whether this worker still holds the job (a long wait stops when it does not)."""
        return not self.lease_lost

    def report_progress(self, percent: int, message: str | None = None) -> None:
        """Record progress (0-100) and a short message for status and event readers.

        Progress is only news: a connection that dies under the update is replaced and the
        update tried once more, and an update that still fails is skipped (logged as an
        outage), so a killed connection never cuts the run short.
        """
        for last in (False, True):
            try:
                job_queue.set_progress(
                    job_id=self.job_id,
                    lease_token=self.lease_token,
                    percent=percent,
                    message=message,
                )
                return
            except Exception as exc:
                if not database_unavailable(exc):
                    raise
                if last:
                    outage_log("database").failed("progress update", exc)


def _record_side_effect(key: str, job_id: str) -> bool:
    """Commit the key (own transaction, before the effect); False when it exists already."""
    try:
        with db.engine.begin() as sql:
            sql.execute(
                insert(SideEffect).values(
                    key=key,
                    job_id=job_id,
                    state=SideEffectState.STARTED.value,
                    created_at=utcnow(),
                )
            )
    except IntegrityError:
        return False
    return True


def _finish_side_effect(key: str) -> None:
    with db.engine.begin() as sql:
        sql.execute(
            update(SideEffect)
            .where(SideEffect.key == key)
            .values(state=SideEffectState.DONE.value, finished_at=utcnow())
        )


def _forget_side_effect(key: str) -> None:
    with db.engine.begin() as sql:
        sql.execute(delete(SideEffect).where(SideEffect.key == key))


@register_handler(
    "diagnostic",
    max_attempts=3,
    timeout_seconds=120.0,
    payload_schema=DiagnosticPayload,
    admin_only=True,
)
def run_diagnostic(job: JobContext) -> dict[str, Any]:
    """Sleep `sleep_ms` in steps (reporting progress), failing the first `fail_times` tries."""
    sleep_ms = int(job.payload.get("sleep_ms", 0))
    fail_times = int(job.payload.get("fail_times", 0))
    if sleep_ms:
        steps = max(1, min(20, sleep_ms // 50))
        for step in range(1, steps + 1):
            time.sleep(sleep_ms / steps / 1000)
            job.check_cancelled()
            job.report_progress(step * 100 // steps, f"step {step} of {steps}")
    if job.attempt <= fail_times:
        raise RetryableJobError(f"diagnostic failure on attempt {job.attempt} of {fail_times}")
    log.info("diagnostic done", extra={"sleep_ms": sleep_ms, "attempt": job.attempt})
    return {"slept_ms": sleep_ms, "attempt": job.attempt}


class MailUnconfirmed(UserFacingError):  # noqa: N818 - reads as an outcome
    """The mail server received a message but never confirmed it: it is not sent again."""


# The time limit leaves room for the mail server's final reply (`SMTP_FINAL_REPLY_TIMEOUT_
# SECONDS`, 10 minutes by RFC 5321); the worker's heartbeat keeps the lease meanwhile.
MAIL_JOB_SECONDS = 900.0


@register_handler("send_email", max_attempts=8, timeout_seconds=MAIL_JOB_SECONDS, internal=True)
def send_email(job: JobContext) -> dict[str, Any]:
    """Compose and send one queued mail, at most once; a refused SMTP attempt is retried, a
    mail the server received but never confirmed is not (the job fails saying so)."""
    from server.services import accounts

    settings = get_settings()
    try:
        with job.once(f"mail:{job.job_id}") as first:
            if not first:
                return {"sent": False, "reason": "already handled by an earlier run"}
            mail = accounts.compose_mail(payload=job.payload)
            if mail is None:
                return {"sent": False, "reason": "nothing to send"}
            try:
                taken = mailer.send_mail(settings=settings, keep_waiting=job.keeps_lease, **mail)
            except mailer.MailOutcomeUnknown as unknown:
                raise EffectUncertain(str(unknown)) from unknown
            if not taken:
                raise RetryableJobError("the mail server did not take the message")
    except EffectUncertain as uncertain:
        raise MailUnconfirmed(
            f"{uncertain}; it may have been delivered, so it is not sent again"
        ) from uncertain
    return {"sent": True}


@register_handler(
    "job_search",
    max_attempts=3,
    timeout_seconds=600.0,
    payload_schema=JobSearchPayload,
    submit_limit="job_search_per_user_per_day",
)
def run_job_search(job: JobContext) -> dict[str, Any]:
    """Search the chosen job boards, rank the postings against the resume, store them."""
    from server.services import postings

    result = postings.search(
        user_id=job.user_id,
        job_id=job.job_id,
        payload=job.payload,
        report_progress=job.report_progress,
        check_cancelled=job.check_cancelled,
    )
    tried = [s for s in result["sources"] if s["status"] != "skipped"]
    if not tried:  # the payload named only boards it gave no company for: the user's to fix
        raise UserFacingError(
            postings.unsearchable_message(result["skipped_sources"], {}) or "no board was searched"
        )
    if all(s["status"] == "failed" for s in tried):
        raise RetryableJobError(postings.failure_message(result["sources"]))
    return result


@register_handler(
    "resume_tailoring",
    max_attempts=3,
    timeout_seconds=900.0,
    payload_schema=ResumeTailoringPayload,
    submit_limit="resume_tailoring_per_user_per_day",
)
def run_resume_tailoring(job: JobContext) -> dict[str, Any]:
    """Tailor one of the user's resumes to a job description (`server/agent/tailoring.py`).

    Holds a `concurrent_tailoring_sessions` slot while it runs; a Gemini quota wait gives the
    slot back and the job waits at its place in line.
    """
    from server.services import tailored_resumes

    with job.concurrency_slot("concurrent_tailoring_sessions"):
        return tailored_resumes.tailor_for_job(job)


@register_handler("resume_parsing", max_attempts=3, timeout_seconds=120.0, internal=True)
def parse_resume(job: JobContext) -> dict[str, Any]:
    """Read an uploaded resume into its structure (queued by the upload).

    Holds a slot of the user's own parser share first, then one of all the parsers: one
    user's documents wait for each other, never for another user's.
    """
    from server.services import resumes

    resume_id = uuid.UUID(job.payload["resume_id"])
    with job.concurrency_slot("concurrent_resume_parses_per_user", subject=str(job.user_id)):
        with job.concurrency_slot("concurrent_resume_parses"):
            try:
                # A document that cannot be read (`DocumentUnreadable`) is recorded on the
                # resume, and fails the job with the same reason.
                resume = resumes.parse(resume_id=resume_id)
            except StorageUnavailable:
                raise  # the file store is down: an outage, retried without an attempt
            except ServiceUnavailable as exc:  # this process's readers are all busy
                raise RetryableJobError(str(exc.message)) from exc
    status = resume.parse_status if resume is not None else "deleted"
    return {"resume_id": str(resume_id), "parse_status": status}


# Backups: queued by `POST /api/admin/backups/create` and `.../verify` (admins only; clients
# cannot submit these types through `POST /api/jobs`).
@register_handler(
    "backup_create", max_attempts=1, timeout_seconds=6 * 3600.0, admin_only=True, internal=True
)
def create_backup(job: JobContext) -> dict[str, Any]:
    """Make the backup the payload names (`backup_id`, `type`)."""
    from server import backup_manager

    made = backup_manager.create_backup(
        backup_type=job.payload["type"],
        backup_id=job.payload["backup_id"],
        requested_by=job.user_id,
    )
    return {"backup_id": made["id"], "size_bytes": made["size_bytes"], "sha256": made["sha256"]}


@register_handler(
    "backup_verify", max_attempts=1, timeout_seconds=6 * 3600.0, admin_only=True, internal=True
)
def verify_backup(job: JobContext) -> dict[str, Any]:
    """Restore the payload's backup into a scratch database and compare it with its manifest."""
    from server import backup_manager

    result = backup_manager.verify_backup(
        backup_id=job.payload["backup_id"], requested_by=job.user_id
    )
    return {**result, "verified_at": result["verified_at"] and result["verified_at"].isoformat()}
