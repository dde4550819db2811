"""The worker pool, and the worker-only entry point:

    python -m server.worker

`JOB_QUEUE_MAX_WORKERS` threads run handlers. Around them: a dispatcher claims jobs for idle
threads (one Redis script and one PostgreSQL statement per batch) and, when there is nothing to
claim, waits for a wake-up call from Redis (`job_queue.WakeUps`); a heartbeat renews the leases
this process holds and the concurrency slots of its running handlers. A thread records its
job's outcome itself as soon as the handler returns, before it takes another job; a recorder
thread writes the leases given back at shutdown, in batches. Each job runs in its own app context and database session, and every log
line written while it runs carries its `job_id`.

SIGTERM or SIGINT: stop claiming, let running jobs finish within
`JOB_QUEUE_SHUTDOWN_GRACE_SECONDS`, then release their leases so another worker takes them.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import sys
import threading
import time
from typing import Any

import redis
from flask import Flask

import server.workers.applicant_handlers  # noqa: F401 - registers the applicant's job types
from server import rate_limiter
from server.core import metrics
from server.core.errors import ApiError, StorageUnavailable, UserFacingError, database_unavailable
from server.core.extensions import db
from server.core.logging_config import current_job_id
from server.core.outages import outage_log
from server.core.redis_client import get_redis
from server.jobs import job_queue
from server.jobs.job_queue import ClaimedJob, Outcome, OutcomeKind
from server.ops import monitoring
from server.ops.scheduler import LeaderScheduler
from server.security_manager.ip_blocking import restore_blocks
from server.workers import job_handlers

log = logging.getLogger("server.workers.worker")

# An idle dispatcher waits for a wake-up call (see `job_queue.WakeUps`) at most this long
# (by default) before it claims again anyway: the poll is only a safety net (delayed jobs
# coming due, a call lost with Redis's data). After a failed claim it backs off from the
# minimum to this.
IDLE_POLL_MIN_SECONDS = 0.02
IDLE_POLL_MAX_SECONDS = 0.25
RECORD_BATCH = 500
RECORD_ATTEMPTS = 5
HEARTBEAT_MAX_SECONDS = 0.5
_STOP = object()


def _redis_outage(exc: BaseException) -> bool:
    return isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError)


def is_transient_outage(exc: BaseException) -> bool:
    """True for a lost connection to Redis, PostgreSQL or the file store: worth trying again
    later."""
    return _redis_outage(exc) or database_unavailable(exc) or isinstance(exc, StorageUnavailable)


def _log_failure(where: str, exc: BaseException, message: str, **extra: Any) -> None:
    """Log a failure met by a background thread (call it inside the `except`).

    An outage of Redis or PostgreSQL is expected to happen and to pass: it goes to that
    dependency's outage log (a line when it starts, a summary while it lasts, no traceback).
    Anything else is logged with its traceback.
    """
    if _redis_outage(exc):
        outage_log("redis").failed(where, exc)
    elif database_unavailable(exc):
        outage_log("database").failed(where, exc)
    else:
        log.exception(message, extra=extra)


class _Run:
    """A claimed job inside this process."""

    def __init__(self, claimed: ClaimedJob, context: job_handlers.JobContext):
        self.claimed = claimed
        self.context = context
        self.started = False
        self.finished = False  # the handler returned: its lease is no longer renewed
        self.abandoned = False  # released at shutdown: the handler's outcome is dropped
        # It failed for a reason that is not its owner's: the allowances it spent go back.
        self.gives_back = False


class WorkerPool:
    """Threads that claim, run and record jobs until stopped."""

    def __init__(
        self,
        app: Flask,
        *,
        threads: int | None = None,
        name: str | None = None,
        safety_poll_seconds: float = IDLE_POLL_MAX_SECONDS,
    ):
        settings = app.config["SETTINGS"]
        self.safety_poll_seconds = safety_poll_seconds
        self._wake_ups: job_queue.WakeUps | None = None
        self.app = app
        self.threads = settings.job_queue_max_workers if threads is None else threads
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.settings = settings
        self._work: queue.Queue[Any] = queue.Queue()
        self._outcomes: queue.Queue[Any] = queue.Queue()
        self._held: dict[str, _Run] = {}
        self._held_lock = threading.Lock()
        self._free = threading.Semaphore(self.threads)
        self._stopping = threading.Event()
        self._recorder_done = threading.Event()
        self._executors: list[threading.Thread] = []
        self._service_threads: list[threading.Thread] = []
        with app.app_context():
            engine = db.engine
        # PostgreSQL connections the dispatcher and the handler threads keep between jobs.
        self._kept = job_queue.KeptConnections(
            engine, keep=job_queue.KeptConnections.keep_for(engine, self.threads)
        )

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the dispatcher, executors, recorder and heartbeat threads."""
        for index in range(self.threads):
            thread = threading.Thread(
                target=self._execute_loop, name=f"job-worker-{index}", daemon=True
            )
            thread.start()
            self._executors.append(thread)
        for target, name in (
            (self._dispatch_loop, "job-dispatcher"),
            (self._record_loop, "job-recorder"),
            (self._heartbeat_loop, "job-heartbeat"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._service_threads.append(thread)
        log.info("worker pool started", extra={"worker": self.name, "threads": self.threads})

    def stop(self, *, grace_seconds: float | None = None) -> None:
        """Stop claiming, wait for running jobs up to the grace period, release the rest."""
        if self._stopping.is_set():
            return
        grace = (
            self.settings.job_queue_shutdown_grace_seconds
            if grace_seconds is None
            else grace_seconds
        )
        self._stopping.set()
        if self._wake_ups is not None:
            self._wake_ups.interrupt()
        dispatcher = self._service_threads[0] if self._service_threads else None
        if dispatcher is not None:
            dispatcher.join(timeout=10)
        if self._wake_ups is not None:
            self._wake_ups.close()
        log.info("worker pool stopped claiming; draining", extra={"worker": self.name})
        # Jobs claimed but not started go straight back, at their place, uncounted.
        for _ in self._executors:
            self._work.put(_STOP)
        deadline = time.monotonic() + grace
        for thread in self._executors:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._drain_unstarted()
        with self._held_lock:
            leftovers = [
                run for run in self._held.values() if not run.abandoned and not run.finished
            ]
            for run in leftovers:
                run.abandoned = True
                run.context.lease_lost = True  # the handler stops at its next check
        for run in leftovers:
            self._outcomes.put(
                Outcome(
                    run.claimed.job_id,
                    run.claimed.lease_token,
                    OutcomeKind.RELEASE,
                    # A run cut short by a shutdown is not one of the job's attempts.
                    uncount_attempt=True,
                    message="released by a worker shutting down",
                )
            )
        if leftovers:
            log.warning(
                "released running jobs at shutdown",
                extra={"worker": self.name, "jobs": len(leftovers)},
            )
        self._outcomes.put(_STOP)
        self._recorder_done.wait(timeout=30)
        self._kept.close()
        log.info("worker pool stopped", extra={"worker": self.name})

    @property
    def held_jobs(self) -> int:
        with self._held_lock:
            return len(self._held)

    # --- threads ----------------------------------------------------------------------------

    def _dispatch_loop(self) -> None:
        with self.app.app_context():
            wake_ups = job_queue.wake_ups(max_wait_seconds=self.safety_poll_seconds)
            # `stop` interrupts the wait of a dispatcher it finds here, and closes the
            # connections once the dispatcher is gone; one it does not find sees the flag first.
            self._wake_ups = wake_ups
            self._dispatch(wake_ups)

    def _dispatch(self, wake_ups: job_queue.WakeUps) -> None:
        """Claim for idle threads until stopped (the running marks on kept connections)."""
        retry = IDLE_POLL_MIN_SECONDS
        while not self._stopping.is_set():
            if not self._free.acquire(timeout=0.5):
                continue
            free = 1
            while self._free.acquire(blocking=False):
                free += 1
            claimed: list[ClaimedJob] = []
            failed = False
            try:
                claimed = job_queue.claim_jobs(worker_id=self.name, limit=free, sql=self._kept)
                outage_log("redis").recovered()
            except Exception as exc:  # noqa: BLE001 - logged by _log_failure
                failed = True
                _log_failure("claim", exc, "claim failed; retrying", worker=self.name)
            for item in claimed:
                spec = job_handlers.get_handler(item.job_type)
                timeout = spec.timeout_seconds if spec else 60.0
                run = _Run(item, job_handlers.JobContext(item, timeout_seconds=timeout))
                with self._held_lock:
                    self._held[item.job_id] = run
                self._work.put(run)
            for _ in range(free - len(claimed)):
                self._free.release()
            if claimed:
                retry = IDLE_POLL_MIN_SECONDS
            elif failed:
                self._stopping.wait(retry)
                retry = min(IDLE_POLL_MAX_SECONDS, retry * 2)
            else:
                self._wait_for_work(wake_ups)

    def _wait_for_work(self, wake_ups: job_queue.WakeUps) -> None:
        """Sleep until a job becomes claimable (a wake-up call), at most the safety-net poll."""
        try:
            wake_ups.wait(self.safety_poll_seconds)
        except Exception as exc:  # noqa: BLE001 - logged by _log_failure
            _log_failure("wait for work", exc, "waiting for work failed", worker=self.name)
            self._stopping.wait(IDLE_POLL_MAX_SECONDS)

    def _execute_loop(self) -> None:
        """Run claimed jobs until told to stop, recording each outcome on a kept connection."""
        while True:
            run = self._work.get()
            if run is _STOP:
                return
            try:
                if self._stopping.is_set():
                    self._give_back_unstarted(run)
                    continue
                run.started = True
                outcome = self._execute(run)
                with self._held_lock:
                    keep = outcome is not None and not run.abandoned
                    run.finished = True
                    if not keep and self._held.get(run.claimed.job_id) is run:
                        del self._held[run.claimed.job_id]
                if keep:
                    # Recorded here and now, not handed to a batch: a process killed after the
                    # handler returned runs the job again only if it dies within this one
                    # write. Measured with 4 threads and 2,000 no-op jobs, from the handler's
                    # return to the outcome's write: median 0.4 ms, p99 8 ms, max 17 ms
                    # (batched: median 5.5 ms, p99 53 ms, max 232 ms, the outcome waiting
                    # behind earlier batches while its thread already ran the next job).
                    with self.app.app_context():
                        self.record([outcome], sql=self._kept)
                        if outcome.kind == OutcomeKind.DEFER and outcome.waits_for:
                            job_handlers.bring_forward_cap_waiter(
                                outcome.waits_for, only_if_free=True
                            )
            finally:
                self._free.release()

    def _drain_unstarted(self) -> None:
        while True:
            try:
                run = self._work.get_nowait()
            except queue.Empty:
                return
            if run is not _STOP:
                self._give_back_unstarted(run)

    def _give_back_unstarted(self, run: _Run) -> None:
        with self._held_lock:
            if run.abandoned:
                return
            run.abandoned = True
        self._outcomes.put(
            Outcome(
                run.claimed.job_id,
                run.claimed.lease_token,
                OutcomeKind.RELEASE,
                uncount_attempt=True,
            )
        )

    def _execute(self, run: _Run) -> Outcome | None:
        claimed = run.claimed
        spec = job_handlers.get_handler(claimed.job_type)
        token = current_job_id.set(claimed.job_id)
        started = time.monotonic()
        extra = {"job_id": claimed.job_id, "job_type": claimed.job_type}
        try:
            with self.app.app_context():
                try:
                    outcome = self._run_handler(spec, run)
                finally:
                    db.session.remove()
            elapsed = time.monotonic() - started
            duration_ms = int(elapsed * 1000)
            if outcome is not None:
                outcome.duration_ms = duration_ms
            metrics.observe_job(
                claimed.job_type, outcome.kind.value if outcome else "lease_lost", elapsed
            )
            log.info(
                "job run finished",
                extra={
                    **extra,
                    "attempt": claimed.attempt,
                    "outcome": outcome.kind.value if outcome else "lease_lost",
                    "duration_ms": duration_ms,
                },
            )
            return outcome
        finally:
            current_job_id.reset(token)

    def _run_handler(self, spec: job_handlers.HandlerSpec | None, run: _Run) -> Outcome | None:
        claimed, context = run.claimed, run.context
        job_id, token = claimed.job_id, claimed.lease_token
        if spec is None:
            run.gives_back = True
            return Outcome(
                job_id,
                token,
                OutcomeKind.FAILED,
                error=f"no handler is registered for job type {claimed.job_type!r}",
            )
        try:
            # The time limit is cooperative (`check_cancelled` raises `JobTimeout`): a handler
            # that returns has finished, late or not, and its result stands.
            result = spec.run(context)
        except job_handlers.LeaseLost:
            return None
        except job_handlers.JobCancelled:
            return Outcome(job_id, token, OutcomeKind.CANCELLED, error="cancelled by request")
        except job_handlers.QuotaWait as wait:
            return Outcome(
                job_id,
                token,
                OutcomeKind.DEFER,
                delay_seconds=wait.retry_after_seconds,
                message=f"waiting for {wait.reason}",
                waits_for=wait.cap,
            )
        except Exception as exc:
            # The owner reads `shown`; the log keeps the whole error, under the job id that
            # `shown` gives as the reference of an internal one.
            error = f"{type(exc).__name__}: {exc}"
            shown = job_handlers.error_for_owner(exc, job_id=job_id)
            extra = {"job_id": job_id, "error": error}
            if not isinstance(exc, job_handlers.RetryableJobError) and is_transient_outage(exc):
                return self._after_an_outage(claimed, run, error=shown, extra=extra)
            if not isinstance(exc, job_handlers.RetryableJobError):
                if isinstance(exc, UserFacingError | ApiError):  # the user's input, mostly
                    run.gives_back = getattr(exc, "service_failure", False)
                    log.warning("job failed", extra=extra)
                else:
                    run.gives_back = True  # a bug of ours
                    log.exception("job failed with an internal error", extra=extra)
                return Outcome(job_id, token, OutcomeKind.FAILED, error=shown)
            if claimed.attempt >= spec.max_attempts:
                run.gives_back = True  # an outage, here or upstream, outlasted the retries
                log.warning("job failed after its last attempt", extra=extra)
                return Outcome(
                    job_id,
                    token,
                    OutcomeKind.FAILED,
                    error=f"{shown} (after {claimed.attempt} attempts)",
                )
            delay = job_queue.retry_delay_seconds(
                claimed.attempt,
                base=self.settings.job_queue_retry_base_seconds,
                maximum=self.settings.job_queue_retry_max_seconds,
            )
            log.info("job will be retried", extra={**extra, "delay_seconds": delay})
            return Outcome(job_id, token, OutcomeKind.RETRY, error=shown, delay_seconds=delay)
        try:
            # Checked here, once: a result PostgreSQL cannot store must not poison the batch.
            encoded = job_queue.encode_result(result)
        except ValueError as exc:
            log.warning("job result refused", extra={"error": str(exc)})
            run.gives_back = True
            return Outcome(job_id, token, OutcomeKind.FAILED, error=str(exc))
        return Outcome(job_id, token, OutcomeKind.SUCCEEDED, result=result, result_json=encoded)

    def _after_an_outage(
        self, claimed: ClaimedJob, run: _Run, *, error: str, extra: dict
    ) -> Outcome:
        """A run cut short by a lost connection to Redis or PostgreSQL: retried with backoff,
        without counting an attempt (the job did nothing wrong), up to
        `JOB_QUEUE_MAX_OUTAGE_RETRIES` times (a connection lost every time, say a statement
        PostgreSQL always cancels, must not retry for ever)."""
        job_id, token = claimed.job_id, claimed.lease_token
        retries = claimed.outage_retries
        if retries >= self.settings.job_queue_max_outage_retries:
            run.gives_back = True  # the outage outlasted the retries: not the owner's doing
            log.warning("job failed after an outage on every run", extra=extra)
            runs = retries + 1
            return Outcome(
                job_id,
                token,
                OutcomeKind.FAILED,
                error=f"{error} (after {runs} runs cut short by an outage)",
            )
        delay = job_queue.retry_delay_seconds(
            retries + 1,
            base=self.settings.job_queue_retry_base_seconds,
            maximum=self.settings.job_queue_retry_max_seconds,
        )
        log.info("job cut short by an outage; retried", extra={**extra, "delay_seconds": delay})
        return Outcome(
            job_id,
            token,
            OutcomeKind.RETRY,
            error=error,
            delay_seconds=delay,
            uncount_attempt=True,
            outage=True,
        )

    def _record_loop(self) -> None:
        with self.app.app_context():
            stopping = False
            while not stopping:
                first = self._outcomes.get()
                batch: list[Outcome] = []
                if first is _STOP:
                    stopping = True
                else:
                    batch.append(first)
                while len(batch) < RECORD_BATCH:
                    try:
                        item = self._outcomes.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stopping = True
                    else:
                        batch.append(item)
                if batch:
                    self.record(batch)
        self._recorder_done.set()

    def record(self, batch: list[Outcome], *, sql: job_queue.KeptConnections | None = None) -> None:
        """Write a batch of outcomes; one that cannot be written does not take the others down.

        The batch is one transaction. An outage is retried with a backoff; any other failure
        (or an outage that outlasts the retries) falls back to one outcome at a time. `sql`:
        the calling thread's own connection.
        """
        for attempt in range(RECORD_ATTEMPTS):
            try:
                self._give_back_allowances(batch, job_queue.record_outcomes(batch, sql=sql))
                outage_log("database").recovered()
                break
            except Exception as exc:  # noqa: BLE001 - logged by _log_failure
                _log_failure(
                    "recording outcomes", exc, "recording outcomes failed", jobs=len(batch)
                )
                if len(batch) > 1 and not is_transient_outage(exc):
                    self._record_one_at_a_time(batch)
                    break
                if attempt + 1 < RECORD_ATTEMPTS:
                    time.sleep(min(2.0, 0.1 * 2**attempt))
        else:
            if len(batch) > 1:
                self._record_one_at_a_time(batch)
        # Recorded or not, this process lets go: an unrecorded lease expires and is reaped.
        with self._held_lock:
            for outcome in batch:
                self._let_go(outcome)

    def _run_of(self, outcome: Outcome) -> _Run | None:
        """The run the outcome is of; None once let go. A job retried at once may already be
        held again, by another thread, under a new lease: that run is not this outcome's."""
        run = self._held.get(outcome.job_id)
        return run if run is not None and run.claimed.lease_token == outcome.lease_token else None

    def _let_go(self, outcome: Outcome) -> None:
        if self._run_of(outcome) is not None:
            del self._held[outcome.job_id]

    def _give_back_allowances(self, outcomes: list[Outcome], recorded: list[str]) -> None:
        """Give back the daily allowances of the jobs recorded as failed for a reason that is
        not their owner's (docs/rate-limits.md)."""
        recorded_ids = set(recorded)
        for outcome in outcomes:
            with self._held_lock:
                run = self._run_of(outcome)
            if (
                run is not None
                and run.gives_back
                and outcome.kind == OutcomeKind.FAILED
                and outcome.job_id in recorded_ids
                and run.claimed.user_id is not None
            ):
                try:
                    rate_limiter.give_back(holder=outcome.job_id, subject=str(run.claimed.user_id))
                except Exception:  # noqa: BLE001 - the outcome is recorded; this must not undo it
                    log.exception(
                        "giving an allowance back failed", extra={"job_id": outcome.job_id}
                    )

    def _record_one_at_a_time(self, batch: list[Outcome]) -> None:
        for outcome in batch:
            try:
                self._give_back_allowances([outcome], job_queue.record_outcomes([outcome]))
                continue
            except Exception as exc:  # noqa: BLE001 - logged by _log_failure
                _log_failure(
                    "recording an outcome",
                    exc,
                    "recording an outcome failed",
                    job_id=outcome.job_id,
                )
                if is_transient_outage(exc) or outcome.kind == OutcomeKind.FAILED:
                    continue  # its lease expires and the reaper puts it back in line
                # The database's words stay in the log line above, which names the job.
                error = f"the job's outcome could not be recorded (reference {outcome.job_id})"
            # Deterministic (e.g. a result the database refuses): fail it rather than rerun it.
            try:
                job_queue.record_outcomes(
                    [Outcome(outcome.job_id, outcome.lease_token, OutcomeKind.FAILED, error=error)]
                )
            except Exception:
                log.exception("recording a failure failed", extra={"job_id": outcome.job_id})

    def _heartbeat_loop(self) -> None:
        # Frequent enough to renew leases well before they expire, and for a cancel or a lost
        # lease to reach `check_cancelled` (which only reads the flags set here) quickly.
        interval = min(HEARTBEAT_MAX_SECONDS, max(0.2, self.settings.job_queue_lease_seconds / 3))
        with self.app.app_context():
            while not self._recorder_done.wait(interval):
                monitoring.note_worker_alive(
                    self.name,
                    self.threads,
                    self.held_jobs,
                    alive_seconds=self.settings.job_queue_lease_seconds,
                )
                with self._held_lock:
                    runs = [
                        run for run in self._held.values() if not run.abandoned and not run.finished
                    ]
                if not runs:
                    continue
                self._renew_slots(runs)
                try:
                    states = job_queue.renew_leases(
                        [(run.claimed.job_id, run.claimed.lease_token) for run in runs]
                    )
                except job_queue.QueueStateLost:
                    self._lost_with_the_queue_state(runs)
                    continue
                except Exception as exc:  # noqa: BLE001 - logged by _log_failure
                    _log_failure("lease renewal", exc, "lease renewal failed", worker=self.name)
                    continue
                with self._held_lock:
                    # A run that finished while the renewal was on its way gave its lease up
                    # with its outcome: its "lost" lease is not news.
                    live = [
                        (run, state)
                        for run, state in zip(runs, states, strict=True)
                        if not run.finished and not run.abandoned
                    ]
                for run, state in live:
                    if state == 0 and not run.context.lease_lost:
                        run.context.lease_lost = True
                        log.warning("lease lost", extra={"job_id": run.claimed.job_id})
                    elif state == 2:
                        run.context.cancel_requested = True

    def _renew_slots(self, runs: list[_Run]) -> None:
        # Here rather than in `check_cancelled`, so a handler's checks make no network call.
        for run in runs:
            try:
                run.context.renew_slots()
            except Exception as exc:  # noqa: BLE001 - logged by _log_failure
                _log_failure("slot renewal", exc, "slot renewal failed", job_id=run.claimed.job_id)

    def _lost_with_the_queue_state(self, runs: list[_Run]) -> None:
        # Redis lost its data and every lease with it: these runs are fenced out (the rebuild
        # puts their jobs back in line) and stop at their next check.
        newly_lost = [run for run in runs if not run.context.lease_lost]
        for run in newly_lost:
            run.context.lease_lost = True
        if newly_lost:
            log.warning(
                "leases lost with the queue's Redis state; their jobs will run again",
                extra={"worker": self.name, "jobs": len(newly_lost)},
            )
        try:
            job_queue.rebuild_queue_state(owner=self.name)
        except Exception as exc:  # noqa: BLE001 - logged by _log_failure
            _log_failure("queue state rebuild", exc, "rebuilding the queue's state failed")


def reconcile_at_start(app: Flask) -> None:
    """Enqueue what PostgreSQL says is waiting, before workers start claiming (and write the
    queue's state marker when Redis has none)."""
    with app.app_context():
        try:
            owner = f"{socket.gethostname()}:{os.getpid()}"
            if job_queue.rebuild_queue_state(owner=owner) == "whole":
                counts = job_queue.reconcile()
                log.info("start-up reconcile done", extra=counts)
        except Exception:
            log.exception("start-up reconcile failed; the periodic reconciler retries")
        finally:
            db.session.remove()


# --- background services: what the entry points start (never `create_app`) ---------------

_EXTENSION_KEY = "background_services"


def start_background_services(app: Flask, *, workers: bool = True) -> dict[str, object]:
    """Start the job worker pool and the scheduler candidate (which, once elected, runs the
    scheduled jobs: queue reaper and reconciler, backups, maintenance, alerts); returns what
    runs ("scheduler" unless `SCHEDULER_ENABLED` is false, "pool" unless `JOB_QUEUE_MAX_WORKERS`
    is 0 or `workers` is false: a web process that serves HTTP only is still a candidate, so
    the scheduled work and its alerts go on when every worker process is dead)."""
    running = app.extensions.get(_EXTENSION_KEY)
    if running:
        return running
    settings = app.config["SETTINGS"]
    services: dict[str, object] = {}
    runs_pool = workers and settings.job_queue_max_workers > 0
    if workers:
        _restore_ip_blocks(app)
        reconcile_at_start(app)
    if settings.scheduler_enabled:
        scheduler = LeaderScheduler(app)
        scheduler.start()
        services["scheduler"] = scheduler
    if runs_pool:
        pool = WorkerPool(app)
        pool.start()
        services["pool"] = pool
    app.extensions[_EXTENSION_KEY] = services
    log.info(
        "background services started",
        extra={"workers": settings.job_queue_max_workers if runs_pool else 0},
    )
    return services


def stop_background_services(app: Flask) -> None:
    """Stop what `start_background_services` started, letting running work finish."""
    services = app.extensions.pop(_EXTENSION_KEY, None) or {}
    pool = services.get("pool")
    if pool is not None:
        pool.stop()  # first: stop claiming at once, then drain
    scheduler = services.get("scheduler")
    if scheduler is not None:
        scheduler.stop()
    log.info("background services stopped")


def _restore_ip_blocks(app: Flask) -> None:
    """Rebuild Redis's IP-block set from PostgreSQL, in case Redis lost it."""
    with app.app_context():
        try:
            restore_blocks(get_redis())
        except redis.RedisError:
            log.warning("could not restore IP blocks: Redis unavailable")


def main(argv: list[str] | None = None) -> int:
    """Run the worker pool (no HTTP) until SIGTERM or SIGINT."""
    from server import create_app
    from server.core.config import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app = create_app(settings)
    stop = threading.Event()

    def on_signal(signum, _frame):
        log.info("signal received; shutting down", extra={"signal": signum})
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    pool = start_background_services(app).get("pool")
    name = f"{socket.gethostname()}:{os.getpid()}"
    # Not isinstance: run as `python -m server.worker` this module is `__main__`, and the
    # pool is `server.workers.worker.WorkerPool`.
    threads = getattr(pool, "threads", 0)
    print(f"worker {name} running {threads} threads", flush=True)
    while not stop.wait(1.0):
        pass
    stop_background_services(app)
    if settings.prometheus_multiproc_dir is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())  # its live gauges no longer count
    print(f"worker {name} stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
