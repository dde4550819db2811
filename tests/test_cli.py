"""The operator's `flask` commands, run through Click's test runner against the real stores."""

from tests.helpers import DEFAULT_PASSWORD

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
