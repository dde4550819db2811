"""The worker pool: retries, quota waits, cancellation, leases, shutdown, crashed processes."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
import redis
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from server import rate_limiter
from server.agent.engines import EngineError
from server.core.errors import NotFound
from server.core.extensions import db
from server.core.redis_client import get_redis
from server.jobs import job_queue
from server.jobs.job_queue import JobPriority, Outcome, OutcomeKind
from server.models.job import new_job_id
from server.services.tailored_resumes import TailoringFailed
from server.workers import job_handlers
from server.workers.job_handlers import QuotaWait
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL
from tests.queue_helpers import fetch_job, make_user, wait_for
from tests.test_rate_limiter_redis_down import private_redis  # noqa: F401 - a fixture

ROOT = Path(__file__).resolve().parent.parent


def finished(job_id):
    row = fetch_job(job_id)
    return row if row.status in ("succeeded", "failed", "cancelled") else None


def status_is(job_id, *statuses):
    return lambda: fetch_job(job_id).status in statuses


def diagnostic(user, **payload):
    return job_queue.submit_job(
        user_id=user, job_type="diagnostic", payload=payload, priority=JobPriority.HIGH
    )


def test_a_diagnostic_job_runs_reports_progress_and_records_its_duration(app, run_pool):
    job_id = diagnostic(make_user(), sleep_ms=200)
    run_pool(app)
    row = wait_for(lambda: finished(job_id))
    assert row.status == "succeeded"
    assert row.result == {"slept_ms": 200, "attempt": 1}
    assert row.progress_percent == 100 and row.progress_message
    assert row.duration_ms >= 200 and row.finished_at >= row.started_at
    assert row.lease_token is None


def test_every_log_line_of_a_job_carries_its_job_id(app, run_pool, settings):
    job_id = diagnostic(make_user())
    run_pool(app)
    wait_for(lambda: finished(job_id))
    time.sleep(0.1)
    lines = log_lines(settings)
    done = [line for line in lines if line.get("message") == "diagnostic done"]
    assert all("job_id" in line for line in done)
    assert any(line["job_id"] == job_id for line in done)
    assert any(
        line.get("job_id") == job_id and line["message"] == "job run finished" for line in lines
    )


def test_retryable_errors_back_off_then_succeed(make_app, run_pool, handler):
    app = make_app(job_queue_retry_base_seconds=0.4)
    attempts_at = []

    def flaky(job):
        attempts_at.append(time.monotonic())
        if job.attempt < 3:
            raise job_handlers.RetryableJobError("upstream hiccup")
        return {"ok": True}

    handler("flaky", flaky, max_attempts=5)
    with app.app_context():
        job_id = job_queue.submit_job(user_id=make_user(), job_type="flaky", payload={})
        run_pool(app)
        row = wait_for(lambda: finished(job_id))
    assert row.status == "succeeded" and row.attempts == 3 and row.result == {"ok": True}
    gaps = [b - a for a, b in zip(attempts_at, attempts_at[1:], strict=False)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4  # half of 0.4 * 2^(n-1), at least


def test_retries_stop_at_max_attempts_and_keep_the_error(make_app, run_pool):
    app = make_app(job_queue_retry_base_seconds=0.05)
    with app.app_context():
        job_id = diagnostic(make_user(), fail_times=5)
        run_pool(app)
        row = wait_for(lambda: finished(job_id))
    assert row.status == "failed" and row.attempts == 3
    assert "diagnostic failure on attempt 3" in row.error and "after 3 attempts" in row.error


def test_a_non_retryable_error_fails_at_once(app, run_pool, handler):
    def broken(job):
        raise ValueError("the payload makes no sense")

    handler("broken", broken, max_attempts=5)
    job_id = job_queue.submit_job(user_id=make_user(), job_type="broken", payload={})
    run_pool(app)
    row = wait_for(lambda: finished(job_id))
    assert row.status == "failed" and row.attempts == 1
    assert row.error == f"internal error while running the job (reference {job_id})"


def log_lines(settings):
    """Every complete line of the suite's log: it may have rotated, so the current file and
    its backups; other threads may be writing, so only complete lines."""
    return [
        json.loads(line)
        for path in sorted(settings.log_dir.glob("api_server.log*"))
        for line in path.read_text().split("\n")[:-1]
    ]


def test_an_internal_error_shows_its_owner_a_reference_and_logs_the_sql_under_it(
    app, client, run_pool, handler, settings
):
    def leaks(job):
        db.session.execute(text("SELECT card_number FROM users WHERE password_hash = 'h4sh'"))

    handler("leaks", leaks, max_attempts=5)
    owner = client.create_account()
    job_id = job_queue.submit_job(user_id=owner.id, job_type="leaks", payload={})
    run_pool(app)
    wait_for(lambda: finished(job_id))
    status = client.get(f"/api/jobs/{job_id}/status", token=owner.access_token).get_json()
    assert status["status"] == "failed" and status["attempts"] == 1
    assert status["error"] == f"internal error while running the job (reference {job_id})"
    assert not any(word in status["error"] for word in ("SELECT", "card_number", "Error"))
    time.sleep(0.1)
    [logged] = [
        line
        for line in log_lines(settings)
        if line.get("job_id") == job_id and line["message"] == "job failed with an internal error"
    ]
    assert logged["error"].startswith("ProgrammingError: ") and "card_number" in logged["error"]
    assert "[SQL: SELECT card_number FROM users" in logged["exception"]


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (TailoringFailed("resume 42 not found"), "resume 42 not found"),
        (NotFound(resource="posting"), "No such posting"),
        (
            job_handlers.RetryableJobError("every job board failed: lever"),
            "every job board failed: lever (after 1 attempts)",
        ),
    ],
    ids=["user-facing", "api-error", "retryable"],
)
def test_an_error_written_for_the_owner_is_shown_as_it_is(
    app, client, run_pool, handler, error, shown
):
    def refuses(job):
        raise error

    handler("refuses", refuses, max_attempts=1)
    owner = client.create_account()
    job_id = job_queue.submit_job(user_id=owner.id, job_type="refuses", payload={})
    run_pool(app)
    wait_for(lambda: finished(job_id))
    status = client.get(f"/api/jobs/{job_id}/status", token=owner.access_token).get_json()
    assert (status["status"], status["error"]) == ("failed", shown)


def test_waiting_for_quota_schedules_without_counting_then_runs_in_priority_order(
    make_app, run_pool, handler, redis_conn
):
    """A handler that finds the (Gemini) quota exhausted raises QuotaWait."""
    app = make_app(job_queue_max_per_user=10)
    quota, order = "test:gemini_quota", "test:ran"

    def needs_quota(job):
        if redis_conn.decr(quota) < 0:
            redis_conn.incr(quota)
            raise QuotaWait(0.3, "the Gemini quota")
        redis_conn.rpush(order, job.payload["n"])
        return {"n": job.payload["n"]}

    handler("needs_quota", needs_quota)
    redis_conn.set(quota, 0)
    priorities = [JobPriority.LOW, JobPriority.BULK, JobPriority.HIGH, JobPriority.NORMAL]
    with app.app_context():
        user = make_user()
        ids = [
            job_queue.submit_job(
                user_id=user, job_type="needs_quota", payload={"n": n}, priority=priority
            )
            for n, priority in enumerate(priorities)
        ]
        pool = run_pool(app, threads=1)
        wait_for(lambda: all(fetch_job(i).status == "scheduled" for i in ids))
        pool.stop(grace_seconds=2)
        for job_id in ids:
            row = fetch_job(job_id)
            assert row.attempts == 0 and row.error is None
            assert row.progress_message == "waiting for the Gemini quota"

        time.sleep(0.4)  # every wait is over: all are due at once
        redis_conn.set(quota, len(ids))
        run_pool(app, threads=1)
        for job_id in ids:
            wait_for(lambda job_id=job_id: finished(job_id))
        rows = [(row.status, row.attempts) for row in map(fetch_job, ids)]
    assert rows == [("succeeded", 1)] * 4
    assert redis_conn.lrange(order, 0, -1) == ["2", "3", "0", "1"]  # HIGH, NORMAL, LOW, BULK


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        ({"at": datetime.now()}, "Object of type datetime is not JSON serializable"),
        ({"tags": {"a", "b"}}, "Object of type set is not JSON serializable"),
        ({"text": "nul \u0000 inside"}, "NUL character"),
        ({"ratio": float("nan")}, "Out of range float values are not JSON compliant"),
    ],
    ids=["datetime", "set", "nul", "nan"],
)
def test_a_result_that_cannot_be_stored_fails_its_job_once_and_spares_the_others(
    make_app, run_pool, handler, result, reason
):
    app = make_app(job_queue_max_per_user=10)
    runs = []

    def returns(job):
        runs.append(job.payload["n"])
        return result if job.payload["n"] == 0 else {"n": job.payload["n"]}

    handler("returns", returns)
    with app.app_context():
        user = make_user()
        ids = [
            job_queue.submit_job(user_id=user, job_type="returns", payload={"n": n})
            for n in range(4)
        ]
        run_pool(app, threads=4)
        for job_id in ids:
            wait_for(lambda job_id=job_id: finished(job_id))
        bad, *good = (
            (row.status, row.attempts, row.result, row.error) for row in map(fetch_job, ids)
        )
    status, attempts, stored, error = bad
    assert (status, attempts, stored) == ("failed", 1, None)
    assert error.startswith("result is not JSON-serialisable: ") and reason in error
    assert [row[:3] for row in good] == [("succeeded", 1, {"n": n}) for n in (1, 2, 3)]
    assert sorted(runs) == [0, 1, 2, 3]  # nothing ran twice


def test_an_outcome_the_database_refuses_does_not_take_the_rest_of_its_batch_with_it(
    make_app,
):
    from server.workers.worker import WorkerPool

    app = make_app(job_queue_max_per_user=10)
    with app.app_context():
        user = make_user()
        ids = [
            job_queue.submit_job(user_id=user, job_type="diagnostic", payload={}) for _ in range(3)
        ]
        claimed = job_queue.claim_jobs(worker_id="w", limit=3)
        assert [job.job_id for job in claimed] == ids
        outcomes = [
            Outcome(job.job_id, job.lease_token, OutcomeKind.SUCCEEDED, result={"n": n})
            for n, job in enumerate(claimed)
        ]
        # Written by hand, past the executor's check: PostgreSQL refuses "\u0000" in JSONB.
        outcomes[1].result_json = '"\\u0000"'
        WorkerPool(app, threads=1).record(outcomes)
        rows = [(row.status, row.result, row.error) for row in map(fetch_job, ids)]
    assert rows[0] == ("succeeded", {"n": 0}, None) and rows[2] == ("succeeded", {"n": 2}, None)
    assert rows[1][0] == "failed"
    assert rows[1][2] == f"the job's outcome could not be recorded (reference {ids[1]})"


def test_a_job_that_returns_after_its_time_limit_keeps_its_result(app, run_pool, handler):
    def slow(job):
        while not job.timed_out:
            time.sleep(0.02)
        return {"late": True}

    handler("slow", slow, timeout_seconds=0.2)
    job_id = job_queue.submit_job(user_id=make_user(), job_type="slow", payload={})
    run_pool(app)
    row = wait_for(lambda: finished(job_id))
    assert row.status == "succeeded" and row.result == {"late": True} and row.attempts == 1


def test_a_job_past_its_time_limit_is_stopped_at_its_next_check_and_retried(
    make_app, run_pool, handler
):
    app = make_app(job_queue_retry_base_seconds=0.05)

    def overstays(job):
        if job.attempt == 1:
            while True:
                time.sleep(0.02)
                job.check_cancelled()
        return {"attempt": job.attempt}

    handler("overstays", overstays, timeout_seconds=0.2)
    with app.app_context():
        job_id = job_queue.submit_job(user_id=make_user(), job_type="overstays", payload={})
        run_pool(app)
        row = wait_for(lambda: finished(job_id))
        assert row.status == "succeeded" and row.result == {"attempt": 2} and row.attempts == 2


def test_check_cancelled_answers_at_once_while_redis_hangs_and_the_job_finishes(
    make_app,
    run_pool,
    handler,
    private_redis,  # noqa: F811 - the fixture imported above
):
    """A handler holding a concurrency slot checks while Redis stops answering (SIGSTOP):
    each check is answered from the flags the heartbeat keeps, without waiting on Redis."""
    app = make_app(redis_url=private_redis.url)
    holding, frozen = threading.Event(), threading.Event()
    check_seconds = []

    def careful(job):
        with job.concurrency_slot("concurrent_tailoring_sessions"):
            holding.set()
            frozen.wait(10)
            for _ in range(3):
                began = time.monotonic()
                job.check_cancelled()
                check_seconds.append(time.monotonic() - began)
                time.sleep(0.3)
        return {"steps": 3}

    handler("careful", careful)
    with app.app_context():
        job_id = job_queue.submit_job(user_id=make_user(), job_type="careful", payload={})
        run_pool(app)
        assert holding.wait(15)
        private_redis.process.send_signal(signal.SIGSTOP)
        try:
            frozen.set()
            row = wait_for(lambda: finished(job_id), timeout=20)
        finally:
            private_redis.process.send_signal(signal.SIGCONT)
    assert row.status == "succeeded" and row.result == {"steps": 3} and row.attempts == 1
    assert len(check_seconds) == 3 and max(check_seconds) < 0.1, check_seconds


def test_a_slot_stays_held_through_a_long_step_without_checks(make_app, run_pool, handler):
    """The heartbeat renews a running job's concurrency slots, so a step longer than the
    slot's lease does not let a second holder in."""
    cap = "concurrent_tailoring_sessions"
    app = make_app(rate_limit_overrides={"RATE_LIMIT_CONCURRENT_TAILORING_SESSIONS": "1/1.5"})
    holding, done = threading.Event(), threading.Event()

    def long_step(job):
        with job.concurrency_slot(cap):
            holding.set()
            done.wait(10)  # one long step: no check_cancelled
        return {"ok": True}

    handler("long_step", long_step)
    with app.app_context():
        job_id = job_queue.submit_job(user_id=make_user(), job_type="long_step", payload={})
        run_pool(app)
        assert holding.wait(15)
        time.sleep(3.0)  # twice the slot's lease
        try:
            intruder = rate_limiter.acquire(cap, "another-holder")
        finally:
            done.set()
        assert not intruder.acquired
        assert wait_for(lambda: finished(job_id)).status == "succeeded"


@pytest.mark.parametrize(
    "outage",
    [
        redis.exceptions.ConnectionError("Error 111 connecting to Redis. Connection refused."),
        redis.exceptions.TimeoutError("Timeout reading from socket"),
        OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly")),
    ],
    ids=["redis-connection", "redis-timeout", "postgres-operational"],
)
def test_a_lost_connection_during_a_run_is_retried_without_using_an_attempt(
    make_app, run_pool, handler, outage
):
    app = make_app(job_queue_retry_base_seconds=0.05)
    runs = []

    def meets_an_outage(job):
        runs.append(job.attempt)
        if len(runs) == 1:
            raise outage
        return {"attempt": job.attempt}

    # One attempt only: the outage is not the job's fault and does not use it up.
    handler("meets_an_outage", meets_an_outage, max_attempts=1)
    with app.app_context():
        job_id = job_queue.submit_job(user_id=make_user(), job_type="meets_an_outage", payload={})
        run_pool(app)
        row = wait_for(lambda: finished(job_id))
        assert (row.status, row.result, row.attempts) == ("succeeded", {"attempt": 1}, 1)
        assert runs == [1, 1] and row.outage_retries == 1


def test_an_outage_that_outlasts_the_retries_fails_with_a_reference_not_the_sql(
    make_app, run_pool, handler
):
    app = make_app(job_queue_retry_base_seconds=0.05, job_queue_max_outage_retries=2)
    runs = []

    def always_down(job):
        runs.append(job.attempt)
        raise OperationalError("SELECT secret FROM vault", {}, Exception("connection refused"))

    handler("always_down", always_down, max_attempts=1)
    with app.app_context():
        job_id = job_queue.submit_job(user_id=make_user(), job_type="always_down", payload={})
        run_pool(app)
        row = wait_for(lambda: finished(job_id))
    assert (row.status, row.attempts, runs) == ("failed", 1, [1, 1, 1])
    assert row.error == (
        f"internal error while running the job (reference {job_id}) "
        "(after 3 runs cut short by an outage)"
    )


ALLOWANCE = "resume_tailoring_per_user_per_day"


def allowance_used(user_id: int) -> int:
    usage = rate_limiter.usage(str(user_id), "user")
    return next(row["used"] for row in usage if row["limit"] == ALLOWANCE)


@pytest.mark.parametrize(
    ("error", "attempts", "given_back"),
    [
        (job_handlers.RetryableJobError("Gemini answered 503"), 2, True),
        (redis.ConnectionError("Redis went away"), 1, True),  # outages count no attempt
        (RuntimeError("a bug of ours"), 1, True),
        (EngineError("Gemini refused the request (403): API key not valid"), 1, True),
        (TailoringFailed("resume 42 not found"), 1, False),
        (NotFound(resource="posting"), 1, False),
    ],
    ids=[
        "upstream-outage",
        "our-outage",
        "internal-error",
        "engine-refused-our-key",
        "users-input",
        "users-object-gone",
    ],
)
def test_a_job_that_fails_for_a_reason_not_its_owners_gives_its_allowance_back(
    make_app, run_pool, handler, error, attempts, given_back
):
    def fails(job):
        raise error

    handler("spends_an_allowance", fails, max_attempts=2)
    app = make_app(job_queue_retry_base_seconds=0, job_queue_retry_max_seconds=0)
    with app.app_context():
        user, job_id = make_user(), new_job_id()
        assert rate_limiter.get_rate_limiter().hit([ALLOWANCE], str(user), holder=job_id).allowed
        job_queue.submit(user_id=user, job_type="spends_an_allowance", payload={}, job_id=job_id)
        assert allowance_used(user) == 1
        pool = run_pool(app, threads=1)
        row = wait_for(lambda: finished(job_id))
        wait_for(lambda: pool.held_jobs == 0)  # the recorder is done with it
        assert (row.status, row.attempts) == ("failed", attempts)
        assert allowance_used(user) == (0 if given_back else 1)


def test_a_job_retried_at_once_and_held_again_before_its_last_run_was_let_go_gives_back(
    make_app, run_pool, handler, monkeypatch
):
    """A retry with no backoff is claimed again (by another thread) while the thread that
    recorded its first run has not let that run go yet: letting go must not drop the new
    run, whose failure gives the allowance back."""
    from server.workers import worker

    second_claimed = threading.Event()
    first_let_go = threading.Event()
    real_record = job_queue.record_outcomes

    def record_then_linger(outcomes, **kwargs):
        recorded = real_record(outcomes, **kwargs)
        if any(outcome.kind == OutcomeKind.RETRY for outcome in outcomes):
            assert second_claimed.wait(10)  # held again before this run is let go
            threading.Timer(0.3, first_let_go.set).start()
        return recorded

    def fails(job):
        if job.attempt == 2:
            second_claimed.set()
            assert first_let_go.wait(10)
        raise job_handlers.RetryableJobError("Gemini answered 503")

    monkeypatch.setattr(worker.job_queue, "record_outcomes", record_then_linger)
    handler("spends_an_allowance", fails, max_attempts=2)
    app = make_app(job_queue_retry_base_seconds=0, job_queue_retry_max_seconds=0)
    with app.app_context():
        user, job_id = make_user(), new_job_id()
        assert rate_limiter.get_rate_limiter().hit([ALLOWANCE], str(user), holder=job_id).allowed
        job_queue.submit(user_id=user, job_type="spends_an_allowance", payload={}, job_id=job_id)
        pool = run_pool(app, threads=2)
        row = wait_for(lambda: finished(job_id))
        wait_for(lambda: pool.held_jobs == 0)
        assert (row.status, row.attempts) == ("failed", 2)
        assert allowance_used(user) == 0


def test_a_cancelled_job_keeps_the_allowance_it_spent(app, run_pool, handler):
    started = threading.Event()

    def waits(job):
        started.set()
        while True:
            time.sleep(0.02)
            job.check_cancelled()

    handler("cancelled_by_its_owner", waits)
    user, job_id = make_user(), new_job_id()
    assert rate_limiter.get_rate_limiter().hit([ALLOWANCE], str(user), holder=job_id).allowed
    job_queue.submit(user_id=user, job_type="cancelled_by_its_owner", payload={}, job_id=job_id)
    pool = run_pool(app, threads=1)
    assert started.wait(10)
    job_queue.cancel_job(job_id=job_id, user_id=user)
    assert wait_for(lambda: finished(job_id)).status == "cancelled"
    wait_for(lambda: pool.held_jobs == 0)
    assert allowance_used(user) == 1


def test_cancel_while_running_stops_the_handler_at_its_next_check(app, run_pool, handler):
    steps = []

    def careful(job):
        for step in range(100):
            steps.append(step)
            time.sleep(0.05)
            job.check_cancelled()
        return "finished"

    handler("careful", careful)
    user = make_user()
    job_id = job_queue.submit_job(user_id=user, job_type="careful", payload={})
    run_pool(app)
    wait_for(lambda: len(steps) >= 3)
    assert job_queue.cancel_job(job_id=job_id, user_id=user).cancel_requested
    row = wait_for(lambda: finished(job_id), timeout=5)
    assert row.status == "cancelled" and row.result is None
    assert len(steps) < 20


def test_a_result_arriving_after_a_cancel_does_not_overwrite_it(app, run_pool, handler):
    started = []

    def stubborn(job):
        started.append(True)
        time.sleep(0.5)
        return {"late": "result"}

    handler("stubborn", stubborn)
    user = make_user()
    job_id = job_queue.submit_job(user_id=user, job_type="stubborn", payload={})
    run_pool(app)
    wait_for(lambda: started)
    job_queue.cancel_job(job_id=job_id, user_id=user)
    row = wait_for(lambda: finished(job_id))
    assert row.status == "cancelled" and row.result is None


def test_leases_are_renewed_while_a_long_job_runs(make_app, run_pool):
    # The job outlasts its 3 s lease; the heartbeat renews it at least every 0.5 s, so only a
    # stall of over 2 s on a loaded machine could lose it.
    app = make_app(job_queue_lease_seconds=3.0)
    with app.app_context():
        job_id = diagnostic(make_user(), sleep_ms=4000)
        run_pool(app)
        deadline = time.monotonic() + 20
        while not finished(job_id) and time.monotonic() < deadline:
            job_queue.reap_expired_leases()
            time.sleep(0.2)
        row = fetch_job(job_id)
    assert row.status == "succeeded" and row.attempts == 1 and row.lost_leases == 0


def test_shutdown_lets_short_jobs_finish_and_releases_long_ones(make_app, run_pool):
    app = make_app(job_queue_max_per_user=10)
    with app.app_context():
        user = make_user()
        short = diagnostic(user, sleep_ms=300)
        long = diagnostic(user, sleep_ms=10_000)
        pool = run_pool(app, threads=2)
        wait_for(
            lambda: fetch_job(long).status == "running" and fetch_job(short).status == "running"
        )
        stop_began = time.monotonic()
        # A grace far longer than the short job (0.3 s), far shorter than the long one (10 s):
        # a loaded machine still finishes the one and releases the other.
        pool.stop(grace_seconds=3.0)
        assert time.monotonic() - stop_began < 8
        assert fetch_job(short).status == "succeeded"
        released = fetch_job(long)
        assert released.status == "queued" and released.lease_token is None
        assert job_queue.queue_position(job_id=long) == 1
        # Another worker takes it from there.
        claimed = job_queue.claim_jobs(worker_id="next", limit=1)
        assert [job.job_id for job in claimed] == [long]


# --- hand-off: an idle pool is woken, not polled ----------------------------------------------

# Far longer than any wait below: a job that starts promptly was woken, not found by a poll.
SLOW_POLL = {"safety_poll_seconds": 30.0}


def stamping(handler, name, *, first_run_seconds=0.0):
    """A job type noting when each run starts and ends; the first run lasts a while."""
    starts, ends = [], []

    def run(job):
        starts.append(time.monotonic())
        if len(starts) == 1:
            time.sleep(first_run_seconds)
        ends.append(time.monotonic())
        return {}

    handler(name, run)
    return starts, ends


def test_an_idle_pool_starts_a_submitted_job_without_waiting_for_a_poll(app, run_pool, handler):
    starts, _ends = stamping(handler, "stamped")
    pool = run_pool(app, **SLOW_POLL)
    time.sleep(1.0)  # idle: the dispatcher waits
    submitted = time.monotonic()
    job_queue.submit_job(user_id=make_user(), job_type="stamped", payload={})
    wait_for(lambda: starts, timeout=10, interval=0.005)
    assert starts[0] - submitted < 1.0
    began = time.monotonic()
    pool.stop(grace_seconds=2)
    assert time.monotonic() - began < 3  # a waiting dispatcher is interrupted, not awaited


def test_a_user_at_the_cap_gets_the_next_job_started_as_soon_as_a_slot_frees(
    make_app, run_pool, handler
):
    app = make_app(job_queue_max_per_user=1)
    starts, ends = stamping(handler, "stamped", first_run_seconds=2.0)
    with app.app_context():
        user = make_user()
        for _ in range(2):
            job_queue.submit_job(user_id=user, job_type="stamped", payload={})
        run_pool(app, threads=2, **SLOW_POLL)
        wait_for(lambda: len(starts) == 2, timeout=15, interval=0.005)
    assert starts[1] - ends[0] < 1.0


def test_a_job_waiting_for_a_concurrency_slot_starts_as_soon_as_the_holder_gives_it_back(
    make_app, run_pool, handler
):
    """Its wait (2 s: the holder's lease is long) ends when the slot frees, not at its end."""
    cap = "concurrent_tailoring_sessions"
    app = make_app(rate_limit_overrides={"RATE_LIMIT_CONCURRENT_TAILORING_SESSIONS": "1/600"})
    starts, ends, refused = [], [], []

    def one_at_a_time(job):
        try:
            with job.concurrency_slot(cap):
                starts.append(time.monotonic())
                time.sleep(0.5)
                ends.append(time.monotonic())
        except QuotaWait:
            refused.append(time.monotonic())
            raise
        return {}

    handler("one_at_a_time", one_at_a_time)
    with app.app_context():
        for _ in range(2):
            job_queue.submit_job(user_id=make_user(), job_type="one_at_a_time", payload={})
        run_pool(app, threads=2)
        wait_for(lambda: len(ends) == 2, timeout=15, interval=0.005)
    assert refused  # the second job met the holder
    assert starts[1] - ends[0] < 0.15


def test_a_slot_given_back_before_the_refused_jobs_wait_is_recorded_is_not_missed(
    make_app, run_pool, handler
):
    """The holder gives its slot back after the waiter was refused but before the waiter's
    wait reached the queue: nobody waited yet, so the waiter's own record looks again."""
    cap = "concurrent_tailoring_sessions"
    app = make_app(rate_limit_overrides={"RATE_LIMIT_CONCURRENT_TAILORING_SESSIONS": "1/600"})
    holding, let_go, given_back = threading.Event(), threading.Event(), threading.Event()
    waiter_starts = []

    def holder_or_waiter(job):
        if job.payload["holder"]:
            with job.concurrency_slot(cap):
                holding.set()
                let_go.wait(10)
            given_back.set()
            return {}
        try:
            with job.concurrency_slot(cap):
                waiter_starts.append(time.monotonic())
        except QuotaWait:
            let_go.set()
            assert given_back.wait(10)
            raise
        return {}

    handler("holder_or_waiter", holder_or_waiter)
    with app.app_context():
        job_queue.submit_job(
            user_id=make_user(), job_type="holder_or_waiter", payload={"holder": 1}
        )
        run_pool(app, threads=2)
        assert holding.wait(15)
        job_queue.submit_job(
            user_id=make_user(), job_type="holder_or_waiter", payload={"holder": 0}
        )
        assert given_back.wait(15)
        released = time.monotonic()
        wait_for(lambda: waiter_starts, timeout=15, interval=0.005)
    assert waiter_starts[0] - released < 0.3  # its wait was 2 s


def test_jobs_brought_forward_for_slots_never_run_beyond_the_cap(make_app, run_pool, handler):
    cap = "concurrent_tailoring_sessions"
    app = make_app(rate_limit_overrides={"RATE_LIMIT_CONCURRENT_TAILORING_SESSIONS": "2/600"})
    inside, most, lock = [0], [0], threading.Lock()

    def two_at_a_time(job):
        with job.concurrency_slot(cap):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.05)
            with lock:
                inside[0] -= 1
        return {}

    handler("two_at_a_time", two_at_a_time)
    with app.app_context():
        ids = [
            job_queue.submit_job(user_id=make_user(), job_type="two_at_a_time", payload={})
            for _ in range(12)
        ]
        run_pool(app, threads=6)
        for job_id in ids:
            assert wait_for(lambda job_id=job_id: finished(job_id)).status == "succeeded"
    assert most[0] == 2


def test_a_job_submitted_elsewhere_wakes_an_idle_pool(make_app, run_pool, handler):
    """The wake-up goes through Redis: a submit by another app (another process's connection)
    wakes this pool."""
    worker_app, web_app = make_app(), make_app()
    starts, _ends = stamping(handler, "stamped")
    with worker_app.app_context():
        run_pool(worker_app, **SLOW_POLL)
    time.sleep(1.0)
    with web_app.app_context():
        submitted = time.monotonic()
        job_queue.submit_job(user_id=make_user(), job_type="stamped", payload={})
    wait_for(lambda: starts, timeout=10, interval=0.005)
    assert starts[0] - submitted < 1.0


# --- real worker processes ---------------------------------------------------------------


def worker_env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    env.update(
        DATABASE_URL=TEST_DATABASE_URL,
        REDIS_URL=TEST_REDIS_URL,
        JWT_SECRET_KEY="w" * 40,
        ENCRYPTION_KEY="e" * 44,
        BCRYPT_ROUNDS="4",  # as the in-process apps hash: logins do not rehash at 12
        LOG_DIR=str(tmp_path),
        LOG_TO_STDOUT="false",
        INSTANCE_DIR=str(tmp_path),
        JOB_QUEUE_LEASE_SECONDS="2",
        JOB_QUEUE_REAPER_INTERVAL_SECONDS="0.2",
        JOB_QUEUE_RECONCILE_INTERVAL_SECONDS="5",
        JOB_QUEUE_SHUTDOWN_GRACE_SECONDS="5",
        # A killed worker may have been the scheduler (which runs the lease reaper).
        SCHEDULER_LOCK_SECONDS="2",
    )
    env.update(extra)
    return env


def start_worker(env):
    return subprocess.Popen(
        [sys.executable, "-m", "server.worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def worker_processes():
    processes = []

    def start(env):
        process = start_worker(env)
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_a_job_of_a_worker_killed_mid_run_is_rerun_by_another_worker(
    app, tmp_path, worker_processes
):
    job_id = diagnostic(make_user(), sleep_ms=4000)
    env = worker_env(tmp_path)
    doomed = worker_processes(env)
    wait_for(lambda: fetch_job(job_id).status == "running", timeout=30)
    first_worker = fetch_job(job_id).worker_id
    assert first_worker.endswith(f":{doomed.pid}")
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)

    rescuer = worker_processes(env)
    row = wait_for(lambda: finished(job_id), timeout=40)
    assert row.status == "succeeded"
    # The dead worker's run is not one of the job's attempts.
    assert row.attempts == 1 and row.lost_leases == 1
    assert row.worker_id.endswith(f":{rescuer.pid}")


def logged(log_dir, message):
    """True once a worker process's log (JSON lines) has a line with this message."""
    return any(
        json.loads(line).get("message") == message
        for path in log_dir.glob("api_server.log*")
        for line in path.read_text().split("\n")[:-1]
    )


def test_sigterm_stops_claiming_and_exits_cleanly(app, tmp_path, worker_processes):
    job_id = diagnostic(make_user(), sleep_ms=3000)
    process = worker_processes(worker_env(tmp_path))
    wait_for(lambda: fetch_job(job_id).status == "running", timeout=30)
    process.send_signal(signal.SIGTERM)
    wait_for(lambda: logged(tmp_path, "worker pool stopped claiming; draining"), timeout=10)

    # Submitted while the worker is still draining its running job: it must not take it.
    later = diagnostic(make_user())
    assert process.poll() is None and fetch_job(job_id).status == "running"
    assert process.wait(timeout=20) == 0
    assert fetch_job(job_id).status == "succeeded"
    row = fetch_job(later)
    assert (row.status, row.attempts, row.worker_id) == ("queued", 0, None)
    assert job_queue.queue_position(job_id=later) == 1
    assert get_redis(app).zcard(job_queue.KEY_PREFIX + "running") == 0


# --- outcomes and leases at the end of a run ---------------------------------------------------


def test_a_jobs_success_is_stored_before_its_thread_takes_the_next_job(make_app, run_pool, handler):
    from sqlalchemy import select

    from server.core.extensions import db
    from server.models import Job

    app = make_app(job_queue_max_per_user=50)
    seen_unfinished = []
    ran = []

    def checks_the_ones_before(job):
        if ran:
            statuses = db.session.scalars(select(Job.status).where(Job.id.in_(ran))).all()
            seen_unfinished.extend(s for s in statuses if s != "succeeded")
        ran.append(job.job_id)
        return {"n": len(ran)}

    handler("checks_the_ones_before", checks_the_ones_before)
    with app.app_context():
        user = make_user()
        ids = [
            job_queue.submit_job(user_id=user, job_type="checks_the_ones_before", payload={})
            for _ in range(30)
        ]
        run_pool(app, threads=1)
        for job_id in ids:
            wait_for(lambda job_id=job_id: finished(job_id))
    assert len(ran) == 30
    assert seen_unfinished == []


def test_the_heartbeat_does_not_report_finished_jobs_as_lost_leases(make_app, run_pool, handler):
    import logging

    app = make_app(job_queue_max_per_user=500, job_queue_lease_seconds=0.6)
    warnings = []

    class Keep(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.WARNING:
                warnings.append(record.getMessage())

    keep = Keep()
    logging.getLogger("server").addHandler(keep)
    try:
        handler("brief", lambda job: time.sleep(0.01) or {"ok": True})
        with app.app_context():
            user = make_user()
            ids = job_queue.submit_jobs(
                jobs=[job_queue.NewJob(user, "brief", {}) for _ in range(400)]
            )
            run_pool(app, threads=4)
            for job_id in ids:
                wait_for(lambda job_id=job_id: finished(job_id), timeout=60)
            ends = {
                (row.status, row.attempts, row.lost_leases)
                for row in (fetch_job(job_id) for job_id in ids)
            }
    finally:
        logging.getLogger("server").removeHandler(keep)
    assert ends == {("succeeded", 1, 0)}
    assert "lease lost" not in warnings
