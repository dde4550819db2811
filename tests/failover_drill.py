"""The Redis failover drill: the service under a load of requests and jobs while the Redis
primary of a Sentinel set is SIGKILLed; what its clients saw, and what became of the jobs.

Shared by the test (tests/test_redis_failover.py), which asserts on it, and the benchmark
(benchmarks/bench_failover.py), which reports it. The app must be built with the set's
REDIS_SENTINELS; the drill runs its own worker pool and the scheduler's queue reaper and
reconciler (the jobs that repair what a failover loses), as a worker process would.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from flask import Flask
from sqlalchemy import select

from server.core.extensions import db
from server.models import Job
from server.models.job import TERMINAL_STATUSES
from tests.helpers import ApiClient
from tests.sentinel_set import SentinelSet

SUBMITTERS = 3  # threads submitting a job, then reading its status, in a loop
LOGIN_LIMIT = 10  # auth_login_per_ip_per_minute: what the limited client may do in the run
LIMITED_ADDRESS = "10.20.30.40"  # the limited client's own address (its own login window)
LOAD_BEFORE_KILL = 2.0
WARM_UP = 0.5  # the first half second of load is not part of the 'before' figures
LOAD_AFTER_RECOVERY = 1.5
MAX_OUTAGE = 15.0  # the drill gives up waiting for answers to succeed again after this


def drill_settings(sentinels: str) -> dict:
    """Setting overrides for the drill's app: the set's sentinels, requests limited only by
    the login window the drill measures, and the reaper and reconciler every half second."""
    out_of_reach = "1000000/60"
    return {
        "redis_url": None,
        "redis_sentinels": tuple(sentinels.split(",")),
        "rate_limit_overrides": {
            "RATE_LIMIT_API_REQUESTS_PER_USER_PER_MINUTE": out_of_reach,
            "RATE_LIMIT_API_READS_PER_USER_PER_MINUTE": out_of_reach,
            "RATE_LIMIT_API_REQUESTS_PER_IP_PER_MINUTE": out_of_reach,
            "RATE_LIMIT_AUTH_LOGIN_PER_IP_PER_MINUTE": f"{LOGIN_LIMIT}/60",
        },
        "job_queue_reaper_interval_seconds": 0.5,
        "job_queue_reconcile_interval_seconds": 0.5,
        "job_queue_lease_seconds": 5.0,
    }


@dataclass
class DrillResult:
    answers: Counter = field(default_factory=Counter)  # status code -> count, whole run
    # The same by kind of request: "submit", "status" (the job's), "login" (the limited client)
    answers_by_kind: dict[str, Counter] = field(default_factory=dict)
    answers_in_outage: Counter = field(default_factory=Counter)  # kill -> promotion/recovery
    failover_seconds: float = 0.0  # kill -> the sentinels name the new primary
    recovery_seconds: float = 0.0  # kill -> every request kind answers 2xx again
    jobs_accepted: int = 0  # answered 202
    jobs_lost: int = 0  # answered 202, yet PostgreSQL has no such job
    jobs_stuck: int = 0  # in PostgreSQL but not finished when the drill ends
    jobs_failed: int = 0  # finished, but not succeeded
    drain_seconds: float = 0.0  # promotion/recovery -> every accepted job finished
    logins_admitted: int = 0  # the limited client's successful logins (limit: LOGIN_LIMIT)
    ok_per_second_before: float = 0.0  # 2xx answers a second before the kill
    ok_per_second_in_outage: float = 0.0  # and between the kill and the recovery

    @property
    def over_limit_admitted(self) -> int:
        return max(0, self.logins_admitted - LOGIN_LIMIT)


class _Load:
    """Threads sending requests until stopped; every answer is kept with its time."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client = ApiClient(app.test_client())
        self.admin = self.client.create_admin(app)
        self.limited = ApiClient(app.test_client())
        self.limited_email = self.limited.create_account().email
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.answers: list[tuple[float, str, int]] = []  # (monotonic, kind, status)
        self.accepted: list[str] = []
        self.threads = [
            threading.Thread(target=self._submit, daemon=True) for _ in range(SUBMITTERS)
        ]
        self.threads.append(threading.Thread(target=self._login, daemon=True))

    def _record(self, kind: str, status: int) -> None:
        with self.lock:
            self.answers.append((time.monotonic(), kind, status))

    def _submit(self) -> None:
        client = ApiClient(self.app.test_client())
        headers = self.admin.headers
        while not self.stop.is_set():
            response = client.post(
                "/api/jobs",
                json={"type": "diagnostic", "payload": {"sleep_ms": 20}},
                headers=headers,
            )
            self._record("submit", response.status_code)
            if response.status_code == 202:
                job_id = response.get_json()["job_id"]
                with self.lock:
                    self.accepted.append(job_id)
                status = client.get(f"/api/jobs/{job_id}/status", headers=headers)
                self._record("status", status.status_code)
            else:
                time.sleep(0.05)

    def _login(self) -> None:
        raw = self.app.test_client()
        raw.environ_base["REMOTE_ADDR"] = LIMITED_ADDRESS
        client = ApiClient(raw)
        while not self.stop.is_set():
            response = client.login(self.limited_email)
            self._record("login", response.status_code)
            time.sleep(0.02)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


def _recovered_at(answers: list[tuple[float, str, int]], killed: float) -> float | None:
    """When every request kind last turned to success after the kill (None: not yet)."""
    times = []
    for kind in ("submit", "status"):
        after = [(t, status) for t, k, status in answers if k == kind and t >= killed]
        bad = [t for t, status in after if not 200 <= status < 300]
        good = [t for t, status in after if 200 <= status < 300 and (not bad or t > bad[-1])]
        if not good:
            return None
        times.append(good[0] if bad else killed)
    return max(times)


def run_drill(app: Flask, redis_set: SentinelSet, *, drain_timeout: float = 20.0) -> DrillResult:
    """Load the service, SIGKILL the Redis primary, wait until requests succeed again, then
    until every accepted job finished; report what clients and jobs went through."""
    from server.jobs import job_queue
    from server.ops.scheduler import SCHEDULED_JOBS, LeaderScheduler
    from server.workers.worker import WorkerPool

    with app.app_context():
        job_queue.reconcile()  # what a worker does at start-up: the queue's state marker
    queue_jobs = tuple(j for j in SCHEDULED_JOBS if j.id in {"queue_reaper", "queue_reconciler"})
    scheduler = LeaderScheduler(app, jobs=queue_jobs, lock_seconds=2.0)
    pool = WorkerPool(app, threads=2, name="drill-pool")
    load = _Load(app)
    result = DrillResult()
    scheduler.start()
    pool.start()
    try:
        load.start()
        started = time.monotonic()
        time.sleep(LOAD_BEFORE_KILL)
        old = redis_set.kill_primary()
        killed = time.monotonic()
        redis_set.wait_for_new_primary(old)
        promoted = time.monotonic()
        result.failover_seconds = promoted - killed
        recovered = None
        while time.monotonic() - killed < MAX_OUTAGE:
            with load.lock:
                recovered = _recovered_at(list(load.answers), killed)
            if recovered is not None and time.monotonic() - recovered >= LOAD_AFTER_RECOVERY:
                break
            time.sleep(0.1)
        if recovered is not None:  # the load goes on a while on the new primary
            time.sleep(max(0.0, promoted + LOAD_AFTER_RECOVERY - time.monotonic()))
        load.finish()
        recovered = recovered or time.monotonic()
        result.recovery_seconds = recovered - killed
        # The outage: Redis had no primary, or requests were failing (whichever is longer).
        outage_end = max(recovered, promoted)
        ok_before = ok_outage = 0
        for moment, kind, status in load.answers:
            result.answers[status] += 1
            result.answers_by_kind.setdefault(kind, Counter())[status] += 1
            if killed <= moment < outage_end:
                result.answers_in_outage[status] += 1
            if 200 <= status < 300:
                ok_before += started + WARM_UP <= moment < killed
                ok_outage += killed <= moment < outage_end
            if kind == "login" and status == 200:
                result.logins_admitted += 1
        result.ok_per_second_before = ok_before / (killed - started - WARM_UP)
        result.ok_per_second_in_outage = ok_outage / (outage_end - killed)
        result.jobs_accepted = len(load.accepted)
        with app.app_context():
            result.jobs_lost, result.jobs_stuck, result.jobs_failed = _settle_jobs(
                load.accepted, timeout=drain_timeout
            )
        result.drain_seconds = max(0.0, time.monotonic() - outage_end)
    finally:
        load.finish()
        pool.stop(grace_seconds=2)
        scheduler.stop()
    return result


def _settle_jobs(job_ids: list[str], *, timeout: float) -> tuple[int, int, int]:
    """Wait until every job is finished; (lost, stuck, failed) when they are or time is up."""
    deadline = time.monotonic() + timeout
    while True:
        db.session.rollback()
        rows = dict(db.session.execute(select(Job.id, Job.status).where(Job.id.in_(job_ids))).all())
        lost = sum(1 for job_id in job_ids if job_id not in rows)
        open_ = sum(1 for status in rows.values() if status not in TERMINAL_STATUSES)
        if open_ == 0 or time.monotonic() > deadline:
            failed = sum(1 for s in rows.values() if s in TERMINAL_STATUSES and s != "succeeded")
            return lost, open_, failed
        time.sleep(0.1)
