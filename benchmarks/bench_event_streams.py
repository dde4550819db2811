"""Job event streams beside ordinary requests: `/healthz` and a job's status with 200 streams open.

The service runs as the scaled layout (docs/deployment.md) does, `gunicorn -c gunicorn.conf.py` with
`WEB_CONCURRENCY=2` and the default `GUNICORN_THREADS` (4) and event-stream settings, HTTP only
(no worker: every job waits, so every stream stays open), on the scratch PostgreSQL database
`job_agent_bench_event_streams` (BENCH_EVENT_STREAMS_DATABASE_URL points elsewhere) and the
Redis database `--redis-url` names (both emptied).

Two such servers run side by side: 20 accounts each have one waiting job, and on one server
they hold 200 event streams open (10 per account, each read up to its first event and left
open); the other has none (the baseline). wrk (16 connections, 2 threads) measures, in turn on
each server, for `--rounds` rounds of `--seconds` (at least 5) each: `GET /healthz`, and
`GET /api/jobs/<id>/status` with an access token. Goal: p99 below 100 ms with the streams open.

Per-user and per-address limits are raised out of reach (every script still runs), so wrk
measures admitted requests. Needs `wrk` (`apt-get install wrk`).
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
import requests
from cryptography.fernet import Fernet

from benchmarks.bench_hot_path import _free_port, _limit_overrides, _wrk
from benchmarks.scratch import fresh_database
from server.core.config import normalise_database_url

DATABASE_URL = normalise_database_url(
    os.environ.get(
        "BENCH_EVENT_STREAMS_DATABASE_URL",
        "postgresql://root@127.0.0.1:5432/job_agent_bench_event_streams",
    )
)
PROJECT_ROOT = Path(__file__).resolve().parent.parent
WEB_PROCESSES = 2
ACCOUNTS = 20
STREAMS_PER_ACCOUNT = 10
WRK_CONNECTIONS = 16
GOAL_P99_MS = 100.0
PASSWORD = "Quartz-violin-meadow-2741"  # noqa: S105 - the scratch accounts'


def _env(scratch: Path, redis_url: str, port: int) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RATE_LIMIT_", "DB_", "REDIS_", "JOB_", "GUNICORN_", "WEB_"))
    }
    env.update(
        FLASK_ENV="development",
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=redis_url,
        JWT_SECRET_KEY="bench-jwt-secret-" + "x" * 40,
        ENCRYPTION_KEY=Fernet.generate_key().decode(),
        INSTANCE_DIR=str(scratch),
        LOG_DIR=str(scratch / "logs"),
        LOG_TO_STDOUT="false",
        BCRYPT_ROUNDS="4",
        AUTO_MIGRATE="false",
        SCHEDULER_ENABLED="false",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        JOB_EVENTS_MAX_SECONDS="3600",  # every stream stays open while wrk measures
        WEB_CONCURRENCY=str(WEB_PROCESSES),
        PYTHONPATH=str(PROJECT_ROOT),
    )
    env.update(_limit_overrides())
    return env


def _start(env: dict[str, str], port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "server:create_app()"]
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gunicorn did not start")
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return process
        except requests.RequestException:
            time.sleep(0.2)
    _stop(process)
    raise RuntimeError(f"gunicorn did not answer on {port} within 60 s")


def _stop(process: subprocess.Popen) -> None:
    # Its whole group at once: a stopping server would let the open streams run on until
    # they notice their client left.
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _accounts(base: str) -> list[tuple[str, str]]:
    """Register the accounts, each with one waiting job: (access token, job id) each.

    Only admins may submit the `diagnostic` type, the one job that needs no resume, so the
    accounts are admins while they submit it (made so in the database) and users after.
    """
    from sqlalchemy import create_engine, text

    engine = create_engine(DATABASE_URL)
    made = []
    for n in range(ACCOUNTS):
        email = f"streamer{n}@example.com"
        account = {"email": email, "password": PASSWORD, "name": "Streamer"}
        requests.post(f"{base}/api/auth/register", json=account, timeout=30).raise_for_status()
        with engine.begin() as conn:
            conn.execute(text("UPDATE users SET role = 'admin' WHERE email = :e"), {"e": email})
        login = requests.post(
            f"{base}/api/auth/login", json={"email": email, "password": PASSWORD}, timeout=30
        )
        login.raise_for_status()
        token = login.json()["access_token"]
        job = requests.post(
            f"{base}/api/jobs",
            json={"type": "diagnostic", "payload": {}},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        job.raise_for_status()
        with engine.begin() as conn:
            conn.execute(text("UPDATE users SET role = 'user' WHERE email = :e"), {"e": email})
        made.append((token, job.json()["job_id"]))
    engine.dispose()
    return made


def _open_stream(port: int, token: str, job_id: str) -> http.client.HTTPConnection:
    """A stream read up to its first event and left open."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", f"/api/jobs/{job_id}/events", headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"stream refused: {response.status} {response.read()[:200]!r}")
    while not response.readline().startswith(b"event: "):
        pass
    conn.response = response  # referenced while open
    return conn


def _measure(targets: dict[str, tuple[str, str | None]], rounds: int, seconds: float):
    """Each target in turn, `rounds` times over: (median rps, median p99 ms, non-2xx) each."""
    results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in targets}
    for _ in range(rounds):
        for name, (url, token) in targets.items():
            results[name].append(_wrk(url, seconds, token, connections=WRK_CONNECTIONS))
    return {
        name: (
            statistics.median(r[0] for r in runs),
            statistics.median(r[1] for r in runs),
            sum(r[2] for r in runs),
        )
        for name, runs in results.items()
    }


def run(args) -> list[str]:
    """Both targets on a server with 200 streams open and on a twin with none, in turn."""
    if shutil.which("wrk") is None:
        return ["event_streams.skipped wrk is not installed (apt-get install wrk)"]
    fresh_database(DATABASE_URL)
    conn = redis.Redis.from_url(args.redis_url)
    conn.flushdb()
    seconds = max(args.seconds, 5.0)
    streams: list[http.client.HTTPConnection] = []
    servers: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="bench-streams-") as scratch:
        quiet_port, busy_port = _free_port(), _free_port()
        quiet_env = _env(Path(scratch), args.redis_url, quiet_port)
        subprocess.run(
            [sys.executable, "-m", "flask", "--app", "server", "db", "upgrade"],
            cwd=PROJECT_ROOT,
            env=quiet_env,
            check=True,
            capture_output=True,
        )
        try:
            servers.append(_start(quiet_env, quiet_port))
            servers.append(_start(_env(Path(scratch), args.redis_url, busy_port), busy_port))
            quiet, busy = f"http://127.0.0.1:{quiet_port}", f"http://127.0.0.1:{busy_port}"
            made = _accounts(quiet)
            for token, job_id in made:
                for _ in range(STREAMS_PER_ACCOUNT):
                    streams.append(_open_stream(busy_port, token, job_id))
            token, job_id = made[0]
            status = f"/api/jobs/{job_id}/status"
            targets = {
                "healthz_without": (f"{quiet}/healthz", None),
                "healthz_with": (f"{busy}/healthz", None),
                "status_without": (f"{quiet}{status}", token),
                "status_with": (f"{busy}{status}", token),
            }
            for url, bearer in targets.values():  # warm up: imports, pools, script cache
                _wrk(url, 1, bearer, connections=WRK_CONNECTIONS)
            figures = _measure(targets, args.rounds, seconds)
        finally:
            for stream in streams:
                stream.close()
            for server in servers:
                _stop(server)
            conn.flushdb()
            conn.close()
    lines = []
    for name, route in (("healthz", "GET /healthz"), ("status", "GET /api/jobs/<id>/status")):
        rps, p99, bad = figures[f"{name}_with"]
        base_rps, base_p99, base_bad = figures[f"{name}_without"]
        lines.append(
            f"event_streams.{name}_p99_ms with_streams={p99:.1f} without={base_p99:.1f} "
            f"ratio={p99 / base_p99:.2f} goal<{GOAL_P99_MS:.0f} rps={rps:.0f} "
            f"rps_without={base_rps:.0f} non_2xx={bad + base_bad} streams_open={len(streams)} "
            f"({route}; {ACCOUNTS} accounts x {STREAMS_PER_ACCOUNT} streams; gunicorn "
            f"{WEB_PROCESSES} processes, 4 HTTP threads each; wrk {WRK_CONNECTIONS} "
            f"connections; median of {args.rounds} rounds of {seconds:.0f} s)"
        )
    return lines
