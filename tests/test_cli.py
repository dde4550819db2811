"""The operator's `flask` commands, run through Click's test runner against the real stores."""

import socket

import redis
from cryptography.fernet import Fernet
from sqlalchemy import text

from server.core.extensions import db
from server.core.redis_client import get_redis
from server.security_manager import encryption
from server.services import credentials
from tests.helpers import DEFAULT_PASSWORD, ApiClient

NEW_ADMIN_PASSWORD = "an admin passphrase nobody guesses"


def test_create_admin_on_an_existing_account_promotes_without_touching_the_password(app, client):
    account = client.create_account()
    result = app.test_cli_runner().invoke(args=["create-admin", account.email])
    assert result.exit_code == 0, result.output
    assert "promoted to admin; password and sessions unchanged" in result.output
    assert client.get("/api/user/profile", token=account.access_token).status_code == 200
    login = client.login(account.email, DEFAULT_PASSWORD)
    assert login.status_code == 200
    assert login.get_json()["user"]["role"] == "admin"


def test_create_admin_ignores_a_password_given_without_reset_password(app, client):
    account = client.create_account()
    result = app.test_cli_runner().invoke(
        args=["create-admin", account.email, "--password", NEW_ADMIN_PASSWORD]
    )
    assert result.exit_code == 0, result.output
    assert "--password ignored without --reset-password" in result.output
    assert client.login(account.email, DEFAULT_PASSWORD).status_code == 200


def test_create_admin_with_reset_password_sets_it_and_ends_the_sessions(app, client):
    account = client.create_account()
    result = app.test_cli_runner().invoke(
        args=["create-admin", account.email, "--reset-password"],
        input=f"{NEW_ADMIN_PASSWORD}\n{NEW_ADMIN_PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert "password reset and every session ended" in result.output
    assert client.get("/api/user/profile", token=account.access_token).status_code == 401
    assert client.login(account.email, DEFAULT_PASSWORD).status_code == 401
    assert client.login(account.email, NEW_ADMIN_PASSWORD).status_code == 200


def test_create_admin_creates_a_new_account_and_says_so(app, client):
    result = app.test_cli_runner().invoke(
        args=["create-admin", "Boss@Example.com", "--password", NEW_ADMIN_PASSWORD]
    )
    assert result.exit_code == 0, result.output
    assert "created admin boss@example.com" in result.output
    assert (
        client.login("boss@example.com", NEW_ADMIN_PASSWORD).get_json()["user"]["role"] == "admin"
    )


def test_redis_cli_reads_and_deletes_a_key_the_app_wrote(app, client, redis_conn):
    client.login("nobody@example.com")  # counted against the login limit of 127.0.0.1
    key = "rate_limit:auth_login_per_ip_per_minute:127.0.0.1"
    runner = app.test_cli_runner()

    counted = runner.invoke(args=["redis-cli", "ZCARD", key])
    assert counted.exit_code == 0 and counted.output == "1\n"
    deleted = runner.invoke(args=["redis-cli", "DEL", key])
    assert deleted.exit_code == 0 and deleted.output == "1\n"
    assert redis_conn.exists(key) == 0


def test_redis_cli_reaches_the_embedded_redis_the_app_uses(make_app, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = make_app(redis_url=None, instance_dir=tmp_path, embedded_redis_port=port)
    embedded = get_redis(app)
    try:
        embedded.set("rate_limit:resume_tailoring_per_user_per_day:123", "2")
        result = app.test_cli_runner().invoke(
            args=["redis-cli", "GET", "rate_limit:resume_tailoring_per_user_per_day:123"]
        )
        assert result.exit_code == 0 and result.output == "2\n"
    finally:
        try:
            embedded.shutdown(nosave=True)
        except redis.ConnectionError:
            pass


def test_unlock_account_lifts_a_login_lock_without_http(app, client):
    account = client.create_account()
    for _ in range(5):
        assert client.login(account.email, "wrong password here").status_code == 401
    assert client.login(account.email).status_code == 401  # locked
    runner = app.test_cli_runner()
    result = runner.invoke(args=["unlock-account", account.email.upper()])
    assert result.exit_code == 0, result.output
    assert f"{account.email}: lock lifted" in result.output
    assert client.login(account.email).status_code == 200
    again = runner.invoke(args=["unlock-account", account.email])
    assert again.exit_code == 0, again.output
    assert f"{account.email}: was not locked" in again.output


def _store_secrets(client, account) -> None:
    stored = client.put(
        "/api/user/credentials/mimikree",
        json={"username": "ada@example.com", "secret": "board password"},
        token=account.access_token,
    )
    assert stored.status_code == 200, stored.get_json()
    patched = client.request(
        "PATCH", "/api/user/profile", json={"eeo": {"gender": "female"}}, headers=account.headers
    )
    assert patched.status_code == 200, patched.get_json()


def test_rotate_encryption_key_moves_every_encrypted_column_so_the_old_key_can_go(
    app, client, make_app
):
    account = client.create_account()
    _store_secrets(client, account)
    old, new = app.config["SETTINGS"].encryption_key, Fernet.generate_key().decode()

    rotating = make_app(encryption_key=f"{new},{old}")
    with rotating.app_context():  # the command runs in the app context it finds
        result = rotating.test_cli_runner().invoke(args=["rotate-encryption-key"])
    assert result.exit_code == 0, result.output
    assert "user_credentials.secret_encrypted: 1 re-encrypted, 1 under the newest key" in (
        result.output
    )
    assert "applicant_profiles.eeo_encrypted: 1 re-encrypted, 1 under the newest key" in (
        result.output
    )
    assert "checked: every encrypted value is under the newest key" in result.output

    # The old key dropped, as the runbook says: everything still reads.
    new_only = make_app(encryption_key=new)
    profile = ApiClient(new_only.test_client()).get("/api/user/profile", token=account.access_token)
    assert profile.status_code == 200, profile.get_json()
    assert profile.get_json()["eeo"] == {"gender": "female"}
    assert profile.get_json()["unreadable_fields"] == []
    with new_only.app_context():
        secret = credentials.get_secret(user_id=account.id, service="mimikree")
        again = new_only.test_cli_runner().invoke(args=["rotate-encryption-key"])
    assert secret == {"username": "ada@example.com", "secret": "board password"}
    assert again.exit_code == 0, again.output
    assert (
        "applicant_profiles.eeo_encrypted: 0 re-encrypted, 1 under the newest key" in again.output
    )


def test_rotate_encryption_key_fails_while_a_value_is_under_a_key_not_in_encryption_key(
    app, client
):
    account = client.create_account()
    _store_secrets(client, account)
    lost = (Fernet.generate_key().decode(),)
    db.session.execute(
        text("UPDATE applicant_profiles SET eeo_encrypted = :token WHERE user_id = :id"),
        {"token": encryption.encrypt('{"gender": "female"}', keys=lost), "id": account.id},
    )
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["rotate-encryption-key"])
    assert result.exit_code == 1, result.output
    assert (
        "applicant_profiles.eeo_encrypted: 0 re-encrypted, 0 under the newest key, "
        f"1 under no key in ENCRYPTION_KEY (user_id {account.id})"
    ) in result.output
    assert "user_credentials.secret_encrypted: 0 re-encrypted, 1 under the newest key" in (
        result.output
    )
    assert "checked:" not in result.output
    assert "not done, keep every older key in ENCRYPTION_KEY" in result.output
    assert "1 value(s) were written with a key that is not in ENCRYPTION_KEY" in result.output
