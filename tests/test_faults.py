"""Faults a running service meets: PostgreSQL connections killed by the server, Redis down."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import create_engine, event, text

from server.core.extensions import db
from server.jobs.job_queue import QUEUE_KEYS, STATE_KEY
from tests.conftest import TEST_DATABASE_URL
from tests.helpers import ApiClient, error_of
from tests.queue_helpers import wait_for
from tests.test_rate_limiter_redis_down import private_redis  # noqa: F401 - a fixture

JOBS_HASH = QUEUE_KEYS[4]


class Collect(logging.Handler):
    """Keeps the records a logger emits."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record) -> None:
        self.records.append(record)

    def messages(self, text_: str) -> list[logging.LogRecord]:
        return [r for r in self.records if text_ in r.getMessage()]


@pytest.fixture
def server_log():
    """Every record the server's loggers emit during the test."""
    handler = Collect()
    logger = logging.getLogger("server")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture
def pg_admin():
    """A connection of its own, to terminate the app's connections as a DBA would."""
    engine = create_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        yield conn
    engine.dispose()


def terminate(pg_admin, pid: int | None = None) -> int:
    """Terminate one backend, or every other backend of the test database; waits for each."""
    query = text(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND (CAST(:pid AS integer) IS NULL OR pid = :pid)"
    )
    return len(pg_admin.execute(query, {"pid": pid}).all())


def backend_pid(connection) -> int:
    return connection.connection.dbapi_connection.info.backend_pid


@pytest.fixture
def admin(client, app):
    return client.create_admin(app)


def submit(client, account):
    return client.post(
        "/api/jobs", json={"type": "diagnostic", "payload": {}}, headers=account.headers
    )


def test_a_connection_killed_at_the_commit_answers_503_with_retry_after(
    client, admin, app, pg_admin, redis_conn
):
    killed = []

    def kill_before_commit(connection):
        if not killed:
            killed.append(backend_pid(connection))
            terminate(pg_admin, killed[0])

    event.listen(db.engine, "commit", kill_before_commit)
    try:
        response = submit(client, admin)
    finally:
        event.remove(db.engine, "commit", kill_before_commit)
    assert killed
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "5"
    error = error_of(response)
    assert error["code"] == "unavailable" and error["details"] == {"dependency": "database"}
    # Nothing was recorded, and the next submit works.
    listed = client.get("/api/user/jobs", headers=admin.headers).get_json()
    assert listed["meta"]["total"] == 0 and redis_conn.hlen(JOBS_HASH) == 0
    assert submit(client, admin).status_code == 202


def test_a_connection_killed_just_after_the_commit_still_answers_202_and_enqueues(
    client, admin, app, pg_admin, redis_conn
):
    state = {"committed": False, "killed": None}

    def arm(_connection):
        state["committed"] = True

    def kill_next_statement(connection, *_args):
        if state["committed"] and state["killed"] is None:
            state["killed"] = backend_pid(connection)
            terminate(pg_admin, state["killed"])

    event.listen(db.engine, "commit", arm)
    event.listen(db.engine, "before_cursor_execute", kill_next_statement)
    try:
        response = submit(client, admin)
    finally:
        event.remove(db.engine, "commit", arm)
        event.remove(db.engine, "before_cursor_execute", kill_next_statement)
    assert response.status_code == 202, response.get_data(as_text=True)
    job_id = response.get_json()["job_id"]
    assert redis_conn.hexists(JOBS_HASH, job_id)
    status = client.get(f"/api/jobs/{job_id}/status", headers=admin.headers)
    assert status.status_code == 200 and status.get_json()["status"] == "queued"


def test_a_commit_whose_answer_was_lost_is_found_and_its_job_enqueued(
    client, admin, app, pg_admin, redis_conn
):
    lost = []

    def commit_then_lose_the_answer(connection):
        # The server commits, then the connection dies before the client hears back.
        if not lost:
            lost.append(backend_pid(connection))
            pgconn = connection.connection.dbapi_connection.pgconn
            pgconn.exec_(b"COMMIT")
            pgconn.exec_(b"BEGIN")
            terminate(pg_admin, lost[0])

    event.listen(db.engine, "commit", commit_then_lose_the_answer)
    try:
        response = submit(client, admin)
    finally:
        event.remove(db.engine, "commit", commit_then_lose_the_answer)
    assert lost
    assert response.status_code == 202, response.get_data(as_text=True)
    job_id = response.get_json()["job_id"]
    assert redis_conn.hexists(JOBS_HASH, job_id)
    listed = client.get("/api/user/jobs", headers=admin.headers).get_json()
    assert [job["job_id"] for job in listed["items"]] == [job_id]


def test_idle_connections_killed_between_requests_are_replaced_not_answered_500(
    client, admin, app, pg_admin
):
    assert submit(client, admin).status_code == 202
    db.session.rollback()
    assert terminate(pg_admin) >= 1
    assert client.get("/api/user/jobs", headers=admin.headers).status_code == 200
    assert terminate(pg_admin) >= 1
    assert submit(client, admin).status_code == 202


def test_hot_reads_whose_pooled_connections_were_killed_are_answered_not_503(
    client, admin, app, pg_admin
):
    job_id = submit(client, admin).get_json()["job_id"]
    status = f"/api/jobs/{job_id}/status"
    assert client.get(status, headers=admin.headers).status_code == 200
    assert client.get("/api/user/profile", headers=admin.headers).status_code == 200
    db.session.rollback()
    assert terminate(pg_admin) >= 1  # the status and profile reads' pool included

    answered = client.get(status, headers=admin.headers)
    assert answered.status_code == 200 and answered.get_json()["job_id"] == job_id
    assert terminate(pg_admin) >= 1
    profile = client.get("/api/user/profile", headers=admin.headers)
    assert profile.status_code == 200 and profile.get_json()["email"] == admin.email


def test_a_request_whose_connection_died_is_torn_down_without_raising(app, pg_admin, server_log):
    with app.test_request_context("/api/jobs"):
        pid = backend_pid(db.session.connection())
        db.session.execute(text("SELECT 1"))
        terminate(pg_admin, pid)
    # The context popped: the rollback failed, was logged, and the session works again.
    assert server_log.messages("rollback at the end of a request failed")
    with app.test_request_context("/api/jobs"):
        assert db.session.execute(text("SELECT 1")).scalar() == 1


def test_a_job_submitted_while_redis_is_down_is_enqueued_within_a_second_of_its_return(
    make_app,
    private_redis,  # noqa: F811 - the fixture imported above
):
    import time

    app = make_app(redis_url=private_redis.url)
    client = ApiClient(app.test_client())
    admin = client.create_admin(app)
    private_redis.stop()
    response = submit(client, admin)
    assert response.status_code == 202
    job_id = response.get_json()["job_id"]
    time.sleep(0.5)
    private_redis.start()
    back = time.monotonic()
    queue = private_redis.client()
    # It came back empty: the line is rebuilt from PostgreSQL, this job with it.
    wait_for(lambda: queue.hexists(JOBS_HASH, job_id) and queue.exists(STATE_KEY), timeout=5)
    assert time.monotonic() - back < 1.5
    assert queue.zscore(QUEUE_KEYS[2], job_id) is not None  # in line, ready to be claimed


def test_a_redis_outage_during_many_requests_is_logged_once_each_way(
    make_app,
    private_redis,  # noqa: F811 - the fixture imported above
    server_log,
):
    import time

    app = make_app(redis_url=private_redis.url)
    client = ApiClient(app.test_client())
    admin = client.create_admin(app)
    job_id = submit(client, admin).get_json()["job_id"]
    private_redis.stop()
    statuses = {
        client.get(f"/api/jobs/{job_id}/status", headers=admin.headers).status_code
        for _ in range(30)
    }
    assert statuses == {200}
    down = server_log.messages("redis unavailable")
    assert len(down) == 1 and down[0].exc_info is None
    # Whatever else noticed the outage logged no traceback and no line per request.
    warnings = [r for r in server_log.records if r.levelno >= logging.WARNING]
    assert len(warnings) <= 5 and not any(r.exc_info for r in warnings)
    private_redis.start()
    time.sleep(1.1)  # the probe runs at most once a second
    client.get(f"/api/jobs/{job_id}/status", headers=admin.headers)
    back = server_log.messages("redis available again")
    assert len(back) == 1 and back[0].affected >= 30


def test_the_database_being_unreachable_answers_503_not_500(make_app, client):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = make_app(database_url=f"postgresql+psycopg://root@127.0.0.1:{port}/nowhere")
    response = ApiClient(app.test_client()).post(
        "/api/auth/login", json={"email": "a@example.com", "password": "x" * 12}
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert error_of(response)["details"] == {"dependency": "database"}


def test_after_redis_loses_its_data_the_line_and_the_per_user_cap_are_back_within_a_second(
    make_app, run_pool, handler, redis_conn
):
    import threading
    import time

    from sqlalchemy import func, select

    from server.jobs import job_queue
    from server.models import Job
    from tests.queue_helpers import fetch_job, make_user

    app = make_app(job_queue_max_per_user=1)
    release = threading.Event()

    def steady(job):
        while not release.is_set():
            time.sleep(0.02)
            job.check_cancelled()
        return {"ok": True}

    handler("steady", steady)

    def running_of(user):
        db.session.rollback()
        return db.session.scalar(
            select(func.count()).where(Job.user_id == user, Job.status == "running")
        )

    with app.app_context():
        user = make_user()
        first, *waiting = (
            job_queue.submit_job(user_id=user, job_type="steady", payload={}) for _ in range(3)
        )
        run_pool(app, threads=3)
        wait_for(lambda: fetch_job(first).status == "running")

        redis_conn.flushdb()  # what a restart without persistence, or FLUSHALL, does
        lost_at = time.monotonic()
        late = job_queue.submit_job(user_id=user, job_type="steady", payload={})
        most_running = 0
        while time.monotonic() - lost_at < 1.0:
            most_running = max(most_running, running_of(user))
            time.sleep(0.02)
        # Within a second: every waiting job is back in line, the one that was running too
        # (its old run is fenced out), and the user still runs one job at a time.
        held = redis_conn.hmget(JOBS_HASH, [first, *waiting, late])
        assert all(held), held
        assert most_running <= 1
        assert redis_conn.exists(job_queue.STATE_KEY)
        release.set()
        for job_id in (first, *waiting, late):
            wait_for(lambda job_id=job_id: fetch_job(job_id).status == "succeeded", timeout=20)


def test_a_long_outage_is_summarised_periodically_with_the_count_it_affected(server_log):
    import time

    from server.core.outages import OutageLog

    outage = OutageLog("search-index", summary_seconds=0.2)
    error = ConnectionError("Connection refused")
    for _ in range(50):
        outage.failed("request", error)
    time.sleep(0.25)
    for _ in range(10):
        outage.failed("request", error)
    outage.recovered()
    outage.recovered()
    lines = [
        (r.getMessage(), r.affected) for r in server_log.records if r.name == "server.core.outages"
    ]
    assert lines == [
        ("search-index unavailable", 1),
        ("search-index still unavailable", 50),
        ("search-index available again", 60),
    ]


def test_a_job_running_when_redis_loses_its_data_is_fenced_out_and_runs_again_at_once(
    make_app, run_pool, handler, redis_conn
):
    import time

    from server.jobs import job_queue
    from tests.queue_helpers import fetch_job, make_user

    app = make_app(job_queue_lease_seconds=1.5)
    runs = []

    def checks_often(job):
        runs.append(job.attempt)
        deadline = time.monotonic() + (30 if len(runs) == 1 else 0)
        while time.monotonic() < deadline:
            time.sleep(0.02)
            job.check_cancelled()
        return {"runs": len(runs)}

    handler("checks_often", checks_often)
    with app.app_context():
        job_id = job_queue.submit_job(user_id=make_user(), job_type="checks_often", payload={})
        run_pool(app, threads=1)
        wait_for(lambda: fetch_job(job_id).status == "running")
        redis_conn.flushdb()
        # The only thread is busy, so nothing claims: the heartbeat sees the loss, the run is
        # fenced out and stops at its next check, and the job runs again (not after the
        # reconciler's minute).
        row = wait_for(lambda: fetch_job(job_id).status == "succeeded" and fetch_job(job_id))
    assert row.result == {"runs": 2} and row.attempts == 1


def test_a_connection_killed_during_a_progress_update_does_not_cut_the_run_short(
    make_app, run_pool, handler, pg_admin
):
    from server.jobs import job_queue
    from tests.queue_helpers import fetch_job, make_user

    app = make_app(job_queue_retry_base_seconds=0.05)
    runs, killed = [], []

    def reports_progress(job):
        runs.append(job.attempt)
        job.report_progress(50, "half way")
        return {"runs": len(runs)}

    def kill_the_progress_update(connection, _cursor, statement, *_args):
        if statement.startswith("UPDATE jobs SET progress_percent") and not killed:
            killed.append(backend_pid(connection))
            terminate(pg_admin, killed[0])

    handler("reports_progress", reports_progress, max_attempts=1)
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", kill_the_progress_update)
        try:
            job_id = job_queue.submit_job(
                user_id=make_user(), job_type="reports_progress", payload={}
            )
            run_pool(app, threads=1)
            row = wait_for(
                lambda: fetch_job(job_id).status in ("succeeded", "failed") and fetch_job(job_id)
            )
        finally:
            event.remove(db.engine, "before_cursor_execute", kill_the_progress_update)
    assert killed
    assert (row.status, row.result, row.attempts, row.outage_retries) == (
        "succeeded",
        {"runs": 1},
        1,
        0,
    )
    assert row.progress_message == "half way"  # the update went through on a new connection


def test_worker_threads_whose_kept_connections_were_killed_run_the_next_jobs_on_fresh_ones(
    app, run_pool, pg_admin, server_log
):
    from server.jobs import job_queue
    from tests.queue_helpers import fetch_job, make_user

    user = make_user()

    def run_one() -> str:
        job_id = job_queue.submit_job(user_id=user, job_type="diagnostic", payload={})
        wait_for(lambda: fetch_job(job_id).status == "succeeded")
        return job_id

    run_pool(app, threads=2)
    run_one()  # the dispatcher and a handler thread now keep a connection each
    db.session.rollback()  # this thread's goes back to the pool (which pings it)
    assert terminate(pg_admin) >= 2

    rows = [fetch_job(run_one()) for _ in range(3)]

    # Seen before use and replaced: no claim or outcome met the dead connections.
    assert [(r.attempts, r.outage_retries) for r in rows] == [(1, 0)] * 3
    assert not server_log.messages("database unavailable")
