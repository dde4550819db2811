"""Passwords at registration, login protection (lockout, throttle) and the four identical failures."""

import socket
import time

import bcrypt
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from server.models import User
from tests.helpers import (
    DEFAULT_PASSWORD,
    GENEROUS_TEST_LIMITS,
    ApiClient,
    error_of,
    without_request_id,
)

FUZZ = hypothesis_settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def settings(settings):
    """Many logins from 127.0.0.1 here test lockout, not the per-IP request limits."""
    return settings.replace(rate_limit_overrides=GENEROUS_TEST_LIMITS)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stored_user(app, user_id):
    session = app.extensions["sqlalchemy"].session
    session.expire_all()
    return session.get(User, user_id)


@pytest.mark.parametrize(
    ("password", "status"),
    [
        ("x7#kq!vz9@b", 422),  # 11 characters: one short
        ("x7#kq!vz9@bm", 201),  # exactly the minimum
        ("correct horse battery staple " * 2 + "abcdef", 201),  # 64 characters
        ("🐴🔋📎 horse battery staple 🐴🔋📎", 201),
        ("Grüße aus München, schöne Übungen! " * 4, 201),  # over 72 UTF-8 bytes
        ("ü" * 200, 422),  # one character repeated
        ("qwerty123456", 422),
        ("password1234", 422),
        ("123456789012", 422),  # a sequence
        ("qwertyuiop[]", 422),  # a keyboard walk
        ("dfghjkl;'zxc", 422),
        ("2001-09-11!!", 422),  # a date
    ],
)
def test_registration_applies_the_length_and_list_policy(client, password, status):
    response = client.register(password=password)
    assert response.status_code == status, response.get_json()
    if status == 422:
        error = error_of(response)
        assert error["code"] == "weak_password"
        assert error["message"].startswith("password: ")


def test_weak_password_message_says_why(client):
    short = error_of(client.register(password="short one"))["message"]
    assert "at least 12 characters" in short
    common = error_of(client.register(password="1q2w3e4r5t6y"))["message"]
    assert "too common" in common
    named = error_of(client.register("jonathan.doe@example.com", "jonathan rules the world"))
    assert "email name" in named["message"]


@pytest.mark.parametrize(
    ("password", "advice"),
    [
        ("123456789012", "similar to a commonly used password"),
        ("dfghjkl;'zxc", "Straight rows of keys are easy to guess"),
        ("xcvbnm,./;lk", "keyboard patterns are easy to guess"),
        ("2001-09-11!!", "Dates are often easy to guess"),
    ],
)
def test_a_guessable_password_is_refused_with_advice_on_fixing_it(client, password, advice):
    error = error_of(client.register(password=password))
    assert error["code"] == "weak_password"
    assert error["message"].startswith("password: is too easy to guess.")
    assert advice in error["message"]
    assert "Add another word or two" in error["details"]["password"][0]


def test_a_password_made_of_the_users_own_name_is_refused(client):
    own = client.register(password="QuorvathIxelbrandt", name="Quorvath Ixelbrandt")
    assert own.status_code == 422
    assert client.register(password="QuorvathIxelbrandt", name="Someone Else").status_code == 201


def test_a_guessable_new_password_is_refused_on_change(client):
    account = client.create_account()
    response = client.post(
        "/api/user/password",
        token=account.access_token,
        json={"current_password": DEFAULT_PASSWORD, "new_password": "1qaz2wsx3edc4rfv"},
    )
    assert response.status_code == 422
    assert client.login(account.email).status_code == 200


def test_a_sixty_four_character_passphrase_logs_in_exactly_as_typed(client):
    password = "The quick brown fox jumps over the lazy dog, twice; yes really!!"
    assert len(password) == 64
    assert client.register("fox@example.com", password).status_code == 201
    assert client.login("fox@example.com", password).status_code == 200
    assert client.login("fox@example.com", password.upper()).status_code == 401
    assert client.login("fox@example.com", password[:-1]).status_code == 401


@FUZZ
@given(password=st.text(max_size=300))
def test_any_password_at_registration_is_201_or_422_never_500(make_app, password):
    app = make_app(ip_allowlist=("127.0.0.1",), login_ip_threshold=100_000)
    response = ApiClient(app.test_client()).register(password=password)
    assert response.status_code in (201, 422), response.get_json()


@FUZZ
@given(password=st.text(max_size=300))
def test_any_password_at_login_is_200_or_401_never_500(make_app, password):
    app = make_app(ip_allowlist=("127.0.0.1",), login_ip_threshold=100_000)
    client = ApiClient(app.test_client())
    response = client.login("someone@example.com", password or "x")
    assert response.status_code in (200, 401, 422), response.get_json()


def test_bcrypt_cost_change_rehashes_at_the_next_login(client, app, make_app):
    account = client.create_account()
    assert stored_user(app, account.id).password_hash.startswith("$2b$04$")
    stronger = make_app(bcrypt_rounds=5)
    assert ApiClient(stronger.test_client()).login(account.email).status_code == 200
    assert stored_user(app, account.id).password_hash.startswith("$2b$05$")


def lock(client, email, times=5, ip="127.0.0.1"):
    for _ in range(times):
        response = client.login(email, "wrong password here", environ_base={"REMOTE_ADDR": ip})
        assert response.status_code == 401


def test_the_four_login_failures_are_identical(client, app, redis_conn):
    client.register("known@example.com")
    client.register("locked@example.com")
    disabled = client.register("disabled@example.com").get_json()
    session = app.extensions["sqlalchemy"].session
    session.get(User, disabled["id"]).is_active = False
    session.commit()
    lock(client, "locked@example.com")

    unknown = client.login("nobody@example.com", DEFAULT_PASSWORD)
    wrong = client.login("known@example.com", "not the right password")
    locked = client.login("locked@example.com", DEFAULT_PASSWORD)  # right password, locked
    disabled_response = client.login("disabled@example.com", DEFAULT_PASSWORD)
    responses = [unknown, wrong, locked, disabled_response]
    assert {r.status_code for r in responses} == {401}
    bodies = [without_request_id(r) for r in responses]
    assert all(body == bodies[0] for body in bodies), bodies
    assert bodies[0]["error"]["message"] == "Invalid email or password"
    # Rate-limit headers count this address's requests, the same way whatever the account.
    counting = (
        "X-Request-ID",
        "Content-Length",
        "RateLimit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
    )
    header_sets = [{k: v for k, v in r.headers.items() if k not in counting} for r in responses]
    assert all(h == header_sets[0] for h in header_sets)


def test_a_missing_account_costs_one_bcrypt_check_like_a_real_one(client, monkeypatch):
    client.register("timed@example.com")
    calls = []
    real = bcrypt.checkpw

    def counting(password, hashed):
        calls.append(1)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    client.login("nobody@example.com", "some password here")
    assert len(calls) == 1
    client.login("timed@example.com", "some password here")
    assert len(calls) == 2


def test_account_locks_after_the_threshold_even_for_the_right_password(client, app):
    account = client.create_account()
    lock(client, account.email)
    assert client.login(account.email).status_code == 401
    events = client.get(
        "/api/admin/security/events?action=account_locked",
        token=client.create_admin(app).access_token,
    ).get_json()
    assert events["meta"]["total"] == 1
    assert events["items"][0]["details"]["failures"] == 5


def test_failures_on_an_unknown_email_lock_it_like_a_real_account(client, app):
    known = client.create_account()
    lock(client, known.email)
    lock(client, "nobody@example.com")

    events = client.get(
        "/api/admin/security/events?action=account_locked",
        token=client.create_admin(app).access_token,
    ).get_json()
    locks = {event["object_id"]: event["details"] for event in events["items"]}
    assert set(locks) == {known.email, "nobody@example.com"}
    assert locks["nobody@example.com"] == locks[known.email]
    # The lock holds for whoever registers that email later, like any locked account.
    client.register("nobody@example.com")
    assert client.login("nobody@example.com").status_code == 401


def test_failures_from_many_addresses_still_lock_the_account(client):
    account = client.create_account()
    for index in range(5):
        lock(client, account.email, times=1, ip=f"198.51.100.{index + 1}")
    assert client.login(account.email).status_code == 401


def test_lock_expires_after_its_tier(make_app):
    app = make_app(login_lockout_tiers=((3, 1),))
    client = ApiClient(app.test_client())
    account = client.create_account()
    lock(client, account.email, times=3)
    assert client.login(account.email).status_code == 401
    time.sleep(1.2)
    assert client.login(account.email).status_code == 200


def test_admin_unlock_lifts_the_lock(client, app):
    account = client.create_account()
    lock(client, account.email)
    admin = client.create_admin(app)
    response = client.post(f"/api/admin/users/{account.id}/unlock", token=admin.access_token)
    assert response.status_code == 200
    assert client.login(account.email).status_code == 200


def test_a_lock_holds_after_redis_loses_its_data(client, redis_conn):
    account = client.create_account()
    lock(client, account.email)
    redis_conn.flushdb()
    assert client.login(account.email).status_code == 401  # the right password, still locked
    # The first miss rebuilt Redis's copy of the lock from PostgreSQL.
    assert 0 < redis_conn.ttl(f"login_lock:account:{account.email}") <= 61


def test_failures_before_redis_loses_its_data_still_count(client, redis_conn):
    account = client.create_account()
    lock(client, account.email, times=4)
    redis_conn.flushdb()
    lock(client, account.email, times=1)  # the fifth in a row
    assert client.login(account.email).status_code == 401


def test_with_redis_unreachable_failed_logins_still_lock_the_account(client, make_app):
    account = client.create_account()
    down = ApiClient(make_app(redis_url=f"redis://127.0.0.1:{free_port()}/0").test_client())
    guesses = [down.login(account.email, "wrong password here").status_code for _ in range(28)]
    assert set(guesses) == {401}
    assert down.login(account.email).status_code == 401  # the right password, locked
    # Redis answers again: the lock made meanwhile holds there too.
    assert client.login(account.email).status_code == 401


def test_a_locked_user_can_still_ask_for_a_reset(client):
    account = client.create_account()
    lock(client, account.email)
    response = client.post("/api/auth/password-reset/request", json={"email": account.email})
    assert response.status_code == 202


def test_success_resets_the_failure_count(client):
    account = client.create_account()
    lock(client, account.email, times=4)
    assert client.login(account.email).status_code == 200
    lock(client, account.email, times=4)
    assert client.login(account.email).status_code == 200


def test_an_address_with_many_failures_is_throttled_with_retry_after(make_app):
    app = make_app(login_ip_threshold=3)
    client = ApiClient(app.test_client())
    account = client.create_account()
    for _ in range(3):
        assert client.login("nobody@example.com", "wrong password here").status_code == 401
    throttled = client.login(account.email)
    assert throttled.status_code == 429
    assert error_of(throttled)["code"] == "login_throttled"
    assert 0 < int(throttled.headers["Retry-After"]) <= 900
    other_address = client.login(account.email, environ_base={"REMOTE_ADDR": "192.0.2.44"})
    assert other_address.status_code == 200


def wrong_current_password(client, account, path: str):
    body = {"current_password": "not the current password"}
    if path == "/api/user/password":
        body["new_password"] = "a completely different passphrase"
    elif path == "/api/user/email":
        body["new_email"] = "elsewhere@example.com"
    return client.post(path, token=account.access_token, json=body)


@pytest.mark.parametrize("path", ["/api/user/password", "/api/user/email", "/api/user/delete"])
def test_wrong_current_passwords_lock_the_account_like_failed_logins(client, path):
    account = client.create_account()
    answers = [wrong_current_password(client, account, path) for _ in range(6)]
    assert [a.status_code for a in answers[:4]] == [403] * 4
    assert error_of(answers[5])["code"] == "account_locked"
    right = client.post(
        "/api/user/password",
        token=account.access_token,
        json={"current_password": DEFAULT_PASSWORD, "new_password": "a completely new passphrase"},
    )
    assert right.status_code == 429
    assert error_of(right)["code"] == "account_locked"
    assert int(right.headers["Retry-After"]) > 0
    assert client.login(account.email).status_code == 401  # the same lock as logins


def test_failed_logins_count_towards_the_current_password_lock(client):
    account = client.create_account()
    lock(client, account.email, times=4)
    assert wrong_current_password(client, account, "/api/user/delete").status_code == 429
    refused = client.post(
        "/api/user/delete", token=account.access_token, json={"current_password": DEFAULT_PASSWORD}
    )
    assert refused.status_code == 429
    assert client.get("/api/user/profile", token=account.access_token).status_code == 200
