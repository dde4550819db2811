"""No answer tells whether an address has an account: registering it, or moving an account to
it, answers as for a free address, and its owner is mailed instead (real SMTP on 127.0.0.1)."""

from __future__ import annotations

from server import security_manager
from server.core.extensions import db
from server.models import User
from tests.helpers import DEFAULT_PASSWORD, error_of
from tests.routes.test_security_mail import token_from

OTHER_PASSWORD = "another sturdy passphrase here"


def shape(body: dict) -> dict:
    """What a registration answer shows, without the values that differ between any two."""
    return {key: value for key, value in body.items() if key not in ("id", "email", "created_at")}


def test_registering_a_taken_address_answers_as_a_new_one_and_mails_its_owner(
    mail_client, mail_app, smtp_server, deliver_mail, monkeypatch
):
    owner = mail_client.create_account("owner@example.com")
    hashed = []
    real_hash = security_manager.hash_password

    def counted(*args, **kwargs):
        hashed.append(1)
        return real_hash(*args, **kwargs)

    monkeypatch.setattr(security_manager, "hash_password", counted)

    before = mail_client.register("first@example.com", OTHER_PASSWORD)
    taken = mail_client.register("  OWNER@example.com ", OTHER_PASSWORD)
    after = mail_client.register("second@example.com", OTHER_PASSWORD)

    assert before.status_code == taken.status_code == after.status_code == 201
    assert shape(taken.get_json()) == shape(before.get_json()) == shape(after.get_json())
    assert taken.get_json()["email"] == "owner@example.com"
    # The answer's id is the one the next account would have taken; the next one takes the
    # one after it, as if an account had been made.
    assert before.get_json()["id"] < taken.get_json()["id"] < after.get_json()["id"]
    assert hashed == [1, 1, 1]  # the password is hashed for a taken address too
    assert db.session.get(User, taken.get_json()["id"]) is None
    assert mail_client.login("owner@example.com", OTHER_PASSWORD).status_code == 401
    assert mail_client.login(owner.email, DEFAULT_PASSWORD).status_code == 200

    deliver_mail(mail_app)
    [notice] = smtp_server.bodies_to("owner@example.com")
    assert "has an account already" in notice and "Nothing was created" in notice
    assert smtp_server.bodies_to("first@example.com") == []


def test_a_weak_password_is_refused_alike_for_a_taken_address(client):
    client.create_account("owner@example.com")
    for email in ("owner@example.com", "free@example.com"):
        response = client.register(email, "password")
        assert response.status_code == 422, email
        assert error_of(response)["code"] == "weak_password"


def test_the_owner_is_mailed_once_an_hour_however_often_the_address_is_registered(
    mail_client, mail_app, smtp_server, deliver_mail
):
    mail_client.create_account("owner@example.com")
    for _ in range(3):
        assert mail_client.register("owner@example.com", OTHER_PASSWORD).status_code == 201
    deliver_mail(mail_app)
    assert len(smtp_server.bodies_to("owner@example.com")) == 1


def move(client, account, new_email: str):
    return client.post(
        "/api/user/email",
        token=account.access_token,
        json={"new_email": new_email, "current_password": DEFAULT_PASSWORD},
    )


def test_moving_to_a_taken_address_answers_as_a_free_one_and_mails_its_owner(
    mail_client, mail_app, smtp_server, deliver_mail
):
    owner = mail_client.create_account("owner@example.com")
    alice = mail_client.create_account("alice@example.com")
    bob = mail_client.create_account("bob@example.com")

    to_taken = move(mail_client, alice, owner.email)
    to_free = move(mail_client, bob, "bob.new@example.com")

    assert to_taken.status_code == to_free.status_code == 200
    assert to_taken.get_json()["email"] == "alice@example.com"  # nothing moves before
    assert to_free.get_json()["email"] == "bob@example.com"  # the new address confirms
    assert set(to_taken.get_json()) == set(to_free.get_json())
    deliver_mail(mail_app)
    # Each requester hears the same about their own request, whoever owns the address.
    [alice_notice] = smtp_server.bodies_to("alice@example.com")
    [bob_notice] = smtp_server.bodies_to("bob@example.com")
    assert alice_notice.replace(owner.email, "X") == bob_notice.replace("bob.new@example.com", "X")
    [owner_notice] = smtp_server.bodies_to(owner.email)
    assert "Nothing was changed" in owner_notice
    assert mail_client.login(owner.email).get_json()["user"]["id"] == owner.id
    assert mail_client.login("alice@example.com").status_code == 200


def test_an_account_moves_when_the_new_address_confirms_it(
    mail_client, mail_app, smtp_server, deliver_mail
):
    account = mail_client.create_account("old@example.com")
    assert move(mail_client, account, "New@Example.com").status_code == 200
    deliver_mail(mail_app)
    assert mail_client.login("new@example.com").status_code == 401  # not before it confirms

    token = token_from(smtp_server.bodies_to("new@example.com")[0])
    confirmed = mail_client.post("/api/auth/verify-email/confirm", json={"token": token})

    assert confirmed.status_code == 200
    profile = mail_client.get("/api/user/profile", token=account.access_token).get_json()
    assert profile["email"] == "new@example.com" and profile["email_verified_at"].endswith("Z")
    assert mail_client.login("new@example.com").status_code == 200
    assert mail_client.login("old@example.com").status_code == 401
    deliver_mail(mail_app)
    assert any("changed to new@example.com" in b for b in smtp_server.bodies_to("old@example.com"))
    again = mail_client.post("/api/auth/verify-email/confirm", json={"token": token})
    assert again.status_code == 400


def test_a_confirmation_for_an_address_taken_meanwhile_moves_nothing(
    mail_client, mail_app, smtp_server, deliver_mail
):
    account = mail_client.create_account("old@example.com")
    move(mail_client, account, "wanted@example.com")
    deliver_mail(mail_app)
    token = token_from(smtp_server.bodies_to("wanted@example.com")[0])
    mail_client.create_account("wanted@example.com")

    confirmed = mail_client.post("/api/auth/verify-email/confirm", json={"token": token})

    assert confirmed.status_code == 400 and error_of(confirmed)["code"] == "invalid_token"
    profile = mail_client.get("/api/user/profile", token=account.access_token).get_json()
    assert profile["email"] == "old@example.com"
