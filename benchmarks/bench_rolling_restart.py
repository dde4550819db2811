"""Rolling-restart benchmark: restarts nobody notices.

Two gunicorn instances (one web process each) on loopback ports behind the shipped nginx.conf
(both in its upstream), on the PostgreSQL database `job_agent_bench_rolling`. Three clients
send a steady load through nginx, each on its own keep-alive connection: /healthz, the signed-in
user's profile, a job submission (a POST). Measured with the same load in one run:

- baseline: no restart;
- rolling: `deploy_production.py --rolling` restarts both instances one at a time (mark down in
  nginx and reload, wait for nginx's old workers, SIGTERM, start, /readyz, back in nginx);
- undrained: each instance SIGTERMed and started again in turn, three times over, while nginx
  still sends to it (what draining prevents; its failures are races, so not every run has them).

Reported per run: requests, failed (no answer or a 5xx; goal 0 for rolling), the 5xx among
them, p50/p99 latency, and the rolling run's p99 against the baseline's (the ratio). Then the
workers: two `python -m server.worker` processes run submitted jobs while each is SIGTERMed and
started again in turn; jobs lost (not succeeded; goal 0) and jobs run more than once (a second
attempt or a lost lease; goal 0).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from server.core.config import normalise_database_url
from tests import web_instances
from tests.nginx_helpers import ROOT, free_port, nginx_command, render_nginx_conf, start_nginx
from tests.steady_load import LoadResult, SteadyLoad

DATABASE_URL = normalise_database_url(
    os.environ.get(
        "BENCH_ROLLING_DATABASE_URL", "postgresql://root@127.0.0.1:5432/job_agent_bench_rolling"
    )
)
ADMIN_EMAIL = "ops@example.com"
ADMIN_PASSWORD = "quartz lantern orbit 4417 meadow"  # noqa: S105 - the scratch admin's
BASELINE_SECONDS = 10.0
CLIENTS = 3
UNDRAINED_ROUNDS = 3  # the failures of an undrained stop are races: several tries show them
WORKER_JOBS = 300
WORKER_JOB_SLEEP_MS = 100


def _environment(scratch: Path, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    env.update(
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=redis_url,
        JWT_SECRET_KEY="r" * 40,
        ENCRYPTION_KEY="e" * 44,
        LOG_DIR=str(scratch),
        LOG_TO_STDOUT="false",
        INSTANCE_DIR=str(scratch),
        BCRYPT_ROUNDS="4",
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="4",
        WEB_RUNS_WORKERS="false",
        TRUSTED_PROXY_COUNT="1",
        RATE_LIMIT_API_REQUESTS_PER_USER_PER_MINUTE="1000000/60",
        RATE_LIMIT_API_READS_PER_USER_PER_MINUTE="1000000/60",
        RATE_LIMIT_API_REQUESTS_PER_IP_PER_MINUTE="1000000/60",
        JOB_QUEUE_MAX_WORKERS="3",
        JOB_QUEUE_MAX_PER_USER="6",
        JOB_QUEUE_SHUTDOWN_GRACE_SECONDS="5",
        JOB_QUEUE_LEASE_SECONDS="5",
        JOB_QUEUE_REAPER_INTERVAL_SECONDS="0.5",
        SCHEDULER_LOCK_SECONDS="3",
    )
    return env


def _prepare_database(scratch: Path, redis_url: str) -> None:
    """A fresh schema and the admin the clients sign in as."""
    import redis as redis_py
    from flask_migrate import upgrade

    from server import create_app
    from server.core.config import Settings
    from server.core.extensions import db
    from server.services import accounts
    from tests.conftest import ensure_database, reset_schema

    ensure_database(DATABASE_URL)
    reset_schema(DATABASE_URL)
    redis_py.Redis.from_url(redis_url).flushdb()
    app = create_app(
        Settings(
            env="testing",
            instance_dir=scratch,
            log_dir=scratch,
            log_to_stdout=False,
            database_url=DATABASE_URL,
            database_is_default=False,
            redis_url=redis_url,
            jwt_secret_key="r" * 40,
            encryption_key="e" * 44,
            bcrypt_rounds=4,
            auto_migrate=False,
        )
    )
    with app.app_context():
        upgrade()
        accounts.create_admin(email=ADMIN_EMAIL, name="Ops", password=ADMIN_PASSWORD)
        db.session.remove()
        db.engine.dispose()


def _rolling_command(site, folder: Path) -> list[str]:
    restart = shlex.join([sys.executable, "-m", "tests.web_instances", "restart", str(folder)])
    return [
        sys.executable,
        str(ROOT / "deploy_production.py"),
        "--rolling",
        "--nginx-conf",
        str(site.conf),
        "--nginx-pid-file",
        str(site.prefix / "nginx.pid"),
        "--nginx-reload-command",
        shlex.join(nginx_command(site, "-s", "reload")),
        "--restart-command",
        restart + " {port}",
    ]


def _line(name: str, result: LoadResult, seconds: float, extra: str = "") -> str:
    return (
        f"{name} requests={result.requests} failed={result.failed} "
        f"5xx={result.server_errors} no_answer={len(result.errors)} "
        f"p50_ms={result.percentile_ms(0.50):.1f} p99_ms={result.percentile_ms(0.99):.1f} "
        f"seconds={seconds:.1f} answers={dict(sorted(result.statuses.items()))}"
        + f" resent_on_closed_connection={len(result.resent)}"
        + (f" failed_by={dict(result.failed_requests)}" if result.failed_requests else "")
        + (f" first_no_answer={result.errors[0]!r}" if result.errors else "")
        + extra
    )


def _web_runs(site, ports, folder: Path, token: str) -> list[str]:
    base = f"https://localhost:{site.https_port}"

    def under_load(action):
        started = time.monotonic()
        with SteadyLoad(base, token=token, cert=str(site.cert), threads=CLIENTS) as load:
            action()
        return load.result, time.monotonic() - started

    baseline, baseline_s = under_load(lambda: time.sleep(BASELINE_SECONDS))
    outputs = []

    def rolling():
        done = subprocess.run(
            _rolling_command(site, folder), capture_output=True, text=True, check=False
        )
        outputs.append(done)

    rolled, rolled_s = under_load(rolling)
    if outputs[0].returncode != 0:
        raise RuntimeError(f"--rolling failed: {outputs[0].stdout}{outputs[0].stderr}")

    def undrained():
        for _ in range(UNDRAINED_ROUNDS):
            for port in ports:
                web_instances.restart(folder, port)
                web_instances.wait_ready(port)

    cut, cut_s = under_load(undrained)
    ratio = rolled.percentile_ms(0.99) / max(baseline.percentile_ms(0.99), 1e-9)
    return [
        _line("rolling_restart.baseline", baseline, baseline_s, " (no restart)"),
        _line(
            "rolling_restart",
            rolled,
            rolled_s,
            f" baseline_p99_ms={baseline.percentile_ms(0.99):.1f} p99_ratio={ratio:.2f} "
            f"(deploy_production.py --rolling: {len(ports)} instances, one at a time)",
        ),
        _line(
            "rolling_restart.undrained",
            cut,
            cut_s,
            f" ({UNDRAINED_ROUNDS * len(ports)} restarts: each instance in turn SIGTERMed and "
            "started again while nginx still sends to it)",
        ),
    ]


def _worker_run(env: dict[str, str], base: str, cert: str, token: str, logs: Path) -> str:
    """Jobs flow through two worker processes while each is restarted in turn."""
    from sqlalchemy import create_engine, text

    def start_worker(name: str) -> subprocess.Popen:
        log = open(logs / f"{name}.log", "a")  # noqa: SIM115 - closed with the process
        return subprocess.Popen(
            [sys.executable, "-m", "server.worker"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    engine = create_engine(DATABASE_URL)

    def statuses() -> dict[str, int]:
        with engine.connect() as conn:
            return dict(
                conn.execute(
                    text("SELECT status, count(*) FROM jobs WHERE id = ANY(:ids) GROUP BY status"),
                    {"ids": ids},
                ).all()
            )

    headers = {"Authorization": f"Bearer {token}"}
    with requests.Session() as session:
        ids = [
            session.post(
                f"{base}/api/jobs",
                json={"type": "diagnostic", "payload": {"sleep_ms": WORKER_JOB_SLEEP_MS}},
                headers=headers,
                verify=cert,
                timeout=30,
            ).json()["job_id"]
            for _ in range(WORKER_JOBS)
        ]
    workers = {name: start_worker(name) for name in ("a", "b")}
    started = time.monotonic()
    try:
        while statuses().get("succeeded", 0) < WORKER_JOBS // 4:
            time.sleep(0.1)
        for name in ("a", "b"):  # one at a time, each while jobs run
            workers[name].send_signal(signal.SIGTERM)
            workers[name].wait(timeout=60)
            workers[name] = start_worker(name)
        deadline = time.monotonic() + 300
        while statuses().get("succeeded", 0) < WORKER_JOBS and time.monotonic() < deadline:
            time.sleep(0.2)
        seconds = time.monotonic() - started
        with engine.connect() as conn:
            rerun = conn.scalar(
                text(
                    "SELECT count(*) FROM jobs WHERE id = ANY(:ids) "
                    "AND (attempts > 1 OR lost_leases > 0)"
                ),
                {"ids": ids},
            )
        done = statuses()
    finally:
        for process in workers.values():
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        engine.dispose()
    return (
        f"worker_restart jobs={WORKER_JOBS} lost={WORKER_JOBS - done.get('succeeded', 0)} "
        f"duplicated={rerun} seconds={seconds:.1f} statuses={dict(sorted(done.items()))} "
        f"(two worker processes, each SIGTERMed and started again while "
        f"{WORKER_JOB_SLEEP_MS} ms jobs run)"
    )


def run(args) -> list[str]:
    """Baseline, rolling and undrained restarts under load, then the workers' restart."""
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        return ["rolling_restart.skipped nginx not installed (apt-get install nginx)"]
    with tempfile.TemporaryDirectory(prefix="bench-rolling-") as scratch_name:
        scratch = Path(scratch_name)
        _prepare_database(scratch, args.redis_url)
        env = _environment(scratch, args.redis_url)
        folder = scratch / "web"
        web_instances.save_settings(folder, env)
        ports = (free_port(), free_port())
        site = render_nginx_conf(scratch / "nginx", app_port=ports[0], more_app_ports=ports[1:])
        nginx = None
        for port in ports:
            web_instances.start(folder, port)
        try:
            for port in ports:
                web_instances.wait_ready(port)
            nginx = start_nginx(site)
            base = f"https://localhost:{site.https_port}"
            token = requests.post(
                f"{base}/api/auth/login",
                json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
                verify=str(site.cert),
                timeout=30,
            ).json()["access_token"]
            worker_line = _worker_run(env, base, str(site.cert), token, scratch)
            lines = _web_runs(site, ports, folder, token)
        finally:
            if nginx is not None:
                nginx.terminate()
                nginx.wait(timeout=15)
            for port in ports:
                web_instances.stop(folder, port)
    return [*lines, worker_line]
