"""Client IP from trusted proxy hops only; manual and automatic IP blocks, their expiry."""

import time

from server.security_manager import ip_blocking
from tests.helpers import ApiClient, error_of

ATTACKER = "203.0.113.66"


def from_ip(ip):
    return {"environ_base": {"REMOTE_ADDR": ip}}


def last_login_event(client, admin):
    events = client.get("/api/admin/security/events?action=login", token=admin.access_token)
    return events.get_json()["items"][0]


def test_spoofed_forwarded_for_is_ignored_without_trusted_proxies(client, app):
    admin = client.create_admin(app)
    client.login("x@example.com", "wrong password here", headers={"X-Forwarded-For": "6.6.6.6"})
    assert last_login_event(client, admin)["client_ip"] == "127.0.0.1"


def test_only_the_configured_proxy_hops_are_trusted(make_app):
    app = make_app(trusted_proxy_count=1)
    client = ApiClient(app.test_client())
    admin = client.create_admin(app)
    # The client wrote 6.6.6.6 itself; our one proxy appended the address it saw.
    client.login(
        "x@example.com",
        "wrong password here",
        headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.7"},
    )
    assert last_login_event(client, admin)["client_ip"] == "198.51.100.7"


def test_manual_block_and_unblock(client, app):
    admin = client.create_admin(app)
    created = client.post(
        "/api/admin/security/ip-blocks",
        token=admin.access_token,
        json={"ip": ATTACKER, "reason": "credential stuffing", "ttl_seconds": 600},
    )
    assert created.status_code == 201
    assert created.get_json()["ip"] == ATTACKER
    blocked = client.get("/healthz", **from_ip(ATTACKER))
    assert blocked.status_code == 403
    assert error_of(blocked)["code"] == "ip_blocked"
    assert 0 < int(blocked.headers["Retry-After"]) <= 600
    assert blocked.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/healthz", **from_ip("203.0.113.67")).status_code == 200
    listed = client.get("/api/admin/security/ip-blocks", token=admin.access_token).get_json()
    assert [b["ip"] for b in listed["items"]] == [ATTACKER]
    deleted = client.delete(f"/api/admin/security/ip-blocks/{ATTACKER}", token=admin.access_token)
    assert deleted.status_code == 204
    assert client.get("/healthz", **from_ip(ATTACKER)).status_code == 200
    again = client.delete(f"/api/admin/security/ip-blocks/{ATTACKER}", token=admin.access_token)
    assert again.status_code == 404
    actions = {
        e["action"]
        for e in client.get("/api/admin/security/events", token=admin.access_token).get_json()[
            "items"
        ]
    }
    assert {"ip_blocked", "ip_unblocked"} <= actions


def test_bad_block_requests_are_422(client, app):
    admin = client.create_admin(app)
    for body in (
        {"ip": "not-an-ip", "reason": "x"},
        {"ip": ATTACKER},
        {"ip": ATTACKER, "reason": "x", "ttl_seconds": 1},
    ):
        response = client.post("/api/admin/security/ip-blocks", token=admin.access_token, json=body)
        assert response.status_code == 422, body


def test_blocks_expire(app, redis_conn, client):
    ip_blocking.block_ip(
        redis_conn,
        ip=ATTACKER,
        reason="test",
        ttl_seconds=1,
        settings=app.config["SETTINGS"],
        automatic=True,
    )
    assert client.get("/healthz", **from_ip(ATTACKER)).status_code == 403
    time.sleep(1.2)
    assert client.get("/healthz", **from_ip(ATTACKER)).status_code == 200


def test_allowlisted_addresses_are_never_blocked(make_app):
    app = make_app(ip_allowlist=("203.0.113.0/24",), ip_block_error_burst=3)
    client = ApiClient(app.test_client())
    admin = client.create_admin(app)
    manual = client.post(
        "/api/admin/security/ip-blocks",
        token=admin.access_token,
        json={"ip": ATTACKER, "reason": "x"},
    )
    assert manual.status_code == 422
    for _ in range(5):
        client.get("/no/such/page", **from_ip(ATTACKER))
    assert client.get("/healthz", **from_ip(ATTACKER)).status_code == 200


def test_password_spraying_across_accounts_blocks_the_address(make_app):
    app = make_app(ip_block_failed_accounts=5)
    client = ApiClient(app.test_client())
    for index in range(5):
        client.login(f"victim{index}@example.com", "Summer2024!!", **from_ip(ATTACKER))
    blocked = client.get("/healthz", **from_ip(ATTACKER))
    assert blocked.status_code == 403


def test_a_few_failures_on_one_account_do_not_block(make_app):
    app = make_app(ip_block_failed_accounts=5)
    client = ApiClient(app.test_client())
    for _ in range(3):
        client.login("me@example.com", "mistyped password", **from_ip(ATTACKER))
    assert client.get("/healthz", **from_ip(ATTACKER)).status_code == 200


def test_a_burst_of_404s_blocks_the_address(make_app):
    app = make_app(ip_block_error_burst=10)
    client = ApiClient(app.test_client())
    for index in range(10):
        client.get(f"/wp-admin/{index}.php", **from_ip(ATTACKER))
    assert client.get("/healthz", **from_ip(ATTACKER)).status_code == 403
    assert client.get("/healthz").status_code == 200


def test_repeated_429s_block_the_address(make_app):
    app = make_app(login_ip_threshold=2, ip_block_throttled_burst=3, ip_block_error_burst=1000)
    client = ApiClient(app.test_client())
    statuses = [
        client.login("me@example.com", "mistyped password", **from_ip(ATTACKER)).status_code
        for _ in range(5)
    ]
    assert statuses == [401, 401, 429, 429, 429]
    assert client.get("/healthz", **from_ip(ATTACKER)).status_code == 403


def test_redis_down_fails_open(make_app):
    app = make_app(redis_url="redis://127.0.0.1:1/0")
    assert app.test_client().get("/healthz").status_code == 200


def test_an_ipv4_mapped_ipv6_spelling_is_the_same_blocked_client(client, app):
    admin = client.create_admin(app)
    blocked = client.post(
        "/api/admin/security/ip-blocks",
        token=admin.access_token,
        json={"ip": "::ffff:203.0.113.9", "reason": "abuse", "ttl_seconds": 600},
    )
    assert blocked.status_code == 201 and blocked.get_json()["ip"] == "203.0.113.9"
    for spelling in ("203.0.113.9", "::ffff:203.0.113.9", "::FFFF:203.0.113.9"):
        response = client.get("/healthz", environ_base={"REMOTE_ADDR": spelling})
        assert response.status_code == 403, spelling


def test_loopback_is_never_blocked_automatically(make_app):
    from tests.helpers import ApiClient

    app = make_app(ip_block_error_burst=3)
    client = ApiClient(app.test_client())
    for _ in range(5):
        assert client.get("/api/no-such-route").status_code == 404
    assert client.get("/healthz").status_code == 200


def test_blocks_in_force_come_back_after_redis_loses_them(client, app, redis_conn):
    admin = client.create_admin(app)
    for ip, ttl in (("198.51.100.7", 600), ("198.51.100.8", 600)):
        response = client.post(
            "/api/admin/security/ip-blocks",
            token=admin.access_token,
            json={"ip": ip, "reason": "abuse", "ttl_seconds": ttl},
        )
        assert response.status_code == 201
    lifted = client.delete("/api/admin/security/ip-blocks/198.51.100.8", token=admin.access_token)
    assert lifted.status_code == 204
    redis_conn.flushdb()  # Redis lost everything; PostgreSQL kept the record
    assert client.get("/healthz", environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code == 200

    result = app.test_cli_runner().invoke(args=["restore-ip-blocks"])
    assert result.exit_code == 0, result.output
    assert "1 block(s) restored" in result.output
    assert 0 < redis_conn.ttl("ip_block:198.51.100.7") <= 600
    assert client.get("/healthz", environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code == 403
    # A lifted block stays lifted.
    assert client.get("/healthz", environ_base={"REMOTE_ADDR": "198.51.100.8"}).status_code == 200
