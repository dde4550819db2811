"""Accounts: register, login, refresh, logout and the token rules."""

from datetime import timedelta

import jwt as pyjwt
from flask_jwt_extended import create_access_token

from server.models import User
from tests.helpers import DEFAULT_PASSWORD, error_of


def test_register_creates_account_with_normalised_email(client, app):
    response = client.register("  Alice@Example.COM ", name="Alice")
    assert response.status_code == 201
    body = response.get_json()
    assert body["email"] == "alice@example.com"
    assert body["role"] == "user"
    assert "password_hash" not in body and "password" not in body
    assert body["created_at"].endswith("Z")
    stored = app.extensions["sqlalchemy"].session.get(User, body["id"])
    assert stored.password_hash.startswith("$2b$04$")


def test_an_address_in_any_case_has_one_account(client, app):
    first = client.register("bob@example.com")
    again = client.register("BOB@example.com", "a different sturdy passphrase")
    assert first.status_code == again.status_code == 201  # the answer does not tell
    session = app.extensions["sqlalchemy"].session
    assert session.query(User).filter_by(email="bob@example.com").count() == 1
    assert client.login("bob@example.com").status_code == 200


def test_default_bcrypt_cost_is_twelve(settings):
    from server.core.config import load_settings

    assert (
        load_settings(
            {"FLASK_ENV": "testing", "JWT_SECRET_KEY": "k" * 40, "ENCRYPTION_KEY": "e"}
        ).bcrypt_rounds
        == 12
    )
    assert (
        load_settings(
            {"BCRYPT_ROUNDS": "13", "JWT_SECRET_KEY": "k", "ENCRYPTION_KEY": "e"}
        ).bcrypt_rounds
        == 13
    )


def test_login_returns_tokens_and_user(client):
    client.register("carol@example.com")
    response = client.login("CAROL@example.com")
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["user"]["email"] == "carol@example.com"
    profile = client.get("/api/user/profile", token=body["access_token"])
    assert profile.status_code == 200
    assert profile.get_json()["email"] == "carol@example.com"
    assert profile.headers["Cache-Control"] == "no-store"


def test_wrong_password_and_unknown_user_get_the_same_answer(client):
    client.register("dave@example.com")
    wrong = client.login("dave@example.com", "not the right password")
    unknown = client.login("nobody@example.com", "not the right password")
    assert wrong.status_code == unknown.status_code == 401
    wrong_error, unknown_error = error_of(wrong), error_of(unknown)
    assert wrong_error["message"] == unknown_error["message"] == "Invalid email or password"
    assert wrong_error["code"] == unknown_error["code"]


def test_refresh_issues_a_working_access_token(client):
    account = client.create_account()
    response = client.post("/api/auth/refresh", token=account.refresh_token)
    assert response.status_code == 200
    new_token = response.get_json()["access_token"]
    assert client.get("/api/user/profile", token=new_token).status_code == 200


def test_refresh_token_is_refused_as_an_access_token(client):
    account = client.create_account()
    response = client.get("/api/user/profile", token=account.refresh_token)
    assert response.status_code == 401
    assert "token" in error_of(response)["message"].lower()


def test_access_token_is_refused_on_refresh(client):
    account = client.create_account()
    assert client.post("/api/auth/refresh", token=account.access_token).status_code == 401


def test_logout_revokes_access_and_refresh_tokens(client, redis_conn):
    account = client.create_account()
    response = client.post(
        "/api/auth/logout",
        token=account.access_token,
        json={"refresh_token": account.refresh_token},
    )
    assert response.status_code == 200
    revoked_access = client.get("/api/user/profile", token=account.access_token)
    assert revoked_access.status_code == 401
    assert error_of(revoked_access)["message"] == "Token has been revoked"
    assert client.post("/api/auth/refresh", token=account.refresh_token).status_code == 401
    # The blocklist entries expire with the tokens.
    keys = redis_conn.keys("token_blocklist:*")
    assert len(keys) == 2
    assert all(0 < redis_conn.ttl(key) <= 30 * 86400 + 1 for key in keys)


def test_logout_with_another_users_refresh_token_changes_nothing(client):
    alice, bob = client.create_account(), client.create_account()
    response = client.post(
        "/api/auth/logout", token=alice.access_token, json={"refresh_token": bob.refresh_token}
    )
    assert response.status_code == 422
    assert client.get("/api/user/profile", token=alice.access_token).status_code == 200
    assert client.post("/api/auth/refresh", token=bob.refresh_token).status_code == 200


def test_expired_token_is_refused(client, app):
    account = client.create_account()
    user = app.extensions["sqlalchemy"].session.get(User, account.id)
    expired = create_access_token(identity=user, expires_delta=timedelta(seconds=-5))
    response = client.get("/api/user/profile", token=expired)
    assert response.status_code == 401
    assert error_of(response)["message"] == "Token has expired"


def test_token_signed_with_another_key_or_alg_none_is_refused(client):
    account = client.create_account()
    payload = pyjwt.decode(account.access_token, options={"verify_signature": False})
    forged = pyjwt.encode(payload, "another-secret-key-that-is-long-enough", algorithm="HS256")
    assert client.get("/api/user/profile", token=forged).status_code == 401
    unsigned = pyjwt.encode(payload, None, algorithm="none")
    assert client.get("/api/user/profile", token=unsigned).status_code == 401
    assert client.get("/api/user/profile", token="garbage").status_code == 401


def test_password_is_never_in_a_response_or_log(client, settings):
    account = client.create_account(password=DEFAULT_PASSWORD + " unique-marker")
    client.get("/api/user/profile", token=account.access_token)
    logs = "".join(p.read_text() for p in settings.log_dir.glob("*.log"))
    assert "unique-marker" not in logs
    assert account.access_token not in logs
