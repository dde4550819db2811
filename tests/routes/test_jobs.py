"""The job endpoints as a client uses them."""

import json
import re
import time
import uuid
from contextlib import contextmanager

import pytest
from sqlalchemy import text

from server.core.extensions import db
from server.models import Job
from server.schemas.applicant import ProfileOut
from server.schemas.jobs import JobStatusOut
from server.services import jobs, profiles
from server.workers import job_handlers
from tests.helpers import ApiClient, at_once, error_of
from tests.queue_helpers import wait_for

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


@pytest.fixture
def admin(client, app):
    return client.create_admin(app)


def submit(client, account, body, **headers):
    return client.post("/api/jobs", json=body, headers={**account.headers, **headers})


def test_an_admin_submits_a_diagnostic_job_and_reads_its_status(client, admin):
    response = submit(client, admin, {"type": "diagnostic", "payload": {"sleep_ms": 5}})
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "queued"
    assert (
        response.headers["Location"] == body["status_url"] == f"/api/jobs/{body['job_id']}/status"
    )

    status = client.get(body["status_url"], headers=admin.headers).get_json()
    assert status["job_id"] == body["job_id"] and status["type"] == "diagnostic"
    assert status["status"] == "queued" and status["priority"] == "NORMAL"
    assert status["queue_position"] == 1 and status["attempts"] == 0
    assert status["progress"] == {"percent": 0, "message": None}
    assert ISO_UTC.match(status["created_at"]) and status["started_at"] is None


def test_status_and_profile_answer_exactly_what_their_documented_schemas_give(client, admin, app):
    job_id = submit(client, admin, {"type": "diagnostic", "payload": {}}).get_json()["job_id"]
    with app.app_context():
        db.session.execute(
            text(
                "UPDATE jobs SET status = 'failed', result = CAST(:result AS jsonb),"
                " error = 'boom', attempts = 2, progress_percent = 40,"
                " progress_message = 'half way, caf\u00e9', started_at = now(),"
                " finished_at = now() WHERE id = :id"
            ),
            {"result": json.dumps({"b": [1, 2.5, None], "a": {"z": "\u00e9"}}), "id": job_id},
        )
        db.session.commit()
        job = db.session.get(Job, job_id)
        expected_status = JobStatusOut().dump(jobs.describe(job, with_position=True))
        expected_profile = ProfileOut().dump(profiles.get(user_id=admin.id))

    status = client.get(f"/api/jobs/{job_id}/status", headers=admin.headers)
    profile = client.get("/api/user/profile", headers=admin.headers)

    assert status.status_code == 200 and status.mimetype == "application/json"
    assert status.get_json() == expected_status
    assert profile.status_code == 200 and profile.get_json() == expected_profile
    assert ISO_UTC.match(status.get_json()["finished_at"])


def test_status_shows_the_result_as_json_and_times_in_utc(client, admin, app, run_pool):
    job_id = submit(client, admin, {"type": "diagnostic", "payload": {}, "priority": "CRITICAL"})
    job_id = job_id.get_json()["job_id"]
    run_pool(app)
    status = wait_for(
        lambda: (
            body
            if (body := client.get(f"/api/jobs/{job_id}/status", headers=admin.headers).get_json())[
                "status"
            ]
            == "succeeded"
            else None
        )
    )
    assert status["result"] == {"slept_ms": 0, "attempt": 1}
    assert status["priority"] == "CRITICAL" and status["queue_position"] is None
    assert all(ISO_UTC.match(status[k]) for k in ("created_at", "started_at", "finished_at"))
    assert status["progress"]["percent"] == 100


@contextmanager
def handler_for(job_type: str, run):
    """Serve a public job type with a test handler for the block, then restore its own."""

    previous = job_handlers.get_handler(job_type)
    job_handlers.register_handler(job_type)(run)
    try:
        yield
    finally:
        job_handlers.unregister_handler(job_type)
        _restore(job_type, previous)


@contextmanager
def without_handler(job_type: str):
    """Take a public job type's handler away for the block (as before it lands)."""

    previous = job_handlers.get_handler(job_type)
    job_handlers.unregister_handler(job_type)
    try:
        yield
    finally:
        _restore(job_type, previous)


def _restore(job_type: str, previous) -> None:

    job_handlers.unregister_handler(job_type)
    if previous is not None:
        job_handlers.register_handler(
            job_type,
            max_attempts=previous.max_attempts,
            timeout_seconds=previous.timeout_seconds,
            payload_schema=previous.payload_schema,
            admin_only=previous.admin_only,
            internal=previous.internal,
            submit_limit=previous.submit_limit,
        )(previous.run)


def test_users_may_choose_normal_low_or_bulk_only(client, app):
    body = {"type": "project_analysis", "payload": {"job_description": "Python developer"}}
    with handler_for("project_analysis", lambda job: job.payload):
        user = client.create_account()
        for priority in ("NORMAL", "LOW", "BULK"):
            response = submit(client, user, {**body, "priority": priority})
            assert response.status_code == 202, response.get_json()
        for priority in ("HIGH", "CRITICAL"):
            response = submit(client, user, {**body, "priority": priority})
            assert response.status_code == 403
            assert "NORMAL, LOW or BULK" in error_of(response)["message"]
        assert submit(client, user, {**body, "priority": "URGENT"}).status_code == 422


def test_the_diagnostic_type_is_for_admins_only(client):
    user = client.create_account()
    response = submit(client, user, {"type": "diagnostic", "payload": {}})
    assert response.status_code == 403


RESUME_ID = "0b0f6c5e-8c6b-4c5b-9d1e-3f1e2f3a4b5c"
VALID_PAYLOADS = {
    "resume_tailoring": {"resume_id": RESUME_ID, "job_description": "Build APIs in Python"},
    "job_search": {"keywords": "python", "sources": ["lever"], "companies": {"lever": ["acme"]}},
    "job_application": {"job_url": "https://jobs.example/1", "resume_id": RESUME_ID},
    "project_analysis": {"posting_id": 7},
}


@pytest.mark.parametrize("job_type", sorted(VALID_PAYLOADS))
def test_types_without_a_handler_yet_are_refused_clearly(client, job_type):
    user = client.create_account()
    with without_handler(job_type):
        response = submit(client, user, {"type": job_type, "payload": VALID_PAYLOADS[job_type]})
    assert response.status_code == 422
    assert error_of(response)["message"] == f"job type {job_type} is not available yet"
    assert error_of(response)["code"] == "job_type_unavailable"
    response = submit(client, user, {"type": "mine_bitcoin", "payload": {}})
    assert response.status_code == 422 and "unknown job type" in error_of(response)["message"]


@pytest.mark.parametrize(
    ("job_type", "payload", "field"),
    [
        ("resume_tailoring", {"job_description": "x"}, "resume_id"),
        ("resume_tailoring", {"resume_id": 5, "job_description": "x"}, "resume_id"),
        (
            "resume_tailoring",
            {"resume_id": RESUME_ID, "job_description": "x" * 50_001},
            "job_description",
        ),
        (
            "resume_tailoring",
            {"resume_id": RESUME_ID, "job_description": "x", "tone": "bold"},
            "tone",
        ),
        ("job_search", {}, "keywords"),
        ("job_search", {"keywords": []}, "keywords"),
        ("job_search", {"keywords": "python", "sources": ["monster"]}, "sources.0"),
        (
            "job_search",
            {"keywords": "python", "companies": {"monster": ["acme"]}},
            "companies.monster",
        ),
        ("job_search", {"keywords": "python", "posted_within_days": 366}, "posted_within_days"),
        ("job_search", {"keywords": "python", "remote": "yes"}, "remote"),
        ("job_application", {"resume_id": RESUME_ID}, "posting_id"),
        (
            "job_application",
            {"resume_id": RESUME_ID, "posting_id": 1, "job_url": "https://a.example"},
            "job_url",
        ),
        ("job_application", {"posting_id": 1, "resume_id": RESUME_ID, "mode": "yolo"}, "mode"),
        ("job_application", {"job_url": "ftp://a.example/x", "resume_id": RESUME_ID}, "job_url"),
        ("project_analysis", {}, "job_description"),
        ("project_analysis", {"posting_id": 1, "job_description": "x"}, "posting_id"),
    ],
)
def test_each_types_payload_is_checked_before_its_availability(client, job_type, payload, field):
    user = client.create_account()
    response = submit(client, user, {"type": job_type, "payload": payload})
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert error["message"].startswith(f"Invalid input: payload.{field}: "), error["message"]


def test_internal_job_types_cannot_be_submitted(client, app):

    job_handlers.register_handler("internal_echo")(lambda job: job.payload)
    try:
        admin = client.create_admin(app)
        response = submit(client, admin, {"type": "internal_echo", "payload": {}})
        assert response.status_code == 422
        assert "unknown job type" in error_of(response)["message"]
    finally:
        job_handlers.unregister_handler("internal_echo")


@pytest.mark.parametrize(
    "payload",
    [{"sleep_ms": -1}, {"sleep_ms": 60_001}, {"fail_times": 11}, {"sleep_ms": "5"}, {"x": 1}],
)
def test_diagnostic_payloads_are_validated(client, admin, payload):
    response = submit(client, admin, {"type": "diagnostic", "payload": payload})
    assert response.status_code == 422
    assert error_of(response)["message"].startswith("Invalid input: payload.")


def test_an_idempotency_key_returns_the_same_job_and_refuses_a_different_body(client, admin):
    body = {"type": "diagnostic", "payload": {"sleep_ms": 1}}
    first = submit(client, admin, body, **{"Idempotency-Key": "abc-1"})
    again = submit(client, admin, body, **{"Idempotency-Key": "abc-1"})
    assert first.status_code == again.status_code == 202
    assert first.get_json()["job_id"] == again.get_json()["job_id"]
    other = submit(
        client, admin, {**body, "payload": {"sleep_ms": 2}}, **{"Idempotency-Key": "abc-1"}
    )
    assert other.status_code == 409
    assert error_of(other)["code"] == "idempotency_key_reused"
    fresh = submit(client, admin, body, **{"Idempotency-Key": "abc-2"})
    assert fresh.get_json()["job_id"] != first.get_json()["job_id"]


def test_retries_at_the_same_moment_with_one_key_spend_the_daily_limit_once(
    app, client, redis_conn
):
    account = client.create_account()
    body = {
        "type": "resume_tailoring",
        "payload": {"resume_id": str(uuid.uuid4()), "job_description": "Python developer"},
    }

    def submit_with(index):
        key = f"retry-{index % 2}"  # two requests, each sent five times at once
        return submit(ApiClient(app.test_client()), account, body, **{"Idempotency-Key": key})

    responses = at_once(10, submit_with)

    assert [r.status_code for r in responses] == [202] * 10
    assert len({r.get_json()["job_id"] for r in responses}) == 2
    spent = redis_conn.zcard(f"rate_limit:resume_tailoring_per_user_per_day:{account.id}")
    assert spent == 2


def test_an_idempotency_key_with_a_control_character_is_refused_by_name(client):
    account = client.create_account()
    body = {"type": "job_search", "payload": {"keywords": "python"}}
    for key in ("abc\x00", "\x01", "tab\there", "del\x7f", "k" * 256):
        response = submit(client, account, body, **{"Idempotency-Key": key})
        assert response.status_code == 422, key
        assert "Idempotency-Key" in error_of(response)["message"]
    search = client.post(
        "/api/postings/search",
        json={"keywords": "python"},
        headers={**account.headers, "Idempotency-Key": "nul\x00"},
    )
    assert search.status_code == 422 and "Idempotency-Key" in error_of(search)["message"]
    listed = client.get("/api/user/jobs", headers=account.headers).get_json()
    assert listed["meta"]["total"] == 0  # nothing was queued
    assert submit(client, account, body, **{"Idempotency-Key": "ключ-1"}).status_code == 202


def test_another_users_job_is_not_found(client, admin):
    job_id = submit(client, admin, {"type": "diagnostic"}).get_json()["job_id"]
    stranger = client.create_account()
    for method, path in (
        ("GET", f"/api/jobs/{job_id}/status"),
        ("POST", f"/api/jobs/{job_id}/cancel"),
        ("GET", f"/api/jobs/{job_id}/events"),
    ):
        response = client.request(method, path, headers=stranger.headers)
        assert response.status_code == 404, path
        assert error_of(response)["code"] == "not_found"
        assert error_of(response)["details"] == {"resource": "job"}
    # Someone else's job and a job that never existed answer alike.
    missing = client.get(f"/api/jobs/{uuid.uuid4()}/status", headers=stranger.headers)
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    assert client.get("/api/jobs/not-a-job/status", headers=admin.headers).status_code == 404


def test_cancel_a_queued_job_and_then_again(client, admin):
    job_id = submit(client, admin, {"type": "diagnostic"}).get_json()["job_id"]
    response = client.post(f"/api/jobs/{job_id}/cancel", headers=admin.headers)
    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"
    assert response.get_json()["cancel_requested"] is True
    status = client.get(f"/api/jobs/{job_id}/status", headers=admin.headers).get_json()
    assert status["status"] == "cancelled" and status["cancel_requested"] is True
    again = client.post(f"/api/jobs/{job_id}/cancel", headers=admin.headers)
    assert again.status_code == 409 and error_of(again)["code"] == "job_finished"


def test_my_jobs_are_listed_newest_first_with_filters_and_pages(client, admin):
    ids = [submit(client, admin, {"type": "diagnostic"}).get_json()["job_id"] for _ in range(3)]
    client.post(f"/api/jobs/{ids[0]}/cancel", headers=admin.headers)
    client.create_account()  # someone else's jobs never show

    page = client.get("/api/user/jobs?per_page=2", headers=admin.headers).get_json()
    assert [item["job_id"] for item in page["items"]] == [ids[2], ids[1]]
    assert page["meta"] == {"page": 1, "per_page": 2, "total": 3}
    cancelled = client.get("/api/user/jobs?status=cancelled", headers=admin.headers).get_json()
    assert [item["job_id"] for item in cancelled["items"]] == [ids[0]]
    by_type = client.get("/api/user/jobs?type=job_search", headers=admin.headers).get_json()
    assert by_type["items"] == []
    assert client.get("/api/user/jobs?status=lost", headers=admin.headers).status_code == 422


def test_my_job_list_never_shows_another_users_jobs(client, app):
    from server.jobs import job_queue

    alice, bob = client.create_account(), client.create_account()
    alices = {job_queue.submit_job(user_id=alice.id, job_type="diagnostic", payload={})}
    bobs = {job_queue.submit_job(user_id=bob.id, job_type="diagnostic", payload={})}
    bobs.add(job_queue.submit_job(user_id=bob.id, job_type="diagnostic", payload={}))

    for account, own in ((alice, alices), (bob, bobs)):
        listed = client.get("/api/user/jobs", token=account.access_token).get_json()
        assert {item["job_id"] for item in listed["items"]} == own
        assert listed["meta"]["total"] == len(own)


def test_events_stream_progress_and_status_until_the_job_ends(client, admin, app, run_pool):
    job_id = submit(client, admin, {"type": "diagnostic", "payload": {"sleep_ms": 600}}).get_json()[
        "job_id"
    ]
    run_pool(app)
    response = client.get(f"/api/jobs/{job_id}/events", headers=admin.headers)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    text = response.get_data(as_text=True)
    assert "event: progress" in text and '"percent": 100' in text
    assert text.rstrip().endswith("}") and '"status": "succeeded"' in text.rstrip().splitlines()[-1]


def test_admins_see_queue_stats(client, admin, app):
    user = client.create_account()
    for priority in ("HIGH", "BULK", "BULK"):
        submit(client, admin, {"type": "diagnostic", "priority": priority})
    stats = client.get("/api/admin/job-queue/stats", headers=admin.headers).get_json()
    assert stats["queue_size"] == 3 and stats["active_jobs"] == 0
    assert stats["by_priority"] == {"CRITICAL": 0, "HIGH": 1, "NORMAL": 0, "LOW": 0, "BULK": 2}
    assert stats["by_type"] == {"diagnostic": {"queued": 3}}
    assert stats["oldest_waiting_seconds"] >= 0 and stats["throughput_last_minute"] == 0
    assert stats["redis"]["ready"] == 3 and stats["degraded"] is False
    assert client.get("/api/admin/job-queue/stats", headers=user.headers).status_code == 403


@pytest.mark.parametrize("bad_id", ["%00", "not-a-job", "1", "00000000-0000-4000-8000-00000000000"])
def test_a_job_id_that_is_not_a_uuid_is_a_json_404(client, admin, bad_id):
    for method, path in (
        ("GET", f"/api/jobs/{bad_id}/status"),
        ("POST", f"/api/jobs/{bad_id}/cancel"),
        ("GET", f"/api/jobs/{bad_id}/events"),
    ):
        response = client.request(method, path, headers=admin.headers)
        assert response.status_code == 404, path
        assert error_of(response)["code"] == "not_found"


def test_the_job_routes_are_in_the_openapi_document(client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    for suffix in ("status", "cancel", "events"):
        assert f"/api/jobs/{{job_id}}/{suffix}" in paths


def test_with_redis_down_status_comes_from_postgres_and_stats_are_degraded(make_app):
    app = make_app(redis_url="redis://127.0.0.1:1/0")
    client = ApiClient(app.test_client())
    admin = client.create_admin(app)
    submitted = submit(client, admin, {"type": "diagnostic", "payload": {}})
    assert submitted.status_code == 202  # recorded; the reconciler enqueues it later
    job_id = submitted.get_json()["job_id"]

    status = client.get(f"/api/jobs/{job_id}/status", headers=admin.headers)
    assert status.status_code == 200
    body = status.get_json()
    assert body["status"] == "queued" and body["queue_position"] is None

    stats = client.get("/api/admin/job-queue/stats", headers=admin.headers)
    assert stats.status_code == 200
    figures = stats.get_json()
    assert figures["degraded"] is True and figures["redis"] is None
    assert figures["queue_size"] == 1 and figures["by_type"] == {"diagnostic": {"queued": 1}}


def events_url(client, account):
    job_id = submit(client, account, {"type": "diagnostic"}).get_json()["job_id"]
    return f"/api/jobs/{job_id}/events"


def open_stream(client, account, url):
    """Start reading an event stream and leave it open (no worker runs the job)."""
    response = client.get(url, headers=account.headers, buffered=False)
    if response.status_code == 200:
        assert next(iter(response.response)).startswith(b"retry: ")
    return response


def test_event_streams_are_capped_per_process_and_a_closed_stream_frees_its_slot(make_app):
    app = make_app(job_events_max_streams=1)
    client = ApiClient(app.test_client())
    first_admin, second_admin = client.create_admin(app), client.create_admin(app)
    first = open_stream(client, first_admin, events_url(client, first_admin))
    assert first.status_code == 200

    full = client.get(events_url(client, second_admin), headers=second_admin.headers)
    assert full.status_code == 503 and full.headers["Retry-After"].isdigit()
    assert error_of(full)["code"] == "event_streams_full"

    first.close()  # the client went away
    again = open_stream(client, second_admin, events_url(client, second_admin))
    assert again.status_code == 200
    again.close()


def test_a_user_may_hold_their_cap_of_event_streams_and_others_are_not_blocked(make_app):
    app = make_app(job_events_max_streams=4, job_events_max_streams_per_user=2)
    client = ApiClient(app.test_client())
    busy, other = client.create_admin(app), client.create_admin(app)
    url = events_url(client, busy)
    held = [open_stream(client, busy, url) for _ in range(2)]
    assert [response.status_code for response in held] == [200, 200]

    third = client.get(url, headers=busy.headers)
    assert third.status_code == 429 and third.headers["Retry-After"].isdigit()
    assert error_of(third)["code"] == "too_many_event_streams"
    others = open_stream(client, other, events_url(client, other))
    assert others.status_code == 200
    for response in (others, *reversed(held)):  # last opened, first closed (test contexts)
        response.close()
    assert open_stream(client, busy, url).status_code == 200


def test_an_event_stream_keeps_alive_then_ends_so_the_client_reconnects(make_app, monkeypatch):
    from server.services import jobs as job_service

    monkeypatch.setattr(job_service, "EVENTS_KEEPALIVE_SECONDS", 0.2)
    app = make_app(job_events_max_seconds=1.0)
    client = ApiClient(app.test_client())
    admin = client.create_admin(app)
    response = client.get(events_url(client, admin), headers=admin.headers)
    text = response.get_data(as_text=True)
    assert text.startswith("retry: 3000\n\n")
    assert ": keep-alive\n\n" in text
    assert text.rstrip().splitlines()[-2] == "event: timeout"
    # The stream's slot is free again.
    assert app.extensions["job_event_streams"].open_streams == 0


def read_events(response) -> list[tuple[str | None, str, dict]]:
    """(id, event, data) of each event of a finished stream."""
    assert response.status_code == 200, response.get_data(as_text=True)
    events = []
    for block in response.get_data(as_text=True).split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields.get("id"), fields["event"], json.loads(fields["data"])))
    return events


def events_token(client, account, job_id):
    response = client.post(f"/api/jobs/{job_id}/events-token", headers=account.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_a_job_events_token_opens_that_jobs_stream_and_nothing_else(make_app):
    app = make_app(job_events_max_seconds=1.0)
    client = ApiClient(app.test_client())
    owner, stranger = client.create_admin(app), client.create_admin(app)
    job_a, job_b = (
        submit(client, owner, {"type": "diagnostic"}).get_json()["job_id"] for _ in "ab"
    )
    strangers_job = submit(client, stranger, {"type": "diagnostic"}).get_json()["job_id"]
    issued = events_token(client, owner, job_a)
    assert issued["expires_in"] == 60
    token = issued["token"]

    # No Authorization header, as from a browser's EventSource.
    opened = client.get(f"/api/jobs/{job_a}/events?token={token}")
    assert [event for _id, event, _data in read_events(opened)] == ["progress", "status", "timeout"]

    for refused in (
        client.get(f"/api/jobs/{job_b}/events?token={token}"),  # another job
        client.get(f"/api/jobs/{strangers_job}/events?token={token}"),  # another user's job
        client.get(f"/api/jobs/{job_a}/status?token={token}"),  # another endpoint
        client.get(f"/api/jobs/{job_a}/status", headers={"Authorization": f"Bearer {token}"}),
        client.get("/api/user/profile", headers={"Authorization": f"Bearer {token}"}),
        client.post(
            f"/api/jobs/{job_b}/events-token", headers={"Authorization": f"Bearer {token}"}
        ),
        # An access token is never taken from the query string.
        client.get(f"/api/jobs/{job_a}/events?token={owner.access_token}"),
    ):
        assert refused.status_code == 401, refused.request.url
        assert error_of(refused)["code"] in ("unauthorized", "token_invalid")
    # Nobody gets a token for someone else's job.
    assert (
        client.post(f"/api/jobs/{job_a}/events-token", headers=stranger.headers).status_code == 404
    )


def test_a_job_events_token_is_refused_after_it_expires_and_after_logout(make_app):
    app = make_app(job_events_token_seconds=1, job_events_max_seconds=1.0)
    client = ApiClient(app.test_client())
    owner = client.create_admin(app)
    job_id = submit(client, owner, {"type": "diagnostic"}).get_json()["job_id"]
    expiring = events_token(client, owner, job_id)
    assert expiring["expires_in"] == 1
    time.sleep(2.1)
    expired = client.get(f"/api/jobs/{job_id}/events?token={expiring['token']}")
    assert expired.status_code == 401 and "expired" in error_of(expired)["message"]

    app = make_app(job_events_max_seconds=1.0)
    client = ApiClient(app.test_client())
    token = events_token(client, owner, job_id)["token"]
    client.post(
        "/api/auth/logout", headers=owner.headers, json={"refresh_token": owner.refresh_token}
    )
    assert client.get(f"/api/jobs/{job_id}/events?token={token}").status_code == 401


def set_job(app, job_id, **values):
    """Write a job's row as a worker would."""
    from sqlalchemy import update

    from server.core.extensions import db
    from server.models import Job

    with app.app_context():
        db.session.execute(update(Job).where(Job.id == job_id).values(**values))
        db.session.commit()


def test_last_event_id_resumes_exactly_after_that_event(make_app):
    app = make_app(job_events_max_seconds=1.0)
    client = ApiClient(app.test_client())
    admin = client.create_admin(app)
    job_id = submit(client, admin, {"type": "diagnostic"}).get_json()["job_id"]
    url = f"/api/jobs/{job_id}/events"

    first = read_events(client.get(url, headers=admin.headers))
    assert [(event, data.get("status", data.get("percent"))) for _id, event, data in first] == [
        ("progress", 0),
        ("status", "queued"),
        ("timeout", "queued"),
    ]
    seen_queued = first[1][0]
    assert all(event_id for event_id, _event, _data in first)

    set_job(app, job_id, status="running", progress_percent=40, progress_message="reading")
    resumed = read_events(client.get(url, headers={**admin.headers, "Last-Event-ID": seen_queued}))
    assert [(event, data) for _id, event, data in resumed[:2]] == [
        ("progress", {"job_id": job_id, "percent": 40, "message": "reading"}),
        ("status", {"job_id": job_id, "status": "running", "attempts": 0}),
    ]
    assert resumed[2][1] == "timeout"

    # A client that got the progress event but not the status one gets the status only.
    seen_progress = resumed[0][0]
    again = read_events(client.get(f"{url}?last_event_id={seen_progress}", headers=admin.headers))
    assert [(event, data.get("status")) for _id, event, data in again] == [
        ("status", "running"),
        ("timeout", "running"),
    ]

    set_job(app, job_id, status="succeeded", progress_percent=100, progress_message="done")
    final = read_events(client.get(url, headers={**admin.headers, "Last-Event-ID": again[0][0]}))
    assert [(event, data.get("status", data.get("percent"))) for _id, event, data in final] == [
        ("progress", 100),
        ("status", "succeeded"),
    ]
    # Told everything about a finished job: 204, which tells EventSource not to reconnect.
    done = client.get(url, headers={**admin.headers, "Last-Event-ID": final[-1][0]})
    assert done.status_code == 204 and done.get_data() == b""

    bad = client.get(url, headers={**admin.headers, "Last-Event-ID": "nonsense"})
    assert bad.status_code == 400 and "Last-Event-ID" in error_of(bad)["message"]


def test_every_list_pages_the_same_way(client, admin):
    submit(client, admin, {"type": "diagnostic"})
    submit(client, admin, {"type": "diagnostic"})
    client.create_account()
    for path in ("/api/user/jobs", "/api/admin/users", "/api/admin/security/events"):
        first = client.get(f"{path}?per_page=1", headers=admin.headers).get_json()
        total = first["meta"]["total"]
        assert total >= 2 and first["meta"] == {"page": 1, "per_page": 1, "total": total}, path
        assert len(first["items"]) == 1, path
        second = client.get(f"{path}?page=2&per_page=1", headers=admin.headers).get_json()
        assert second["items"] != first["items"] and len(second["items"]) == 1, path
        past = client.get(f"{path}?page={total + 1}&per_page=1", headers=admin.headers)
        assert past.get_json() == {
            "items": [],
            "meta": {"page": total + 1, "per_page": 1, "total": total},
        }, path


def test_the_api_names_the_statuses_and_priorities_of_the_queue(client):
    from server.models import JobPriority, JobStatus

    spec = client.get("/api/openapi.json").get_json()
    text = str(spec)
    statuses = [status.value for status in JobStatus]
    priorities = [priority.name for priority in JobPriority]
    assert f"'enum': {statuses}" in text
    assert f"'enum': {priorities}" in text
