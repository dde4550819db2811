"""Resume tailoring benchmarks, on the local PostgreSQL (database `job_agent_bench_tailoring`)
and the Redis database `--redis-url` names. Both are scratch: the benchmark empties them.

1. Tailorings per minute on the local engine, through the queue (submit -> worker pool ->
   stored tailored resume), against the bare pipeline in one thread in the same run.
2. Gemini calls per tailoring, on the Gemini stand-in through the real google-genai client:
   distinct job descriptions (goal: at most 2), then the same tailorings again (goal: 0, the
   cache answers).
3. Quota saturation: a stand-in that answers 429 beyond 8 requests in any 60 s, as Gemini's
   free tier does, and a backlog of 50 tailorings from 10 users. Over whole quota windows
   from the first call: the share of the quota used (goal: at least 95%), the 429s the
   stand-in sent (goal: 0) and the calls beyond 8 in any 60 s at the stand-in (must be 0).
   This runs for `--tailoring-quota-windows` windows of real time (3 minutes by default);
   `--tailoring-quota-window SECONDS` shortens the window (the smoke test's), never the quota
   of 8.

BENCH_TAILORING_DATABASE_URL points PostgreSQL elsewhere.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import uuid
from pathlib import Path

import redis
from sqlalchemy import func, select, text

from benchmarks.scratch import ensure_database
from server import create_app
from server.agent.engines.local import LocalEngine
from server.agent.resume_parsing import parse_resume_text
from server.agent.tailoring import tailor
from server.core.config import Settings, normalise_database_url
from server.core.extensions import db
from server.jobs import job_queue
from server.jobs.job_queue import NewJob
from server.models import Job, Resume, User
from tests.gemini_stand_in import GeminiStandIn
from tests.tailoring_samples import FAITHFUL_EDITS, REQUIREMENTS, RESUME_TEXT, task_of

DATABASE_URL = normalise_database_url(
    os.environ.get(
        "BENCH_TAILORING_DATABASE_URL",
        "postgresql://root@127.0.0.1:5432/job_agent_bench_tailoring",
    )
)
WORKER_THREADS = 5  # the default JOB_QUEUE_MAX_WORKERS
QUOTA = 8  # Gemini's free tier: requests a minute
SATURATION_USERS = 10
SATURATION_BACKLOG = 50
API_KEY = "bench-key"


def _emit(line: str) -> None:
    print(line, flush=True)


def _ensure_database() -> None:
    ensure_database(DATABASE_URL)


def _build_app(scratch: Path, redis_url: str, **overrides):
    from flask_migrate import upgrade

    settings = Settings(
        env="testing",
        instance_dir=scratch,
        log_dir=scratch,
        log_to_stdout=False,
        database_url=DATABASE_URL,
        database_is_default=False,
        redis_url=redis_url,
        jwt_secret_key="b" * 40,
        encryption_key="e" * 44,
        auto_migrate=False,
        job_queue_max_workers=WORKER_THREADS,
        **overrides,
    )
    app = create_app(settings)
    with app.app_context():
        upgrade()
    logging.getLogger("server").setLevel(logging.WARNING)
    logging.getLogger("google_genai").setLevel(logging.ERROR)
    return app


def _reset(app, conn: redis.Redis) -> None:
    conn.flushdb()
    with app.app_context():
        db.session.execute(
            text("TRUNCATE tailored_resumes, jobs, resumes, users RESTART IDENTITY CASCADE")
        )
        db.session.commit()


def _users_with_resumes(count: int) -> list[tuple[int, str]]:
    parsed = parse_resume_text(RESUME_TEXT)
    pairs = []
    for i in range(count):
        email = f"tailor{i}-{uuid.uuid4().hex[:6]}@example.com"
        user = User(email=email, password_hash="-", name="Bench")  # noqa: S106
        db.session.add(user)
        db.session.flush()
        resume = Resume(
            id=uuid.uuid4(),
            user_id=user.id,
            original_filename="resume.txt",
            storage_key=uuid.uuid4().hex,
            content_type="text/plain; charset=utf-8",
            size_bytes=len(RESUME_TEXT),
            sha256="0" * 64,
            parsed=parsed,
        )
        db.session.add(resume)
        pairs.append((user.id, str(resume.id)))
    db.session.commit()
    return pairs


def _job_description(n: int, nonce: str) -> str:
    return (
        "We are hiring a Senior Backend Engineer.\n"
        "Requirements: 5+ years of Python; PostgreSQL and Redis; Docker and Kubernetes.\n"
        f"Team reference: {nonce}-{n}"
    )


def _submit(pairs: list[tuple[int, str]], count: int, nonce: str) -> list[str]:
    jobs = [
        NewJob(
            pairs[i % len(pairs)][0],
            "resume_tailoring",
            {"resume_id": pairs[i % len(pairs)][1], "job_description": _job_description(i, nonce)},
        )
        for i in range(count)
    ]
    return job_queue.submit_jobs(jobs=jobs)


def _finished(ids: list[str]) -> tuple[int, int]:
    db.session.rollback()
    rows = db.session.execute(
        select(Job.status, func.count()).where(Job.id.in_(ids)).group_by(Job.status)
    ).all()
    counts = dict(rows)
    return counts.get("succeeded", 0), counts.get("failed", 0)


def _wait(ids: list[str], timeout: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        succeeded, failed = _finished(ids)
        if succeeded + failed == len(ids):
            if failed:
                raise RuntimeError(f"{failed} tailorings failed")
            return time.perf_counter() - started
        time.sleep(0.02)
    raise RuntimeError(f"tailorings not done within {timeout:.0f}s")


def _answers(body: dict) -> dict:
    """The stand-in's replies: requirements that name the job's reference, and faithful edits."""
    if task_of(body) == "extract_requirements":
        prompt = body["contents"][0]["parts"][0]["text"]
        reference = prompt.rsplit("Team reference: ", 1)[-1].split('"')[0]
        extra = {
            "text": f"Join team {reference}",
            "kind": "other",
            "keywords": [],
            "importance": "preferred",
            "years": None,
        }
        return {**REQUIREMENTS, "requirements": [*REQUIREMENTS["requirements"], extra]}
    return FAITHFUL_EDITS


def bench_local(app, conn: redis.Redis, *, jobs: int, seconds: float) -> None:
    """Tailorings per minute on the local engine: queue end to end against the bare pipeline."""
    from server.workers.worker import WorkerPool

    parsed = parse_resume_text(RESUME_TEXT)
    engine = LocalEngine()
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds or done == 0:
        tailor(engine, resume=parsed, job_description=_job_description(done, "pipe"))
        done += 1
    pipeline = done * 60 / (time.perf_counter() - started)

    _reset(app, conn)
    with app.app_context():
        pairs = _users_with_resumes(10)
        pool = WorkerPool(app, threads=WORKER_THREADS, name="bench-tailoring")
        pool.start()
        try:
            ids = _submit(pairs, jobs, uuid.uuid4().hex[:8])
            elapsed = _wait(ids, timeout=300)
        finally:
            pool.stop(grace_seconds=5)
    queued = jobs * 60 / elapsed
    _emit(
        f"tailoring.local_per_minute queue={queued:.0f} pipeline_one_thread={pipeline:.0f} "
        f"ratio={queued / pipeline:.2f} jobs={jobs} threads={WORKER_THREADS} "
        "concurrent_tailoring_sessions=3"
    )


def bench_gemini_calls(
    scratch: Path, redis_url: str, conn: redis.Redis, *, tailorings: int
) -> None:
    """Gemini calls per tailoring on the stand-in, then for the same tailorings again."""
    from server.workers.worker import WorkerPool

    stand_in = GeminiStandIn(api_key=API_KEY).start()
    stand_in.answer = _answers
    app = _build_app(
        scratch,
        redis_url,
        google_api_key=API_KEY,
        gemini_model="gemini-bench",
        gemini_base_url=stand_in.base_url,
        gemini_timeout_seconds=10.0,
        rate_limit_overrides={"RATE_LIMIT_GEMINI_REQUESTS_PER_MINUTE": "100000/60"},
    )
    _reset(app, conn)
    try:
        with app.app_context():
            pairs = _users_with_resumes(5)
            pool = WorkerPool(app, threads=WORKER_THREADS, name="bench-tailoring-gemini")
            pool.start()
            try:
                nonce = uuid.uuid4().hex[:8]
                _wait(_submit(pairs, tailorings, nonce), timeout=300)
                first = len(stand_in.requests)
                _wait(_submit(pairs, tailorings, nonce), timeout=300)
                repeat = len(stand_in.requests) - first
            finally:
                pool.stop(grace_seconds=5)
    finally:
        _reset(app, conn)
        with app.app_context():
            db.engine.dispose()
        stand_in.stop()
    _emit(
        f"tailoring.gemini_calls_per_tailoring first={first / tailorings:.2f} "
        f"repeat={repeat / tailorings:.2f} tailorings={tailorings} goal_first<=2 goal_repeat=0"
    )


def _over_quota(arrivals: list[float], window: float) -> int:
    """Requests that arrived when `QUOTA` others had already arrived within `window`."""
    over = 0
    for i, arrived in enumerate(arrivals):
        earlier = sum(1 for t in arrivals[:i] if t > arrived - window)
        if earlier >= QUOTA:
            over += 1
    return over


def bench_saturation(
    scratch: Path, redis_url: str, conn: redis.Redis, *, window: float, windows: int
) -> None:
    """Share of an 8-per-window quota a backlog of tailorings uses, and 429s met."""
    from server.workers.worker import WorkerPool

    stand_in = GeminiStandIn(api_key=API_KEY).start()
    stand_in.answer = _answers
    stand_in.quota = (QUOTA, window)
    app = _build_app(
        scratch,
        redis_url,
        google_api_key=API_KEY,
        gemini_model="gemini-bench",
        gemini_base_url=stand_in.base_url,
        gemini_timeout_seconds=10.0,
        rate_limit_overrides={"RATE_LIMIT_GEMINI_REQUESTS_PER_MINUTE": f"{QUOTA}/{window:g}"},
    )
    _reset(app, conn)
    try:
        with app.app_context():
            pairs = _users_with_resumes(SATURATION_USERS)
            pool = WorkerPool(app, threads=WORKER_THREADS, name="bench-tailoring-quota")
            ids = _submit(pairs, SATURATION_BACKLOG, uuid.uuid4().hex[:8])
            pool.start()
            try:
                deadline = None
                while True:
                    if deadline is None and stand_in.requests:
                        deadline = stand_in.requests[0]["arrived"] + windows * window
                    if deadline is not None and time.monotonic() >= deadline:
                        break
                    if sum(_finished(ids)) == len(ids):
                        break
                    time.sleep(0.05)
                completed, failed = _finished(ids)
            finally:
                pool.stop(grace_seconds=5)
    finally:
        _reset(app, conn)
        with app.app_context():
            db.engine.dispose()
        stand_in.stop()
    arrivals = [r["arrived"] for r in stand_in.requests]
    start = arrivals[0]
    refused = set(stand_in.refused_at)
    answered = sum(1 for t in arrivals if t < start + windows * window and t not in refused)
    capacity = QUOTA * windows
    _emit(
        f"tailoring.quota_saturation share_used={answered / capacity:.3f} calls={answered} "
        f"capacity={capacity} upstream_429s={len(refused)} "
        f"calls_over_quota={_over_quota(arrivals, window)} window_s={window:g} "
        f"windows={windows} backlog={SATURATION_BACKLOG} users={SATURATION_USERS} "
        f"completed={completed} failed={failed} goal_share>=0.95"
    )


def run(args) -> None:
    """The three measurements; each line is printed as soon as it is measured.

    Uses (and empties) only the Redis database `args.redis_url` names.
    """
    _ensure_database()
    window = float(getattr(args, "tailoring_quota_window", 60.0))
    windows = int(getattr(args, "tailoring_quota_windows", 3))
    quick = args.seconds < 1.0
    conn = redis.Redis.from_url(args.redis_url, decode_responses=True)
    with tempfile.TemporaryDirectory(prefix="bench-tailoring-") as scratch:
        app = _build_app(Path(scratch), args.redis_url, google_api_key=None)
        try:
            bench_local(app, conn, jobs=10 if quick else 60, seconds=max(args.seconds * 5, 0.5))
            bench_gemini_calls(Path(scratch), args.redis_url, conn, tailorings=4 if quick else 20)
            bench_saturation(Path(scratch), args.redis_url, conn, window=window, windows=windows)
        finally:
            _reset(app, conn)
            with app.app_context():
                db.engine.dispose()
            conn.close()
