"""The polled reads (job status, profile) answered below Flask (`server.web.fast_path`).

A poll with a token this process has verified is answered without Flask's request machinery;
everything a client can observe must be what Flask would have answered: the body, the
headers, the refusals, the limits spent (once), the audit record of a probe, the access log
and the metrics. Whether Flask dispatched a request is observed with a `before_request` hook
of the test's own.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from functools import partial

import jwt as pyjwt
import pytest
from flask import Flask
from flask_jwt_extended import create_access_token
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, text
from werkzeug.test import Client

from server.core.extensions import db
from server.models import SecurityEvent, User
from server.ops.database_optimizer import SLOW_QUERIES_KEY
from server.security_manager import ip_blocking
from tests.helpers import ApiClient, error_of

# Headers whose values differ from one request to the next by design.
_PER_REQUEST = {"x-request-id", "ratelimit", "x-ratelimit-remaining", "x-ratelimit-reset"}


@pytest.fixture
def dispatched(app):
    """How many requests Flask itself dispatched (the fast path's answers are not counted)."""
    seen = []
    # First of the hooks: the request gate's refusals stop the hooks after it.
    app.before_request_funcs.setdefault(None, []).insert(0, lambda: seen.append(1))
    return seen


def _submit_job(client: ApiClient, account) -> str:
    submitted = client.post(
        "/api/jobs",
        json={"type": "project_analysis", "payload": {"job_description": "Python"}},
        token=account.access_token,
    )
    assert submitted.status_code == 202, submitted.get_json()
    return submitted.get_json()["job_id"]


def _remaining(response) -> int:
    return int(response.headers["X-RateLimit-Remaining"])


@pytest.mark.parametrize("path", ["status", "profile"])
def test_a_poll_skips_flask_and_answers_what_flask_answers(client, app, dispatched, path):
    account = client.create_account()
    url = (
        f"/api/jobs/{_submit_job(client, account)}/status"
        if path == "status"
        else "/api/user/profile"
    )
    # Flask's own answer: its `wsgi_app` without the layers in front of it.
    flask_only = Client(partial(Flask.wsgi_app, app))
    before = len(dispatched)
    by_flask = flask_only.get(url, headers={"Authorization": f"Bearer {account.access_token}"})
    assert len(dispatched) == before + 1
    fast = client.get(url, token=account.access_token)
    assert len(dispatched) == before + 1, "the poll went through Flask"

    assert fast.status_code == by_flask.status_code == 200
    assert fast.get_data() == by_flask.get_data()
    assert fast.content_type == by_flask.content_type == "application/json"
    assert {k.lower() for k in fast.headers.keys()} == {k.lower() for k in by_flask.headers.keys()}
    for name, value in by_flask.headers.items():
        if name.lower() not in _PER_REQUEST:
            assert fast.headers[name] == value, name
    assert int(fast.headers["Content-Length"]) == len(fast.get_data())
    assert fast.headers["X-Request-ID"] != by_flask.headers["X-Request-ID"]
    assert _remaining(fast) == _remaining(by_flask) - 1  # each poll spent its limits once


def test_a_token_this_process_has_not_verified_goes_through_flask(client, dispatched):
    account = client.create_account()  # the login verified no access token
    before = len(dispatched)
    assert client.get("/api/user/profile", token=account.access_token).status_code == 200
    assert len(dispatched) == before + 1
    assert client.get("/api/user/profile", token=account.access_token).status_code == 200
    assert len(dispatched) == before + 1
    forged = account.access_token[:-4] + ("AAAA" if account.access_token[-4:] != "AAAA" else "BBBB")
    refused = client.get("/api/user/profile", token=forged)
    assert refused.status_code == 401
    assert len(dispatched) == before + 2


def test_the_place_in_line_comes_with_the_fast_answer(client, dispatched):
    account = client.create_account()
    first, second = _submit_job(client, account), _submit_job(client, account)
    client.get(f"/api/jobs/{first}/status", token=account.access_token)
    before = len(dispatched)
    places = [
        client.get(f"/api/jobs/{job}/status", token=account.access_token).get_json()
        for job in (first, second)
    ]
    assert len(dispatched) == before
    assert [p["queue_position"] for p in places] == [1, 2]


def test_a_client_request_id_is_echoed(client, dispatched):
    account = client.create_account()
    client.get("/api/user/profile", token=account.access_token)
    before = len(dispatched)
    answer = client.get(
        "/api/user/profile", token=account.access_token, headers={"X-Request-ID": "poll-7"}
    )
    assert len(dispatched) == before
    assert answer.headers["X-Request-ID"] == "poll-7"


def test_a_missing_or_foreign_job_is_a_404_spending_each_limit_once_and_recording_the_probe(
    client, app, dispatched
):
    owner, prober = client.create_account(), client.create_account()
    job_id = _submit_job(client, owner)
    start = client.get("/api/user/profile", token=prober.access_token)  # verified and cached
    missing = client.get(
        "/api/jobs/00000000-0000-4000-8000-000000000000/status", token=prober.access_token
    )
    foreign = client.get(f"/api/jobs/{job_id}/status", token=prober.access_token)
    for answer in (missing, foreign):
        assert answer.status_code == 404
        assert error_of(answer)["code"] == "not_found"
        assert error_of(answer)["details"]["resource"] == "job"
    # Both went to Flask with the fast path's gate call, which they did not spend again.
    assert [_remaining(r) for r in (missing, foreign)] == [
        _remaining(start) - 1,
        _remaining(start) - 2,
    ]
    probes = db.session.scalars(
        select(SecurityEvent).where(
            SecurityEvent.action == "authorization_failure",
            SecurityEvent.object_id == job_id,
        )
    ).all()
    assert [p.actor_user_id for p in probes] == [prober.id]


def test_a_logout_ends_the_fast_answers(client, dispatched):
    account = client.create_account()
    for _ in range(2):
        assert client.get("/api/user/profile", token=account.access_token).status_code == 200
    logout = client.post(
        "/api/auth/logout",
        token=account.access_token,
        json={"refresh_token": account.refresh_token},
    )
    assert logout.status_code in (200, 204), logout.get_json()
    after = client.get("/api/user/profile", token=account.access_token)
    assert after.status_code == 401
    assert "revoked" in error_of(after)["message"]


def test_a_password_change_ends_every_session_on_the_fast_path(client):
    account = client.create_account()
    other_session = client.login(account.email, account.password).get_json()["access_token"]
    for _ in range(2):
        assert client.get("/api/user/profile", token=other_session).status_code == 200
    changed = client.post(
        "/api/user/password",
        token=account.access_token,
        json={"current_password": account.password, "new_password": "another sturdy passphrase"},
    )
    assert changed.status_code == 200, changed.get_json()
    after = client.get("/api/user/profile", token=other_session)
    assert after.status_code == 401
    assert error_of(after)["code"] == "session_revoked"


def test_the_profile_of_an_account_disabled_in_the_database_is_not_served(client, dispatched):
    account = client.create_account()
    for _ in range(2):  # the second is a fast answer
        assert client.get("/api/user/profile", token=account.access_token).status_code == 200
    # Switched off by an UPDATE of the row, as an operator might: the cached session state
    # still says active (it is rebuilt within the hour), so only the row tells.
    db.session.execute(
        text("UPDATE users SET is_active = false WHERE id = :id"), {"id": account.id}
    )
    db.session.commit()
    before = len(dispatched)
    refused = client.get("/api/user/profile", token=account.access_token)
    assert refused.status_code == 401
    assert error_of(refused)["message"] == "User not found or disabled"
    assert len(dispatched) == before + 1  # handed to Flask, which refused it


def test_the_per_user_read_limit_holds_on_the_fast_path(make_app, redis_conn):
    app = make_app(rate_limit_overrides={"RATE_LIMIT_API_READS_PER_USER_PER_MINUTE": "3/60"})
    client = ApiClient(app.test_client())
    account = client.create_account()
    answers = [client.get("/api/user/profile", token=account.access_token) for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    refused = answers[3]
    assert error_of(refused)["details"]["limit"] == "api_reads_per_user_per_minute"
    assert int(refused.headers["Retry-After"]) >= 1
    key = f"rate_limit:api_reads_per_user_per_minute:{account.id}"
    assert redis_conn.zcard(key) == 3  # refused polls spend nothing


def test_a_blocked_address_is_refused_on_the_fast_path(client, app, redis_conn):
    account = client.create_account()
    address = {"environ_base": {"REMOTE_ADDR": "203.0.113.80"}}
    assert client.get("/api/user/profile", token=account.access_token, **address).status_code == 200
    with app.app_context():
        ip_blocking.block_ip(
            redis_conn,
            ip="203.0.113.80",
            reason="test",
            ttl_seconds=600,
            settings=app.config["SETTINGS"],
            automatic=False,
        )
    blocked = client.get("/api/user/profile", token=account.access_token, **address)
    assert blocked.status_code == 403
    assert error_of(blocked)["code"] == "ip_blocked"
    assert 0 < int(blocked.headers["Retry-After"]) <= 600
    assert client.get("/api/user/profile", token=account.access_token).status_code == 200


def test_a_cross_origin_poll_gets_its_cors_headers(make_app):
    app = make_app(cors_origins=["https://app.example.com"])
    client = ApiClient(app.test_client())
    account = client.create_account()
    origin = {"Origin": "https://app.example.com"}
    answers = [
        client.get("/api/user/profile", token=account.access_token, headers=origin)
        for _ in range(2)
    ]
    for answer in answers:
        assert answer.status_code == 200
        assert answer.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
        assert "Origin" in answer.headers["Vary"]


def test_fast_answers_are_logged_and_counted(make_app, tmp_path):
    app = make_app(log_dir=tmp_path / "logs")
    client = ApiClient(app.test_client())
    account = client.create_account()
    job_id = _submit_job(client, account)
    counted_before = _status_polls_counted(client)
    for _ in range(3):
        client.get(f"/api/jobs/{job_id}/status", token=account.access_token)
    fast = client.get(
        f"/api/jobs/{job_id}/status", token=account.access_token, headers={"X-Request-ID": "p-9"}
    )
    assert fast.status_code == 200
    lines = [
        json.loads(line) for line in (tmp_path / "logs" / "api_server.log").read_text().splitlines()
    ]
    polls = [
        e
        for e in lines
        if e["logger"] == "server.access" and e["path"] == f"/api/jobs/{job_id}/status"
    ]
    assert len(polls) == 4
    last = polls[-1]
    assert (last["method"], last["status"], last["user_id"], last["request_id"]) == (
        "GET",
        200,
        account.id,
        "p-9",
    )
    assert last["client_ip"] == "127.0.0.1" and last["duration_ms"] >= 0
    assert _status_polls_counted(client) == counted_before + 4


def _status_polls_counted(client: ApiClient) -> float:
    """`http_requests_total` of 200s on the status route (the process's counter so far)."""
    text = client.get("/metrics").get_data(as_text=True)
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "http_requests"
        for sample in family.samples
        if sample.name.endswith("_total")
        and sample.labels.get("route") == "/api/jobs/<uuid:job_id>/status"
        and sample.labels.get("status") == "200"
    )


def test_a_profile_that_cannot_be_rendered_is_answered_as_flask_answers_it(client, app):
    account = client.create_account()
    patched = client.request(
        "PATCH", "/api/user/profile", json={"eeo": {"gender": "female"}}, headers=account.headers
    )
    assert patched.status_code == 200, patched.get_json()
    # Details that are no object (written by hand): no view can render them.
    db.session.execute(
        text("UPDATE applicant_profiles SET details = '[1]' WHERE user_id = :id"),
        {"id": account.id},
    )
    db.session.commit()
    flask_only = Client(partial(Flask.wsgi_app, app))
    by_flask = flask_only.get(
        "/api/user/profile", headers={"Authorization": f"Bearer {account.access_token}"}
    )
    assert by_flask.status_code >= 500
    fast = client.get("/api/user/profile", token=account.access_token)
    assert fast.status_code == by_flask.status_code
    assert fast.content_type == "application/json"
    assert error_of(fast)["code"] == error_of(by_flask)["code"]
    assert "X-Request-ID" in fast.headers
    assert _remaining(fast) == _remaining(by_flask) - 1  # spent once


def test_a_token_that_expires_while_its_poll_is_handed_to_flask_is_refused_as_expired(client, app):
    account = client.create_account()
    user = db.session.get(User, account.id)
    short = create_access_token(identity=user, expires_delta=timedelta(seconds=3))
    expires = pyjwt.decode(short, options={"verify_signature": False})["exp"]
    assert client.get("/api/user/profile", token=short).status_code == 200  # verified, cached
    engine = db.engine
    locked, released = threading.Event(), threading.Event()

    def hold_the_jobs_table() -> None:
        # The fast path's read of the job waits until the token has expired.
        with engine.connect() as other:
            other.execute(text("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE"))
            locked.set()
            time.sleep(max(0.0, expires - time.time()) + 0.3)
            other.rollback()
        released.set()

    holder = threading.Thread(target=hold_the_jobs_table)
    holder.start()
    try:
        assert locked.wait(5)
        assert time.time() < expires - 0.5
        answer = client.get("/api/jobs/00000000-0000-4000-8000-000000000000/status", token=short)
    finally:
        holder.join()
    assert released.is_set()
    assert answer.status_code == 401
    assert error_of(answer)["message"] == "Token has expired"


def test_a_job_result_with_an_integer_wider_than_64_bits_is_answered_in_full(client, app):
    account = client.create_account()
    job_id = _submit_job(client, account)
    db.session.execute(
        text("UPDATE jobs SET result = CAST(:result AS jsonb) WHERE id = :id"),
        {"result": '{"count": 1180591620717411303424}', "id": job_id},
    )
    db.session.commit()
    url = f"/api/jobs/{job_id}/status"
    flask_only = Client(partial(Flask.wsgi_app, app))
    by_flask = flask_only.get(url, headers={"Authorization": f"Bearer {account.access_token}"})
    fast = client.get(url, token=account.access_token)  # rendered by Flask, on the handed call
    for answer in (by_flask, fast):
        assert answer.status_code == 200, answer.get_json()
        assert answer.content_type == "application/json"
        assert answer.get_json()["result"] == {"count": 2**70}
    assert fast.get_data() == by_flask.get_data()
    assert _remaining(fast) == _remaining(by_flask) - 1


def test_an_automatic_block_that_cannot_be_recorded_spends_the_carrying_poll_once(
    make_app, redis_conn
):
    app = make_app(ip_block_error_burst=1)
    client = ApiClient(app.test_client())
    account = client.create_account()
    prober = {"environ_base": {"REMOTE_ADDR": "203.0.113.91"}}
    poller = {"environ_base": {"REMOTE_ADDR": "198.51.100.7"}}
    assert client.get("/api/user/profile", token=account.access_token, **poller).status_code == 200
    missing = client.get(
        "/api/jobs/00000000-0000-4000-8000-000000000000/status",
        token=account.access_token,
        **prober,
    )
    assert missing.status_code == 404  # its error signal is counted by the next gate call
    with app.app_context():
        engine = db.engine
    refuse = (
        "CREATE FUNCTION refuse_ip_blocks() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'ip_blocks refuses rows'; END $$",
        "CREATE TRIGGER refuse_ip_blocks BEFORE INSERT ON ip_blocks "
        "FOR EACH ROW EXECUTE FUNCTION refuse_ip_blocks()",
    )
    with engine.begin() as sql:
        for statement in refuse:
            sql.execute(text(statement))
    try:
        # The poll that carries the prober's signal blocks the prober; the block's record
        # cannot be stored.
        poll = client.get("/api/user/profile", token=account.access_token, **poller)
    finally:
        with engine.begin() as sql:
            sql.execute(text("DROP TRIGGER refuse_ip_blocks ON ip_blocks"))
            sql.execute(text("DROP FUNCTION refuse_ip_blocks()"))
    assert poll.status_code == 200, poll.get_json()
    assert redis_conn.exists(ip_blocking.BLOCK_PREFIX + "203.0.113.91")
    key = f"rate_limit:api_reads_per_user_per_minute:{account.id}"
    assert redis_conn.zcard(key) == 3  # each request counted once


def test_a_slow_poll_read_is_kept_with_the_polls_request_id(make_app, redis_conn):
    app = make_app(slow_query_ms=0.001)  # every statement is slow
    client = ApiClient(app.test_client())
    account = client.create_account()
    client.get("/api/user/profile", token=account.access_token)
    poll = client.get(
        "/api/user/profile", token=account.access_token, headers={"X-Request-ID": "poll-slow"}
    )
    assert poll.status_code == 200
    newest = json.loads(redis_conn.lindex(SLOW_QUERIES_KEY, 0))
    assert "FROM users" in newest["sql"]
    assert newest["request_id"] == "poll-slow"


def test_a_handed_over_poll_keeps_one_request_id_for_both_its_reads(make_app, redis_conn):
    app = make_app(slow_query_ms=0.001)  # every statement is slow
    client = ApiClient(app.test_client())
    owner, prober = client.create_account(), client.create_account()
    job_id = _submit_job(client, owner)
    client.get("/api/user/profile", token=prober.access_token)  # the token is verified
    redis_conn.delete(SLOW_QUERIES_KEY)
    foreign = client.get(f"/api/jobs/{job_id}/status", token=prober.access_token)
    assert foreign.status_code == 404  # read by the fast path, then again by Flask's view
    reads = [
        entry
        for entry in map(json.loads, redis_conn.lrange(SLOW_QUERIES_KEY, 0, -1))
        if "FROM jobs" in entry["sql"]
    ]
    assert len(reads) == 2
    assert {entry["request_id"] for entry in reads} == {foreign.headers["X-Request-ID"]}


def test_a_handed_over_poll_is_timed_from_its_start(make_app, tmp_path):
    app = make_app(log_dir=tmp_path / "logs")
    client = ApiClient(app.test_client())
    owner, prober = client.create_account(), client.create_account()
    job_id = _submit_job(client, owner)
    client.get("/api/user/profile", token=prober.access_token)  # the token is verified
    with app.app_context():
        engine = db.engine
    locked = threading.Event()

    def hold_the_jobs_table() -> None:
        # The fast path's read waits for the lock, then the request goes to Flask (a 404).
        with engine.connect() as other:
            other.execute(text("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE"))
            locked.set()
            time.sleep(0.6)
            other.rollback()

    holder = threading.Thread(target=hold_the_jobs_table)
    holder.start()
    try:
        assert locked.wait(5)
        foreign = client.get(f"/api/jobs/{job_id}/status", token=prober.access_token)
    finally:
        holder.join()
    assert foreign.status_code == 404
    lines = [
        json.loads(line) for line in (tmp_path / "logs" / "api_server.log").read_text().splitlines()
    ]
    [logged] = [
        e
        for e in lines
        if e["logger"] == "server.access" and e["request_id"] == foreign.headers["X-Request-ID"]
    ]
    assert logged["status"] == 404 and logged["duration_ms"] >= 500
