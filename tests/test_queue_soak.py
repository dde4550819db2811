"""Soak: thousands of jobs through two worker processes that keep being SIGKILLed.

SOAK_JOBS sets the job count (default 2,000; `make soak` runs the same).
"""

import os
import random
import signal
import time

import pytest
from sqlalchemy import func, select

from server.core.extensions import db
from server.jobs import job_queue
from server.jobs.job_queue import JobPriority, NewJob
from server.models import Job
from tests.queue_helpers import make_user
from tests.test_worker import start_worker, worker_env

SOAK_JOBS = int(os.environ.get("SOAK_JOBS", "2000"))


def counts_by_status():
    db.session.rollback()
    return dict(db.session.execute(select(Job.status, func.count()).group_by(Job.status)).all())


def running_on(pid):
    """How many jobs PostgreSQL says the worker process with this pid is running."""
    db.session.rollback()
    return db.session.scalar(
        select(func.count()).where(Job.status == "running", Job.worker_id.like(f"%:{pid}"))
    )


@pytest.mark.soak
def test_every_job_succeeds_once_despite_workers_killed_at_random(app, tmp_path, redis_conn):
    rng = random.Random(4)
    users = [make_user() for _ in range(20)]
    priorities = list(JobPriority)
    jobs = [
        NewJob(
            user_id=rng.choice(users),
            job_type="diagnostic",
            payload={"sleep_ms": rng.choice([0, 0, 5, 20, 60])},
            priority=rng.choice(priorities),
        )
        for _ in range(SOAK_JOBS)
    ]
    ids = job_queue.submit_jobs(jobs=jobs)
    env = worker_env(tmp_path, JOB_QUEUE_MAX_LOST_LEASES="25")
    workers = [start_worker(env), start_worker(env)]
    kills = 0
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline:
            time.sleep(rng.uniform(0.5, 1.5))
            counts = counts_by_status()
            if counts.get("succeeded", 0) == SOAK_JOBS:
                break
            victim = rng.randrange(2)
            if kills < 8 and running_on(workers[victim].pid):
                workers[victim].send_signal(signal.SIGKILL)
                workers[victim].wait(timeout=10)
                workers[victim] = start_worker(env)
                kills += 1
    finally:
        for process in workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in workers:
            try:
                process.wait(timeout=30)
            except Exception:
                process.kill()

    counts = counts_by_status()
    assert counts == {"succeeded": SOAK_JOBS}, counts
    results = db.session.execute(
        select(Job.id, Job.result, Job.attempts, Job.lost_leases).where(Job.id.in_(ids))
    ).all()
    assert len(results) == len(set(r.id for r in results)) == SOAK_JOBS
    # Each job's recorded result comes from its last run, the one that held the lease.
    assert all(r.result["attempt"] == r.attempts for r in results)
    assert kills >= 3 and sum(r.lost_leases for r in results) > 0
    # Nothing is left in Redis: no job held twice, no lease, no slot.
    assert redis_conn.hlen(job_queue.KEY_PREFIX + "jobs") == 0
    assert redis_conn.zcard(job_queue.KEY_PREFIX + "running") == 0
    assert redis_conn.hlen(job_queue.KEY_PREFIX + "active") == 0
