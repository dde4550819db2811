"""The documented runbook commands, run as written against the service under gunicorn.

Each command below appears in README.md or a page of docs/ (the runbook is docs/operations.md)
word for word (whitespace aside) and is run by bash with only the address changed
(`localhost:5000` to the test server's port); Redis commands go through
`flask --app server redis-cli`, which reaches the test Redis database (not database 0) from
`REDIS_URL` as the service's `.env` gives it. The admin's password comes in `$PW`, as the
runbook's `read` leaves it. The quick start's journey is read from README.md and run whole, with
the job boards' stand-ins in place of the boards.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from server.core.config import get_settings
from server.core.extensions import db
from server.models import Application, Backup, TailoredResume, User
from server.models.security import IpBlock
from server.ops.scheduler import SCHEDULED_JOBS
from server.rate_limiter import get_rate_limiter
from server.services import accounts
from tests.conftest import TEST_DATABASE_URL
from tests.job_board_stand_ins import Listing, job_boards
from tests.nginx_helpers import ROOT, free_port
from tests.test_database_optimizer import _expired_and_fresh_rows, _remaining
from tests.test_worker import worker_env

DOCS = " ".join(
    " ".join(page.read_text().split())
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
)
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
RESET_LIMIT = 'flask --app server redis-cli DEL "rate_limit:resume_tailoring_per_user_per_day:123"'
BLOCK_IP = (
    "curl -s -X POST -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' "
    "http://localhost:5000/api/admin/security/ip-blocks -d "
    '\'{"ip": "203.0.113.7", "reason": "credential stuffing", "ttl_seconds": 604800}\''
)
READYZ = "curl -s http://localhost:5000/readyz"
SYSTEM_STATUS = (
    'curl -s -H "Authorization: Bearer $TOKEN" http://localhost:5000/api/admin/system-status'
)
SLOW_QUERIES = SYSTEM_STATUS + " | jq '.database.slow_queries'"
CREATE_BACKUP = (
    'curl -s -X POST -H "Authorization: Bearer $TOKEN" '
    "http://localhost:5000/api/admin/backups/create"
)
MAINTENANCE = (
    'python -c "from server.database_optimizer import run_daily_maintenance; '
    'run_daily_maintenance()"'
)
MAINTENANCE_RUN = "flask --app server maintenance run"
ALERTS_CHECK = "flask --app server alerts check"
SCHEDULER_LIST = "flask --app server scheduler list"
SCHEDULER_RUN = "flask --app server scheduler run <id>"
LEADER = "flask --app server redis-cli GET scheduler:leader"
RUN_HISTORY = "flask --app server redis-cli LRANGE scheduler:history 0 20"
BACKUP_LIST = "flask --app server backup list"
BACKUP_VERIFY = "flask --app server backup verify <id>"
BACKUP_RESTORE = "flask --app server backup restore <id> --target job_agent_restored"
DB_UPGRADE = "flask --app server db upgrade"
RESTORE_IP_BLOCKS = "flask --app server restore-ip-blocks"
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
        SYSTEM_STATUS,
        SLOW_QUERIES,
        CREATE_BACKUP,
        MAINTENANCE,
        MAINTENANCE_RUN,
        ALERTS_CHECK,
        SCHEDULER_LIST,
        SCHEDULER_RUN,
        LEADER,
        RUN_HISTORY,
        BACKUP_LIST,
        BACKUP_VERIFY,
        BACKUP_RESTORE,
        DB_UPGRADE,
        RESTORE_IP_BLOCKS,
    ],
)
def test_the_command_is_in_the_docs_as_tested(command):
    assert command in DOCS


@pytest.fixture
def board_env():
    """The nine job boards' stand-ins, one remote Python posting on RemoteOK, and the settings
    that point the service at them (the quick start's search asks the boards)."""
    with job_boards() as boards:
        boards.add(
            "remoteok",
            Listing(
                key="ro-1",
                company="Remote Python Co",
                title="Python Developer",
                location="Remote",
                remote=True,
                description_html="<p>Python, Django and PostgreSQL, fully remote.</p>",
            ),
        )
        yield {
            **{
                name.upper(): str(url)
                for name, url in boards.settings_overrides().items()
                if name.endswith("_base_url")
            },
            "OUTBOUND_ALLOW_LOOPBACK_PORTS": ",".join(str(port) for port in boards.ports),
        }


@pytest.fixture
def served(app, tmp_path, board_env):
    """gunicorn -c gunicorn.conf.py on the test databases, an admin, and user 123."""
    accounts.create_admin(email="admin@example.com", name="Admin", password=ADMIN_PASSWORD)
    db.session.add(User(id=123, email="user123@example.com", password_hash="x", name="U"))
    db.session.commit()
    port = free_port()
    env = worker_env(
        tmp_path,
        GUNICORN_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        WEB_RUNS_WORKERS="false",
        **board_env,
    )
    web = start_gunicorn(env, tmp_path / "gunicorn.out")
    try:
        yield port, env
    finally:
        stop(web)


def start_gunicorn(env: dict[str, str], log_path) -> subprocess.Popen:
    """`gunicorn -c gunicorn.conf.py "server:create_app()"`, once it answers /readyz."""
    log = open(log_path, "a")  # noqa: SIM115 - closed with the process
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "server:create_app()"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    base = f"http://{env['GUNICORN_BIND']}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                return web
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline and web.poll() is None, "gunicorn did not start"
        time.sleep(0.1)


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def run(port: int, *commands: str, env: dict[str, str] | None = None, status: int = 0) -> str:
    """Run documented commands in one bash, as an operator pastes them, after logging in.

    With `env` (the service's settings, as `.env` gives them) the commands run in the
    project's folder with the virtualenv's `python` and `flask` first on PATH, as after
    `. .venv/bin/activate`."""
    script = "\n".join(["set -euo pipefail", LOGIN, *commands])
    script = script.replace("localhost:5000", f"127.0.0.1:{port}")
    shell_env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "PW": ADMIN_PASSWORD}
    if env is not None:
        shell_env = {
            **env,
            "PW": ADMIN_PASSWORD,
            "PATH": f"{Path(sys.executable).parent}:{shell_env['PATH']}",
        }
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env=shell_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == status, done.stdout + done.stderr
    return done.stdout if status == 0 else done.stdout + done.stderr


def test_the_runbook_commands_work_as_written(served):
    port, env = served
    stats = json.loads(run(port, QUEUE_STATS))
    assert "queue_size" in stats and "active_jobs" in stats

    report = json.loads(run(port, AUDIT))
    assert report["summary"]["total"] == len(report["findings"]) > 0

    events = json.loads(run(port, EVENTS))
    assert {"security_audit", "login"} <= {item["action"] for item in events["items"]}

    # Reset a user's limit: the key the runbook names is the one the limiter counts.
    limiter = get_rate_limiter()
    limiter.hit(["resume_tailoring_per_user_per_day"], "123")
    limiter.hit(["resume_tailoring_per_user_per_day"], "123")

    def used():
        usage = json.loads(run(port, USAGE))["limits"]
        return next(u["used"] for u in usage if u["limit"] == "resume_tailoring_per_user_per_day")

    assert used() == 2
    assert run(port, RESET_LIMIT, env=env).strip() == "1"
    assert used() == 0
    assert json.loads(run(port, GLOBAL_USAGE))["scope"] == "global"

    block = json.loads(run(port, BLOCK_IP))
    assert block["ip"] == "203.0.113.7" and block["reason"] == "credential stuffing"
    db.session.rollback()
    assert db.session.scalar(select(IpBlock.ip).where(IpBlock.ip == "203.0.113.7"))

    assert json.loads(run(port, READYZ))["status"] == "ready"


def quick_start_journey() -> str:
    """The commands of README's quick start journey (the block after "Then try it")."""
    text = (ROOT / "README.md").read_text()
    return text.split("Then try it", 1)[1].split("```sh\n", 1)[1].split("\n```", 1)[0]


def test_the_quick_start_journey_works_as_written(served, worker_process, tmp_path):
    """Sign up, log in, read the code from the development outbox, verify, upload, tailor,
    stream and poll the job, download, search the boards and prepare an application, as
    README's quick start writes it."""
    port, env = served
    journey = quick_start_journey()
    steps = ("register", "login", "verify-email/request", "outbox", "verify-email/confirm")
    steps += ("user/resumes", "resume_tailoring", "/events", "/status", "format=pdf")
    steps += ("postings/search", "/postings?", "/applications")
    assert all(step in journey for step in steps), journey
    journey = journey.replace("instance/outbox/", f"{env['INSTANCE_DIR']}/outbox/")
    journey = journey.replace("-o tailored.pdf", f"-o {tmp_path}/tailored.pdf")

    shown = run(port, journey, env=env)

    assert "event: status" in shown and '"title": "Python Developer"' in shown, shown
    assert (tmp_path / "tailored.pdf").read_bytes().startswith(b"%PDF")
    db.session.rollback()
    me = db.session.scalar(select(User).where(User.email == "me@example.com"))
    assert me.email_verified_at is not None
    [application] = db.session.scalars(select(Application).where(Application.user_id == me.id))
    assert (application.company, application.state) == ("Remote Python Co", "ready_for_review")
    assert application.package["cover_letter"] and '"state": "ready_for_review"' in shown
    tailored = db.session.scalars(select(TailoredResume).where(TailoredResume.user_id == me.id))
    assert sorted(t.company for t in tailored) == ["Acme", "Remote Python Co"]


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


@pytest.fixture
def worker_process(served, tmp_path):
    """`python -m server.worker` beside the web process: it runs jobs, and both are scheduler
    candidates (the web process runs no jobs, WEB_RUNS_WORKERS=false)."""
    _port, env = served
    log = open(tmp_path / "worker.out", "w")  # noqa: SIM115 - closed below
    worker = subprocess.Popen(
        [sys.executable, "-m", "server.worker"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    try:
        yield worker
    finally:
        assert stop(worker) == 0
        log.close()


def test_status_slow_queries_and_maintenance_work_as_written(served, make_app):
    port, env = served
    # A statement slower than the threshold, in any process, shows in every status answer.
    with make_app(slow_query_ms=100).app_context():
        db.session.execute(text("SELECT pg_sleep(0.2)"))
        db.session.remove()
    before = _remaining()
    keep = _expired_and_fresh_rows(get_settings())
    expired = {name: ids - keep[name] - before[name] for name, ids in _remaining().items()}
    assert expired["jobs"] and expired["postings"] and not expired["resumes"]

    status = json.loads(run(port, SYSTEM_STATUS))
    assert {"timestamp", "rate_limits", "job_queue", "database", "security", "backups"} <= set(
        status
    )
    assert status["rate_limits"]["gemini_minute"].keys() == {"used", "limit", "remaining"}
    assert isinstance(status["database"]["connection_pool"]["utilization_percent"], float)
    slow = json.loads(run(port, SLOW_QUERIES))
    assert [q["sql"] for q in slow] == ["SELECT pg_sleep(?)"] and slow[0]["duration_ms"] >= 200

    # The maintenance one-liner and the command remove exactly the expired rows.
    run(port, MAINTENANCE, env=env)
    remaining = _remaining()
    assert all(not (remaining[name] & ids) for name, ids in expired.items()), remaining
    assert all(keep[name] <= remaining[name] for name in keep), remaining
    report = json.loads(run(port, MAINTENANCE_RUN, env=env))
    assert report["vacuum"] == "VACUUM (ANALYZE)" and set(report["deleted"].values()) == {0}


def test_alerts_and_the_scheduler_commands_work_as_written(served, worker_process, redis_conn):
    port, env = served

    # Alert rules: one line each; no backup was verified yet, so backup_age fires.
    lines = run(port, ALERTS_CHECK, env=env).splitlines()
    rules = dict(line.split(": ", 1) for line in lines)
    assert rules.keys() >= {"queue_depth", "backup_age", "workers_dead", "redis_degraded"}
    assert rules["backup_age"].startswith("FIRING") and rules["queue_depth"] == "ok"

    # The scheduler: the web process or the worker process leads; list and run by hand; the
    # run is recorded.
    leader = wait_until(lambda: redis_conn.get("scheduler:leader"), 30, "a scheduler leader")
    assert run(port, LEADER, env=env).strip() == leader
    pid = leader.split(":")[1]
    command = Path(f"/proc/{pid}/cmdline").read_bytes()
    assert pid == str(worker_process.pid) or b"gunicorn" in command, command
    listing = run(port, SCHEDULER_LIST, env=env)
    assert all(job.id in listing for job in SCHEDULED_JOBS)
    ran = run(port, SCHEDULER_RUN.replace("<id>", "alert_checks") + "\n" + RUN_HISTORY, env=env)
    outcome, end = json.JSONDecoder().raw_decode(ran)
    assert outcome["outcome"] == "succeeded"
    # The newest 21 runs; the lease reaper (every 0.2 s here) may have pushed the command's
    # own run past them while `flask` started, so that one is looked for in the whole list.
    history = [json.loads(entry) for entry in ran[end:].strip().splitlines()]
    assert 0 < len(history) <= 21 and all({"job", "owner"} <= r.keys() for r in history)
    recorded = [json.loads(entry) for entry in redis_conn.lrange("scheduler:history", 0, -1)]
    assert any(run["job"] == "alert_checks" and run["owner"].startswith("cli:") for run in recorded)
    refused = run(port, SCHEDULER_RUN.replace("<id>", "nope"), env=env, status=1)
    assert "no scheduled job 'nope'" in refused


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def restored_database():
    """The database the data-loss procedure restores into (the runbook: `job_agent_restored`),
    under a name of this test's own; dropped afterwards."""
    name = f"{make_url(TEST_DATABASE_URL).database}_restored"
    drop_database(name)
    yield name
    drop_database(name)


def drop_database(name: str) -> None:
    engine = create_engine(make_url(TEST_DATABASE_URL).set(database="postgres"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def test_backup_and_the_data_loss_procedure_work_as_written(
    served, worker_process, restored_database, redis_conn
):
    port, env = served
    blocked = json.loads(run(port, BLOCK_IP))
    assert blocked["ip"] == "203.0.113.7"

    # Key commands: create a backup (no body: a database backup), run by the worker process.
    created = json.loads(run(port, CREATE_BACKUP))
    assert created["status"] == "queued" and "-database-" in created["backup_id"]
    backup_id = created["backup_id"]

    def finished() -> str | None:
        db.session.rollback()
        return db.session.scalar(
            select(Backup.status).where(Backup.id == backup_id, Backup.status != "running")
        )

    # The catalogue says when the worker is done (its manifest is written before that).
    assert wait_until(finished, 120, "the backup to finish") == "completed"
    listed = run(port, BACKUP_LIST, env=env)
    assert backup_id in listed
    assert "verified" not in listed.split(backup_id)[1].splitlines()[0]

    verified = json.loads(run(port, BACKUP_VERIFY.replace("<id>", backup_id), env=env))
    assert verified["verified"] is True and verified["problems"] == []
    line = next(x for x in run(port, BACKUP_LIST, env=env).splitlines() if backup_id in x)
    assert "  verified 20" in line
    rules = dict(x.split(": ", 1) for x in run(port, ALERTS_CHECK, env=env).splitlines())
    assert rules["backup_age"].startswith("ok")

    # Data loss: restore into a new database, point DATABASE_URL at it, migrate, put the IP
    # blocks back into a Redis that lost everything.
    restore = BACKUP_RESTORE.replace("<id>", backup_id).replace(
        "job_agent_restored", restored_database
    )
    restored = json.loads(run(port, restore, env=env))
    assert restored["database"]["target"] == restored_database
    assert restored["database"]["rows"] > 0
    redis_conn.flushdb()
    moved = {
        **env,
        "DATABASE_URL": str(make_url(TEST_DATABASE_URL).set(database=restored_database)),
    }
    done = run(port, DB_UPGRADE, RESTORE_IP_BLOCKS, env=moved)
    assert "1 block(s) restored" in done.strip().splitlines()[-1], done
    assert redis_conn.exists("ip_block:203.0.113.7")
    engine = create_engine(moved["DATABASE_URL"])
    with engine.connect() as conn:
        admins = conn.execute(text("SELECT email FROM users WHERE role = 'admin'")).scalars()
        assert list(admins) == ["admin@example.com"]
    engine.dispose()


def test_the_security_breach_procedure_works_as_written(app, tmp_path):
    """Block the address, then revoke every token with a new JWT_SECRET_KEY and a restart."""
    accounts.create_admin(email="admin@example.com", name="Admin", password=ADMIN_PASSWORD)
    port = free_port()
    env = worker_env(
        tmp_path,
        GUNICORN_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        WEB_RUNS_WORKERS="false",
        TRUSTED_PROXY_COUNT="1",  # behind nginx: the client's address is X-Forwarded-For's
    )
    base = f"http://127.0.0.1:{port}"
    attacker = {"X-Forwarded-For": "203.0.113.7"}
    web = start_gunicorn(env, tmp_path / "gunicorn.out")
    try:
        assert (
            requests.get(f"{base}/api/user/profile", headers=attacker, timeout=10).status_code
            == 401
        )
        assert run(port, BLOCK_IP)
        refused = requests.get(f"{base}/api/user/profile", headers=attacker, timeout=10)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "ip_blocked"
        # A token issued before the breach, kept in the shell as the runbook's login leaves it.
        old = run(port, 'printf %s "$TOKEN"')
        new_secret = run(port, NEW_SECRET, env=env).strip()
        assert len(new_secret) >= 60 and new_secret != env["JWT_SECRET_KEY"]
    finally:
        assert stop(web) == 0
    web = start_gunicorn({**env, "JWT_SECRET_KEY": new_secret}, tmp_path / "gunicorn.out")
    try:
        stale = requests.get(
            f"{base}/api/admin/job-queue/stats",
            headers={"Authorization": f"Bearer {old}"},
            timeout=10,
        )
        assert stale.status_code == 401
        # Everyone logs in again; the block outlived the restart.
        assert "queue_size" in json.loads(run(port, QUEUE_STATS))
        again = requests.get(f"{base}/api/user/profile", headers=attacker, timeout=10)
        assert again.status_code == 403
    finally:
        assert stop(web) == 0


def test_flask_commands_work_with_the_metrics_folder_exported_but_not_made_yet(app, tmp_path):
    """PROMETHEUS_MULTIPROC_DIR in the environment for gunicorn (docs/monitoring.md): a shell
    that exported it before gunicorn first made the folder still runs every flask command."""
    folder = tmp_path / "metrics" / "not-yet"
    env = worker_env(tmp_path, PROMETHEUS_MULTIPROC_DIR=str(folder))
    done = subprocess.run(
        [str(Path(sys.executable).parent / "flask"), "--app", "server", "alerts", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "queue_depth: ok" in done.stdout
    assert folder.is_dir() and any(folder.glob("counter_*.db"))
