"""The Gemini quota's fair share: one user floods, another user's tailoring still gets through.

On the local PostgreSQL (database `job_agent_bench_fair_share`, BENCH_FAIR_SHARE_DATABASE_URL
points elsewhere) and the Redis database `--redis-url` names; both are scratch. The Gemini
stand-in (the real google-genai client talks to it) enforces Gemini's free-tier quota, 8
requests in any window, answers each call after `LATENCY_SECONDS` and the first call of a
tailoring after `LONG_PROMPT_SECONDS` (its prompt is the whole job description). A worker pool
of the default 5 threads runs the jobs.

1. Alone: one user's tailoring (two Gemini calls), nothing else queued (after one to warm
   up): the baseline.
2. Flooded: a window later, another user submits 29 project analyses at once (one Gemini
   call each); once they have filled the window, the first user submits the same kind of
   tailoring. Its wait,
   from submission to success, in seconds and in windows (goal: at most one window, plus the
   calls' own time as alone), and how many windows the flood took against the fewest its
   calls fit in (the quota is shared, not left idle).

`--tailoring-quota-window SECONDS` sets the window (60, Gemini's, by default; the quota stays 8).
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
import uuid
from pathlib import Path

import redis
from sqlalchemy import text

from benchmarks.scratch import ensure_database
from server import create_app
from server.agent.resume_parsing import parse_resume_text
from server.core.config import Settings, normalise_database_url
from server.core.extensions import db
from server.jobs import job_queue
from server.models import Job, Project, Resume, User
from tests.gemini_stand_in import GeminiStandIn
from tests.tailoring_samples import (
    FAITHFUL_EDITS,
    JOB_DESCRIPTION,
    REQUIREMENTS,
    RESUME_TEXT,
    task_of,
)

DATABASE_URL = normalise_database_url(
    os.environ.get(
        "BENCH_FAIR_SHARE_DATABASE_URL",
        "postgresql://root@127.0.0.1:5432/job_agent_bench_fair_share",
    )
)
WORKER_THREADS = 5  # the default JOB_QUEUE_MAX_WORKERS
QUOTA = 8  # Gemini's free tier: requests a minute
FLOOD = 29
LATENCY_SECONDS = 0.05
LONG_PROMPT_SECONDS = 1.0
API_KEY = "bench-key"
TERMINAL = ("succeeded", "failed", "cancelled")


def _answer(body: dict) -> dict:
    task = task_of(body)
    time.sleep(LONG_PROMPT_SECONDS if task == "extract_requirements" else LATENCY_SECONDS)
    if task == "extract_requirements":  # one requirement names the job, so no answer repeats
        prompt = body["contents"][0]["parts"][0]["text"]
        reference = prompt.rsplit("Ref ", 1)[-1].split('"')[0]
        extra = {
            "text": f"Join team {reference}",
            "kind": "other",
            "keywords": [],
            "importance": "preferred",
            "years": None,
        }
        return {**REQUIREMENTS, "requirements": [*REQUIREMENTS["requirements"], extra]}
    if task != "rank":
        return FAITHFUL_EDITS
    prompt = json.loads(body["contents"][0]["parts"][0]["text"])
    rankings = [
        {"id": c["id"], "score": 50, "matched_keywords": [], "missing_keywords": [], "reason": "-"}
        for c in prompt["candidates"]
    ]
    return {"rankings": rankings}


def _build_app(scratch: Path, redis_url: str, stand_in: GeminiStandIn, window: float):
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
        google_api_key=API_KEY,
        gemini_model="gemini-bench",
        gemini_base_url=stand_in.base_url,
        gemini_timeout_seconds=30.0,
        rate_limit_overrides={"RATE_LIMIT_GEMINI_REQUESTS_PER_MINUTE": f"{QUOTA}/{window:g}"},
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
        db.session.execute(text("TRUNCATE projects, jobs, resumes, users RESTART IDENTITY CASCADE"))
        db.session.commit()


def _user(name: str) -> int:
    email = f"{name}-{uuid.uuid4().hex[:6]}@example.com"
    user = User(email=email, password_hash="-", name=name)  # noqa: S106
    db.session.add(user)
    db.session.flush()
    return user.id


def _tailor_user() -> tuple[int, str]:
    user_id = _user("tailor")
    resume = Resume(
        id=uuid.uuid4(),
        user_id=user_id,
        original_filename="resume.txt",
        storage_key=uuid.uuid4().hex,
        content_type="text/plain; charset=utf-8",
        size_bytes=len(RESUME_TEXT),
        sha256="0" * 64,
        parsed=parse_resume_text(RESUME_TEXT),
    )
    db.session.add(resume)
    db.session.commit()
    return user_id, str(resume.id)


def _flooder() -> int:
    user_id = _user("flooder")
    for name in ("Order API", "Queue Lab"):
        db.session.add(Project(user_id=user_id, name=name, description="A Python service"))
    db.session.commit()
    return user_id


def _status(job_id: str) -> str:
    db.session.rollback()
    return db.session.get(Job, job_id).status


def _wait(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"not done within {timeout:.0f} s")
        time.sleep(0.02)


def _tailoring_wait(user_id: int, resume_id: str, nonce: str, timeout: float) -> float:
    """Submit one tailoring; seconds until it succeeded."""
    started = time.monotonic()
    job_id = job_queue.submit_job(
        user_id=user_id,
        job_type="resume_tailoring",
        payload={"resume_id": resume_id, "job_description": f"{JOB_DESCRIPTION}\nRef {nonce}"},
    )
    _wait(lambda: _status(job_id) in TERMINAL, timeout)
    if _status(job_id) != "succeeded":
        raise RuntimeError(f"the tailoring ended {_status(job_id)}")
    return time.monotonic() - started


def run(args) -> list[str]:
    """Alone, then flooded; one line per figure."""
    from server.workers.worker import WorkerPool

    ensure_database(DATABASE_URL)
    window = float(getattr(args, "tailoring_quota_window", 60.0))
    conn = redis.Redis.from_url(args.redis_url, decode_responses=True)
    stand_in = GeminiStandIn(api_key=API_KEY).start()
    stand_in.answer = _answer
    stand_in.quota = (QUOTA, window)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-fair-share-") as scratch:
            app = _build_app(Path(scratch), args.redis_url, stand_in, window)
            _reset(app, conn)
            try:
                with app.app_context():
                    pool = WorkerPool(app, threads=WORKER_THREADS, name="bench-fair-share")
                    pool.start()
                    try:
                        user_id, resume_id = _tailor_user()
                        _tailoring_wait(user_id, resume_id, "warm-up", 10 * window)
                        alone = _tailoring_wait(user_id, resume_id, "alone", 10 * window)
                        flooder = _flooder()
                        # The flood starts with an empty window.
                        time.sleep(
                            max(0.0, stand_in.requests[-1]["arrived"] + window - time.monotonic())
                        )
                        first_flood_call = len(stand_in.requests)
                        flood = [
                            job_queue.submit_job(
                                user_id=flooder,
                                job_type="project_analysis",
                                payload={"job_description": f"Backend engineer, Python, team {n}"},
                            )
                            for n in range(FLOOD)
                        ]
                        _wait(lambda: len(stand_in.requests) >= first_flood_call + QUOTA, window)
                        flooded = _tailoring_wait(user_id, resume_id, "flooded", 10 * window)
                        _wait(lambda: all(_status(i) in TERMINAL for i in flood), 10 * window)
                    finally:
                        pool.stop(grace_seconds=5)
            finally:
                _reset(app, conn)
                with app.app_context():
                    db.engine.dispose()
    finally:
        stand_in.stop()
        conn.close()
    flood_calls = [r["arrived"] for r in stand_in.requests if task_of(r["body"]) == "rank"]
    flood_windows = (flood_calls[-1] - flood_calls[0]) / window
    fewest = math.ceil(len(flood_calls) / QUOTA) - 1  # from the first call to the last
    return [
        f"fair_share.tailoring_wait_seconds flooded={flooded:.1f} alone={alone:.1f} "
        f"windows={(flooded - alone) / window:.2f} window_s={window:g} quota={QUOTA} "
        f"flood={FLOOD} project analyses goal_windows<=1",
        f"fair_share.flood_windows measured={flood_windows:.2f} fewest={fewest} "
        f"calls={len(flood_calls)} upstream_429s={len(stand_in.refused_at)} window_s={window:g}",
    ]
