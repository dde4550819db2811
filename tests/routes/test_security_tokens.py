"""Sessions: refresh rotation and reuse detection, fresh logins, revoking every session."""

import pytest

from server.core.extensions import db
from server.models import User
from tests.helpers import DEFAULT_PASSWORD, ApiClient, error_of

NEW_PASSWORD = "a brand new passphrase for tests"


def refresh(client, token):
    return client.post("/api/auth/refresh", token=token)


def test_refresh_rotates_the_refresh_token(client):
    account = client.create_account()
    first = refresh(client, account.refresh_token)
    assert first.status_code == 200
    body = first.get_json()
    assert body["refresh_token"] != account.refresh_token
    assert client.get("/api/user/profile", token=body["access_token"]).status_code == 200
    second = refresh(client, body["refresh_token"])
    assert second.status_code == 200


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(client, app):
    account = client.create_account()
    rotated = refresh(client, account.refresh_token).get_json()
    reuse = refresh(client, account.refresh_token)
    assert reuse.status_code == 401
    # Every token of that login is dead now, including the newest ones.
    assert refresh(client, rotated["refresh_token"]).status_code == 401
    assert client.get("/api/user/profile", token=rotated["access_token"]).status_code == 401
    assert client.get("/api/user/profile", token=account.access_token).status_code == 401
    # Another login of the same user is a different family and keeps working.
    assert client.login(account.email).status_code == 200
    admin = client.create_admin(app)
    events = client.get(
        "/api/admin/security/events?action=refresh_token_reuse", token=admin.access_token
    ).get_json()
    assert events["meta"]["total"] >= 1


def test_refreshed_access_token_is_not_fresh_for_sensitive_operations(client):
    account = client.create_account()
    refreshed = refresh(client, account.refresh_token).get_json()["access_token"]
    body = {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}
    response = client.post("/api/user/password", token=refreshed, json=body)
    assert response.status_code == 401
    assert error_of(response)["code"] == "fresh_login_required"
    for path, payload in (
        ("/api/user/email", {"new_email": "x@example.com", "current_password": DEFAULT_PASSWORD}),
        ("/api/user/delete", {"current_password": DEFAULT_PASSWORD}),
    ):
        assert client.post(path, token=refreshed, json=payload).status_code == 401


def test_password_change_needs_the_current_password(client):
    account = client.create_account()
    wrong = client.post(
        "/api/user/password",
        token=account.access_token,
        json={"current_password": "not my password", "new_password": NEW_PASSWORD},
    )
    assert wrong.status_code == 403
    missing = client.post(
        "/api/user/password", token=account.access_token, json={"new_password": NEW_PASSWORD}
    )
    assert missing.status_code == 422
    weak = client.post(
        "/api/user/password",
        token=account.access_token,
        json={"current_password": DEFAULT_PASSWORD, "new_password": "qwerty123456"},
    )
    assert weak.status_code == 422
    assert "new_password" in error_of(weak)["message"]
    assert client.login(account.email).status_code == 200


def test_password_change_revokes_every_session(client):
    account = client.create_account()
    other_session = client.login(account.email).get_json()
    response = client.post(
        "/api/user/password",
        token=account.access_token,
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert response.status_code == 200
    for token in (account.access_token, other_session["access_token"]):
        revoked = client.get("/api/user/profile", token=token)
        assert revoked.status_code == 401
        assert error_of(revoked)["code"] == "session_revoked"
    for token in (account.refresh_token, other_session["refresh_token"]):
        assert refresh(client, token).status_code == 401
    assert client.login(account.email).status_code == 401
    assert client.login(account.email, NEW_PASSWORD).status_code == 200


def test_logout_ends_the_tokens_refreshed_from_the_same_login(client):
    account = client.create_account()
    rotated = refresh(client, account.refresh_token).get_json()
    client.post("/api/auth/logout", token=account.access_token, json={})
    assert client.get("/api/user/profile", token=rotated["access_token"]).status_code == 401
    assert refresh(client, rotated["refresh_token"]).status_code == 401


def test_disabling_an_account_ends_its_sessions(client, app):
    account = client.create_account()
    admin = client.create_admin(app)
    response = client.post(f"/api/admin/users/{account.id}/disable", token=admin.access_token)
    assert response.status_code == 200 and response.get_json()["is_active"] is False
    assert client.get("/api/user/profile", token=account.access_token).status_code == 401
    assert refresh(client, account.refresh_token).status_code == 401
    client.post(f"/api/admin/users/{account.id}/enable", token=admin.access_token)
    assert client.login(account.email).status_code == 200


@pytest.mark.parametrize("session_state", ["cached", "rebuilt from the database"])
def test_an_account_switched_off_without_ending_its_sessions_is_refused(
    client, app, redis_conn, session_state
):
    account = client.create_account()
    assert client.get("/api/user/projects", token=account.access_token).status_code == 200
    # Off, with the session generation untouched: only `active` refuses its token now.
    db.session.get(User, account.id).is_active = False
    db.session.commit()  # written through to the cached session state
    if session_state != "cached":
        redis_conn.delete(f"user_auth:{account.id}")
    refused = client.get("/api/user/projects", token=account.access_token)
    assert refused.status_code == 401
    assert error_of(refused)["message"] == "User not found or disabled"


def test_an_admin_cannot_disable_themselves(client, app):
    admin = client.create_admin(app)
    response = client.post(f"/api/admin/users/{admin.id}/disable", token=admin.access_token)
    assert response.status_code == 422


def test_email_change_needs_the_password_and_keeps_the_address_unique(client):
    account = client.create_account()
    other = client.create_account()
    taken = client.post(
        "/api/user/email",
        token=account.access_token,
        json={"new_email": other.email, "current_password": DEFAULT_PASSWORD},
    )
    assert taken.status_code == 200 and taken.get_json()["email"] == account.email
    assert client.login(other.email).get_json()["user"]["id"] == other.id
    wrong = client.post(
        "/api/user/email",
        token=account.access_token,
        json={"new_email": "new@example.com", "current_password": "wrong password"},
    )
    assert wrong.status_code == 403
    moved = client.post(
        "/api/user/email",
        token=account.access_token,
        json={"new_email": "New@Example.com", "current_password": DEFAULT_PASSWORD},
    )
    assert moved.status_code == 200
    # The account moves once the new address confirms (tests/routes/test_account_enumeration).
    assert moved.get_json()["email"] == account.email
    assert client.login("new@example.com").status_code == 401


def test_account_deletion_needs_the_password_and_removes_everything(client):
    account = client.create_account()
    client.put(
        "/api/user/credentials/mimikree", token=account.access_token, json={"secret": "s3cret"}
    )
    wrong = client.post(
        "/api/user/delete", token=account.access_token, json={"current_password": "nope nope"}
    )
    assert wrong.status_code == 403
    deleted = client.post(
        "/api/user/delete", token=account.access_token, json={"current_password": DEFAULT_PASSWORD}
    )
    assert deleted.status_code == 200
    assert client.get("/api/user/profile", token=account.access_token).status_code == 401
    assert client.login(account.email).status_code == 401


def test_role_cannot_be_set_by_a_client(client):
    response = client.register(password=DEFAULT_PASSWORD)
    assert response.get_json()["role"] == "user"
    account = client.create_account()
    attempt = client.put(
        "/api/user/credentials/mimikree",
        token=account.access_token,
        json={"secret": "x", "user_id": 999, "role": "admin"},
    )
    assert attempt.status_code == 422


def test_deleting_an_account_with_jobs_takes_them_out_of_the_queue(client, app, redis_conn):
    from server.jobs import job_queue
    from tests.queue_helpers import fetch_job

    account = client.create_account()
    job_id = job_queue.submit_job(
        user_id=account.id, job_type="diagnostic", payload={"sleep_ms": 0, "fail_times": 0}
    )
    assert job_queue.queue_stats()["queue_size"] == 1
    deleted = client.post(
        "/api/user/delete", token=account.access_token, json={"current_password": DEFAULT_PASSWORD}
    )
    assert deleted.status_code == 200
    assert job_queue.queue_stats()["queue_size"] == 0
    assert fetch_job(job_id) is None


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_deleted_accounts_tokens_never_reach_the_next_sign_up(make_app, tmp_path, backend):
    """Ids are never reused, so an old token cannot name a newer account."""
    from flask_migrate import upgrade

    from server.core.extensions import db

    if backend == "sqlite":
        app = make_app(database_url=f"sqlite:///{tmp_path / 'ids.db'}")
        with app.app_context():
            upgrade()
            db.engine.dispose()
    else:
        app = make_app()
    client = ApiClient(app.test_client())
    alice = client.create_account()
    client.post(
        "/api/user/delete", token=alice.access_token, json={"current_password": DEFAULT_PASSWORD}
    )
    bob = client.create_account()
    assert bob.id != alice.id
    assert client.get("/api/user/profile", token=alice.access_token).status_code == 401
    assert client.post("/api/auth/refresh", token=alice.refresh_token).status_code == 401


def test_a_delete_that_fails_after_cancelling_leaves_the_jobs_as_they_were(client, app):
    from sqlalchemy import select, text

    from server.core.extensions import db
    from server.jobs import job_queue
    from server.models import Job

    account = client.create_account()
    job_ids = [
        job_queue.submit_job(
            user_id=account.id, job_type="diagnostic", payload={"sleep_ms": 0, "fail_times": 0}
        )
        for _ in range(2)
    ]
    # The database refuses the last step of the delete, after the jobs have been cancelled.
    db.session.execute(
        text(
            "CREATE FUNCTION refuse_user_delete() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'user rows are kept'; END $$"
        )
    )
    db.session.execute(
        text(
            "CREATE TRIGGER refuse_user_delete BEFORE DELETE ON users "
            "FOR EACH ROW EXECUTE FUNCTION refuse_user_delete()"
        )
    )
    db.session.commit()
    try:
        failed = client.post(
            "/api/user/delete",
            token=account.access_token,
            json={"current_password": DEFAULT_PASSWORD},
        )
    finally:
        db.session.rollback()
        db.session.execute(text("DROP TRIGGER refuse_user_delete ON users"))
        db.session.execute(text("DROP FUNCTION refuse_user_delete()"))
        db.session.commit()
    assert failed.status_code >= 500
    db.session.expire_all()
    jobs = db.session.scalars(select(Job).where(Job.id.in_(job_ids))).all()
    assert {(job.status, job.cancel_requested) for job in jobs} == {("queued", False)}
    assert job_queue.queue_stats()["queue_size"] == 2
    assert client.get("/api/user/profile", token=account.access_token).status_code == 200
