"""HTTP hot path: authenticated reads against a bare Flask route, both under gunicorn.

The service (PostgreSQL database `job_agent_bench_http`, the Redis database `--redis-url` names)
and `benchmarks/bare_app.py` run under gunicorn with the same settings (2 gthread workers,
4 threads each). wrk (50 connections, 2 threads, loopback) loads, in alternation, for
`--rounds` rounds of `--seconds` each:

- `GET /bare` on the bare app (the baseline),
- `GET /api/jobs/<id>/status` with a valid access token,
- `GET /api/user/profile` with a valid access token.

Each line gives the median requests per second and p99 latency over the rounds, and the ratio
to the baseline. Every limit stays checked (its script runs) but is raised out of reach, so
the figures are the cost of admitted requests. Needs `wrk` (`apt-get install wrk`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
import requests
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

from benchmarks.scratch import ensure_database
from server.core.config import normalise_database_url

DATABASE_URL = normalise_database_url(
    os.environ.get(
        "BENCH_HTTP_DATABASE_URL", "postgresql://root@127.0.0.1:5432/job_agent_bench_http"
    )
)
PROJECT_ROOT = Path(__file__).resolve().parent.parent
GUNICORN_WORKERS = 2
GUNICORN_THREADS = 4
CONNECTIONS = 50
WRK_THREADS = 2
OUT_OF_REACH = "1000000000/60"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _limit_overrides() -> dict[str, str]:
    """Every window limit raised out of reach, so wrk measures admitted requests only."""
    from server.rate_limiter import LIMITS, RateLimit

    return {
        f"RATE_LIMIT_{name.upper()}": OUT_OF_REACH
        for name, rule in LIMITS.items()
        if isinstance(rule, RateLimit) and not name.startswith("gemini_")
    }


def _service_env(scratch: Path, redis_url: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RATE_LIMIT_", "DB_", "REDIS_"))
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
        JOB_QUEUE_MAX_WORKERS="0",
        PYTHONPATH=str(PROJECT_ROOT),
    )
    env.update(_limit_overrides())
    return env


def _migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "server", "db", "upgrade"],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    engine = create_engine(DATABASE_URL)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE jobs, users RESTART IDENTITY CASCADE"))
    engine.dispose()


def _gunicorn(target: str, port: int, env: dict[str, str]) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(GUNICORN_WORKERS),
        "--worker-class",
        "gthread",
        "--threads",
        str(GUNICORN_THREADS),
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        target,
    ]
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{target} did not start: {process.stderr.read().decode()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{target} did not listen on {port} within 30 s")


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _prepare_user(base: str) -> tuple[str, str]:
    """Register and log in a user, submit one job; the access token and the job id.

    The only job type a user can submit before the product's handlers exist is the admin's
    `diagnostic`, so the user is an admin while submitting and a plain user afterwards.
    """
    account = {"email": "bench@example.com", "password": "Quartz-violin-meadow-2741", "name": "B"}
    requests.post(f"{base}/api/auth/register", json=account, timeout=10).raise_for_status()
    credentials = {"email": account["email"], "password": account["password"]}
    login = requests.post(f"{base}/api/auth/login", json=credentials, timeout=10)
    login.raise_for_status()
    token = login.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    _set_role(account["email"], "admin")
    job = requests.post(
        f"{base}/api/jobs",
        json={"type": "diagnostic", "payload": {}},
        headers=headers,
        timeout=10,
    )
    job.raise_for_status()
    job_id = job.json()["job_id"]
    _set_role(account["email"], "user")
    status = requests.get(f"{base}/api/jobs/{job_id}/status", headers=headers, timeout=10)
    status.raise_for_status()
    return token, job_id


def _set_role(email: str, role: str) -> None:
    engine = create_engine(DATABASE_URL)
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET role = :r WHERE email = :e"), {"r": role, "e": email})
    engine.dispose()


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk(
    url: str, seconds: float, token: str | None = None, *, connections: int = CONNECTIONS
) -> tuple[float, float, int]:
    """One wrk run: requests per second, p99 latency in ms, non-2xx/3xx answers."""
    command = [
        "wrk",
        f"-t{WRK_THREADS}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
    ]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    output = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", output)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return rps, float(p99[1]) * _UNITS_MS[p99[2]], int(bad[1]) if bad else 0


def run(args) -> list[str]:
    """Alternate the three targets for `args.rounds` rounds; one line per target."""
    if shutil.which("wrk") is None:
        return ["hot_path.skipped wrk is not installed (apt-get install wrk)"]
    ensure_database(DATABASE_URL)
    conn = redis.Redis.from_url(args.redis_url)
    conn.flushdb()
    seconds = max(args.seconds, 5.0)
    with tempfile.TemporaryDirectory(prefix="bench-http-") as scratch:
        env = _service_env(Path(scratch), args.redis_url)
        _migrate(env)
        ours_port, bare_port = _free_port(), _free_port()
        ours = _gunicorn("server:create_app()", ours_port, env)
        bare = _gunicorn("benchmarks.bare_app:app", bare_port, env)
        try:
            base = f"http://127.0.0.1:{ours_port}"
            token, job_id = _prepare_user(base)
            targets = {
                "bare": (f"http://127.0.0.1:{bare_port}/bare", None),
                "status": (f"{base}/api/jobs/{job_id}/status", token),
                "profile": (f"{base}/api/user/profile", token),
            }
            for url, bearer in targets.values():  # warm up: imports, pools, script cache
                _wrk(url, 1, bearer)
            results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in targets}
            for _ in range(args.rounds):
                for name, (url, bearer) in targets.items():
                    results[name].append(_wrk(url, seconds, bearer))
        finally:
            _stop(ours)
            _stop(bare)
            conn.flushdb()
            conn.close()

    def summary(name: str) -> tuple[float, float, int]:
        runs = results[name]
        return (
            statistics.median(r[0] for r in runs),
            statistics.median(r[1] for r in runs),
            sum(r[2] for r in runs),
        )

    bare_rps, bare_p99, _ = summary("bare")
    lines = []
    for name, route in (
        ("status", "GET /api/jobs/<id>/status"),
        ("profile", "GET /api/user/profile"),
    ):
        rps, p99, bad = summary(name)
        lines.append(
            f"hot_path.{name}_rps ours={rps:.0f} bare={bare_rps:.0f} ratio={rps / bare_rps:.2f} "
            f"p99_ms={p99:.1f} bare_p99_ms={bare_p99:.1f} non_2xx={bad} ({route}, gunicorn "
            f"{GUNICORN_WORKERS}x{GUNICORN_THREADS} gthread, wrk {CONNECTIONS} connections, "
            f"median of {args.rounds} rounds of {seconds:.0f} s)"
        )
    return lines
