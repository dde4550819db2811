"""The queue's drain, black box: no-op jobs submitted over HTTP, drained by one worker process,
against RQ's `SimpleWorker` draining the same number of no-op jobs on the same Redis, in the
same run; and what each job costs the worker in round trips.

    python -m benchmarks queue_drain --redis-url redis://127.0.0.1:6379/13

Each round (interleaved, `ROUNDS`):
1. Ours: `gunicorn -c gunicorn.conf.py` (web only) takes `JOBS` `diagnostic` jobs of
   `{"sleep_ms": 0}` over HTTP from `USERS` admin accounts (their per-user and per-address
   limits raised out of reach, every job recorded in PostgreSQL); then one
   `python -m server.worker` process with `JOB_QUEUE_MAX_WORKERS=5` drains them.
2. RQ 3.0: `JOBS` no-op jobs enqueued, then `rq worker --burst --worker-class
   rq.worker.SimpleWorker` in a process of its own drains them.
Both drains are timed from the first job's start to the last job's end, as each system records
them (`jobs.started_at` / `finished_at` in PostgreSQL; RQ's `started_at` / `ended_at`), so
neither process's start-up counts. Both worker processes log at their defaults.

Then the cost per job: the same jobs drained by a `WorkerPool` of 5 threads in this process,
counting the worker threads' PostgreSQL statements, commits and round trips and their Redis
commands and round trips (`benchmarks.round_trips`). `BUDGET` holds the figures the suite's
test (`tests/test_queue_budget.py`) keeps them under.

Scratch: the PostgreSQL database `job_agent_bench_drain` (BENCH_DRAIN_DATABASE_URL; emptied and
migrated) and the Redis database `--redis-url` names (emptied).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import redis
import requests
from sqlalchemy import create_engine, text

from benchmarks.load.__main__ import (
    OUT_OF_REACH,
    PASSWORD,
    PROJECT_ROOT,
    Service,
    free_port,
    make_admins,
    reset_database,
    service_env,
)
from benchmarks.round_trips import RoundTrips, describe
from server.core.config import normalise_database_url
from server.jobs.job_queue import STATE_KEY

DATABASE_URL = normalise_database_url(
    os.environ.get(
        "BENCH_DRAIN_DATABASE_URL", "postgresql://root@127.0.0.1:5432/job_agent_bench_drain"
    )
)
JOBS = int(os.environ.get("BENCH_DRAIN_JOBS", "2000"))
USERS = 10
THREADS = 5
ROUNDS = int(os.environ.get("BENCH_DRAIN_ROUNDS", "3"))
RQ_QUEUE = "bench_drain"

# What a no-op job may cost the worker threads, per job, with a pool of one thread (each claim
# takes one job: the most a claim costs per job): the running mark and the outcome, one
# statement each, and the claim and the settle scripts. The suite's test
# (`tests/test_queue_budget.py`) fails when a change makes a job cost more; raise these only
# knowingly. A counted run's end costs a few round trips that are no job's (the last empty
# claim and its wait), and a slow machine adds the idle waits' timeouts (a few Redis calls
# per second, not per job): `BUDGET_SLACK` of each, per run.
BUDGET = {
    "pg_statements": 2.0,
    "pg_commits": 2.0,
    "pg_round_trips": 2.0,
    "redis_commands": 2.0,
    "redis_round_trips": 2.0,
}
BUDGET_SLACK = 12


def noop() -> None:
    """The RQ job: does nothing."""


def _engine():
    return create_engine(DATABASE_URL)


def _drain_seconds_ours(engine) -> tuple[float, int]:
    with engine.connect() as sql:
        first, last, done = sql.execute(
            text(
                "SELECT min(started_at), max(finished_at), count(*) FROM jobs "
                "WHERE status = 'succeeded'"
            )
        ).one()
    return ((last - first).total_seconds() if done else 0.0), done


def _submit_over_http(base: str, emails: list[str]) -> float:
    """Log every account in and submit `JOBS` jobs, each account from its own thread and
    address; returns the submissions per second."""
    sessions = []
    for n, email in enumerate(emails):
        session = requests.Session()
        session.headers["X-Forwarded-For"] = f"198.18.0.{n + 1}"
        login = session.post(
            f"{base}/api/auth/login", json={"email": email, "password": PASSWORD}, timeout=30
        )
        login.raise_for_status()
        session.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        sessions.append(session)
    errors: list[str] = []

    def submit(session: requests.Session, count: int) -> None:
        for _ in range(count):
            answer = session.post(
                f"{base}/api/jobs",
                json={"type": "diagnostic", "payload": {"sleep_ms": 0}},
                timeout=30,
            )
            if answer.status_code != 202:
                errors.append(f"{answer.status_code} {answer.text[:200]}")
                return

    share, extra = divmod(JOBS, len(sessions))
    threads = [
        threading.Thread(target=submit, args=(session, share + (n < extra)))
        for n, session in enumerate(sessions)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"submissions refused: {errors[:3]}")
    return JOBS / elapsed


def _drain_ours(env: dict[str, str], port: int, scratch: Path, conn: redis.Redis) -> dict:
    reset_database(DATABASE_URL, env)
    conn.flushdb()
    service = Service(env, port, scratch, worker=False)
    try:
        emails = make_admins(
            argparse.Namespace(database_url=DATABASE_URL), service.base, USERS, "drain"
        )
        submitted_per_second = _submit_over_http(service.base, emails)
    finally:
        service.stop()
    engine = _engine()
    worker_env = {**env, "JOB_QUEUE_MAX_WORKERS": str(THREADS)}
    with open(scratch / "worker.out", "a") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "server.worker"],
            cwd=PROJECT_ROOT,
            env=worker_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 600
        while _drain_seconds_ours(engine)[1] < JOBS:
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not drain the jobs; see {scratch}")
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    seconds, _done = _drain_seconds_ours(engine)
    engine.dispose()
    return {"rate": JOBS / seconds, "submitted_per_second": submitted_per_second}


def _rq_time(value) -> datetime:
    return datetime.fromisoformat(value.decode() if isinstance(value, bytes) else value)


def _drain_rq(redis_url: str, conn: redis.Redis) -> dict:
    from rq import Queue

    conn.flushdb()
    rq_conn = redis.Redis.from_url(redis_url)
    queue = Queue(RQ_QUEUE, connection=rq_conn)
    ids: list[str] = []
    for start in range(0, JOBS, 500):
        jobs = queue.enqueue_many(
            [Queue.prepare_data(noop) for _ in range(start, min(JOBS, start + 500))]
        )
        ids += [job.id for job in jobs]
    worker = subprocess.run(
        [
            sys.executable,
            "-m",
            "rq.cli",
            "worker",
            "--burst",
            "--worker-class",
            "rq.worker.SimpleWorker",
            "--url",
            redis_url,
            RQ_QUEUE,
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        timeout=600,
        check=False,
    )
    if worker.returncode != 0:
        raise RuntimeError(f"rq worker failed: {worker.stderr[-1000:]!r}")
    pipe = rq_conn.pipeline(transaction=False)
    for job_id in ids:
        pipe.hmget(f"rq:job:{job_id}", "started_at", "ended_at", "status")
    stamps = pipe.execute()
    finished = [s for s in stamps if s[2] in (b"finished", "finished")]
    first = min(_rq_time(s[0]) for s in finished)
    last = max(_rq_time(s[1]) for s in finished)
    rq_conn.close()
    conn.flushdb()
    return {"rate": JOBS / (last - first).total_seconds(), "finished": len(finished)}


def count_round_trips(app, user_ids: list[int], *, jobs: int, threads: int) -> dict[str, float]:
    """Drain `jobs` no-op jobs of these users with a pool of `threads` threads in this process
    (call it in `app`'s context, the queue empty); the worker threads' round trips per job.

    A first batch warms the pool up (its threads' connections are made then, as in a worker
    that has run for a while); the second is counted, until its last job has succeeded.
    """
    from server.core.extensions import db
    from server.jobs import job_queue
    from server.jobs.job_queue import NewJob
    from server.workers.worker import WorkerPool

    def drain(count: int) -> None:
        before = _succeeded()
        job_queue.submit_jobs(
            jobs=[
                NewJob(user_ids[i % len(user_ids)], "diagnostic", {"sleep_ms": 0})
                for i in range(count)
            ]
        )
        while _succeeded() < before + count:
            time.sleep(0.01)

    def _succeeded() -> int:
        db.session.rollback()
        return db.session.scalar(text("SELECT count(*) FROM jobs WHERE status = 'succeeded'"))

    pool = WorkerPool(app, threads=threads, name="round-trips")
    pool.start()
    try:
        drain(threads * 2)
        counter = RoundTrips()
        with counter.counting(db.engine):
            drain(jobs)
    finally:
        pool.stop(grace_seconds=5)
    return counter.per_job(jobs)


def _count_in_process(scratch: Path, redis_url: str) -> dict[str, float]:
    from server import create_app
    from server.core.config import Settings
    from server.core.extensions import db
    from server.models import User

    app = create_app(
        Settings(
            env="testing",
            instance_dir=scratch,
            log_dir=scratch / "logs",
            log_to_stdout=False,
            database_url=DATABASE_URL,
            database_is_default=False,
            redis_url=redis_url,
            jwt_secret_key="c" * 40,
            encryption_key="e" * 44,
            auto_migrate=False,
        )
    )
    with app.app_context():
        users = [
            User(email=f"count{i}@example.com", password_hash="-", name="Count")  # noqa: S106
            for i in range(USERS)
        ]
        db.session.add_all(users)
        db.session.commit()
        try:
            return count_round_trips(app, [u.id for u in users], jobs=JOBS, threads=THREADS)
        finally:
            db.session.remove()
            db.engine.dispose()


def run(args) -> list[str]:
    """Interleaved rounds of both drains, then the round trips per job."""
    conn = redis.Redis.from_url(args.redis_url)
    ours, theirs = [], []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="drain-") as tmp:
        scratch = Path(tmp)
        port = free_port()
        options = argparse.Namespace(
            database_url=DATABASE_URL,
            redis_url=args.redis_url,
            bcrypt_rounds=10,
            web_processes=2,
            threads=4,
        )
        env = service_env(
            options,
            scratch,
            port,
            RATE_LIMIT_API_REQUESTS_PER_USER_PER_MINUTE=OUT_OF_REACH,
            RATE_LIMIT_API_REQUESTS_PER_IP_PER_MINUTE=OUT_OF_REACH,
        )
        for _ in range(ROUNDS):
            ours.append(_drain_ours(env, port, scratch, conn))
            theirs.append(_drain_rq(args.redis_url, conn))
        reset_database(DATABASE_URL, env)
        conn.flushdb()
        conn.set(STATE_KEY, "bench")  # the queue's state is whole: nothing to rebuild
        per_job = _count_in_process(scratch, args.redis_url)
        conn.flushdb()
    conn.close()
    ours_rate = statistics.median(r["rate"] for r in ours)
    rq_rate = statistics.median(r["rate"] for r in theirs)
    ratios = sorted(o["rate"] / t["rate"] for o, t in zip(ours, theirs, strict=True))
    submitted = statistics.median(r["submitted_per_second"] for r in ours)
    return [
        f"queue_drain.jobs_per_sec ours={ours_rate:.0f} rq_simpleworker={rq_rate:.0f} "
        f"ratio={ours_rate / rq_rate:.2f} round_ratios={'/'.join(f'{r:.2f}' for r in ratios)} "
        f"jobs={JOBS} users={USERS} ours_threads={THREADS} rounds={ROUNDS} "
        f"(first start -> last end; submitted over HTTP at {submitted:.0f}/s beforehand)",
        f"queue_drain.round_trips_per_job {describe(per_job)} "
        f"(claims, runs and outcomes: dispatcher and handler threads, pool of {THREADS}, "
        f"{JOBS} no-op jobs; the heartbeat's lease renewals are per time, not per job)",
        f"queue_drain.machine cpus={os.cpu_count()} load_average_1m_before={load_before:.1f} "
        f"after={os.getloadavg()[0]:.1f}",
    ]
