"""Email verification and password reset, end to end through a real SMTP server on 127.0.0.1."""

import re
from datetime import timedelta

from sqlalchemy import update

from server.models import OneTimeToken, utcnow
from tests.helpers import DEFAULT_PASSWORD, ApiClient, error_of

NEW_PASSWORD = "a brand new passphrase for tests"
TOKEN = re.compile(r"^([A-Za-z0-9_-]{40,})\s*$", re.MULTILINE)


def token_from(mail_body: str) -> str:
    return TOKEN.search(mail_body).group(1)


def test_email_verification_end_to_end(mail_client, smtp_server):
    account = mail_client.create_account()
    response = mail_client.post("/api/auth/verify-email/request", token=account.access_token)
    assert response.status_code == 202
    [body] = smtp_server.bodies_to(account.email)
    token = token_from(body)
    assert f"verify-email?token={token}" in body
    confirmed = mail_client.post("/api/auth/verify-email/confirm", json={"token": token})
    assert confirmed.status_code == 200
    profile = mail_client.get("/api/user/profile", token=account.access_token).get_json()
    assert profile["email_verified_at"].endswith("Z")
    reused = mail_client.post("/api/auth/verify-email/confirm", json={"token": token})
    assert reused.status_code == 400
    assert error_of(reused)["code"] == "invalid_token"


def test_only_a_hash_of_the_token_is_stored(mail_client, mail_app, smtp_server):
    account = mail_client.create_account()
    mail_client.post("/api/auth/verify-email/request", token=account.access_token)
    token = token_from(smtp_server.bodies_to(account.email)[0])
    session = mail_app.extensions["sqlalchemy"].session
    stored = session.query(OneTimeToken).one()
    assert stored.token_hash != token and token not in stored.token_hash
    assert len(stored.token_hash) == 64


def test_password_reset_end_to_end_revokes_sessions(mail_client, smtp_server):
    account = mail_client.create_account()
    response = mail_client.post("/api/auth/password-reset/request", json={"email": account.email})
    assert response.status_code == 202
    token = token_from(smtp_server.bodies_to(account.email)[0])
    weak = mail_client.post(
        "/api/auth/password-reset/confirm", json={"token": token, "new_password": "short"}
    )
    assert weak.status_code == 422  # and the token still works:
    done = mail_client.post(
        "/api/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert done.status_code == 200
    assert mail_client.get("/api/user/profile", token=account.access_token).status_code == 401
    assert mail_client.post("/api/auth/refresh", token=account.refresh_token).status_code == 401
    assert mail_client.login(account.email, DEFAULT_PASSWORD).status_code == 401
    assert mail_client.login(account.email, NEW_PASSWORD).status_code == 200
    again = mail_client.post(
        "/api/auth/password-reset/confirm",
        json={"token": token, "new_password": "yet another fine passphrase"},
    )
    assert again.status_code == 400


def test_reset_answers_the_same_for_unknown_addresses_and_sends_nothing(mail_client, smtp_server):
    account = mail_client.create_account()
    known = mail_client.post("/api/auth/password-reset/request", json={"email": account.email})
    unknown = mail_client.post(
        "/api/auth/password-reset/request", json={"email": "ghost@example.com"}
    )
    assert known.status_code == unknown.status_code == 202
    assert known.get_json() == unknown.get_json()
    assert smtp_server.bodies_to("ghost@example.com") == []
    assert len(smtp_server.bodies_to(account.email)) == 1


def test_reset_requests_for_one_address_are_spaced_out(mail_client, smtp_server):
    account = mail_client.create_account()
    for _ in range(3):
        mail_client.post("/api/auth/password-reset/request", json={"email": account.email})
    assert len(smtp_server.bodies_to(account.email)) == 1


def test_an_expired_reset_token_is_refused(mail_client, mail_app, smtp_server):
    account = mail_client.create_account()
    mail_client.post("/api/auth/password-reset/request", json={"email": account.email})
    token = token_from(smtp_server.bodies_to(account.email)[0])
    session = mail_app.extensions["sqlalchemy"].session
    session.execute(update(OneTimeToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    session.commit()
    response = mail_client.post(
        "/api/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 400
    assert mail_client.login(account.email).status_code == 200


def test_a_newer_reset_token_voids_the_older_one(make_app, smtp_server):
    app = make_app(
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        smtp_use_tls=False,
        password_reset_cooldown_seconds=0,
    )
    client = ApiClient(app.test_client())
    account = client.create_account()
    for _ in range(2):
        client.post("/api/auth/password-reset/request", json={"email": account.email})
    bodies = smtp_server.bodies_to(account.email)
    assert len(bodies) == 2, bodies
    first, second = (token_from(b) for b in bodies)
    old = client.post(
        "/api/auth/password-reset/confirm", json={"token": first, "new_password": NEW_PASSWORD}
    )
    assert old.status_code == 400
    new = client.post(
        "/api/auth/password-reset/confirm", json={"token": second, "new_password": NEW_PASSWORD}
    )
    assert new.status_code == 200


def test_without_smtp_mail_goes_to_the_outbox(client, settings):
    account = client.create_account()
    assert (
        client.post("/api/auth/verify-email/request", token=account.access_token).status_code == 202
    )
    mails = [p.read_text() for p in settings.outbox_dir.glob("*.eml")]
    assert sum(f"To: {account.email}" in mail for mail in mails) == 1


def test_email_change_sends_a_verification_to_the_new_address(mail_client, smtp_server):
    account = mail_client.create_account()
    mail_client.post(
        "/api/user/email",
        token=account.access_token,
        json={"new_email": "moved@example.com", "current_password": DEFAULT_PASSWORD},
    )
    assert "changed to moved@example.com" in smtp_server.bodies_to(account.email)[0]
    token = token_from(smtp_server.bodies_to("moved@example.com")[0])
    assert (
        mail_client.post("/api/auth/verify-email/confirm", json={"token": token}).status_code == 200
    )
