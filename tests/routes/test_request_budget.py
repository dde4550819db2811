"""The hot path's budget: an authenticated read costs one Redis round trip and one query.

Round trips are counted where redis-py sends them (one packed send per command or pipeline),
statements where the PostgreSQL driver sends them (the hot reads bypass SQLAlchemy's execution).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import pytest
from redis.connection import AbstractConnection
from sqlalchemy import text

from server.core.extensions import db
from tests.helpers import error_of


@dataclass
class Cost:
    redis_round_trips: int = 0
    sql_statements: int = 0


@contextmanager
def counted(app, monkeypatch):
    """Count Redis round trips and SQL statements while the block runs."""
    cost = Cost()
    send = AbstractConnection.send_packed_command
    execute = psycopg.Cursor.execute

    def counting_send(self, command, check_health=True):
        cost.redis_round_trips += 1
        return send(self, command, check_health)

    def counting_execute(self, query, *args, **kwargs):
        if query != ";":  # the pool's liveness ping before a session's first query
            cost.sql_statements += 1
        return execute(self, query, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting_send)
    monkeypatch.setattr(psycopg.Cursor, "execute", counting_execute)
    try:
        yield cost
    finally:
        monkeypatch.setattr(AbstractConnection, "send_packed_command", send)
        monkeypatch.setattr(psycopg.Cursor, "execute", execute)


@pytest.fixture
def finished_job(client, app):
    """An account and one of its jobs that has finished (so its status has no queue place)."""
    account = client.create_account()
    job_id = client.post(
        "/api/jobs",
        json={"type": "project_analysis", "payload": {"job_description": "Python"}},
        headers=account.headers,
    ).get_json()["job_id"]
    with app.app_context():
        db.session.execute(
            text("UPDATE jobs SET status = 'succeeded' WHERE id = :id"), {"id": job_id}
        )
        db.session.commit()
    return account, job_id


def _cost_of(client, app, monkeypatch, path, account) -> Cost:
    assert client.get(path, headers=account.headers).status_code == 200  # scripts loaded, cached
    with counted(app, monkeypatch) as cost:
        response = client.get(path, headers=account.headers)
    assert response.status_code == 200, response.get_json()
    return cost


def test_a_job_status_costs_one_redis_round_trip_and_one_query(
    client, app, monkeypatch, finished_job
):
    account, job_id = finished_job
    cost = _cost_of(client, app, monkeypatch, f"/api/jobs/{job_id}/status", account)
    assert cost == Cost(redis_round_trips=1, sql_statements=1)


def test_a_waiting_job_status_reads_its_place_in_line_in_the_same_round_trip(
    client, app, monkeypatch
):
    admin = client.create_admin(app)
    job_ids = [
        client.post(
            "/api/jobs", json={"type": "diagnostic", "payload": {}}, headers=admin.headers
        ).get_json()["job_id"]
        for _ in range(2)
    ]

    cost = _cost_of(client, app, monkeypatch, f"/api/jobs/{job_ids[1]}/status", admin)

    assert cost == Cost(redis_round_trips=1, sql_statements=1)
    places = [
        client.get(f"/api/jobs/{job_id}/status", headers=admin.headers).get_json()
        for job_id in job_ids
    ]
    assert [(p["status"], p["queue_position"]) for p in places] == [("queued", 1), ("queued", 2)]


def test_the_profile_costs_one_redis_round_trip_and_one_query(client, app, monkeypatch):
    account = client.create_account()
    cost = _cost_of(client, app, monkeypatch, "/api/user/profile", account)
    assert cost == Cost(redis_round_trips=1, sql_statements=1)


def test_the_job_list_costs_one_redis_round_trip_and_its_page_queries(
    client, app, monkeypatch, finished_job
):
    account, _job_id = finished_job
    cost = _cost_of(client, app, monkeypatch, "/api/user/jobs", account)
    # The page and its total: nothing for authentication or limits.
    assert cost == Cost(redis_round_trips=1, sql_statements=2)


def test_a_disabled_user_is_refused_after_redis_is_flushed(client, app, redis_conn):
    admin = client.create_admin(app)
    user = client.create_account()
    assert client.get("/api/user/profile", headers=user.headers).status_code == 200
    disabled = client.post(f"/api/admin/users/{user.id}/disable", headers=admin.headers)
    assert disabled.status_code == 200, disabled.get_json()
    redis_conn.flushdb()

    response = client.get("/api/user/profile", headers=user.headers)

    assert response.status_code == 401
    assert client.get("/api/user/profile", headers=user.headers).status_code == 401


def test_a_session_ended_by_a_password_change_stays_ended_after_redis_is_flushed(
    client, redis_conn
):
    user = client.create_account()
    assert client.get("/api/user/profile", headers=user.headers).status_code == 200
    changed = client.post(
        "/api/user/password",
        json={"current_password": user.password, "new_password": "another sturdy passphrase"},
        headers=user.headers,
    )
    assert changed.status_code == 200, changed.get_json()
    redis_conn.flushdb()

    response = client.get("/api/user/profile", headers=user.headers)

    assert response.status_code == 401
    assert error_of(response)["code"] == "session_revoked"


def test_disabling_a_user_is_written_through_to_the_cache(client, app, redis_conn):
    admin = client.create_admin(app)
    user = client.create_account()
    assert client.get("/api/user/profile", headers=user.headers).status_code == 200
    assert redis_conn.hget(f"user_auth:{user.id}", "active") == "1"

    client.post(f"/api/admin/users/{user.id}/disable", headers=admin.headers)

    assert redis_conn.hget(f"user_auth:{user.id}", "active") == "0"
    assert client.get("/api/user/profile", headers=user.headers).status_code == 401


def test_an_error_response_is_counted_against_its_address_without_a_round_trip_of_its_own(
    client, app, monkeypatch, redis_conn
):
    account = client.create_account()
    missing = "/api/jobs/00000000-0000-4000-8000-000000000000/status"
    assert client.get("/api/user/profile", headers=account.headers).status_code == 200

    with counted(app, monkeypatch) as error_cost:
        assert client.get(missing, headers=account.headers).status_code == 404
    with counted(app, monkeypatch) as next_cost:
        assert client.get("/api/user/profile", headers=account.headers).status_code == 200

    assert error_cost.redis_round_trips == next_cost.redis_round_trips == 1
    assert redis_conn.get("ip_signal:errors:127.0.0.1") == "1"  # folded into the next request
