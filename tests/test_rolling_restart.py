"""Restarts nobody notices. `deploy_production.py --rolling`, run as an operator runs it: two
gunicorn instances behind the shipped nginx.conf, restarted one at a time while clients keep
sending requests; not one of those requests fails. And worker processes restarted one at a
time while jobs run: every job runs, once."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys

import pytest
import requests
from sqlalchemy import func, select

from server.core.extensions import db
from server.jobs import job_queue
from server.models import Job
from server.services import accounts
from tests import web_instances
from tests.nginx_helpers import ROOT, free_port, nginx_command, render_nginx_conf, start_nginx
from tests.queue_helpers import fetch_job, make_user, wait_for
from tests.steady_load import SteadyLoad
from tests.test_worker import start_worker, worker_env

ADMIN_PASSWORD = "quartz lantern orbit 4417 meadow"
SLEEP_MS = 200


@pytest.fixture
def two_instances(app, tmp_path):
    """Two gunicorn instances on the test databases behind nginx; yields (site, ports, folder)."""
    accounts.create_admin(email="ops@example.com", name="Ops", password=ADMIN_PASSWORD)
    folder = tmp_path / "web"
    web_instances.save_settings(
        folder,
        worker_env(
            tmp_path,
            WEB_CONCURRENCY="1",
            GUNICORN_THREADS="4",
            WEB_RUNS_WORKERS="false",
            TRUSTED_PROXY_COUNT="1",
            RATE_LIMIT_API_REQUESTS_PER_USER_PER_MINUTE="100000/60",
            RATE_LIMIT_API_READS_PER_USER_PER_MINUTE="100000/60",
            RATE_LIMIT_API_REQUESTS_PER_IP_PER_MINUTE="100000/60",
        ),
    )
    ports = (free_port(), free_port())
    for port in ports:
        web_instances.start(folder, port)
    site = render_nginx_conf(tmp_path / "nginx", app_port=ports[0], more_app_ports=ports[1:])
    nginx = None
    try:
        for port in ports:
            web_instances.wait_ready(port)
        nginx = start_nginx(site)
        yield site, ports, folder
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(timeout=15)
        for port in ports:
            web_instances.stop(folder, port)


def rolling(site, folder, *, restart: str | None = None) -> subprocess.CompletedProcess:
    if restart is None:
        restart = shlex.join([sys.executable, "-m", "tests.web_instances", "restart", str(folder)])
        restart += " {port}"
    return subprocess.run(
        [
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
            restart,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def sign_in(site) -> str:
    answer = requests.post(
        f"https://localhost:{site.https_port}/api/auth/login",
        json={"email": "ops@example.com", "password": ADMIN_PASSWORD},
        verify=str(site.cert),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


@pytest.mark.soak  # a restart drill under load
def test_a_rolling_restart_under_load_fails_no_request(two_instances):
    site, ports, folder = two_instances
    before = {port: web_instances.instance_pid(folder, port) for port in ports}
    base = f"https://localhost:{site.https_port}"
    with SteadyLoad(base, token=sign_in(site), cert=str(site.cert), threads=2) as load:
        done = rolling(site, folder)
        during = load.result.requests
    result = load.result

    assert done.returncode == 0, done.stdout + done.stderr
    assert "DONE: 2 instances restarted one at a time." in done.stdout
    # Both instances are new processes, and both serve again through nginx.
    after = {port: web_instances.instance_pid(folder, port) for port in ports}
    assert all(after[port] not in (None, before[port]) for port in ports), (before, after)
    assert "down" not in site.conf.read_text().split("upstream agent_app", 1)[1].split("}")[0]
    # Clients kept being served throughout, and not one request failed.
    assert during > 0 and result.statuses[200] and result.statuses[202], (
        dict(result.statuses),
        result.errors[:3],
    )
    assert result.errors == [], result.errors[:5]
    assert result.failed == 0, (dict(result.statuses), result.errors[:3])


def test_a_rolling_restart_with_one_instance_is_refused_and_changes_nothing(app, tmp_path):
    port = free_port()
    folder = tmp_path / "web"
    web_instances.save_settings(folder, worker_env(tmp_path))
    site = render_nginx_conf(tmp_path / "nginx", app_port=port)
    conf_before = site.conf.read_text()
    done = rolling(site, folder)
    assert done.returncode == 1
    assert "lists 1 instance(s): restarting the only one leaves nobody to serve" in done.stdout
    assert f"127.0.0.1:{port} does not answer /readyz" in done.stdout
    assert "NOT RESTARTED: nothing was changed." in done.stdout
    assert site.conf.read_text() == conf_before


@pytest.mark.soak  # a restart drill under load
def test_an_instance_whose_restart_fails_stays_drained_while_the_other_serves(two_instances):
    site, ports, folder = two_instances
    done = rolling(site, folder, restart="false")
    assert done.returncode == 1
    first = f"127.0.0.1:{ports[0]}"
    assert f"{first} stays marked down" in done.stdout
    assert f"STOPPED at {first}" in done.stdout
    upstream = site.conf.read_text().split("upstream agent_app", 1)[1].split("}")[0]
    assert f"server {first} down;" in upstream
    assert f"server 127.0.0.1:{ports[1]};" in upstream
    # The other instance answers every request meanwhile.
    for _ in range(6):
        answer = requests.get(
            f"https://localhost:{site.https_port}/healthz", verify=str(site.cert), timeout=10
        )
        assert answer.status_code == 200


@pytest.mark.soak  # a restart drill under load
def test_worker_processes_restarted_one_at_a_time_run_every_job_once(app, tmp_path):
    """The workers' part of a release (docs: rolling-restarts.md): each worker process is
    SIGTERMed and started again in turn while jobs run; none is lost, none runs twice."""
    users = [make_user() for _ in range(4)]
    ids = [
        job_queue.submit_job(
            user_id=users[n % 4], job_type="diagnostic", payload={"sleep_ms": SLEEP_MS}
        )
        for n in range(120)
    ]
    env = worker_env(tmp_path, JOB_QUEUE_MAX_WORKERS="2")
    workers = [start_worker(env), start_worker(env)]

    def runners() -> set[str]:
        db.session.rollback()
        return set(db.session.scalars(select(Job.worker_id).where(Job.id.in_(ids))))

    def succeeded() -> int:
        db.session.rollback()
        return db.session.scalar(
            select(func.count()).where(Job.id.in_(ids), Job.status == "succeeded")
        )

    try:
        wait_for(lambda: succeeded() >= 10, timeout=60)
        for index in range(len(workers)):
            workers[index].send_signal(signal.SIGTERM)
            assert workers[index].wait(timeout=60) == 0
            workers[index] = start_worker(env)
            pid = workers[index].pid
            # One at a time: the next stops only once this one runs jobs.
            wait_for(lambda pid=pid: any(w and w.endswith(f":{pid}") for w in runners()), 60)
            assert succeeded() < len(ids)  # it restarted while jobs were waiting
        wait_for(lambda: succeeded() == len(ids), timeout=120)
    finally:
        for process in workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    rows = [fetch_job(job_id) for job_id in ids]
    assert all(row.attempts == 1 and row.lost_leases == 0 for row in rows)
    assert all(row.result == {"slept_ms": SLEEP_MS, "attempt": 1} for row in rows)
