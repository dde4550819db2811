"""Scaled mode as docs/deployment.md lays it out: `gunicorn -c gunicorn.conf.py` with two web
processes (each running a worker pool started after the fork, WEB_RUNS_WORKERS=true) plus one
`python -m server.worker` process, all on the test PostgreSQL and Redis.

Jobs go in through HTTP like a client's, every one succeeds exactly once, and SIGTERM drains
every process cleanly: running jobs finish, nothing is left running or leased. Exactly one of
the three scheduler candidates (both web processes and the worker process) leads, a scheduled
interval job runs once per interval, the lock is released on SIGTERM, and `/metrics` (with
PROMETHEUS_MULTIPROC_DIR) adds up both web processes.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from server.core.extensions import db
from server.jobs import job_queue
from server.models import Job
from server.ops.scheduler import HISTORY_KEY, LEADER_KEY
from server.services import accounts
from tests.nginx_helpers import ROOT, free_port
from tests.test_worker import worker_env

# A multi-process run: `make test-soak` runs it (CI too), `make test` does not.
pytestmark = pytest.mark.soak

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
        # An interval job every second: a second scheduler would show as a second run.
        JOB_QUEUE_RECONCILE_INTERVAL_SECONDS="1",
    )
    web = start(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "server:create_app()"],
        {**env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")},
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

        # /metrics answered by either web process counts the requests both of them served.
        web_pids = set(
            subprocess.run(
                ["pgrep", "-P", str(web.pid)], capture_output=True, text=True
            ).stdout.split()
        )
        assert len(web_pids) == 2 and web_pids <= runners | web_pids
        assert len(runners & web_pids) == 2, (runners, web_pids)
        for _ in range(4):  # a fresh connection each time: either process may answer
            assert submitted_jobs(base) == JOBS

        # One scheduler: the leader is one of the three candidates, and it alone ran the
        # interval job, once a second.
        leader = redis_conn.get(LEADER_KEY)
        assert leader and leader.split(":")[1] in web_pids | {str(worker.pid)}, leader
        wait_until(lambda: len(reconciler_runs(redis_conn)) >= 6, 30, "six reconciler runs")
        runs = reconciler_runs(redis_conn)
        assert {owner for owner, _ in runs} == {leader}
        starts = sorted(at for _, at in runs)
        gaps = [(b - a).total_seconds() for a, b in zip(starts, starts[1:], strict=False)]
        assert min(gaps) > 0.5, gaps  # never twice for one fire time

        # SIGTERM while jobs run: they finish within the grace period, every process exits 0.
        with ThreadPoolExecutor(8) as pool:
            long_ids = list(pool.map(submit, [2000] * 6))
        wait_until(lambda: counts().get("running", 0) >= 3, 30, "the long jobs to start running")
        web.send_signal(signal.SIGTERM)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
        assert web.wait(timeout=60) == 0
        # The leader let its lock go: a restarted process leads at once.
        assert redis_conn.get(LEADER_KEY) is None
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


def submitted_jobs(base: str) -> float:
    """POST /api/jobs answered 202, as /metrics counts them (every web process added up)."""
    with requests.get(f"{base}/metrics", timeout=10, headers={"Connection": "close"}) as r:
        assert r.status_code == 200, r.text
        families = list(text_string_to_metric_families(r.text))
    return sum(
        sample.value
        for family in families
        if family.name == "http_requests"
        for sample in family.samples
        if sample.name == "http_requests_total"
        and sample.labels == {"method": "POST", "route": "/api/jobs", "status": "202"}
    )


def reconciler_runs(conn) -> list[tuple[str, datetime]]:
    """(owner, start) of every recorded run of the queue reconciler."""
    runs = []
    for raw in conn.lrange(HISTORY_KEY, 0, -1):
        entry = json.loads(raw)
        if entry["job"] == "queue_reconciler":
            started = datetime.fromisoformat(entry["started_at"].replace("Z", "+00:00"))
            runs.append((entry["owner"], started))
    return runs
