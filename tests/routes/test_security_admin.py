"""The audit trail (table, security.log, admin endpoint) and the security audit."""

import json

import pytest

from server.security_manager.events import record_event
from tests.helpers import DEFAULT_PASSWORD


def security_log_lines(settings):
    return (settings.log_dir / "security.log").read_text().splitlines()


def test_events_are_listed_filtered_and_paginated(client, app):
    admin = client.create_admin(app)
    account = client.create_account()
    client.login(account.email, "wrong password here")
    client.login(account.email, "wrong password here")
    token = admin.access_token
    failures = client.get(
        "/api/admin/security/events?action=login&outcome=failure&per_page=1", token=token
    ).get_json()
    assert failures["meta"]["total"] == 2
    assert len(failures["items"]) == 1
    event = failures["items"][0]
    assert event["actor_email"] == account.email
    assert event["client_ip"] == "127.0.0.1"
    assert event["request_id"]
    assert event["created_at"].endswith("Z")
    assert event["details"]["reason"] == "wrong_password"
    mine = client.get(
        f"/api/admin/security/events?actor_user_id={account.id}", token=token
    ).get_json()
    assert {e["actor_user_id"] for e in mine["items"]} == {account.id}
    future = client.get(
        "/api/admin/security/events?since=2999-01-01T00:00:00Z", token=token
    ).get_json()
    assert future["meta"]["total"] == 0
    bad = client.get("/api/admin/security/events?since=yesterday", token=token)
    assert bad.status_code == 422


def test_a_user_on_an_admin_route_is_logged_as_an_authorization_failure(client, app):
    account = client.create_account()
    assert client.get("/api/admin/users", token=account.access_token).status_code == 403
    admin = client.create_admin(app)
    events = client.get(
        "/api/admin/security/events?action=authorization_failure", token=admin.access_token
    ).get_json()
    assert events["items"][0]["actor_user_id"] == account.id
    assert events["items"][0]["object_id"] == "admin.list_users"


def test_security_log_lines_are_json_with_the_required_fields(client, settings):
    client.create_account()
    lines = [json.loads(line) for line in security_log_lines(settings)]
    login = [entry for entry in lines if entry["message"] == "login"][-1]
    for field in ("created_at", "actor_user_id", "client_ip", "action", "outcome", "request_id"):
        assert field in login
    assert login["outcome"] == "success"


def test_crlf_in_user_data_cannot_forge_a_log_line(client, settings):
    forged = 'x@example.com\n{"action": "forged", "outcome": "success"}\r\nmore'
    client.login(forged, "wrong password here")
    for line in security_log_lines(settings):
        entry = json.loads(line)  # every line is one whole JSON object
        assert entry.get("action") != "forged"


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_a_unicode_line_separator_in_user_data_cannot_forge_a_log_line(client, settings, separator):
    # JSON leaves these inside strings; a line-oriented reader (splitlines, a log viewer)
    # would end the line there and read the rest as an entry of its own.
    forged = f'x@example.com{separator}{{"action": "forged", "outcome": "success"}}'
    client.login(forged, "wrong password here")
    lines = security_log_lines(settings)
    assert lines
    for line in lines:
        entry = json.loads(line)  # every line is one whole JSON object
        assert entry.get("action") != "forged"


def test_passwords_and_tokens_never_reach_the_logs(client, settings, app):
    marker = DEFAULT_PASSWORD + " secret-marker-42"
    account = client.create_account(password=marker)
    client.login(account.email, marker + "typo")
    client.post("/api/auth/refresh", token=account.refresh_token)
    client.put(
        "/api/user/credentials/mimikree",
        token=account.access_token,
        json={"secret": "mimikree-secret-marker"},
    )
    record_event(action="test", outcome="success", details={"password": marker, "api_key": "k1"})
    logs = "".join(p.read_text() for p in settings.log_dir.glob("*.log"))
    for secret in ("secret-marker-42", account.access_token, account.refresh_token):
        assert secret not in logs
    assert "mimikree-secret-marker" not in logs
    assert "[redacted]" in logs


def test_the_audit_reports_findings_with_severities(client, app):
    admin = client.create_admin(app)
    response = client.post("/api/admin/security/audit", token=admin.access_token)
    assert response.status_code == 200
    report = response.get_json()
    checks = {f["check"]: f for f in report["findings"]}
    for check in (
        "secrets",
        "debug",
        "trusted_proxy",
        "smtp",
        "stale_admins",
        "locked_accounts",
        "blocked_ips",
        "failed_login_trend",
        "backups",
        "pinned_dependencies",
    ):
        assert check in checks, check
    assert checks["debug"]["severity"] == "info"
    assert checks["pinned_dependencies"]["severity"] == "info"
    assert checks["backups"]["message"] == "No verified backup exists"
    assert checks["backups"]["severity"] == "high"
    assert report["summary"]["total"] == len(report["findings"])
    severities = ["info", "low", "medium", "high", "critical"]
    order = [severities.index(f["severity"]) for f in report["findings"]]
    assert order == sorted(order, reverse=True)


def test_the_audit_sees_weak_secrets_locked_accounts_and_blocks(client, make_app):
    app = make_app(jwt_secret_key="x" * 40, env="production")
    client = client.__class__(app.test_client())
    admin = client.create_admin(app)
    victim = client.create_account()
    for _ in range(5):
        client.login(victim.email, "wrong password here")
    client.post(
        "/api/admin/security/ip-blocks",
        token=admin.access_token,
        json={"ip": "203.0.113.5", "reason": "test"},
    )
    report = client.post("/api/admin/security/audit", token=admin.access_token).get_json()
    by_check = {}
    for finding in report["findings"]:
        by_check.setdefault(finding["check"], []).append(finding)
    assert any(f["severity"] == "critical" for f in by_check["secrets"])
    assert by_check["trusted_proxy"][0]["severity"] == "medium"
    assert by_check["smtp"][0]["severity"] == "high"
    assert "1 account(s) locked" in by_check["locked_accounts"][0]["message"]
    assert "1 address(es) blocked" in by_check["blocked_ips"][0]["message"]
    assert report["summary"]["worst"] == "critical"
