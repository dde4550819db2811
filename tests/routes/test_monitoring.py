"""`GET /api/admin/system-status` (the seed runbook's shape, live figures) and `GET /metrics`."""

from __future__ import annotations

import threading

from prometheus_client.parser import text_string_to_metric_families

from server import rate_limiter
from server.agent.engines.local import LOCAL_MODEL
from server.jobs import job_queue
from server.models import JobPriority
from server.ops import monitoring
from tests.helpers import GENEROUS_TEST_LIMITS, ApiClient, error_of
from tests.queue_helpers import make_user, wait_for

# The seed document's example, verbatim: every key, its nesting and its type must match.
SEED_EXAMPLE = {
    "timestamp": "2024-01-15T10:30:00Z",
    "rate_limits": {
        "gemini_minute": {"used": 3, "limit": 8, "remaining": 5},
        "gemini_daily": {"used": 245, "limit": 1000, "remaining": 755},
    },
    "job_queue": {
        "queue_size": 12,
        "active_jobs": 3,
        "priority_breakdown": {"NORMAL": 8, "HIGH": 3, "LOW": 1},
    },
    "database": {"connection_pool": {"utilization_percent": 45.2}, "slow_queries": []},
    "security": {"blocked_ips_count": 2, "recent_events_count": 15},
    "backups": {"total_backups": 45, "latest_backups": {"database": "2024-01-15T02:00:00Z"}},
}


def assert_same_shape(example, actual, path="") -> None:
    """Every key of `example` is in `actual`, with a value of the same type."""
    if isinstance(example, dict):
        assert isinstance(actual, dict), path
        if path.endswith(("priority_breakdown", "latest_backups")):
            # keyed by name: any names, values of the example's type
            kind = type(next(iter(example.values())))
            assert all(isinstance(k, str) and isinstance(v, kind) for k, v in actual.items()), (
                path,
                actual,
            )
            return
        for key, value in example.items():
            assert key in actual, f"{path}.{key} missing"
            assert_same_shape(value, actual[key], f"{path}.{key}")
    elif isinstance(example, list):
        assert isinstance(actual, list), path
    elif isinstance(example, float):
        assert isinstance(actual, float), (path, actual)
    elif isinstance(example, int):
        assert isinstance(actual, int) and not isinstance(actual, bool), (path, actual)
    else:
        assert isinstance(actual, type(example)), (path, actual)


def status(client, token):
    response = client.get("/api/admin/system-status", token=token)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_system_status_has_every_key_of_the_seed_example_with_its_type(client, app):
    admin = client.create_admin(app)
    body = status(client, admin.access_token)
    assert_same_shape(SEED_EXAMPLE, body)
    assert body["timestamp"].endswith("Z")
    assert body["rate_limits"]["gemini_minute"] == {"used": 0, "limit": 8, "remaining": 8}
    assert body["rate_limits"]["gemini_daily"] == {"used": 0, "limit": 1000, "remaining": 1000}
    assert body["backups"] == {
        "total_backups": 0,
        "latest_backups": {},
        "newest_verified_age_seconds": None,
    }
    assert body["redis"]["healthy"] is True and body["database"]["healthy"] is True
    assert body["version"] and body["uptime_seconds"] >= 0
    assert body["errors"] == {}
    assert body["database"]["pg_stat_statements"]["available"] is False


def test_system_status_figures_follow_queued_jobs_used_limits_and_blocked_ips(client, app):
    admin = client.create_admin(app)
    before = status(client, admin.access_token)
    user = make_user()
    for priority in (JobPriority.HIGH, JobPriority.HIGH, JobPriority.LOW):
        job_queue.submit_job(user_id=user, job_type="diagnostic", payload={}, priority=priority)
    granted = rate_limiter.reserve_gemini_call()
    assert granted.granted
    blocked = client.post(
        "/api/admin/security/ip-blocks",
        token=admin.access_token,
        json={"ip": "203.0.113.7", "reason": "test", "ttl_seconds": 600},
    )
    assert blocked.status_code == 201
    after = status(client, admin.access_token)
    assert after["job_queue"]["queue_size"] == before["job_queue"]["queue_size"] + 3
    assert after["job_queue"]["priority_breakdown"] == {"HIGH": 2, "LOW": 1}
    assert after["rate_limits"]["gemini_minute"] == {"used": 1, "limit": 8, "remaining": 7}
    assert after["rate_limits"]["gemini_daily"]["used"] == 1
    assert after["security"]["blocked_ips_count"] == before["security"]["blocked_ips_count"] + 1
    assert after["security"]["recent_events_count"] > before["security"]["recent_events_count"]


def test_system_status_shows_the_pool_in_use_and_recent_slow_queries(client, make_app):
    from sqlalchemy import text

    from server.core.extensions import db

    app = make_app(slow_query_ms=50, db_pool_size=2, db_max_overflow=0)
    with app.app_context():
        db.session.execute(text("SELECT pg_sleep(0.1)"))
        db.session.remove()
    from tests.helpers import ApiClient

    api = ApiClient(app.test_client())
    admin = api.create_admin(app)
    body = status(api, admin.access_token)
    pool = body["database"]["connection_pool"]
    assert pool["size"] == 2 and pool["max_connections"] == 2
    assert pool["utilization_percent"] == 50.0  # the request's own connection
    [slow] = body["database"]["slow_queries"]
    assert slow["sql"] == "SELECT pg_sleep(?)" and slow["duration_ms"] >= 100


def test_system_status_is_for_admins_only(client):
    account = client.create_account()
    assert client.get("/api/admin/system-status").status_code == 401
    refused = client.get("/api/admin/system-status", token=account.access_token)
    assert refused.status_code == 403


# --- /metrics ------------------------------------------------------------------------------

FAMILIES = {
    "http_requests",
    "http_request_duration_seconds",
    "jobs_finished",
    "job_duration_seconds",
    "job_queue_depth",
    "job_queue_jobs",
    "job_queue_oldest_wait_seconds",
    "rate_limit_decisions",
    "rate_limiter_rejections",
    "rate_limiter_redis_errors",
    "rate_limiter_degraded",
    "gemini_reservations_granted",
    "gemini_upstream_errors",
    "gemini_quota_used",
    "gemini_quota_limit",
    "db_pool_checked_out",
    "db_pool_capacity",
    "db_slow_queries",
    "backup_newest_verified_age_seconds",
    "security_events",
    "job_worker_pools_alive",
    "redis_up",
}


def families(response) -> dict:
    return {f.name: f for f in text_string_to_metric_families(response.get_data(as_text=True))}


def test_metrics_parse_and_show_every_family(client, app):
    account = client.create_account()
    client.get("/api/user/profile", token=account.access_token)
    job_queue.submit_job(
        user_id=account.id, job_type="diagnostic", payload={}, priority=JobPriority.HIGH
    )
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    found = families(response)
    assert FAMILIES <= set(found)
    depth = {s.labels["priority"]: s.value for s in found["job_queue_depth"].samples}
    assert depth["HIGH"] == 1 and depth["NORMAL"] == 0
    profile = [
        s
        for s in found["http_requests"].samples
        if s.labels.get("route") == "/api/user/profile" and s.labels.get("status") == "200"
    ]
    assert profile and profile[0].value >= 1
    admitted = [
        s
        for s in found["rate_limit_decisions"].samples
        if s.labels.get("limit") == "api_reads_per_user_per_minute"
        and s.labels.get("decision") == "admitted"
    ]
    assert admitted and admitted[0].value >= 1
    logins = [s for s in found["security_events"].samples if s.labels.get("action") == "login"]
    assert logins and logins[0].value >= 1


def test_metrics_count_a_rejection_by_its_limit(client, make_app):
    from tests.helpers import ApiClient

    app = make_app(rate_limit_overrides={"RATE_LIMIT_AUTH_LOGIN_PER_IP_PER_MINUTE": "1/60"})
    api = ApiClient(app.test_client())

    def rejected() -> float:
        found = families(api.get("/metrics"))
        return sum(
            s.value
            for s in found["rate_limit_decisions"].samples
            if s.labels.get("limit") == "auth_login_per_ip_per_minute"
            and s.labels.get("decision") == "rejected"
            and s.name.endswith("_total")
        )

    before = rejected()
    api.login("nobody@example.com", "wrong password here")
    assert api.login("nobody@example.com", "wrong password here").status_code == 429
    assert rejected() == before + 1


def test_metrics_refuse_a_caller_outside_the_allowed_networks(client, app):
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    refused = client.get("/metrics", environ_base=outside)
    assert refused.status_code == 401
    assert error_of(refused)["code"] == "unauthorized"
    user = client.create_account()
    forbidden = client.get("/metrics", token=user.access_token, environ_base=outside)
    assert forbidden.status_code == 403
    admin = client.create_admin(app)
    allowed = client.get("/metrics", token=admin.access_token, environ_base=outside)
    assert allowed.status_code == 200
    assert "http_requests_total" in allowed.get_data(as_text=True)


def test_metrics_refuse_a_revoked_admin_token(client, app):
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    admin = client.create_admin(app)
    out = client.post(
        "/api/auth/logout", token=admin.access_token, json={"refresh_token": admin.refresh_token}
    )
    assert out.status_code == 200
    refused = client.get("/metrics", token=admin.access_token, environ_base=outside)
    assert refused.status_code == 401


def test_metrics_follow_the_configured_networks(make_app):
    from tests.helpers import ApiClient

    app = make_app(metrics_allowed_networks=("10.20.0.0/16",))
    api = ApiClient(app.test_client())
    assert api.get("/metrics", environ_base={"REMOTE_ADDR": "10.20.3.4"}).status_code == 200
    assert api.get("/metrics").status_code == 401  # loopback is no longer listed


def test_system_status_answers_with_redis_down_and_says_so(client, app, make_app):
    from tests.helpers import ApiClient

    admin = client.create_admin(app)
    job_queue.submit_job(user_id=admin.id, job_type="diagnostic", payload={})
    cut_off = ApiClient(make_app(redis_url="redis://127.0.0.1:1/0").test_client())
    body = status(cut_off, admin.access_token)
    assert_same_shape(SEED_EXAMPLE | {"rate_limits": {}}, body)
    assert body["redis"]["healthy"] is False
    assert body["rate_limits"]["degraded"] is True
    assert body["rate_limits"]["gemini_minute"] == {"used": None, "limit": 8, "remaining": 0}
    assert body["job_queue"]["queue_size"] == 1  # PostgreSQL's figures
    assert {"redis", "workers"} <= set(body["errors"])


def test_busy_workers_agree_with_the_active_jobs_at_once(make_app, run_pool, handler):
    started, release = threading.Event(), threading.Event()

    def hold(job):
        started.set()
        release.wait(30)
        return {}

    handler("held_for_status", hold)
    # The test polls the status endpoint: past the per-user request limit on a slow machine.
    app = make_app(rate_limit_overrides=GENEROUS_TEST_LIMITS)
    client = ApiClient(app.test_client())
    admin = client.create_admin(app)
    run_pool(app, threads=2)
    wait_for(lambda: status(client, admin.access_token)["workers"]["alive"] == 1)
    with app.app_context():
        job_queue.submit_job(user_id=admin.id, job_type="held_for_status", payload={})
    try:
        assert started.wait(30)
        body = status(client, admin.access_token)
        assert body["job_queue"]["active_jobs"] == 1
        assert body["workers"]["busy"] == 1
        assert [pool["busy"] for pool in body["workers"]["pools"]] == [1]
    finally:
        release.set()
    wait_for(lambda: status(client, admin.access_token)["job_queue"]["active_jobs"] == 0)
    assert status(client, admin.access_token)["workers"]["busy"] == 0


def test_system_status_shows_the_firing_alerts_and_the_engine_in_use(client, make_app):
    app = make_app(alert_queue_depth=1)
    api = ApiClient(app.test_client())
    admin = api.create_admin(app)
    body = status(api, admin.access_token)
    assert body["alerts"] == {"firing": []}
    assert body["engine"] == {"name": "local", "model": LOCAL_MODEL}

    with app.app_context():
        job_queue.submit_job(user_id=admin.id, job_type="diagnostic", payload={})
    monitoring.run_alert_checks(app)
    firing = {a["rule"]: a for a in status(api, admin.access_token)["alerts"]["firing"]}
    # No backup was verified and no worker runs, either.
    assert firing.keys() == {"queue_depth", "backup_age", "workers_dead"}
    assert firing["queue_depth"]["message"] == "1 jobs waiting (threshold 1)"
    assert firing["queue_depth"]["summary"] and firing["queue_depth"]["since"].endswith("Z")

    gemini = make_app(google_api_key="test-key", gemini_model="gemini-test-model")
    gemini_api = ApiClient(gemini.test_client())
    assert status(gemini_api, admin.access_token)["engine"] == {
        "name": "gemini",
        "model": "gemini-test-model",
    }
