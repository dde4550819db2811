"""Handlers and the shared quotas: the real Gemini quota and concurrency caps defer jobs."""

import json
import time
import uuid

from server import rate_limiter
from server.agent.resume_parsing import parse_resume_text
from server.core.extensions import db
from server.jobs import job_queue
from server.jobs.job_queue import JobPriority
from server.models import Project, Resume
from server.workers import job_handlers
from tests.gemini_stand_in import GeminiStandIn
from tests.queue_helpers import fetch_job, make_user, wait_for
from tests.tailoring_samples import JOB_DESCRIPTION, RESUME_TEXT, gemini_answers, task_of

TERMINAL = ("succeeded", "failed", "cancelled")


def test_exhausted_gemini_quota_schedules_jobs_then_runs_them_in_priority_order(
    make_app, run_pool, handler
):
    app = make_app(
        job_queue_max_per_user=10,
        rate_limit_overrides={
            # A window long enough that a loaded machine schedules all four jobs inside it.
            "RATE_LIMIT_GEMINI_REQUESTS_PER_MINUTE": "2/5",
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


def _flood_answers(body):
    """The stand-in's reply to each task: a score per project at once, or the tailoring's
    script, its first answer after a while (a long prompt), so its second call comes later
    in the window than the flood's next ones."""
    if task_of(body) == "extract_requirements":
        time.sleep(0.5)
    if task_of(body) == "rank":
        prompt = json.loads(body["contents"][0]["parts"][0]["text"])
        rankings = [
            {
                "id": c["id"],
                "score": 50,
                "matched_keywords": [],
                "missing_keywords": [],
                "reason": "ranked",
            }
            for c in prompt["candidates"]
        ]
        return {"rankings": rankings}
    return gemini_answers()(body)


def test_one_users_flood_of_gemini_jobs_holds_another_users_tailoring_one_window_at_most(
    make_app, run_pool
):
    window, per_window = 2, 8
    stand_in = GeminiStandIn(api_key="test-key").start()
    stand_in.answer = _flood_answers
    app = make_app(
        google_api_key="test-key",
        gemini_model="gemini-test",
        gemini_base_url=stand_in.base_url,
        gemini_timeout_seconds=5.0,
        rate_limit_overrides={"RATE_LIMIT_GEMINI_REQUESTS_PER_MINUTE": f"{per_window}/{window}"},
    )
    try:
        with app.app_context():
            flooder, other = make_user(), make_user()
            for name in ("Order API", "Queue Lab"):
                db.session.add(Project(user_id=flooder, name=name, description="Python service"))
            resume = Resume(
                id=uuid.uuid4(),
                user_id=other,
                original_filename="jane.txt",
                storage_key=uuid.uuid4().hex,
                content_type="text/plain; charset=utf-8",
                size_bytes=len(RESUME_TEXT),
                sha256="0" * 64,
                parsed=parse_resume_text(RESUME_TEXT),
            )
            db.session.add(resume)
            db.session.commit()
            flood = [
                job_queue.submit_job(
                    user_id=flooder,
                    job_type="project_analysis",
                    payload={"job_description": f"Backend engineer, Python, team {n}"},
                )
                for n in range(29)
            ]
            run_pool(app, threads=5)
            wait_for(lambda: len(stand_in.requests) >= per_window)  # the flood fills a window
            asked = time.monotonic()
            tailoring = job_queue.submit_job(
                user_id=other,
                job_type="resume_tailoring",
                payload={"resume_id": str(resume.id), "job_description": JOB_DESCRIPTION},
            )
            wait_for(lambda: fetch_job(tailoring).status in TERMINAL, timeout=30)
            status, error = fetch_job(tailoring).status, fetch_job(tailoring).error
            wait_for(lambda: all(fetch_job(i).status in TERMINAL for i in flood), timeout=60)
    finally:
        stand_in.stop()
    assert status == "succeeded", error
    calls = [(task_of(r["body"]), r["arrived"]) for r in stand_in.requests]
    tailoring_calls = [arrived for task, arrived in calls if task != "rank"]
    assert len(tailoring_calls) == 2
    flood_meanwhile = [
        t for task, t in calls if task == "rank" and asked < t <= tailoring_calls[-1]
    ]
    # While the tailoring waited, the flooder had its share of one window (half of it), not
    # the rest of its backlog.
    assert len(flood_meanwhile) <= per_window // 2
    assert len([task for task, _t in calls if task == "rank"]) == len(flood)
