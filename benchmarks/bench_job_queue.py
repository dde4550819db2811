"""Job queue benchmarks, on the local PostgreSQL (database `job_agent_bench`) and the Redis
database `--redis-url` names (the runner's default, DB 14). Both are scratch: the benchmark
empties them (FLUSHDB, TRUNCATE), and touches no other database.

1. End-to-end no-op jobs per second: submit (PostgreSQL insert + commit, enqueue) -> claim ->
   run -> complete (PostgreSQL update), drained by our worker pool, against RQ 3.0's
   `SimpleWorker` draining the same number of no-op jobs on the same Redis, in the same run.
2. Claim latency (the claim script) with 1,000 and with 1,000,000 jobs waiting.
3. Time for a HIGH job to start when submitted behind 10,000 BULK jobs.
4. Pick-up latency, p50 and p99: submit -> running on an idle pool, and one job's end -> the
   same user's next job's start at the per-user cap; and how fast one user's backlog of
   zero-length jobs drains against the same backlog spread over many users.

BENCH_DATABASE_URL points PostgreSQL elsewhere. Everything is cleaned up afterwards.
"""

from __future__ import annotations

import logging
import os
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

import redis
from sqlalchemy import func, select, text

from benchmarks.scratch import ensure_database
from server import create_app
from server.core.config import Settings, normalise_database_url
from server.core.extensions import db
from server.jobs import job_queue
from server.jobs.job_queue import JobPriority, NewJob
from server.models import Job, User

DATABASE_URL = normalise_database_url(
    os.environ.get("BENCH_DATABASE_URL", "postgresql://root@127.0.0.1:5432/job_agent_bench")
)
E2E_JOBS = int(os.environ.get("BENCH_E2E_JOBS", "5000"))
E2E_USERS = 50
WORKER_THREADS = 5  # the default JOB_QUEUE_MAX_WORKERS
TUNED_THREADS = int(os.environ.get("BENCH_TUNED_THREADS", "32"))
SUBMIT_BATCH = 250


def noop() -> None:
    """The RQ job: does nothing."""


def _emit(line: str) -> None:
    print(line, flush=True)


def _ensure_database() -> None:
    ensure_database(DATABASE_URL)


def _build_app(scratch: Path, redis_url: str):
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
    )
    app = create_app(settings)
    with app.app_context():
        upgrade()
    # Both sides run quietly: per-job log lines are not what is being compared.
    logging.getLogger("server").setLevel(logging.WARNING)
    return app


def _reset(app, conn: redis.Redis) -> None:
    conn.flushdb()
    with app.app_context():
        db.session.execute(text("TRUNCATE jobs, users RESTART IDENTITY CASCADE"))
        db.session.commit()


def _users(count: int) -> list[int]:
    users = [
        User(email=f"bench{i}@example.com", password_hash="-", name="Bench")  # noqa: S106
        for i in range(count)
    ]
    db.session.add_all(users)
    db.session.commit()
    return [u.id for u in users]


def _count(status: str) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).where(Job.status == status))


def _drain_ours(app, conn: redis.Redis, threads: int) -> float:
    from server.workers.worker import WorkerPool

    _reset(app, conn)
    with app.app_context():
        users = _users(E2E_USERS)
        pool = WorkerPool(app, threads=threads, name="bench")
        pool.start()
        started = time.perf_counter()
        for start in range(0, E2E_JOBS, SUBMIT_BATCH):
            job_queue.submit_jobs(
                jobs=[
                    NewJob(users[i % E2E_USERS], "diagnostic", {"sleep_ms": 0})
                    for i in range(start, min(E2E_JOBS, start + SUBMIT_BATCH))
                ]
            )
        while _count("succeeded") < E2E_JOBS:
            time.sleep(0.01)
        rate = E2E_JOBS / (time.perf_counter() - started)
        pool.stop(grace_seconds=5)
    return rate


def _drain_rq(conn: redis.Redis, redis_url: str) -> tuple[float, int]:
    from rq import Queue, SimpleWorker

    conn.flushdb()
    rq_conn = redis.Redis.from_url(redis_url)
    queue = Queue("bench", connection=rq_conn)
    started = time.perf_counter()
    for start in range(0, E2E_JOBS, SUBMIT_BATCH):
        queue.enqueue_many(
            [Queue.prepare_data(noop) for _ in range(start, min(E2E_JOBS, start + SUBMIT_BATCH))]
        )
    SimpleWorker([queue], connection=rq_conn).work(burst=True, logging_level="WARNING")
    rate = E2E_JOBS / (time.perf_counter() - started)
    finished = queue.finished_job_registry.count
    rq_conn.close()
    conn.flushdb()
    return rate, finished


def bench_end_to_end(app, conn: redis.Redis) -> None:
    tuned = _drain_ours(app, conn, TUNED_THREADS)
    default = _drain_ours(app, conn, WORKER_THREADS)
    theirs, finished = _drain_rq(conn, app.config["SETTINGS"].redis_url)
    _emit(
        f"job_queue.e2e_jobs_per_sec ours={tuned:.0f} rq_simpleworker={theirs:.0f} "
        f"ratio={tuned / theirs:.2f} jobs={E2E_JOBS} ours_threads={TUNED_THREADS} "
        f"rq_finished={finished}"
    )
    _emit(
        f"job_queue.e2e_jobs_per_sec_default_threads ours={default:.0f} "
        f"rq_simpleworker={theirs:.0f} ratio={default / theirs:.2f} ours_threads={WORKER_THREADS}"
    )


def _fill(conn: redis.Redis, app, waiting: int, users: int) -> None:
    """Put `waiting` jobs in line directly (the enqueue script, 1,000 jobs per call)."""
    with app.app_context():
        _redis, registered = job_queue._redis()
        cap = app.config["SETTINGS"].job_queue_max_per_user
        # The queue's state is whole (as the claim and the enqueue require): no rebuild.
        conn.set(job_queue.STATE_KEY, "bench")
        pipe = conn.pipeline(transaction=False)
        for start in range(0, waiting, 1000):
            args: list = [cap, "0"]
            for i in range(start, min(waiting, start + 1000)):
                args += [f"j{i:07d}", i % users + 1, int(JobPriority.NORMAL), 0, i + 1]
            registered.enqueue(keys=job_queue.QUEUE_KEYS, args=args, client=pipe)
            if len(pipe) >= 20:
                pipe.execute()
        pipe.execute()


def _median_claim_ms(app, samples: int) -> float:
    with app.app_context():
        _redis, registered = job_queue._redis()
        cap = app.config["SETTINGS"].job_queue_max_per_user
        timings = []
        for n in range(samples):
            token = f"t{n}"
            began = time.perf_counter()
            claimed = registered.claim(keys=job_queue.QUEUE_KEYS, args=[cap, 1, 30_000, token])
            timings.append(time.perf_counter() - began)
            registered.settle(keys=job_queue.QUEUE_KEYS, args=[cap, claimed[0], token, "ack", 0])
        return statistics.median(timings) * 1000


def bench_claim_latency(app, conn: redis.Redis) -> None:
    results = {}
    for waiting in (1_000, 1_000_000):
        conn.flushdb()
        _fill(conn, app, waiting, users=100)
        assert conn.zcard(job_queue.KEY_PREFIX + "queue") == waiting
        results[waiting] = _median_claim_ms(app, samples=500)
    conn.flushdb()
    small, large = results[1_000], results[1_000_000]
    _emit(
        f"job_queue.claim_latency_ms waiting_1k={small:.3f} waiting_1m={large:.3f} "
        f"ratio={large / small:.2f} (median of 500 claims, claim script round trip)"
    )


def bench_high_behind_bulk(app, conn: redis.Redis) -> None:
    from server.workers.worker import WorkerPool

    _reset(app, conn)
    with app.app_context():
        users = _users(E2E_USERS + 1)
        job_queue.submit_jobs(
            jobs=[
                NewJob(users[i % E2E_USERS], "diagnostic", {"sleep_ms": 0}, JobPriority.BULK)
                for i in range(10_000)
            ]
        )
        pool = WorkerPool(app, threads=WORKER_THREADS, name="bench")
        pool.start()
        while _count("succeeded") < 100:  # the pool is busy with BULK work
            time.sleep(0.005)
        submitted = time.perf_counter()
        job_id = job_queue.submit_job(
            user_id=users[-1], job_type="diagnostic", payload={}, priority=JobPriority.HIGH
        )
        while True:
            db.session.rollback()
            row = db.session.get(Job, job_id, populate_existing=True)
            if row.status != "queued":
                break
            time.sleep(0.001)
        waited_ms = (time.perf_counter() - submitted) * 1000
        bulk_left = _count("queued")
        pool.stop(grace_seconds=5)
    _emit(
        f"job_queue.high_behind_10k_bulk_start_ms={waited_ms:.1f} "
        f"bulk_still_waiting={bulk_left} (submit -> running, pool of {WORKER_THREADS} threads)"
    )


PICKUP_SAMPLES = int(os.environ.get("BENCH_PICKUP_SAMPLES", "300"))
BACKLOG_JOBS = int(os.environ.get("BENCH_BACKLOG_JOBS", "2000"))


class _Stamps:
    """A job type that notes when each of its runs starts and ends (perf_counter)."""

    JOB_TYPE = "bench_stamp"

    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.ended: dict[str, float] = {}
        # A condition, not a polling loop: the waiting thread must not compete for the GIL
        # with the pool it measures.
        self.changed = threading.Condition()

    def __enter__(self) -> _Stamps:
        from server.workers.job_handlers import register_handler

        register_handler(self.JOB_TYPE)(self._run)
        return self

    def __exit__(self, *_exc) -> None:
        from server.workers.job_handlers import unregister_handler

        unregister_handler(self.JOB_TYPE)

    def _run(self, job) -> None:
        started = time.perf_counter()
        ended = time.perf_counter()
        with self.changed:
            self.started[job.job_id] = started
            self.ended[job.job_id] = ended
            self.changed.notify_all()

    def wait_started(self, count: int, timeout: float = 120.0) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.started) >= count, timeout):
                raise TimeoutError(f"{len(self.started)} of {count} jobs started")


def _percentiles(samples_s: list[float]) -> str:
    ms = sorted(x * 1000 for x in samples_s)
    p50 = statistics.median(ms)
    p99 = ms[min(len(ms) - 1, int(round(0.99 * (len(ms) - 1))))]
    return f"p50={p50:.1f} p99={p99:.1f} max={ms[-1]:.1f} samples={len(ms)}"


def _pickup_idle(app, users: list[int]) -> list[float]:
    """Submit -> the handler's first line, one job at a time, the pool idle in between."""
    from server.workers.worker import WorkerPool

    rng = random.Random(7)
    samples = []
    with _Stamps() as stamps:
        pool = WorkerPool(app, threads=WORKER_THREADS, name="bench")
        pool.start()
        try:
            for n in range(PICKUP_SAMPLES):
                # Idle long enough for a polling pool to reach any back-off it has.
                time.sleep(rng.uniform(0.02, 0.3))
                job_id = job_queue.submit_job(
                    user_id=users[n % len(users)], job_type=_Stamps.JOB_TYPE, payload={}
                )
                submitted = time.perf_counter()
                stamps.wait_started(n + 1)
                samples.append(stamps.started[job_id] - submitted)
        finally:
            pool.stop(grace_seconds=5)
    return samples


def _pickup_at_cap(app, user: int) -> list[float]:
    """One user's backlog at the cap: each job's end -> the start of the job its slot freed.

    At most `cap` of the user's jobs run at once, so the i-th end (in time order) frees the
    slot of the (i + cap)-th start.
    """
    from server.workers.worker import WorkerPool

    cap = app.config["SETTINGS"].job_queue_max_per_user
    count = PICKUP_SAMPLES + cap
    with _Stamps() as stamps:
        job_queue.submit_jobs(jobs=[NewJob(user, _Stamps.JOB_TYPE, {}) for _ in range(count)])
        pool = WorkerPool(app, threads=WORKER_THREADS, name="bench")
        pool.start()
        try:
            stamps.wait_started(count)
        finally:
            pool.stop(grace_seconds=5)
        starts = sorted(stamps.started.values())
        ends = sorted(stamps.ended.values())
    return [starts[i + cap] - ends[i] for i in range(count - cap)]


def _drain_backlog(app, users: list[int]) -> float:
    """Jobs per second for a pool draining a backlog of zero-length jobs of these users."""
    from server.workers.worker import WorkerPool

    for start in range(0, BACKLOG_JOBS, SUBMIT_BATCH):
        job_queue.submit_jobs(
            jobs=[
                NewJob(users[i % len(users)], "diagnostic", {"sleep_ms": 0})
                for i in range(start, min(BACKLOG_JOBS, start + SUBMIT_BATCH))
            ]
        )
    pool = WorkerPool(app, threads=WORKER_THREADS, name="bench")
    started = time.perf_counter()
    pool.start()
    try:
        while _count("succeeded") < BACKLOG_JOBS:
            time.sleep(0.01)
        return BACKLOG_JOBS / (time.perf_counter() - started)
    finally:
        pool.stop(grace_seconds=5)


def bench_pickup_latency(app, conn: redis.Redis) -> None:
    def measure(step, users: int):
        _reset(app, conn)  # outside any app context: its session holds no lock
        with app.app_context():
            return step(app, _users(users))

    idle = measure(_pickup_idle, E2E_USERS)
    at_cap = measure(lambda app, users: _pickup_at_cap(app, users[0]), 1)
    one_user = measure(_drain_backlog, 1)
    many_users = measure(_drain_backlog, E2E_USERS)
    _emit(f"job_queue.pickup_idle_ms {_percentiles(idle)} (submit returned -> handler started)")
    _emit(
        f"job_queue.pickup_at_cap_ms {_percentiles(at_cap)} (a job's end -> the same user's "
        f"next job's start, cap {app.config['SETTINGS'].job_queue_max_per_user})"
    )
    _emit(
        f"job_queue.backlog_drain_jobs_per_sec one_user={one_user:.0f} "
        f"users_{E2E_USERS}={many_users:.0f} ratio={one_user / many_users:.2f} "
        f"jobs={BACKLOG_JOBS} threads={WORKER_THREADS}"
    )


def run(args) -> None:
    """The four measurements; each line is printed as soon as it is measured.

    Uses (and empties) only the Redis database `args.redis_url` names.
    """
    _ensure_database()
    conn = redis.Redis.from_url(args.redis_url, decode_responses=True)
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        app = _build_app(Path(scratch), args.redis_url)
        try:
            bench_end_to_end(app, conn)
            bench_claim_latency(app, conn)
            bench_high_behind_bulk(app, conn)
            bench_pickup_latency(app, conn)
        finally:
            _reset(app, conn)
            with app.app_context():
                db.engine.dispose()
            conn.close()
