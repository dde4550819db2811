"""Scaled mode as README lays it out: `gunicorn -c gunicorn.conf.py` with two web processes
(each running a worker pool started after the fork, WEB_RUNS_WORKERS=true) plus one
`python -m server.worker` process, all on the test PostgreSQL and Redis.

Jobs go in through HTTP like a client's, every one succeeds exactly once, and SIGTERM drains
every process cleanly: running jobs finish, nothing is left running or leased.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import func, select

from server import job_queue
from server.extensions import db
from server.models import Job
from server.services import accounts
from tests.nginx_helpers import ROOT, free_port
from tests.test_worker import worker_env

ADMIN_PASSWORD = "quartz lantern orbit 4417 meadow"
JOBS = 200


def start(command, env, log_path):
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def counts():
    db.session.rollback()
    return dict(db.session.execute(select(Job.status, func.count()).group_by(Job.status)).all())


def healthy(base):
    try:
        return requests.get(f"{base}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_web_processes_and_a_worker_process_run_every_job_once_and_drain_on_sigterm(
    app, tmp_path, redis_conn
):
    accounts.create_admin(email="ops@example.com", name="Ops", password=ADMIN_PASSWORD)
    port = free_port()
    env = worker_env(
        tmp_path,
        GUNICORN_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="2",
        GUNICORN_THREADS="4",
        WEB_RUNS_WORKERS="true",
        JOB_QUEUE_MAX_WORKERS="3",
        JOB_QUEUE_MAX_PER_USER="9",
        JOB_QUEUE_LEASE_SECONDS="10",
        RATE_LIMIT_API_REQUESTS_PER_USER_PER_MINUTE=f"{JOBS * 2}/60",
    )
    web = start(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "server:create_app()"],
        env,
        tmp_path / "gunicorn.out",
    )
    worker = start([sys.executable, "-m", "server.worker"], env, tmp_path / "worker.out")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: healthy(base), 60, "gunicorn to serve")
        login = requests.post(
            f"{base}/api/auth/login",
            json={"email": "ops@example.com", "password": ADMIN_PASSWORD},
            timeout=30,
        )
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

        def submit(sleep_ms):
            response = requests.post(
                f"{base}/api/jobs",
                json={"type": "diagnostic", "payload": {"sleep_ms": sleep_ms}},
                headers=headers,
                timeout=30,
            )
            assert response.status_code == 202, response.text
            return response.json()["job_id"]

        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(submit, [50] * JOBS))
        assert len(set(ids)) == JOBS
        wait_until(lambda: counts() == {"succeeded": JOBS}, 120, f"{JOBS} jobs to succeed")

        rows = db.session.execute(
            select(Job.result, Job.attempts, Job.lost_leases, Job.worker_id)
        ).all()
        assert all(r.attempts == 1 and r.result == {"slept_ms": 50, "attempt": 1} for r in rows)
        assert sum(r.lost_leases for r in rows) == 0
        runners = {r.worker_id.rsplit(":", 1)[1] for r in rows}
        # Pools ran in the forked web processes as well as in the worker process.
        assert str(worker.pid) in runners and len(runners) >= 2, runners

        # SIGTERM while jobs run: they finish within the grace period, every process exits 0.
        with ThreadPoolExecutor(8) as pool:
            long_ids = list(pool.map(submit, [2000] * 6))
        wait_until(lambda: counts().get("running", 0) >= 3, 30, "the long jobs to start running")
        web.send_signal(signal.SIGTERM)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
        assert web.wait(timeout=60) == 0
    finally:
        for process in (web, worker):
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    assert "running 3 threads" in (tmp_path / "worker.out").read_text()
    final = counts()
    assert "running" not in final, final
    assert final.get("succeeded", 0) >= JOBS + 3, final
    db.session.rollback()
    unfinished = db.session.scalars(
        select(Job.status).where(Job.id.in_(long_ids), Job.status != "succeeded")
    ).all()
    assert set(unfinished) <= {"queued"}, unfinished
    # Nothing stays leased in Redis: a restarted worker would take the queued ones at once.
    assert redis_conn.zcard(job_queue.KEY_PREFIX + "running") == 0
    assert redis_conn.hlen(job_queue.KEY_PREFIX + "active") == 0
