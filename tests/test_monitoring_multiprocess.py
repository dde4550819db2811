"""Under gunicorn with PROMETHEUS_MULTIPROC_DIR, /metrics adds up every worker process."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import TEST_DATABASE_URL, TEST_JWT_SECRET, TEST_REDIS_URL
from tests.test_entrypoints import ROOT, clean_env, wait_for

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
    (metrics_dir / "counter_1.db").write_bytes(b"left over from a previous run")
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
        assert not (metrics_dir / "counter_1.db").exists()
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
