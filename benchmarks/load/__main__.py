"""Load test: the service as deployed, driven on loopback by a second process.

    python -m benchmarks.load            # or: make load
    python -m benchmarks.load --users 100 --seconds 30 --raw-seconds 15

The service runs as the scaled layout (docs/deployment.md) does: `gunicorn -c gunicorn.conf.py` (2 web
processes) plus one `python -m server.worker`, with FLASK_ENV=production and
TRUSTED_PROXY_COUNT=1 (as behind nginx), on the scratch PostgreSQL database
`job_agent_bench_load` (emptied; BENCH_LOAD_DATABASE_URL or --database-url) and the Redis
database --redis-url names (emptied).

1. Journeys (locust, `benchmarks/load/locustfile.py`): --users job seekers, each from its own
   address, register, log in, upload a resume, ask for a tailoring and a job search, poll the
   status and read their own objects, with every limit at its default; a few operators submit
   `diagnostic` jobs for the worker.
2. Raw throughput (wrk, `benchmarks/load/report.lua`): --connections connections on
   `GET /api/jobs/<id>/status` with one access token, the per-user and per-address limits
   raised out of reach (the global limit stays as configured), against the web processes
   alone: a worker would spend the same cores on the jobs the journeys left queued.

Nothing leaves loopback: every job board's base URL (`<BOARD>_BASE_URL`) points at a stand-in
on 127.0.0.1 that answers Remotive's `GET /api/remote-jobs` (the board the journeys search) with
a few postings, and no Gemini key is set (the built-in local engine answers).

Each prints requests/s, p50/p95/p99 latency, errors and 429s (limits by design, counted apart),
next to the seed's "Expected Performance" figures. BCRYPT_ROUNDS is --bcrypt-rounds (10): a
burst of 100 sign-ups at cost 12 would measure bcrypt on 2 cores rather than the service.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import redis
import requests
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

from benchmarks.scratch import ensure_database
from server.core.config import normalise_database_url

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parent.parent
DEFAULT_DATABASE_URL = os.environ.get(
    "BENCH_LOAD_DATABASE_URL", "postgresql://root@127.0.0.1:5432/job_agent_bench_load"
)
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
PASSWORD = "quartz lantern orbit 4417 meadow"  # noqa: S105 - test accounts on a scratch database
OUT_OF_REACH = "1000000000/60"
# The seed document's "Expected Performance".
SEED = "concurrent_users=50-100 throughput=1000/min (16.7/s) response_time<2000ms"


JOB_BOARDS = (
    "greenhouse",
    "lever",
    "ashby",
    "recruitee",
    "workable",
    "smartrecruiters",
    "remoteok",
    "remotive",
    "arbeitnow",
)
STAND_IN_JOBS = [
    {
        "id": 9000 + n,
        "title": title,
        "company_name": "Example Co",
        "candidate_required_location": "Worldwide",
        "job_type": "full_time",
        "salary": "",
        "description": f"<p>{title}: Python, Flask, PostgreSQL and Redis, remote.</p>",
        "publication_date": "2026-11-20T10:00:00",
        "url": f"https://jobs.example.com/{9000 + n}",
    }
    for n, title in enumerate(
        ["Backend Engineer (Python)", "Senior Python Backend Developer", "Platform Engineer"]
    )
]


class _BoardStandIn(BaseHTTPRequestHandler):
    """Remotive's listing, on loopback; every other path is a 404."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.startswith("/api/remote-jobs"):
            body = json.dumps({"job-count": len(STAND_IN_JOBS), "jobs": STAND_IN_JOBS}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
        else:
            body = b'{"error": "not found"}'
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args) -> None:
        pass


def start_board_stand_in() -> tuple[ThreadingHTTPServer, dict[str, str]]:
    """The stand-in, and the settings pointing every board at it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BoardStandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    urls = {f"{board.upper()}_BASE_URL": base for board in JOB_BOARDS}
    urls["RECRUITEE_BASE_URL"] = base + "/recruitee/{company}"
    return server, urls


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env(args, scratch: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    env.update(
        FLASK_ENV="production",
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        JWT_SECRET_KEY=secrets.token_urlsafe(48),
        ENCRYPTION_KEY=Fernet.generate_key().decode(),
        TRUSTED_PROXY_COUNT="1",
        INSTANCE_DIR=str(scratch / "instance"),
        LOG_DIR=str(scratch / "logs"),
        LOG_TO_STDOUT="false",
        BCRYPT_ROUNDS=str(args.bcrypt_rounds),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY=str(args.web_processes),
        GUNICORN_THREADS=str(args.threads),
        WEB_RUNS_WORKERS="false",
        JOB_QUEUE_SHUTDOWN_GRACE_SECONDS="5",
    )
    env.update(extra)
    return env


def reset_database(url: str, env: dict[str, str]) -> None:
    ensure_database(url)
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "server", "db", "upgrade"],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


class Service:
    """gunicorn -c gunicorn.conf.py and, if asked, one worker process."""

    def __init__(self, env: dict[str, str], port: int, scratch: Path, *, worker: bool):
        self.base = f"http://127.0.0.1:{port}"
        self.processes = []
        logs = scratch / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        commands = [
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "server:create_app()"]
        ]
        if worker:
            commands.append([sys.executable, "-m", "server.worker"])
        for number, command in enumerate(commands):
            out = open(logs / f"process-{number}.out", "a")  # noqa: SIM115 - closed at stop
            self.processes.append(
                subprocess.Popen(
                    command, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
                )
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.processes):
                self.stop()
                raise RuntimeError(f"the service stopped at start-up; see {logs}")
            try:
                if requests.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("the service did not become ready within 60 s")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def make_admins(args, base: str, count: int, run_id: str) -> list[str]:
    """Register `count` accounts (each from its own address) and make them admins."""
    emails = []
    for n in range(count):
        email = f"operator{n}-{run_id}@example.com"
        response = requests.post(
            f"{base}/api/auth/register",
            json={"email": email, "password": PASSWORD, "name": "Load Operator"},
            headers={"X-Forwarded-For": f"198.19.0.{n + 1}"},
            timeout=30,
        )
        response.raise_for_status()
        emails.append(email)
    engine = create_engine(args.database_url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE users SET role = 'admin' WHERE email = ANY(:emails)"), {"emails": emails}
        )
    engine.dispose()
    return emails


def run_journeys(args, base: str, scratch: Path, operators: list[str], run_id: str) -> dict:
    prefix = scratch / "locust"
    outcomes_path = scratch / "outcomes.json"
    env = {
        **os.environ,
        "LOAD_OPERATORS": json.dumps(operators),
        "LOAD_OUTCOMES_PATH": str(outcomes_path),
        "LOAD_RUN_ID": run_id,
    }
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(HERE / "locustfile.py"),
        "--headless",
        "--users",
        str(args.users),
        "--spawn-rate",
        str(args.spawn_rate),
        "--run-time",
        f"{args.seconds}s",
        "--stop-timeout",
        "5",
        "--host",
        base,
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "ERROR",
        "--exit-code-on-error",
        "0",
    ]
    done = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=args.seconds + 120,
        check=False,
    )
    if done.returncode != 0 or not Path(f"{prefix}_stats.csv").exists():
        raise RuntimeError(f"locust failed ({done.returncode}): {done.stderr[-2000:]}")
    with open(f"{prefix}_stats.csv", newline="") as handle:
        rows = {(row["Type"], row["Name"]): row for row in csv.DictReader(handle)}
    recorded = json.loads(outcomes_path.read_text()) if outcomes_path.exists() else {}
    total = next(row for (_kind, name), row in rows.items() if name == "Aggregated")
    return {
        "rows": rows,
        "requests": int(total["Request Count"]),
        "rps": float(total["Requests/s"]),
        "p50": float(total["50%"]),
        "p95": float(total["95%"]),
        "p99": float(total["99%"]),
        "max": float(total["Max Response Time"]),
        "outcomes": recorded.get("outcomes", {}),
        "latencies": recorded.get("latencies_ms", {}),
    }


def percentile(samples: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `samples` (0 when there are none)."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def prepare_status_probe(base: str, email: str) -> tuple[str, str]:
    """An access token and a job of its account, for the raw-throughput run."""
    headers = {"X-Forwarded-For": "198.19.1.1"}
    login = requests.post(
        f"{base}/api/auth/login",
        json={"email": email, "password": PASSWORD},
        headers=headers,
        timeout=30,
    )
    login.raise_for_status()
    headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    job = requests.post(
        f"{base}/api/jobs",
        json={"type": "diagnostic", "payload": {}},
        headers=headers,
        timeout=30,
    )
    job.raise_for_status()
    return login.json()["access_token"], job.json()["job_id"]


def run_wrk(args, url: str, token: str) -> dict:
    command = [
        "wrk",
        "-t2",
        f"-c{args.connections}",
        f"-d{args.raw_seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(HERE / "report.lua"),
        "-H",
        f"Authorization: Bearer {token}",
        url,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=args.raw_seconds + 60, check=True
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("{"))
    return json.loads(line)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__)
    parser.add_argument("--users", type=int, default=100, help="simulated users (100)")
    parser.add_argument("--spawn-rate", type=float, default=10, help="users started a second")
    parser.add_argument("--seconds", type=int, default=60, help="length of the journeys run")
    parser.add_argument("--raw-seconds", type=int, default=15, help="length of the wrk run")
    parser.add_argument("--connections", type=int, default=100, help="wrk connections (100)")
    parser.add_argument("--operators", type=int, default=5, help="admin users submitting jobs")
    parser.add_argument("--web-processes", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=4, help="HTTP threads per web process (GUNICORN_THREADS)"
    )
    parser.add_argument("--bcrypt-rounds", type=int, default=10)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    args = parser.parse_args(argv)
    args.database_url = normalise_database_url(args.database_url)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("load: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    for line in measure(args):
        print(line, flush=True)
    return 0


def measure(args: argparse.Namespace) -> list[str]:
    """Run both phases; the report's lines."""
    run_id = secrets.token_hex(3)
    lines = [f"load.seed_expected {SEED}"]
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="load-") as tmp:
        scratch = Path(tmp)
        port = free_port()
        stand_in, board_urls = start_board_stand_in()
        env = service_env(args, scratch, port, **board_urls)
        reset_database(args.database_url, env)
        redis.Redis.from_url(args.redis_url).flushdb()

        # 1. Journeys, every limit at its default.
        service = Service(env, port, scratch, worker=True)
        try:
            operators = make_admins(args, service.base, max(args.operators, 1), run_id)
            journeys = run_journeys(
                args, service.base, scratch, operators[: args.operators], run_id
            )
        finally:
            service.stop()
        outcomes = journeys["outcomes"]
        lines.append(
            f"load.journeys users={args.users} seconds={args.seconds} "
            f"requests={journeys['requests']} rps={journeys['rps']:.1f} "
            f"rpm={journeys['rps'] * 60:.0f} p50_ms={journeys['p50']:.0f} "
            f"p95_ms={journeys['p95']:.0f} p99_ms={journeys['p99']:.0f} "
            f"max_ms={journeys['max']:.0f} errors={outcomes.get('error', 0)} "
            f"throttled_429={outcomes.get('throttled_429', 0)} "
            f"job_type_unavailable_422={outcomes.get('unavailable_422', 0)}"
        )
        for group, samples in sorted(journeys["latencies"].items()):
            lines.append(
                f"load.journeys.{group} requests={len(samples)} "
                f"rps={len(samples) / args.seconds:.1f} "
                f"p50_ms={percentile(samples, 0.50):.0f} p95_ms={percentile(samples, 0.95):.0f} "
                f"p99_ms={percentile(samples, 0.99):.0f}"
            )
        for (kind, name), row in sorted(journeys["rows"].items(), key=lambda item: item[0][1]):
            if name == "Aggregated":
                continue
            lines.append(
                f"load.journeys.route {kind} {name} requests={row['Request Count']} "
                f"not_ok={row['Failure Count']} p50_ms={float(row['50%']):.0f} "
                f"p99_ms={float(row['99%']):.0f}"
            )
        for kind, count in sorted(outcomes.items()):
            if kind.startswith("error "):
                lines.append(f"load.journeys.{kind.replace(' ', '_')} count={count}")

        # 2. Raw throughput on the authenticated status endpoint.
        env = service_env(
            args,
            scratch,
            port,
            **board_urls,
            RATE_LIMIT_API_READS_PER_USER_PER_MINUTE=OUT_OF_REACH,
            RATE_LIMIT_API_REQUESTS_PER_IP_PER_MINUTE=OUT_OF_REACH,
        )
        # Web processes only: a worker would spend the same two cores on the jobs the journeys
        # left queued. The probe's job waits in the queue (its status has a place in line).
        service = Service(env, port, scratch, worker=False)
        try:
            token, job_id = prepare_status_probe(service.base, operators[0])
            raw = run_wrk(args, f"{service.base}/api/jobs/{job_id}/status", token)
        finally:
            service.stop()
            stand_in.shutdown()
        seconds = raw["duration_us"] / 1e6
        rps = raw["requests"] / seconds
        lines.append(
            f"load.status_raw connections={args.connections} seconds={seconds:.1f} "
            f"requests={raw['requests']} rps={rps:.0f} p50_ms={raw['p50_us'] / 1000:.1f} "
            f"p95_ms={raw['p95_us'] / 1000:.1f} p99_ms={raw['p99_us'] / 1000:.1f} "
            f"max_ms={raw['max_us'] / 1000:.0f} errors={raw['non_2xx'] + raw['socket_errors']} "
            f"throttled_429={raw['throttled_429']}"
        )
        lines.append(
            f"load.versus_seed status_rps_per_seed_rps={rps / (1000 / 60):.0f}x "
            f"journeys_rpm={journeys['rps'] * 60:.0f} (seed 1000/min) "
            f"journeys_p99_ms={journeys['p99']:.0f} (seed <2000) users={args.users} (seed 50-100)"
        )
    lines.append(
        f"load.machine cpus={os.cpu_count()} load_average_1m_before={load_before:.1f} "
        f"after={os.getloadavg()[0]:.1f} (other work on the machine shares the CPUs)"
    )
    return lines


if __name__ == "__main__":
    sys.exit(main())
