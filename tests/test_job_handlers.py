"""Handlers and the shared quotas: the real Gemini quota and concurrency caps defer jobs."""

from server import job_handlers, job_queue, rate_limiter
from server.job_queue import JobPriority
from tests.queue_helpers import fetch_job, make_user, wait_for

TERMINAL = ("succeeded", "failed", "cancelled")


def test_exhausted_gemini_quota_schedules_jobs_then_runs_them_in_priority_order(
    make_app, run_pool, handler
):
    app = make_app(
        job_queue_max_per_user=10,
        rate_limit_overrides={
            "RATE_LIMIT_GEMINI_REQUESTS_PER_MINUTE": "2/2",
            "RATE_LIMIT_GEMINI_REQUESTS_PER_DAY": "1000/86400",
        },
    )
    calls: list[int] = []

    def calls_gemini(job):
        job.reserve_gemini_call()
        calls.append(job.payload["n"])
        return {"n": job.payload["n"]}

    handler("calls_gemini", calls_gemini)
    with app.app_context():
        # Someone else used the whole window just now.
        assert rate_limiter.reserve_gemini_call().granted
        assert rate_limiter.reserve_gemini_call().granted
        assert not rate_limiter.reserve_gemini_call().granted
        user = make_user()
        priorities = [JobPriority.LOW, JobPriority.BULK, JobPriority.HIGH, JobPriority.NORMAL]
        ids = [
            job_queue.submit_job(
                user_id=user, job_type="calls_gemini", payload={"n": n}, priority=priority
            )
            for n, priority in enumerate(priorities)
        ]
        run_pool(app, threads=1)
        wait_for(lambda: all(fetch_job(i).status == "scheduled" for i in ids), timeout=5)
        for job_id in ids:
            row = fetch_job(job_id)
            assert row.attempts == 0 and row.error is None
            assert row.progress_message.startswith("waiting for the Gemini quota")
        assert calls == []
        for job_id in ids:
            wait_for(lambda job_id=job_id: fetch_job(job_id).status in TERMINAL, timeout=20)
        rows = [(fetch_job(i).status, fetch_job(i).attempts) for i in ids]
        status = rate_limiter.gemini_quota_status()
    assert rows == [("succeeded", 1)] * 4
    assert calls == [2, 3, 0, 1]  # HIGH, NORMAL, LOW, BULK
    assert status is not None


def test_a_full_concurrency_cap_defers_the_job_until_a_slot_frees(make_app, run_pool, handler):
    app = make_app(rate_limit_overrides={"RATE_LIMIT_CONCURRENT_TAILORING_SESSIONS": "1/30"})
    held_by_job: list[bool] = []

    def tailors(job):
        with job.concurrency_slot("concurrent_tailoring_sessions"):
            lease = rate_limiter.acquire("concurrent_tailoring_sessions", "someone-else")
            held_by_job.append(not lease.acquired)
        return "done"

    handler("tailors", tailors)
    with app.app_context():
        assert rate_limiter.acquire("concurrent_tailoring_sessions", "another-session").acquired
        job_id = job_queue.submit_job(user_id=make_user(), job_type="tailors", payload={})
        run_pool(app, threads=1)
        wait_for(lambda: fetch_job(job_id).status == "scheduled", timeout=5)
        assert fetch_job(job_id).attempts == 0
        rate_limiter.release("concurrent_tailoring_sessions", "another-session")
        row = wait_for(
            lambda: fetch_job(job_id).status in TERMINAL and fetch_job(job_id), timeout=10
        )
        # The job held the only slot while it ran, and gave it back afterwards.
        assert row.status == "succeeded" and held_by_job == [True]
        assert rate_limiter.acquire("concurrent_tailoring_sessions", "after").acquired


def test_an_effect_in_job_once_is_made_once_though_the_job_runs_again(make_app, run_pool, handler):
    app = make_app(job_queue_retry_base_seconds=0.05)
    effects: list[int] = []

    def sends_once_then_fails(job):
        with job.once(f"probe:{job.job_id}") as first:
            if first:
                effects.append(job.attempt)
        if job.attempt == 1:  # the run fails after the effect: the queue runs the job again
            raise job_handlers.RetryableJobError("lost after the effect")
        return {"first": first}

    handler("sends_once_then_fails", sends_once_then_fails, max_attempts=3)
    with app.app_context():
        job_id = job_queue.submit_job(
            user_id=make_user(), job_type="sends_once_then_fails", payload={}
        )
        run_pool(app, threads=1)
        wait_for(lambda: fetch_job(job_id).status in TERMINAL)
        row = fetch_job(job_id)
    assert (row.status, row.attempts, row.result) == ("succeeded", 2, {"first": False})
    assert effects == [1]


def test_an_effect_whose_block_raised_is_made_by_the_retry(make_app, run_pool, handler):
    app = make_app(job_queue_retry_base_seconds=0.05)
    effects: list[int] = []

    def fails_inside_the_block_once(job):
        with job.once(f"probe:{job.job_id}") as first:
            if first and job.attempt == 1:
                raise job_handlers.RetryableJobError("the effect was not made")
            if first:
                effects.append(job.attempt)
        return {"first": first}

    handler("fails_inside_the_block_once", fails_inside_the_block_once, max_attempts=3)
    with app.app_context():
        job_id = job_queue.submit_job(
            user_id=make_user(), job_type="fails_inside_the_block_once", payload={}
        )
        run_pool(app, threads=1)
        wait_for(lambda: fetch_job(job_id).status in TERMINAL)
        row = fetch_job(job_id)
    assert (row.status, row.attempts, row.result) == ("succeeded", 2, {"first": True})
    assert effects == [2]
