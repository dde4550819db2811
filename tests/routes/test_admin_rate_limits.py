"""Admins inspect and reset limits."""

from __future__ import annotations

from tests.helpers import ApiClient, error_of


def test_an_admin_sees_a_users_usage_of_every_limit(client, app):
    admin = client.create_admin(app)
    user = client.create_account()
    for _ in range(2):
        client.get("/api/user/credentials", token=user.access_token)
    response = client.get(f"/api/admin/rate-limits/{user.id}", token=admin.access_token)
    assert response.status_code == 200
    body = response.get_json()
    assert body["subject"] == str(user.id)
    assert body["degraded"] is False
    rows = {row["limit"]: row for row in body["limits"]}
    per_user = rows["api_requests_per_user_per_minute"]
    assert per_user["used"] == 2
    assert per_user["remaining"] == 28
    assert per_user["limit_value"] == 30
    assert per_user["window_seconds"] == 60
    assert per_user["key"] == f"rate_limit:api_requests_per_user_per_minute:{user.id}"
    assert 0 < per_user["reset_seconds"] <= 60
    assert rows["resume_tailoring_per_user_per_day"]["used"] == 0
    assert body["scope"] == "user"
    assert {row["scope"] for row in body["limits"]} == {"user"}


def test_each_kind_of_subject_shows_only_its_own_limits(client, app):
    admin = client.create_admin(app)
    by_ip = client.get("/api/admin/rate-limits/127.0.0.1", token=admin.access_token).get_json()
    assert by_ip["scope"] == "ip"
    rows = {row["limit"]: row for row in by_ip["limits"]}
    assert {row["scope"] for row in rows.values()} == {"ip"}
    assert rows["api_requests_per_ip_per_minute"]["used"] == 2  # the login and this request
    assert "api_requests_per_user_per_minute" not in rows
    shared = client.get("/api/admin/rate-limits/global", token=admin.access_token).get_json()
    rows = {row["limit"]: row for row in shared["limits"]}
    assert {row["scope"] for row in rows.values()} == {"global"}
    assert rows["concurrent_tailoring_sessions"]["kind"] == "concurrency"
    assert rows["concurrent_tailoring_sessions"]["window_seconds"] is None
    ipv6 = client.get("/api/admin/rate-limits/2001:db8::7", token=admin.access_token).get_json()
    assert ipv6["subject"] == "2001:db8::/64"
    assert ipv6["limits"][0]["key"].endswith(":2001:db8::/64")


def test_a_subject_that_is_no_user_address_or_global_is_refused(client, app):
    admin = client.create_admin(app)
    missing = client.get("/api/admin/rate-limits/999999", token=admin.access_token)
    assert missing.status_code == 404
    huge = client.get("/api/admin/rate-limits/99999999999999999999", token=admin.access_token)
    assert huge.status_code == 404
    for subject in ("nosuch", "10.0.0.300", "Global"):
        response = client.get(f"/api/admin/rate-limits/{subject}", token=admin.access_token)
        assert response.status_code == 422, subject
        error = error_of(response)
        assert "a user id, an IP address, or `global`" in error["message"]
        assert subject in error["message"]


def test_an_admin_resets_one_limit_for_one_subject(make_app, redis_conn):
    app = make_app(rate_limit_overrides={"RATE_LIMIT_API_REQUESTS_PER_USER_PER_MINUTE": "2/60"})
    client = ApiClient(app.test_client())
    admin = client.create_admin(app)
    user = client.create_account()
    statuses = [
        client.get("/api/user/credentials", token=user.access_token).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    response = client.post(
        "/api/admin/rate-limits/reset",
        token=admin.access_token,
        json={"limit": "api_requests_per_user_per_minute", "subject": str(user.id)},
    )
    assert response.status_code == 200
    assert response.get_json() == {
        "limit": "api_requests_per_user_per_minute",
        "subject": str(user.id),
        "key": f"rate_limit:api_requests_per_user_per_minute:{user.id}",
        "deleted": True,
    }
    assert client.get("/api/user/credentials", token=user.access_token).status_code == 200


def test_resetting_an_unknown_limit_says_which_exist(client, app):
    admin = client.create_admin(app)
    response = client.post(
        "/api/admin/rate-limits/reset",
        token=admin.access_token,
        json={"limit": "no_such_limit", "subject": "1"},
    )
    assert response.status_code == 404
    error = error_of(response)
    assert "no_such_limit" in error["message"]
    assert "resume_tailoring_per_user_per_day" in error["details"]["known_limits"]


def test_reset_input_is_validated(client, app):
    admin = client.create_admin(app)
    for body in ({"limit": "api_requests_per_user_per_minute"}, {"limit": "x", "subject": "a b"}):
        response = client.post("/api/admin/rate-limits/reset", token=admin.access_token, json=body)
        assert response.status_code == 422
    extra = {"limit": "x", "subject": "1", "all": True}
    response = client.post("/api/admin/rate-limits/reset", token=admin.access_token, json=extra)
    assert response.status_code == 422


def test_users_cannot_see_or_reset_limits(client):
    user = client.create_account()
    assert (
        client.get(f"/api/admin/rate-limits/{user.id}", token=user.access_token).status_code == 403
    )
    response = client.post(
        "/api/admin/rate-limits/reset",
        token=user.access_token,
        json={"limit": "api_requests_per_user_per_minute", "subject": str(user.id)},
    )
    assert response.status_code == 403
