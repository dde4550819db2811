"""Token revocations: PostgreSQL holds them, so a Redis that lost its data or is down never
revives a logged-out, rotated-away or ended-session token."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import insert, select, text

from server.core.extensions import db
from server.models import TokenRevocation
from server.security_manager import security_cache, token_revocations
from tests.helpers import DEFAULT_PASSWORD, ApiClient, error_of

PROFILE = "/api/user/profile"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def refresh(client, token):
    return client.post("/api/auth/refresh", token=token)


def logout(client, account):
    response = client.post(
        "/api/auth/logout",
        token=account.access_token,
        json={"refresh_token": account.refresh_token},
    )
    assert response.status_code == 200
    return response


@pytest.fixture
def sql_log(app):
    """The SQL statements the app sends while the test runs (as the driver sends them)."""
    statements: list[str] = []
    execute = psycopg.Cursor.execute

    def note(self, query, *args, **kwargs):
        statements.append(str(query))
        return execute(self, query, *args, **kwargs)

    psycopg.Cursor.execute = note
    yield statements
    psycopg.Cursor.execute = execute


@pytest.fixture
def unreachable_redis_client(make_app):
    """A client of an app whose Redis is a closed port, on the same database."""
    return ApiClient(make_app(redis_url=f"redis://127.0.0.1:{free_port()}/0").test_client())


def test_logged_out_tokens_stay_refused_after_redis_loses_its_data(client, redis_conn):
    account = client.create_account()
    logout(client, account)
    redis_conn.flushdb()
    revoked = client.get(PROFILE, token=account.access_token)
    assert revoked.status_code == 401
    assert error_of(revoked)["message"] == "Token has been revoked"
    assert refresh(client, account.refresh_token).status_code == 401
    # Again once the cache is rebuilt.
    assert client.get(PROFILE, token=account.access_token).status_code == 401
    assert refresh(client, account.refresh_token).status_code == 401


def test_a_rotated_refresh_token_presented_after_a_flush_revokes_its_family(
    client, app, redis_conn
):
    account = client.create_account()
    newest = refresh(client, account.refresh_token).get_json()
    redis_conn.flushdb()
    assert refresh(client, account.refresh_token).status_code == 401
    # It counted as reuse: every token of the login is dead, the newest included.
    assert refresh(client, newest["refresh_token"]).status_code == 401
    assert client.get(PROFILE, token=newest["access_token"]).status_code == 401
    admin = client.create_admin(app)
    events = client.get(
        "/api/admin/security/events?action=refresh_token_reuse", token=admin.access_token
    ).get_json()
    assert events["meta"]["total"] >= 1


def test_a_family_revoked_by_reuse_stays_revoked_after_a_flush(client, redis_conn):
    account = client.create_account()
    newest = refresh(client, account.refresh_token).get_json()
    assert refresh(client, account.refresh_token).status_code == 401  # reuse
    redis_conn.flushdb()
    assert refresh(client, newest["refresh_token"]).status_code == 401
    assert client.get(PROFILE, token=newest["access_token"]).status_code == 401


def test_ended_sessions_stay_ended_after_a_flush(client, redis_conn):
    account = client.create_account()
    changed = client.post(
        "/api/user/password",
        token=account.access_token,
        json={"current_password": DEFAULT_PASSWORD, "new_password": "another sturdy passphrase"},
    )
    assert changed.status_code == 200
    redis_conn.flushdb()
    ended = client.get(PROFILE, token=account.access_token)
    assert ended.status_code == 401
    assert error_of(ended)["code"] == "session_revoked"
    assert refresh(client, account.refresh_token).status_code == 401


def test_the_cache_is_rebuilt_from_the_database_after_a_flush(client, redis_conn):
    account = client.create_account()
    logout(client, account)
    redis_conn.flushdb()
    other = client.create_account()
    assert client.get(PROFILE, token=other.access_token).status_code == 200
    assert redis_conn.exists(token_revocations.CACHE_READY_KEY)
    keys = redis_conn.keys("token_blocklist:*")
    assert len(keys) == 2
    assert all(0 < redis_conn.ttl(key) <= 30 * 86400 + 1 for key in keys)
    assert len(redis_conn.keys("token_family_revoked:*")) == 1


def test_a_normal_request_checks_its_token_without_the_database(client, sql_log):
    account = client.create_account()
    assert client.get(PROFILE, token=account.access_token).status_code == 200  # cache built
    sql_log.clear()
    assert client.get(PROFILE, token=account.access_token).status_code == 200
    assert sql_log and not [s for s in sql_log if "token_revocations" in s]


def test_while_another_process_rebuilds_the_cache_tokens_are_checked_in_the_database(
    client, redis_conn, sql_log
):
    account = client.create_account()
    logout(client, account)
    redis_conn.flushdb()
    redis_conn.set(security_cache.REBUILD_LOCK_KEY, "another process", ex=60)
    sql_log.clear()
    assert client.get(PROFILE, token=account.access_token).status_code == 401
    assert [s for s in sql_log if "token_revocations" in s]
    # The cache is not declared whole by a process that did not rebuild it.
    assert not redis_conn.exists(token_revocations.CACHE_READY_KEY)
    assert not redis_conn.keys("token_blocklist:*")
    redis_conn.delete(security_cache.REBUILD_LOCK_KEY)
    assert client.get(PROFILE, token=account.access_token).status_code == 401
    assert redis_conn.exists(token_revocations.CACHE_READY_KEY)


def test_with_redis_down_a_logged_out_access_token_is_refused(client, unreachable_redis_client):
    account = client.create_account()
    live = client.create_account()
    logout(client, account)
    down = unreachable_redis_client
    revoked = down.get(PROFILE, token=account.access_token)
    assert revoked.status_code == 401
    assert error_of(revoked)["message"] == "Token has been revoked"
    assert down.post("/api/auth/refresh", token=account.refresh_token).status_code == 401
    # Live tokens still work: the database answers, nothing is refused blindly.
    assert down.get(PROFILE, token=live.access_token).status_code == 200


def test_with_redis_down_refresh_rotates_and_detects_reuse(client, unreachable_redis_client):
    account = client.create_account()
    down = unreachable_redis_client
    rotated = down.post("/api/auth/refresh", token=account.refresh_token)
    assert rotated.status_code == 200
    newest = rotated.get_json()
    assert down.get(PROFILE, token=newest["access_token"]).status_code == 200
    reuse = down.post("/api/auth/refresh", token=account.refresh_token)
    assert reuse.status_code == 401
    assert down.get(PROFILE, token=newest["access_token"]).status_code == 401
    # Redis never saw those revocations; the app that can reach it still refuses the tokens.
    assert client.get(PROFILE, token=newest["access_token"]).status_code == 401
    assert refresh(client, newest["refresh_token"]).status_code == 401


def test_a_logout_during_a_redis_outage_holds_once_redis_is_back(client, unreachable_redis_client):
    account = client.create_account()
    assert client.get(PROFILE, token=account.access_token).status_code == 200  # cache whole
    logout(unreachable_redis_client, account)
    assert client.get(PROFILE, token=account.access_token).status_code == 401
    assert refresh(client, account.refresh_token).status_code == 401


def test_expired_revocations_are_pruned_and_live_ones_kept(app, redis_conn):
    now = datetime.now(UTC)
    expired = {"jti": "expired-jti", "exp": int((now - timedelta(minutes=1)).timestamp())}
    live = {"jti": "live-jti", "exp": int((now + timedelta(minutes=10)).timestamp())}
    token_revocations.revoke(
        redis_conn,
        revocations=[
            token_revocations.token_revocation(expired),
            token_revocations.token_revocation(live),
        ],
    )
    assert token_revocations.prune_expired_revocations() == 1
    left = db.session.scalars(select(TokenRevocation.identifier)).all()
    assert left == ["live-jti"]


@pytest.mark.parametrize(
    "token",
    ["abc.def.ghi", "x", "\u00b7\u00b7\u00b7", "ab_cd.ef.gh", "eyJhbGciOiJIUzI1NiJ9.e30.t7e"],
)
def test_a_garbage_token_is_refused_as_malformed(client, token):
    response = client.get(PROFILE, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    error = error_of(response)
    assert error["code"] == "malformed_token"
    assert error["message"].startswith("Malformed token")
    assert "codec" not in error["message"]


def test_a_token_with_a_forged_signature_is_refused_as_invalid(client):
    account = client.create_account()
    header, payload, _signature = account.access_token.split(".")
    response = client.get(PROFILE, headers={"Authorization": f"Bearer {header}.{payload}.AAAA"})
    assert response.status_code == 401
    assert error_of(response)["message"] == "Invalid token: the signature does not match"


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_case_insensitive(client, scheme):
    account = client.create_account()
    response = client.get(PROFILE, headers={"Authorization": f"{scheme} {account.access_token}"})
    assert response.status_code == 200


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "Token abc"])
def test_a_header_without_a_bearer_token_says_what_to_send(client, header):
    response = client.get(PROFILE, headers={"Authorization": header})
    assert response.status_code == 401
    assert "Authorization: Bearer <token>" in error_of(response)["message"]


def test_revocations_survive_a_flush_on_the_embedded_sqlite_database_too(
    make_app, tmp_path, redis_conn
):
    from flask_migrate import upgrade

    app = make_app(database_url=f"sqlite:///{tmp_path / 'tokens.db'}")
    with app.app_context():
        upgrade()
    client = ApiClient(app.test_client())
    account = client.create_account()
    newest = refresh(client, account.refresh_token).get_json()
    assert refresh(client, account.refresh_token).status_code == 401  # reuse
    other = client.create_account()
    logout(client, other)
    redis_conn.flushdb()
    assert refresh(client, newest["refresh_token"]).status_code == 401
    assert client.get(PROFILE, token=other.access_token).status_code == 401
    with app.app_context():
        db.engine.dispose()


def _sessions_waiting_on_a_lock() -> int:
    with db.engine.connect() as connection:
        return connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )


def test_two_refreshes_racing_with_one_token_let_one_through_and_revoke_the_family(app, client):
    from flask_jwt_extended import decode_token

    account = client.create_account()
    payload = decode_token(account.refresh_token)
    retired = token_revocations.token_revocation(payload, state=token_revocations.ROTATED)
    answers = []
    barrier = threading.Barrier(2)

    def exchange():
        barrier.wait()
        answers.append(refresh(ApiClient(app.test_client()), account.refresh_token))

    # Another transaction holds the same retirement row uncommitted, so both exchanges pass
    # their token checks and then wait on PostgreSQL's unique index at the same moment.
    blocker = db.engine.connect()
    transaction = blocker.begin()
    blocker.execute(insert(TokenRevocation).values(retired.row()))
    threads = [threading.Thread(target=exchange) for _ in range(2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while _sessions_waiting_on_a_lock() < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _sessions_waiting_on_a_lock() == 2, "both exchanges should wait on the same row"
    transaction.rollback()
    blocker.close()
    for thread in threads:
        thread.join(timeout=20)

    assert sorted(answer.status_code for answer in answers) == [200, 401]
    (winner,) = [answer.get_json() for answer in answers if answer.status_code == 200]
    (loser,) = [answer for answer in answers if answer.status_code == 401]
    assert error_of(loser)["code"] == "refresh_token_reused"
    # The reuse ended the whole login, the tokens the winner just received included.
    assert refresh(client, winner["refresh_token"]).status_code == 401
    assert client.get(PROFILE, token=winner["access_token"]).status_code == 401
