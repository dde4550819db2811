"""Open job event streams leave the HTTP threads to other requests, under both entry points
as an operator runs them: `gunicorn -c gunicorn.conf.py` and `python server/api_server.py`."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from server.jobs import job_queue
from server.services import accounts
from tests.nginx_helpers import ROOT, free_port
from tests.test_worker import worker_env

PASSWORD = "quartz lantern orbit 4417 meadow"
HTTP_THREADS = 2
# 110 streams: 55 per HTTP thread, and more than the 100 connections of a Redis client's pool
# (a stream's thread must not keep one while it waits).
USERS = 11
STREAMS_PER_USER = 10


def serve(entry_point: str, port: int, env: dict[str, str], log_path):
    if entry_point == "gunicorn":
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "gunicorn.conf.py",
            "server:create_app()",
        ]
    else:
        command = [
            sys.executable,
            "server/api_server.py",
            "--port",
            str(port),
            "--threads",
            str(HTTP_THREADS),
            "--no-migrate",
        ]
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the server and its worker process
    )


def answered(url: str, **kwargs) -> requests.Response | None:
    try:
        return requests.get(url, timeout=3, **kwargs)
    except requests.RequestException:
        return None


def open_stream(port: int, path: str, token: str) -> http.client.HTTPConnection:
    """A stream, read up to its first `status` event and left open."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    assert response.status == 200, response.read()
    while (line := response.readline()) != b"event: status\n":
        assert line, "the stream ended before its first status event"
    assert b'"status": "queued"' in response.readline()
    conn.response = response  # keep it referenced while the stream is open
    return conn


@pytest.mark.parametrize("entry_point", ["gunicorn", "all-in-one"])
def test_open_event_streams_leave_the_http_threads_to_other_requests(app, tmp_path, entry_point):
    users = []
    for n in range(USERS):
        email = f"streamer{n}@example.com"
        accounts.create_admin(email=email, name="Streamer", password=PASSWORD)
        users.append(email)
    port = free_port()
    env = worker_env(
        tmp_path,
        GUNICORN_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS=str(HTTP_THREADS),
        JOB_QUEUE_MAX_WORKERS="0",  # the jobs wait: their streams stay open
        SCHEDULER_ENABLED="false",
        AUTO_MIGRATE="false",
        RATE_LIMIT_AUTH_LOGIN_PER_IP_PER_MINUTE="100/60",  # the users log in from one address
    )
    server = serve(entry_point, port, env, tmp_path / "server.out")
    base = f"http://127.0.0.1:{port}"
    streams = []
    try:
        deadline = time.monotonic() + 60
        while answered(f"{base}/healthz") is None:
            assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        tokens, job_ids = [], []
        for email in users:
            login = requests.post(
                f"{base}/api/auth/login", json={"email": email, "password": PASSWORD}, timeout=30
            )
            assert login.status_code == 200, login.text
            tokens.append(login.json()["access_token"])
            user_id = login.json()["user"]["id"]
            job_ids.append(job_queue.submit_job(user_id=user_id, job_type="diagnostic", payload={}))

        for token, job_id in zip(tokens, job_ids, strict=True):
            for _ in range(STREAMS_PER_USER):
                streams.append(open_stream(port, f"/api/jobs/{job_id}/events", token))

        # Every stream is open: other requests are answered at once, with Redis at hand.
        health = answered(f"{base}/healthz")
        statuses = [
            answered(
                f"{base}/api/jobs/{job_id}/status", headers={"Authorization": f"Bearer {token}"}
            )
            for token, job_id in zip(tokens, job_ids, strict=True)
        ]
        metrics = answered(f"{base}/metrics")
        assert health is not None and health.status_code == 200
        assert all(s is not None and s.status_code == 200 for s in statuses)
        assert {s.json()["status"] for s in statuses} == {"queued"}
        assert metrics is not None and "\nrate_limiter_degraded 0.0\n" in metrics.text
    finally:
        for conn in streams:
            conn.close()
        # Stopped at once: a stopping server lets open streams run on until they notice
        # their client left (at the next keep-alive), which is not what is tested here.
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
