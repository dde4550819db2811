"""nginx.conf as shipped: accepted by `nginx -t`, and a real nginx in front of the app on
loopback passes the client's address, the scheme and the host, adds the security headers
once, and answers its own refusals in the API's JSON format."""

from __future__ import annotations

import gzip
import http.client
import json
import ssl
import subprocess
import threading

import pytest
from flask import jsonify, request
from sqlalchemy import select
from werkzeug.serving import make_server

from deploy_production import nginx_body_size
from server.core.config import Settings
from server.core.extensions import db
from server.models.security import SecurityEvent
from server.security_manager.auth import public
from server.services import accounts
from tests.nginx_helpers import (
    NGINX_CONF,
    free_port,
    nginx_command,
    render_nginx_conf,
    start_nginx,
)

ADMIN_PASSWORD = "quartz lantern orbit 4417 meadow"
SECURITY_HEADERS = (
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Content-Security-Policy",
    "Referrer-Policy",
)


def test_nginx_accepts_the_shipped_configuration(tmp_path):
    site = render_nginx_conf(tmp_path / "nginx", app_port=5000)
    done = subprocess.run(nginx_command(site, "-t"), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr


def test_nginx_body_cap_matches_the_apps_request_cap():
    assert (
        nginx_body_size(NGINX_CONF.read_text())
        == Settings.model_fields["max_content_length"].default
    )


@pytest.fixture
def app_behind_nginx(make_app, tmp_path):
    """The app (TRUSTED_PROXY_COUNT=1, with one extra echo route) served on loopback, and
    nginx in front of it; yields (site, app)."""
    app = make_app(trusted_proxy_count=1)

    @app.get("/test-echo")
    @public
    def echo():
        return jsonify(
            remote_addr=request.remote_addr,
            scheme=request.scheme,
            host=request.host,
            forwarded_for=request.headers.get("X-Forwarded-For"),
            forwarded_proto=request.headers.get("X-Forwarded-Proto"),
        )

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    site = render_nginx_conf(tmp_path / "nginx", app_port=server.server_port)
    nginx = start_nginx(site)
    try:
        yield site, app
    finally:
        nginx.terminate()
        nginx.wait(timeout=15)
        server.shutdown()
        thread.join(timeout=10)


def https(site, source, method, path, *, body=None, headers=None):
    context = ssl.create_default_context(cafile=str(site.cert))
    conn = http.client.HTTPSConnection(
        "localhost", site.https_port, context=context, source_address=(source, 0), timeout=30
    )
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def test_a_request_through_nginx_arrives_with_the_clients_address_scheme_and_host(
    app_behind_nginx,
):
    site, app = app_behind_nginx
    # Plain HTTP is redirected to HTTPS.
    conn = http.client.HTTPConnection("127.0.0.1", site.http_port, timeout=10)
    conn.request("GET", "/api/user/profile?x=1", headers={"Host": "localhost"})
    redirect = conn.getresponse()
    assert redirect.status == 301
    assert redirect.headers["Location"] == "https://localhost/api/user/profile?x=1"
    conn.close()

    # The client connects from 127.0.0.7 and claims another address: the app sees its real one.
    status, headers, body = https(
        site, "127.0.0.7", "GET", "/test-echo", headers={"X-Forwarded-For": "203.0.113.9"}
    )
    assert status == 200
    seen = json.loads(body)
    assert seen["remote_addr"] == "127.0.0.7"
    assert seen["scheme"] == "https"
    assert seen["host"] == "localhost"
    assert seen["forwarded_for"] == "203.0.113.9, 127.0.0.7"
    assert seen["forwarded_proto"] == "https"
    for name in SECURITY_HEADERS:
        assert len(headers.get_all(name) or []) == 1, name

    # A real route records the same address: a failed login is a security event from it.
    status, headers, body = https(
        site,
        "127.0.0.7",
        "POST",
        "/api/auth/login",
        body=json.dumps({"email": "nobody@example.com", "password": "wrong password here"}),
        headers={"Content-Type": "application/json"},
    )
    assert status == 401
    assert json.loads(body)["error"]["code"] == "invalid_credentials"
    for name in SECURITY_HEADERS:
        assert len(headers.get_all(name) or []) == 1, name
    with app.app_context():
        ips = db.session.scalars(
            select(SecurityEvent.client_ip).where(SecurityEvent.action == "login")
        ).all()
        db.session.remove()
    assert ips and set(ips) == {"127.0.0.7"}


def test_nginx_compresses_json_and_answers_its_own_refusals_in_json(app_behind_nginx):
    site, _app = app_behind_nginx
    status, headers, body = https(
        site, "127.0.0.1", "GET", "/api/openapi.json", headers={"Accept-Encoding": "gzip"}
    )
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(body))["openapi"].startswith("3.")

    # Over client_max_body_size: nginx's 413, in JSON, with the security headers.
    status, headers, body = https(
        site,
        "127.0.0.1",
        "POST",
        "/api/user/resumes",
        body=b"x" * (16 * 1024 * 1024 + 1),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert status == 413
    assert json.loads(body)["error"]["status"] == 413
    for name in SECURITY_HEADERS:
        assert len(headers.get_all(name) or []) == 1, name

    # /metrics: loopback (127.0.0.1) only.
    status, _headers, _body = https(site, "127.0.0.9", "GET", "/metrics")
    assert status == 403
    status, _headers, _body = https(site, "127.0.0.1", "GET", "/metrics")
    assert status != 403


def test_nginx_limits_floods_of_the_auth_routes(app_behind_nginx):
    site, _app = app_behind_nginx
    statuses, nginx_refusals = [], 0
    for _ in range(45):
        status, headers, body = https(
            site,
            "127.0.0.8",
            "POST",
            "/api/auth/refresh",
            body="{}",
            headers={"Content-Type": "application/json"},
        )
        statuses.append(status)
        if status == 429 and b"sign-in routes" in body:
            nginx_refusals += 1
            assert headers["Retry-After"] == "60"
            assert json.loads(body)["error"]["code"] == "rate_limited"
    # burst 30 with nodelay: the first 31 pass to the app, later ones stop at nginx.
    assert nginx_refusals >= 10, statuses
    # Other addresses are not affected.
    status, _headers, _body = https(site, "127.0.0.1", "GET", "/healthz")
    assert status == 200


def test_a_job_event_stream_passes_through_nginx_unbuffered(app_behind_nginx):
    site, app = app_behind_nginx
    with app.app_context():
        accounts.create_admin(email="ops@example.com", name="Ops", password=ADMIN_PASSWORD)
        db.session.remove()
    json_headers = {"Content-Type": "application/json"}
    _status, _headers, body = https(
        site,
        "127.0.0.1",
        "POST",
        "/api/auth/login",
        body=json.dumps({"email": "ops@example.com", "password": ADMIN_PASSWORD}),
        headers=json_headers,
    )
    auth = {"Authorization": f"Bearer {json.loads(body)['access_token']}", **json_headers}
    status, _headers, body = https(
        site,
        "127.0.0.1",
        "POST",
        "/api/jobs",
        body=json.dumps({"type": "diagnostic", "payload": {}}),
        headers=auth,
    )
    assert status == 202
    job_id = json.loads(body)["job_id"]
    status, _headers, body = https(
        site, "127.0.0.1", "POST", f"/api/jobs/{job_id}/events-token", headers=auth
    )
    token = json.loads(body)["token"]

    # No worker runs, so the stream stays open; its first event must arrive at once, not when
    # a buffer fills or the stream ends (nginx.conf turns buffering off for the route, and the
    # app's `X-Accel-Buffering: no` asks for the same).
    context = ssl.create_default_context(cafile=str(site.cert))
    conn = http.client.HTTPSConnection("localhost", site.https_port, context=context, timeout=5)
    try:
        conn.request(
            "GET",
            f"/api/jobs/{job_id}/events?token={token}",
            headers={"Accept": "text/event-stream", "Accept-Encoding": "gzip"},
        )
        response = conn.getresponse()
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers.get("Content-Encoding") is None
        received = b""
        while b"queued" not in received:  # a socket timeout (5 s) fails the test
            chunk = response.read1(4096)
            assert chunk, received
            received += chunk
        assert b"event:" in received
    finally:
        conn.close()
    # The access log holds the path only: the stream token stays out of it.
    log = (site.prefix / "logs" / "job-agent.access.log").read_text()
    assert f"/api/jobs/{job_id}/events" in log and token not in log


def test_nginx_answers_503_in_json_when_no_instance_answers(tmp_path):
    site = render_nginx_conf(tmp_path / "nginx", app_port=free_port())  # nothing listens there
    nginx = start_nginx(site)
    try:
        status, headers, body = https(site, "127.0.0.1", "GET", "/api/user/profile")
    finally:
        nginx.terminate()
        nginx.wait(timeout=15)
    assert status == 503
    assert headers["Retry-After"] == "5"
    error = json.loads(body)["error"]
    assert error["status"] == 503 and error["code"] == "unavailable"
