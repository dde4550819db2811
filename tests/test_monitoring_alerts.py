"""Alerts: a rule that starts firing posts once to the webhook, and once more when it clears."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from server.jobs import job_queue
from server.models import JobPriority
from server.ops import monitoring
from server.ops.monitoring import run_alert_checks
from server.security_manager.auth import public
from tests.queue_helpers import make_user


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(
            {"content_type": self.headers["Content-Type"], "json": json.loads(body)}
        )
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok")  # what Slack answers

    def log_message(self, *_args):
        pass


@pytest.fixture
def webhook():
    """A Slack-compatible incoming webhook on 127.0.0.1 that keeps what it receives."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/XXX"
    server.ports = (server.server_address[1],)
    yield server
    server.shutdown()
    server.server_close()


def messages_about(webhook, rule: str) -> list[str]:
    return [m["json"]["text"] for m in webhook.received if f"[{rule}]" in m["json"]["text"]]


def test_a_rule_fires_once_per_incident_and_resolves(make_app, webhook):
    app = make_app(
        alert_webhook_url=webhook.url,
        outbound_allow_loopback_ports=webhook.ports,
        alert_queue_depth=2,
    )
    with app.app_context():
        user = make_user()
        first = job_queue.submit_job(user_id=user, job_type="diagnostic", payload={})
        assert not any(r["firing"] for r in run_alert_checks() if r["rule"] == "queue_depth")
        second = job_queue.submit_job(
            user_id=user, job_type="diagnostic", payload={}, priority=JobPriority.HIGH
        )
        [fired] = [r for r in run_alert_checks() if r["rule"] == "queue_depth"]
        assert fired == {
            "rule": "queue_depth",
            "firing": True,
            "reason": "2 jobs waiting (threshold 2)",
            "change": "fired",
        }
        [again] = [r for r in run_alert_checks() if r["rule"] == "queue_depth"]
        assert (again["firing"], again["change"]) == (True, None)
        [message] = messages_about(webhook, "queue_depth")
        assert message.startswith(":rotating_light: FIRING Job queue too deep")
        assert "2 jobs waiting" in message
        assert all(m["content_type"] == "application/json" for m in webhook.received)

        job_queue.cancel_job(job_id=first, user_id=user)
        job_queue.cancel_job(job_id=second, user_id=user)
        [resolved] = [r for r in run_alert_checks() if r["rule"] == "queue_depth"]
        assert (resolved["firing"], resolved["change"]) == (False, "resolved")
        run_alert_checks()
        posted = messages_about(webhook, "queue_depth")
        assert len(posted) == 2
        assert posted[1].startswith(":white_check_mark: RESOLVED Job queue too deep")


def test_one_incident_posts_once_whichever_process_checks(make_app, webhook):
    """The firing set is in Redis: a second app (another process) does not post again."""
    one = make_app(
        alert_webhook_url=webhook.url,
        outbound_allow_loopback_ports=webhook.ports,
        alert_queue_depth=1,
    )
    other = make_app(
        alert_webhook_url=webhook.url,
        outbound_allow_loopback_ports=webhook.ports,
        alert_queue_depth=1,
    )
    with one.app_context():
        job_queue.submit_job(user_id=make_user(), job_type="diagnostic", payload={})
    run_alert_checks(one)
    run_alert_checks(other)
    assert len(messages_about(webhook, "queue_depth")) == 1


def test_a_webhook_on_an_internal_address_is_not_posted_to(make_app, webhook):
    app = make_app(alert_webhook_url=webhook.url, alert_queue_depth=1)  # its port not allowed
    with app.app_context():
        job_queue.submit_job(user_id=make_user(), job_type="diagnostic", payload={})
        [fired] = [r for r in run_alert_checks(app) if r["rule"] == "queue_depth"]
    assert fired["change"] == "fired"
    assert webhook.received == []


def test_jobs_waiting_with_no_live_worker_pool_fire_the_dead_workers_rule(
    make_app, webhook, run_pool
):
    app = make_app(alert_webhook_url=webhook.url, outbound_allow_loopback_ports=webhook.ports)
    with app.app_context():
        job_queue.submit_job(user_id=make_user(), job_type="diagnostic", payload={})
    [dead] = [r for r in run_alert_checks(app) if r["rule"] == "workers_dead"]
    assert dead["firing"] and dead["change"] == "fired"
    pool = run_pool(app, threads=1)
    from tests.queue_helpers import wait_for

    with app.app_context():
        wait_for(lambda: monitoring.system_status()["workers"]["alive"] >= 1)
    [alive] = [r for r in run_alert_checks(app) if r["rule"] == "workers_dead"]
    assert (alive["firing"], alive["change"]) == (False, "resolved")
    assert len(messages_about(webhook, "workers_dead")) == 2
    del pool


def test_the_error_rate_rule_reads_the_answers_since_the_last_check(make_app, webhook):
    app = make_app(
        alert_webhook_url=webhook.url,
        outbound_allow_loopback_ports=webhook.ports,
        alert_error_rate_percent=50,
        alert_error_rate_min_requests=4,
    )
    run_alert_checks(app)  # the baseline
    client = app.test_client()

    @app.get("/boom")
    @public
    def _boom():  # a route that fails, standing in for a bug
        raise RuntimeError("boom")

    for _ in range(4):
        client.get("/boom", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    [rate] = [r for r in run_alert_checks(app) if r["rule"] == "error_rate"]
    assert rate["firing"], rate
    assert rate["reason"].startswith("4 of 4 requests answered 5xx")


def test_the_alerts_command_prints_each_rule(make_app, webhook):
    app = make_app(
        alert_webhook_url=webhook.url,
        outbound_allow_loopback_ports=webhook.ports,
        alert_queue_depth=1,
    )
    with app.app_context():
        job_queue.submit_job(user_id=make_user(), job_type="diagnostic", payload={})
    result = app.test_cli_runner().invoke(args=["alerts", "check"])
    assert result.exit_code == 0, result.output
    assert "queue_depth: FIRING (fired): 1 jobs waiting (threshold 1)" in result.output
    assert "redis_degraded: ok" in result.output
    assert len(messages_about(webhook, "queue_depth")) == 1


def test_the_backup_age_rule_fires_without_a_verified_backup_and_resolves_after_one(
    make_app, webhook, tmp_path
):
    from server import backup_manager

    app = make_app(
        alert_webhook_url=webhook.url,
        outbound_allow_loopback_ports=webhook.ports,
        backup_dir=tmp_path / "backups",
    )
    with app.app_context():
        [fired] = [r for r in run_alert_checks() if r["rule"] == "backup_age"]
        assert (fired["firing"], fired["reason"]) == (True, "no verified backup exists")

        made = backup_manager.create_backup(backup_type="database")
        [still] = [r for r in run_alert_checks() if r["rule"] == "backup_age"]
        assert still["firing"] is True  # made, but not yet proven to restore

        assert backup_manager.verify_backup(backup_id=made["id"])["verified"]
        [resolved] = [r for r in run_alert_checks() if r["rule"] == "backup_age"]
        assert (resolved["firing"], resolved["change"]) == (False, "resolved")
    posted = messages_about(webhook, "backup_age")
    assert len(posted) == 2 and "RESOLVED" in posted[1]


def test_a_killed_worker_process_is_alerted_by_a_web_process_that_takes_the_lead(
    app, tmp_path, webhook, redis_conn
):
    import signal
    import subprocess
    import sys
    import time

    from server.ops.scheduler import LEADER_KEY
    from tests.nginx_helpers import ROOT, free_port
    from tests.queue_helpers import wait_for
    from tests.test_scaled_mode import healthy
    from tests.test_worker import worker_env

    lock, lease = 2.0, 2.0
    port = free_port()
    env = worker_env(
        tmp_path,
        GUNICORN_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        JOB_QUEUE_MAX_WORKERS="1",
        JOB_QUEUE_LEASE_SECONDS=str(lease),
        SCHEDULER_LOCK_SECONDS=str(lock),
        ALERT_WEBHOOK_URL=webhook.url,
        OUTBOUND_ALLOW_LOOPBACK_PORTS=",".join(str(p) for p in webhook.ports),
    )
    processes = []

    def start(command, log_name):
        out = open(tmp_path / log_name, "w")  # noqa: SIM115 - closed with the test's folder
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
        processes.append(process)
        return process

    def leader_pid():
        owner = redis_conn.get(LEADER_KEY)
        return int(owner.split(":")[1]) if owner else None

    try:
        worker = start([sys.executable, "-m", "server.worker"], "worker.out")
        wait_for(lambda: leader_pid() == worker.pid and workers_alive(app), timeout=30)
        web = start(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "server:create_app()"],
            "gunicorn.out",
        )
        wait_for(lambda: healthy(f"http://127.0.0.1:{port}"), timeout=60)
        assert leader_pid() == worker.pid  # the web process stands by

        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        killed = time.monotonic()
        [message] = wait_for(lambda: messages_about(webhook, "workers_dead"), timeout=30)
        elapsed = time.monotonic() - killed
        # The lock lapses and the web process takes it (lock + a third), the pool counts as
        # dead once silent for a lease, and the watch runs every third of a lease; a second
        # of slack for a loaded machine.
        assert elapsed <= lock + lock / 3 + lease + lease / 3 + 1.0, elapsed
        assert leader_pid() in {int(pid) for pid in child_pids(web.pid)}
        assert message.startswith(":rotating_light: FIRING Worker pool dead [workers_dead]")
        assert "no worker pool alive" in message and f":{worker.pid} was last heard" in message
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)


def workers_alive(app) -> int:
    with app.app_context():
        return monitoring.system_status()["workers"]["alive"]


def child_pids(pid: int) -> list[str]:
    import subprocess

    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return found.stdout.split()
