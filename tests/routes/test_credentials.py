"""Third-party credentials: encrypted at rest, never returned, owner-only."""

from sqlalchemy import select

from server.models import UserCredential
from server.services import credentials
from tests.helpers import at_once, error_of


def test_a_credential_is_stored_encrypted_and_never_returned(client, app):
    account = client.create_account()
    response = client.put(
        "/api/user/credentials/mimikree",
        token=account.access_token,
        json={"username": "<b>me</b>@mimikree", "secret": "hunter2-mimikree"},
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body == {**body, "service": "mimikree", "username": "me@mimikree"}
    assert "secret" not in body and "secret_encrypted" not in body
    listed = client.get("/api/user/credentials", token=account.access_token)
    assert b"hunter2" not in listed.data
    assert [c["service"] for c in listed.get_json()["items"]] == ["mimikree"]
    session = app.extensions["sqlalchemy"].session
    stored = session.scalar(select(UserCredential))
    assert "hunter2" not in stored.secret_encrypted
    secret = credentials.get_secret(user_id=account.id, service="mimikree")
    assert secret == {"username": "me@mimikree", "secret": "hunter2-mimikree"}


def test_replacing_and_deleting_a_credential(client):
    account = client.create_account()
    path = "/api/user/credentials/greenhouse"
    client.put(path, token=account.access_token, json={"secret": "one"})
    client.put(path, token=account.access_token, json={"secret": "two"})
    assert (
        len(client.get("/api/user/credentials", token=account.access_token).get_json()["items"])
        == 1
    )
    assert client.delete(path, token=account.access_token).status_code == 204
    assert client.delete(path, token=account.access_token).status_code == 404


def test_unknown_services_and_bad_bodies_are_422(client):
    account = client.create_account()
    unknown = client.put(
        "/api/user/credentials/evilcorp", token=account.access_token, json={"secret": "x"}
    )
    assert unknown.status_code == 422
    assert "service" in error_of(unknown)["message"]
    empty = client.put("/api/user/credentials/mimikree", token=account.access_token, json={})
    assert empty.status_code == 422


def test_users_see_only_their_own_credentials(client):
    alice, bob = client.create_account(), client.create_account()
    client.put("/api/user/credentials/lever", token=alice.access_token, json={"secret": "a"})
    assert client.get("/api/user/credentials", token=bob.access_token).get_json()["items"] == []
    assert client.delete("/api/user/credentials/lever", token=bob.access_token).status_code == 404
    assert (
        len(client.get("/api/user/credentials", token=alice.access_token).get_json()["items"]) == 1
    )


def test_stores_of_one_credential_at_the_same_moment_all_succeed(app, client):
    account = client.create_account()

    codes = at_once(
        4,
        lambda i: (
            app.test_client()
            .put(
                "/api/user/credentials/mimikree",
                json={"username": "me@mimikree", "secret": f"secret-{i}"},
                headers=account.headers,
            )
            .status_code
        ),
    )

    assert codes == [200] * 4
    listed = client.get("/api/user/credentials", token=account.access_token).get_json()
    assert [c["service"] for c in listed["items"]] == ["mimikree"]
    stored = credentials.get_secret(user_id=account.id, service="mimikree")
    assert stored["secret"] in {f"secret-{i}" for i in range(4)}
