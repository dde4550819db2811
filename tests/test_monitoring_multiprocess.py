"""Under gunicorn with PROMETHEUS_MULTIPROC_DIR, /metrics adds up every worker process."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import TEST_DATABASE_URL, TEST_JWT_SECRET, TEST_REDIS_URL
from tests.test_entrypoints import ROOT, clean_env, wait_for

# Multi-process runs: `make test-soak` runs them (CI too), `make test` does not.
pytestmark = pytest.mark.soak

REQUESTS = 40


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthz_samples(families) -> float:
    return sum(
        sample.value
        for family in families
        if family.name == "http_requests"
        for sample in family.samples
        if sample.name == "http_requests_total" and sample.labels.get("route") == "/healthz"
    )


def _count_in(counter_file, scratch) -> float:
    """The /healthz requests one process counted (its own file, read alone)."""
    alone = scratch / f"alone-{counter_file.stem}"
    alone.mkdir()
    shutil.copy(counter_file, alone)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(alone))
    return _healthz_samples(registry.collect())


def _capacity(families) -> float:
    [capacity] = [f for f in families if f.name == "db_pool_capacity"]
    return sum(sample.value for sample in capacity.samples)


def _scrape(base: str) -> list:
    with urllib.request.urlopen(base + "/metrics", timeout=5) as response:
        return list(text_string_to_metric_families(response.read().decode()))


def test_metrics_add_up_every_gunicorn_worker(settings, tmp_path):
    port = _free_port()
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (metrics_dir / f"counter_{gone.pid}.db").write_bytes(b"left by a process that ended")
    env = clean_env(
        INSTANCE_DIR=str(tmp_path),
        LOG_DIR=str(tmp_path / "logs"),
        LOG_TO_STDOUT="false",
        DATABASE_URL=TEST_DATABASE_URL,
        REDIS_URL=TEST_REDIS_URL,
        JWT_SECRET_KEY=TEST_JWT_SECRET,
        ENCRYPTION_KEY=settings.encryption_key,
        AUTO_MIGRATE="false",
        WEB_CONCURRENCY="2",
        GUNICORN_THREADS="2",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "gunicorn.conf.py",
            "server:create_app()",
            "--bind",
            f"127.0.0.1:{port}",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/healthz", server)
        for _ in range(REQUESTS - 1):
            with urllib.request.urlopen(base + "/healthz", timeout=5) as response:
                assert response.status == 200
        assert not (metrics_dir / f"counter_{gone.pid}.db").exists()
        per_process = [_count_in(path, tmp_path) for path in metrics_dir.glob("counter_*.db")]
        counted = sum(per_process)  # the start-up probe may have reached it more than once
        assert counted >= REQUESTS
        # Whichever worker answers the scrape, it reports every worker's figures: the
        # requests, and the pool capacity of both processes (2 × (10 + 20)) once both started.
        deadline = time.monotonic() + 30
        while _capacity(_scrape(base)) != 60.0 and time.monotonic() < deadline:
            time.sleep(0.2)
        for _ in range(6):
            families = _scrape(base)
            assert _healthz_samples(families) == counted
            assert _capacity(families) == 60.0
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def _jobs_finished(base: str) -> float:
    return sum(
        sample.value
        for family in _scrape(base)
        if family.name == "jobs_finished"
        for sample in family.samples
        if sample.name == "jobs_finished_total"
        and sample.labels == {"type": "diagnostic", "outcome": "succeeded"}
    )


def test_the_worker_process_reports_its_jobs_at_metrics_through_web_restarts(app, tmp_path):
    """PROMETHEUS_MULTIPROC_DIR only in .env, as deploy_production.py has it written there."""
    from server.jobs import job_queue
    from tests.queue_helpers import fetch_job, make_user
    from tests.queue_helpers import wait_for as wait_until
    from tests.test_worker import worker_env

    deployed = tmp_path / "srv"
    for folder in ("server", "migrations"):
        shutil.copytree(
            ROOT / folder, deployed / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "gunicorn.conf.py", deployed)
    metrics_dir = tmp_path / "metrics"
    (deployed / ".env").write_text(f"PROMETHEUS_MULTIPROC_DIR={metrics_dir}\n")
    port = _free_port()
    env = worker_env(
        tmp_path, GUNICORN_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="1", SCHEDULER_ENABLED="false"
    )
    assert "PROMETHEUS_MULTIPROC_DIR" not in env
    base = f"http://127.0.0.1:{port}"

    def start(*command):
        return subprocess.Popen(
            [sys.executable, "-m", *command],
            cwd=deployed,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def web():
        server = start("gunicorn", "-c", "gunicorn.conf.py", "server:create_app()")
        wait_for(base + "/healthz", server)
        return server

    def one_job():
        job_id = job_queue.submit_job(user_id=user, job_type="diagnostic", payload={})
        wait_until(lambda: fetch_job(job_id).status == "succeeded", timeout=30)

    user = make_user()
    worker = start("server.workers.worker")
    server = web()
    try:
        one_job()
        assert _jobs_finished(base) == 1
        # A restart of the web processes keeps the live worker's figures.
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        server = web()
        assert _jobs_finished(base) == 1
        one_job()
        assert _jobs_finished(base) == 2
    finally:
        for process in (server, worker):
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    # The worker stopped cleanly: its live gauges are dropped, its counters kept.
    assert not list(metrics_dir.glob(f"gauge_live*_{worker.pid}.db"))
    assert list(metrics_dir.glob(f"counter_{worker.pid}.db"))
