"""Client IP from trusted proxy hops only; manual and automatic IP blocks, their expiry."""

import time

import pytest

from server.security_manager import ip_blocking
from tests.helpers import ApiClient, error_of

ATTACKER = "203.0.113.66"
PAGE = "/api/openapi.json"  # public and cheap: answers 200 unless the address is blocked


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
    blocked = client.get(PAGE, **from_ip(ATTACKER))
    assert blocked.status_code == 403
    assert error_of(blocked)["code"] == "ip_blocked"
    assert 0 < int(blocked.headers["Retry-After"]) <= 600
    assert blocked.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get(PAGE, **from_ip("203.0.113.67")).status_code == 200
    listed = client.get("/api/admin/security/ip-blocks", token=admin.access_token).get_json()
    assert [b["ip"] for b in listed["items"]] == [ATTACKER]
    deleted = client.delete(f"/api/admin/security/ip-blocks/{ATTACKER}", token=admin.access_token)
    assert deleted.status_code == 204
    assert client.get(PAGE, **from_ip(ATTACKER)).status_code == 200
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
    assert client.get(PAGE, **from_ip(ATTACKER)).status_code == 403
    time.sleep(1.2)
    assert client.get(PAGE, **from_ip(ATTACKER)).status_code == 200


def test_allowlisted_addresses_are_never_blocked(make_app):
    app = make_app(ip_allowlist=("203.0.113.0/24",), ip_block_error_burst=3)
    client = ApiClient(app.test_client())
    admin = client.create_admin(app)
    manual = client.post(
        "/api/admin/security/ip-blocks",
        token=admin.access_token,
        json={"ip": ATTACKER, "reason": "x"},
    )
    assert manual.status_code == 409
    assert error_of(manual)["details"] == {"ip": ATTACKER, "reason": "allowlisted"}
    for _ in range(5):
        client.get("/no/such/page", **from_ip(ATTACKER))
    assert client.get(PAGE, **from_ip(ATTACKER)).status_code == 200


def test_password_spraying_across_accounts_blocks_the_address(make_app):
    app = make_app(ip_block_failed_accounts=5)
    client = ApiClient(app.test_client())
    for index in range(5):
        client.login(f"victim{index}@example.com", "Summer2024!!", **from_ip(ATTACKER))
    blocked = client.get(PAGE, **from_ip(ATTACKER))
    assert blocked.status_code == 403


def test_a_few_failures_on_one_account_do_not_block(make_app):
    app = make_app(ip_block_failed_accounts=5)
    client = ApiClient(app.test_client())
    for _ in range(3):
        client.login("me@example.com", "mistyped password", **from_ip(ATTACKER))
    assert client.get(PAGE, **from_ip(ATTACKER)).status_code == 200


def test_a_burst_of_404s_blocks_the_address(make_app):
    app = make_app(ip_block_error_burst=10)
    client = ApiClient(app.test_client())
    for index in range(10):
        client.get(f"/wp-admin/{index}.php", **from_ip(ATTACKER))
    assert client.get(PAGE, **from_ip(ATTACKER)).status_code == 403
    assert client.get(PAGE).status_code == 200


def test_repeated_429s_block_the_address(make_app):
    app = make_app(login_ip_threshold=2, ip_block_throttled_burst=3, ip_block_error_burst=1000)
    client = ApiClient(app.test_client())
    statuses = [
        client.login("me@example.com", "mistyped password", **from_ip(ATTACKER)).status_code
        for _ in range(5)
    ]
    assert statuses == [401, 401, 429, 429, 429]
    assert client.get(PAGE, **from_ip(ATTACKER)).status_code == 403


def test_redis_down_fails_open(make_app):
    app = make_app(redis_url="redis://127.0.0.1:1/0")
    assert app.test_client().get(PAGE).status_code == 200


def test_an_ipv4_mapped_ipv6_spelling_is_the_same_blocked_client(client, app):
    admin = client.create_admin(app)
    blocked = client.post(
        "/api/admin/security/ip-blocks",
        token=admin.access_token,
        json={"ip": "::ffff:203.0.113.9", "reason": "abuse", "ttl_seconds": 600},
    )
    assert blocked.status_code == 201 and blocked.get_json()["ip"] == "203.0.113.9"
    for spelling in ("203.0.113.9", "::ffff:203.0.113.9", "::FFFF:203.0.113.9"):
        response = client.get(PAGE, environ_base={"REMOTE_ADDR": spelling})
        assert response.status_code == 403, spelling


def test_loopback_is_never_blocked_automatically(make_app):
    from tests.helpers import ApiClient

    app = make_app(ip_block_error_burst=3)
    client = ApiClient(app.test_client())
    for _ in range(5):
        assert client.get("/api/no-such-route").status_code == 404
    assert client.get(PAGE).status_code == 200


def _block_two_and_lift_one(client, app):
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


@pytest.mark.parametrize("first_caller", ["198.51.100.7", "192.0.2.30"])
def test_blocks_in_force_hold_at_once_after_redis_loses_them(client, app, redis_conn, first_caller):
    _block_two_and_lift_one(client, app)
    redis_conn.flushdb()  # Redis lost everything; PostgreSQL kept the record
    # The first request after the loss, from whichever address, has the set rebuilt.
    first = client.get(PAGE, environ_base={"REMOTE_ADDR": first_caller})
    assert first.status_code == (403 if first_caller == "198.51.100.7" else 200)
    assert 0 < redis_conn.ttl("ip_block:198.51.100.7") <= 600
    blocked = client.get(PAGE, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert blocked.status_code == 403
    assert error_of(blocked)["code"] == "ip_blocked"
    assert 0 < int(blocked.headers["Retry-After"]) <= 601
    # A lifted block stays lifted.
    assert client.get(PAGE, environ_base={"REMOTE_ADDR": "198.51.100.8"}).status_code == 200


def test_the_restore_command_puts_the_blocks_and_locks_in_force_back(client, app, redis_conn):
    _block_two_and_lift_one(client, app)
    for _ in range(5):
        assert client.login("victim@example.com", "wrong password here").status_code == 401
    redis_conn.flushdb()
    result = app.test_cli_runner().invoke(args=["restore-ip-blocks"])
    assert result.exit_code == 0, result.output
    assert "1 block(s) restored, with 1 account lock(s) and" in result.output
    assert 0 < redis_conn.ttl("ip_block:198.51.100.7") <= 600
    assert 0 < redis_conn.ttl("login_lock:account:victim@example.com") <= 61
    assert client.get(PAGE, environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code == 403
    # A lifted block stays lifted.
    assert client.get(PAGE, environ_base={"REMOTE_ADDR": "198.51.100.8"}).status_code == 200


def test_a_flood_of_405s_gets_the_address_429_then_blocked_while_others_are_served(make_app):
    app = make_app(
        rate_limit_overrides={
            "RATE_LIMIT_API_REQUESTS_PER_IP_PER_MINUTE": "5/60",
            "RATE_LIMIT_API_REQUESTS_GLOBAL_PER_MINUTE": "20/60",
        },
        ip_block_throttled_burst=3,
        ip_block_error_burst=1000,
    )
    client = ApiClient(app.test_client())
    account = client.create_account()  # from 127.0.0.1
    # GET on a POST-only route: no view runs, so only the address and global limits count.
    statuses = [client.get("/api/auth/login", **from_ip(ATTACKER)).status_code for _ in range(30)]
    assert statuses == [405] * 5 + [429] * 3 + [403] * 22
    assert error_of(client.get(PAGE, **from_ip(ATTACKER)))["code"] == "ip_blocked"
    # The flood spent five requests of the global budget, not all of it.
    profile = client.get("/api/user/profile", token=account.access_token)
    assert profile.status_code == 200
    assert client.get(PAGE, **from_ip("203.0.113.67")).status_code == 200


def test_bursts_of_400_405_and_413_block_like_404s(make_app):
    app = make_app(ip_block_error_burst=3, max_content_length=100)
    client = ApiClient(app.test_client())
    login = "/api/auth/login"
    statuses = [
        client.post(login, data="{not json", content_type="application/json", **from_ip(ATTACKER)),
        client.get(login, **from_ip(ATTACKER)),
        client.post(login, data="x" * 200, content_type="application/json", **from_ip(ATTACKER)),
    ]
    assert [r.status_code for r in statuses] == [400, 405, 413]
    assert client.get(PAGE, **from_ip(ATTACKER)).status_code == 403


def test_a_forwarded_address_that_is_not_an_ip_is_replaced_by_the_peers(make_app, caplog):
    app = make_app(trusted_proxy_count=1)
    client = ApiClient(app.test_client())
    proxy = {"REMOTE_ADDR": "198.51.100.20"}
    for forwarded in ("not-an-ip", "10.8.8.8:4444"):
        statuses = {
            client.get(
                f"/api/no-such-route/{index}",
                headers={"X-Forwarded-For": forwarded},
                environ_base=proxy,
            ).status_code
            for index in range(50)
        }
        assert statuses == {404}, forwarded
    # The hundredth 404 blocked the address the requests really came from.
    blocked = client.get(PAGE, headers={"X-Forwarded-For": "not-an-ip"}, environ_base=proxy)
    assert blocked.status_code == 403
    assert client.get(PAGE, environ_base=proxy).status_code == 403
    assert "forwarded client address is not an IP" in caplog.text
    assert "10.8.8.8:4444" in {getattr(r, "forwarded_for", None) for r in caplog.records}


def test_an_admin_cannot_block_loopback_an_allowlisted_or_their_own_address(make_app, redis_conn):
    app = make_app(ip_allowlist=("192.0.2.0/24",))
    client = ApiClient(app.test_client())
    admin = client.create_admin(app)
    own = {"environ_base": {"REMOTE_ADDR": "198.51.100.30"}}
    for ip, reason in (
        ("127.0.0.1", "loopback"),
        ("127.8.8.8", "loopback"),
        ("::1", "loopback"),
        ("192.0.2.5", "allowlisted"),
        ("198.51.100.30", "own_address"),
    ):
        response = client.post(
            "/api/admin/security/ip-blocks",
            token=admin.access_token,
            json={"ip": ip, "reason": "mistake"},
            **own,
        )
        assert response.status_code == 409, ip
        error = error_of(response)
        assert error["code"] == "ip_not_blockable"
        assert error["details"]["reason"] == reason
        assert "cannot be blocked" in error["message"]
    listed = client.get("/api/admin/security/ip-blocks", token=admin.access_token, **own)
    assert listed.get_json()["items"] == []
    assert not redis_conn.keys("ip_block:*")
    assert client.get(PAGE, **own).status_code == 200


def test_health_probes_answer_while_the_caller_is_blocked(client, redis_conn, app):
    ip_blocking.block_ip(
        redis_conn,
        ip=ATTACKER,
        reason="test",
        ttl_seconds=600,
        settings=app.config["SETTINGS"],
        automatic=False,
    )
    assert client.get(PAGE, **from_ip(ATTACKER)).status_code == 403
    assert client.get("/healthz", **from_ip(ATTACKER)).status_code == 200
    assert client.get("/readyz", **from_ip(ATTACKER)).status_code == 200


def test_the_cli_lifts_a_block_in_redis_and_postgresql(client, app, redis_conn):
    from sqlalchemy import select

    from server.core.extensions import db
    from server.models import IpBlock

    admin = client.create_admin(app)
    created = client.post(
        "/api/admin/security/ip-blocks",
        token=admin.access_token,
        json={"ip": ATTACKER, "reason": "abuse", "ttl_seconds": 600},
    )
    assert created.status_code == 201
    runner = app.test_cli_runner()
    result = runner.invoke(args=["unblock-ip", ATTACKER])
    assert result.exit_code == 0, result.output
    assert f"block on {ATTACKER} lifted" in result.output
    assert not redis_conn.exists(f"ip_block:{ATTACKER}")
    row = db.session.scalars(select(IpBlock).where(IpBlock.ip == ATTACKER)).one()
    assert row.lifted_at is not None
    assert client.get(PAGE, **from_ip(ATTACKER)).status_code == 200
    # A restart (which rebuilds Redis's set from PostgreSQL) does not bring it back.
    restored = runner.invoke(args=["restore-ip-blocks"])
    assert "0 block(s) restored" in restored.output
    assert client.get(PAGE, **from_ip(ATTACKER)).status_code == 200
    again = runner.invoke(args=["unblock-ip", ATTACKER])
    assert again.exit_code == 1
    assert "not blocked" in again.output
    bad = runner.invoke(args=["unblock-ip", "not-an-ip"])
    assert bad.exit_code == 1
    assert "not a valid IPv4 or IPv6 address" in bad.output


def test_two_ipv6_addresses_in_one_64_share_a_limit_and_a_block(make_app, redis_conn):
    app = make_app(rate_limit_overrides={"RATE_LIMIT_API_REQUESTS_PER_IP_PER_MINUTE": "3/60"})
    client = ApiClient(app.test_client())
    first, second = from_ip("2001:db8:1:2::1"), from_ip("2001:db8:1:2:ffff:ffff:ffff:fffe")
    assert [client.get(PAGE, **first).status_code for _ in range(2)] == [200, 200]
    assert client.get(PAGE, **second).status_code == 200
    refused = client.get(PAGE, **second)
    assert refused.status_code == 429
    assert error_of(refused)["details"]["limit"] == "api_requests_per_ip_per_minute"
    assert redis_conn.zcard("rate_limit:api_requests_per_ip_per_minute:2001:db8:1:2::/64") == 3
    assert client.get(PAGE, **from_ip("2001:db8:1:3::1")).status_code == 200

    admin = client.create_admin(app)
    created = client.post(
        "/api/admin/security/ip-blocks",
        token=admin.access_token,
        json={"ip": "2001:db8:5:6::1", "reason": "abuse", "ttl_seconds": 600},
    )
    assert created.status_code == 201
    assert created.get_json()["ip"] == "2001:db8:5:6::/64"
    assert client.get(PAGE, **from_ip("2001:db8:5:6::abcd")).status_code == 403
    assert client.get(PAGE, **from_ip("2001:db8:5:7::1")).status_code == 200
    lifted = client.delete(
        "/api/admin/security/ip-blocks/2001:db8:5:6::abcd", token=admin.access_token
    )
    assert lifted.status_code == 204
    assert client.get(PAGE, **from_ip("2001:db8:5:6::1")).status_code == 200


def test_a_burst_of_404s_from_one_ipv6_64_blocks_all_of_it(make_app):
    app = make_app(ip_block_error_burst=4)
    client = ApiClient(app.test_client())
    for index in range(4):
        client.get("/wp-admin.php", **from_ip(f"2001:db8:9:9::{index + 1}"))
    assert client.get(PAGE, **from_ip("2001:db8:9:9::99")).status_code == 403


def test_a_user_who_trips_their_own_limit_does_not_get_the_address_blocked(make_app):
    app = make_app(
        rate_limit_overrides={"RATE_LIMIT_API_REQUESTS_PER_USER_PER_MINUTE": "1/60"},
        ip_block_throttled_burst=20,
    )
    client = ApiClient(app.test_client())
    account = client.create_account()
    statuses = [
        client.get("/api/user/credentials", token=account.access_token, **from_ip(ATTACKER))
        for _ in range(26)
    ]
    assert [r.status_code for r in statuses] == [200] + [429] * 25
    # Everyone else behind that address (one office, one NAT) is still served.
    assert client.get(PAGE, **from_ip(ATTACKER)).status_code == 200
    assert client.create_account().id


def test_failed_logins_from_one_ipv6_64_share_the_address_throttle(make_app):
    app = make_app(login_ip_threshold=2, ip_block_throttled_burst=1000)
    client = ApiClient(app.test_client())
    statuses = [
        client.login("me@example.com", "mistyped password", **from_ip(f"2001:db8:4:4::{n}"))
        for n in (1, 2, 3)
    ]
    assert [r.status_code for r in statuses] == [401, 401, 429]
    other = client.login("me@example.com", "mistyped password", **from_ip("2001:db8:4:5::1"))
    assert other.status_code == 401


def test_spraying_from_a_peer_that_is_no_ip_address_still_answers_401(make_app):
    app = make_app(ip_block_failed_accounts=3)
    client = ApiClient(app.test_client())
    peer = {"environ_base": {"REMOTE_ADDR": "unix:/run/app.sock"}}
    statuses = [
        client.login(f"victim{index}@example.com", "Summer2024!!", **peer).status_code
        for index in range(4)
    ]
    assert statuses == [401] * 4
