"""README's runbook commands, run as written against the service under gunicorn.

Each command below appears in README.md word for word (whitespace aside) and is run by bash
with only the address changed (`localhost:5000` to the test server's port) and `redis-cli`
pointed at the test Redis database. The admin's password comes in `$PW`, as the README's
`read` leaves it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
import requests
from sqlalchemy import select

from server.extensions import db
from server.models import User
from server.models.security import IpBlock
from server.rate_limiter import get_rate_limiter
from server.services import accounts
from tests.conftest import TEST_REDIS_URL
from tests.nginx_helpers import ROOT, free_port
from tests.test_worker import worker_env

README = " ".join((ROOT / "README.md").read_text().split())
ADMIN_PASSWORD = "quartz lantern orbit 4417 meadow"

LOGIN = (
    "TOKEN=$(jq -n --arg e admin@example.com --arg p \"$PW\" '{email: $e, password: $p}' | "
    "curl -s -X POST http://localhost:5000/api/auth/login -H 'Content-Type: application/json' "
    "-d @- | jq -r .access_token)"
)
QUEUE_STATS = (
    'curl -s -H "Authorization: Bearer $TOKEN" http://localhost:5000/api/admin/job-queue/stats'
)
AUDIT = (
    'curl -s -X POST -H "Authorization: Bearer $TOKEN" '
    "http://localhost:5000/api/admin/security/audit"
)
EVENTS = 'curl -s -H "Authorization: Bearer $TOKEN" http://localhost:5000/api/admin/security/events'
USAGE = 'curl -s -H "Authorization: Bearer $TOKEN" http://localhost:5000/api/admin/rate-limits/123'
GLOBAL_USAGE = (
    'curl -s -H "Authorization: Bearer $TOKEN" http://localhost:5000/api/admin/rate-limits/global'
)
RESET_LIMIT = 'redis-cli DEL "rate_limit:resume_tailoring_per_user_per_day:123"'
BLOCK_IP = (
    "curl -s -X POST -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' "
    "http://localhost:5000/api/admin/security/ip-blocks -d "
    '\'{"ip": "203.0.113.7", "reason": "credential stuffing", "ttl_seconds": 604800}\''
)
READYZ = "curl -s http://localhost:5000/readyz"
MORE_WORKERS = "JOB_QUEUE_MAX_WORKERS=10 python -m server.worker"
NEW_SECRET = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'


@pytest.mark.parametrize(
    "command",
    [
        LOGIN,
        QUEUE_STATS,
        AUDIT,
        EVENTS,
        USAGE,
        GLOBAL_USAGE,
        RESET_LIMIT,
        BLOCK_IP,
        READYZ,
        MORE_WORKERS,
        NEW_SECRET,
    ],
)
def test_the_command_is_in_the_readme_as_tested(command):
    assert command in README


@pytest.fixture
def served(app, tmp_path):
    """gunicorn -c gunicorn.conf.py on the test databases, an admin, and user 123."""
    accounts.create_admin(email="admin@example.com", name="Admin", password=ADMIN_PASSWORD)
    db.session.add(User(id=123, email="user123@example.com", password_hash="x", name="U"))
    db.session.commit()
    port = free_port()
    env = worker_env(
        tmp_path, GUNICORN_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="1", WEB_RUNS_WORKERS="false"
    )
    log = open(tmp_path / "gunicorn.out", "w")  # noqa: SIM115 - closed below
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "server:create_app()"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline and web.poll() is None, "gunicorn did not start"
        time.sleep(0.1)
    try:
        yield port, env
    finally:
        web.send_signal(signal.SIGTERM)
        web.wait(timeout=60)
        log.close()


def run(port: int, *commands: str) -> str:
    """Run README commands in one bash, as an operator pastes them, after logging in."""
    script = "\n".join(["set -euo pipefail", LOGIN, *commands])
    script = script.replace("http://localhost:5000", f"http://127.0.0.1:{port}")
    script = script.replace("redis-cli ", f"redis-cli -u {TEST_REDIS_URL} ")
    done = subprocess.run(
        ["bash", "-c", script],
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "PW": ADMIN_PASSWORD},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_runbook_commands_work_as_written(served):
    port, _env = served
    stats = json.loads(run(port, QUEUE_STATS))
    assert "queue_size" in stats and "active_jobs" in stats

    report = json.loads(run(port, AUDIT))
    assert report["summary"]["total"] == len(report["findings"]) > 0

    events = json.loads(run(port, EVENTS))
    assert {"security_audit", "login"} <= {item["action"] for item in events["items"]}

    # Reset a user's limit: the key README names is the one the limiter counts.
    limiter = get_rate_limiter()
    limiter.hit(["resume_tailoring_per_user_per_day"], "123")
    limiter.hit(["resume_tailoring_per_user_per_day"], "123")

    def used():
        usage = json.loads(run(port, USAGE))["limits"]
        return next(u["used"] for u in usage if u["limit"] == "resume_tailoring_per_user_per_day")

    assert used() == 2
    assert run(port, RESET_LIMIT).strip() == "1"
    assert used() == 0
    assert json.loads(run(port, GLOBAL_USAGE))["scope"] == "global"

    block = json.loads(run(port, BLOCK_IP))
    assert block["ip"] == "203.0.113.7" and block["reason"] == "credential stuffing"
    db.session.rollback()
    assert db.session.scalar(select(IpBlock.ip).where(IpBlock.ip == "203.0.113.7"))

    assert json.loads(run(port, READYZ))["status"] == "ready"


def test_another_worker_process_with_more_threads_starts_as_written(served):
    _port, env = served
    command = MORE_WORKERS.replace("python", sys.executable).split(" ")
    variable, value = command.pop(0).split("=")
    worker = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**env, variable: value},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first = worker.stdout.readline()
        assert first.startswith("worker ") and first.strip().endswith("running 10 threads")
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0


def test_a_new_jwt_secret_revokes_every_token(make_app, client):
    account = client.create_account()
    headers = {"Authorization": f"Bearer {account.access_token}"}
    assert client.get("/api/user/profile", headers=headers).status_code == 200
    new_secret = subprocess.run(
        [sys.executable, "-c", NEW_SECRET.split('"')[1]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    restarted = make_app(jwt_secret_key=new_secret).test_client()
    refused = restarted.get("/api/user/profile", headers=headers)
    assert refused.status_code == 401
    refresh = restarted.post(
        "/api/auth/refresh", headers={"Authorization": f"Bearer {account.refresh_token}"}
    )
    assert refresh.status_code == 401
