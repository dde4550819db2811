"""Limits on HTTP requests: exact admission, all-or-nothing, headers, 429 and 503 bodies."""

from __future__ import annotations

import re
import threading
import time

from tests.helpers import ApiClient, error_of

# Counted against api_requests_per_user_per_minute (the profile is a cheap read).
CREDENTIALS = "/api/user/credentials"
HEADER_NAMES = ("RateLimit-Policy", "RateLimit", "X-RateLimit-Limit", "X-RateLimit-Remaining")


def client_with(make_app, **limits: str) -> ApiClient:
    overrides = {f"RATE_LIMIT_{name.upper()}": value for name, value in limits.items()}
    return ApiClient(make_app(rate_limit_overrides=overrides).test_client())


def test_fifty_concurrent_requests_admit_exactly_the_limit(make_app):
    app = make_app(rate_limit_overrides={"RATE_LIMIT_API_REQUESTS_PER_USER_PER_MINUTE": "7/60"})
    account = ApiClient(app.test_client()).create_account()
    barrier = threading.Barrier(50)
    statuses: list[int] = []

    def call():
        client = ApiClient(app.test_client())
        barrier.wait()
        statuses.append(client.get(CREDENTIALS, token=account.access_token).status_code)

    threads = [threading.Thread(target=call) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 7 + [429] * 43


def test_allowed_responses_carry_the_policy_and_what_is_left(make_app):
    client = client_with(make_app, api_requests_per_user_per_minute="3/60")
    account = client.create_account()
    response = client.get(CREDENTIALS, token=account.access_token)
    assert response.status_code == 200
    assert response.headers["RateLimit-Policy"] == (
        '"api_requests_per_ip_per_minute";q=1200;w=60, '
        '"api_requests_global_per_minute";q=120000;w=60, "api_requests_per_user_per_minute";q=3;w=60'
    )
    assert response.headers["RateLimit"] == '"api_requests_per_user_per_minute";r=2;t=60'
    assert response.headers["X-RateLimit-Limit"] == "3"
    assert response.headers["X-RateLimit-Remaining"] == "2"
    assert response.headers["X-RateLimit-Reset"] == "60"
    assert "Retry-After" not in response.headers
    assert (
        client.get(CREDENTIALS, token=account.access_token).headers["X-RateLimit-Remaining"] == "1"
    )


def test_a_refused_request_gets_429_naming_the_limit_and_a_truthful_retry_after(make_app):
    client = client_with(make_app, auth_login_per_ip_per_minute="1/4")
    account = client.create_account()  # its login took the one slot
    refused = client.login(account.email)
    assert refused.status_code == 429
    error = error_of(refused)
    assert error["code"] == "rate_limited"
    details = error["details"]
    assert details["limit"] == "auth_login_per_ip_per_minute"
    assert details["limit_value"] == 1
    assert details["window_seconds"] == 4
    assert 0 < details["retry_after"] <= 4
    retry_after = int(refused.headers["Retry-After"])
    assert details["retry_after"] <= retry_after <= details["retry_after"] + 2
    assert refused.headers["RateLimit"].startswith('"auth_login_per_ip_per_minute";r=0;t=')
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert '"auth_login_per_ip_per_minute";q=1;w=4' in refused.headers["RateLimit-Policy"]
    # Not free a second before the stated time; free just after it.
    time.sleep(max(0.0, details["retry_after"] - 1.0))
    assert client.login(account.email).status_code == 429
    time.sleep(1.1)
    assert client.login(account.email).status_code == 200


def test_a_429_for_a_daily_limit_says_the_wait_in_hours(make_app):
    client = client_with(make_app, auth_register_per_ip_per_hour="1/86400")
    assert client.register().status_code == 201
    refused = client.register()
    assert refused.status_code == 429
    assert error_of(refused)["message"] == (
        "Rate limit auth_register_per_ip_per_hour exceeded: 1 per day; retry in 24 h"
    )


def test_waiting_the_retry_after_header_is_always_enough(make_app):
    client = client_with(make_app, auth_register_per_ip_per_hour="1/1")
    assert client.register().status_code == 201
    refused = client.register()
    assert refused.status_code == 429
    time.sleep(int(refused.headers["Retry-After"]))
    assert client.register().status_code == 201


def test_a_request_refused_by_its_second_limit_leaves_the_first_unchanged(make_app, redis_conn):
    client = client_with(
        make_app,
        auth_refresh_per_ip_per_minute="1/60",
        api_requests_per_user_per_minute="10/60",
    )
    account = client.create_account()
    user_key = f"rate_limit:api_requests_per_user_per_minute:{account.id}"
    global_key = "rate_limit:api_requests_global_per_minute:global"
    first = client.post("/api/auth/refresh", token=account.refresh_token)
    assert first.status_code == 200
    assert redis_conn.zcard(user_key) == 1
    counted_globally = redis_conn.zcard(global_key)
    # Refresh tokens rotate: the second call presents the new one.
    refused = client.post("/api/auth/refresh", token=first.get_json()["refresh_token"])
    assert refused.status_code == 429
    assert error_of(refused)["details"]["limit"] == "auth_refresh_per_ip_per_minute"
    assert redis_conn.zcard(user_key) == 1
    assert redis_conn.zcard(global_key) == counted_globally


def test_login_is_limited_per_client_ip_behind_the_trusted_proxy(make_app, redis_conn):
    app = make_app(
        trusted_proxy_count=1,
        rate_limit_overrides={"RATE_LIMIT_AUTH_LOGIN_PER_IP_PER_MINUTE": "2/60"},
    )
    client = ApiClient(app.test_client())
    first = {"X-Forwarded-For": "203.0.113.7"}
    second = {"X-Forwarded-For": "198.51.100.9"}
    body = {"email": "nobody@example.com", "password": "wrong"}
    assert [
        client.post("/api/auth/login", json=body, headers=first).status_code for _ in range(3)
    ] == [
        401,
        401,
        429,
    ]
    assert client.post("/api/auth/login", json=body, headers=second).status_code == 401
    assert redis_conn.zcard("rate_limit:auth_login_per_ip_per_minute:203.0.113.7") == 2
    redis_conn.delete("rate_limit:auth_login_per_ip_per_minute:203.0.113.7")
    assert client.post("/api/auth/login", json=body, headers=first).status_code == 401


def test_the_global_limit_sheds_load_with_503(make_app):
    client = client_with(make_app, api_requests_global_per_minute="2/60")
    body = {"email": "nobody@example.com", "password": "wrong"}
    assert client.post("/api/auth/login", json=body).status_code == 401
    assert client.get("/api/no-such-thing").status_code == 404
    shed = client.post("/api/auth/login", json=body)
    assert shed.status_code == 503
    error = error_of(shed)
    assert error["code"] == "overloaded"
    assert 55 < error["details"]["retry_after"] <= 60
    assert int(shed.headers["Retry-After"]) >= error["details"]["retry_after"]
    # Probes and the API description are never shed.
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/openapi.json").status_code == 200


def test_probes_carry_no_rate_limit_headers_and_docs_only_the_address_limit(client):
    for path in ("/healthz", "/readyz"):
        response = client.get(path)
        assert response.status_code == 200
        assert not any(name in response.headers for name in HEADER_NAMES)
    docs = client.get("/api/openapi.json")
    assert docs.headers["RateLimit-Policy"] == '"api_requests_per_ip_per_minute";q=1200;w=60'


def test_every_request_counts_against_its_address_routed_or_not(client, redis_conn):
    key = "rate_limit:api_requests_per_ip_per_minute:127.0.0.1"
    assert client.get("/wp-login.php").status_code == 404
    assert client.get("/api/auth/login").status_code == 405
    assert client.get("/api/user/profile", token="garbage").status_code == 401
    assert client.request("OPTIONS", "/api/user/profile").status_code == 200
    assert redis_conn.zcard(key) == 4
    client.get("/healthz")
    assert redis_conn.zcard(key) == 4


def test_every_authenticated_api_request_counts_against_the_user(client, redis_conn):
    account = client.create_account()
    for _ in range(3):
        client.get(CREDENTIALS, token=account.access_token)
    client.post("/api/auth/refresh", token=account.refresh_token)
    assert redis_conn.zcard(f"rate_limit:api_requests_per_user_per_minute:{account.id}") == 4
    # Requests the auth check turns away (403 here) are not the user's quota to spend.
    client.get("/api/admin/users", token=account.access_token)
    assert redis_conn.zcard(f"rate_limit:api_requests_per_user_per_minute:{account.id}") == 4


def test_limits_can_be_switched_off(make_app, redis_conn):
    client = ApiClient(
        make_app(
            rate_limit_enabled=False,
            rate_limit_overrides={"RATE_LIMIT_API_REQUESTS_PER_USER_PER_MINUTE": "1/60"},
        ).test_client()
    )
    account = client.create_account()
    responses = [client.get(CREDENTIALS, token=account.access_token) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert not any(name in responses[0].headers for name in HEADER_NAMES)
    assert not redis_conn.keys("rate_limit:*")


def test_the_openapi_document_lists_429_on_the_limited_auth_routes(client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    for path in ("/api/auth/login", "/api/auth/register", "/api/auth/refresh"):
        assert "429" in paths[path]["post"]["responses"], path
    assert re.search(r"rate-limits", " ".join(paths))


def test_public_mail_routes_are_limited_per_address_without_spending_the_global_budget(
    make_app, redis_conn
):
    client = client_with(make_app, auth_password_reset_per_ip_per_hour="2/3600")
    global_key = "rate_limit:api_requests_global_per_minute:global"
    for _ in range(2):
        response = client.post("/api/auth/password-reset/request", json={"email": "a@example.com"})
        assert response.status_code == 202
    counted_globally = redis_conn.zcard(global_key)
    refused = client.post("/api/auth/password-reset/request", json={"email": "a@example.com"})
    assert refused.status_code == 429
    assert error_of(refused)["details"]["limit"] == "auth_password_reset_per_ip_per_hour"
    assert redis_conn.zcard(global_key) == counted_globally
    assert redis_conn.exists("rate_limit:auth_password_reset_per_ip_per_hour:127.0.0.1")


def test_forty_status_polls_a_minute_pass_while_the_31st_write_is_refused(client, app):
    admin = client.create_admin(app)
    submitted = client.post("/api/jobs", json={"type": "diagnostic"}, token=admin.access_token)
    status_url = submitted.get_json()["status_url"]

    polls = [client.get(status_url, token=admin.access_token) for _ in range(40)]
    assert [r.status_code for r in polls] == [200] * 40
    # A read is checked against the read limit instead of the write limit, not as well.
    assert polls[-1].headers["RateLimit-Policy"] == (
        '"api_requests_per_ip_per_minute";q=1200;w=60, '
        '"api_requests_global_per_minute";q=120000;w=60, "api_reads_per_user_per_minute";q=300;w=60'
    )
    assert polls[-1].headers["X-RateLimit-Remaining"] == "260"
    for path in ("/api/user/jobs", "/api/user/profile", "/api/user/resumes"):
        assert client.get(path, token=admin.access_token).status_code == 200, path

    writes = [
        client.post("/api/jobs", json={"type": "diagnostic"}, token=admin.access_token)
        for _ in range(30)
    ]
    assert [r.status_code for r in writes] == [202] * 29 + [429]
    assert error_of(writes[-1])["details"]["limit"] == "api_requests_per_user_per_minute"
    assert client.get(status_url, token=admin.access_token).status_code == 200


def test_the_read_limit_is_a_limit_of_its_own(make_app):
    client = client_with(make_app, api_reads_per_user_per_minute="2/60")
    account = client.create_account()
    reads = [client.get("/api/user/profile", token=account.access_token) for _ in range(3)]
    assert [r.status_code for r in reads] == [200, 200, 429]
    assert error_of(reads[-1])["details"]["limit"] == "api_reads_per_user_per_minute"
    assert client.get(CREDENTIALS, token=account.access_token).status_code == 200
