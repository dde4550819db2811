"""The engine and pool, the indexes, slow-query detection and the daily maintenance, on the real
PostgreSQL and Redis."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from flask import g
from sqlalchemy import event, select, text
from sqlalchemy.exc import OperationalError

from server.core.extensions import db
from server.core.logging_config import current_job_id
from server.jobs import job_queue
from server.models import (
    IpBlock,
    Job,
    LoginFailure,
    OneTimeToken,
    Posting,
    Resume,
    SecurityEvent,
    SideEffect,
    TokenRevocation,
    User,
    utcnow,
)
from server.ops import database_optimizer
from server.ops.database_optimizer import SLOW_QUERIES_KEY, normalise_sql, run_daily_maintenance
from server.security_manager import events, ip_blocking, token_revocations
from server.services import accounts, resumes
from tests.conftest import TEST_DATABASE_URL, TEST_JWT_SECRET, TEST_REDIS_URL
from tests.queue_helpers import make_user

PROJECT_ROOT = Path(__file__).resolve().parent.parent


# --- engine and pool -----------------------------------------------------------------------


def test_the_pool_takes_its_sizes_and_timeouts_from_the_settings(make_app):
    app = make_app(
        db_pool_size=3,
        db_max_overflow=2,
        db_pool_timeout=4,
        db_pool_recycle=600,
        db_statement_timeout_ms=1500,
    )
    with app.app_context():
        pool = db.engine.pool
        assert (pool.size(), pool._max_overflow, pool._timeout, pool._recycle) == (3, 2, 4, 600)
        assert pool._pre_ping is True
        assert db.session.scalar(text("SHOW statement_timeout")) == "1500ms"


def test_the_default_pool_is_ten_plus_twenty_overflow(app):
    status = database_optimizer.pool_status(db.engine)
    assert (status["size"], status["max_overflow"], status["max_connections"]) == (10, 20, 30)


def test_a_statement_over_the_timeout_is_cancelled(make_app):
    app = make_app(db_statement_timeout_ms=200)
    with app.app_context(), pytest.raises(OperationalError, match="statement timeout"):
        db.session.execute(text("SELECT pg_sleep(2)"))


def test_utilisation_moves_while_connections_are_held(make_app):
    app = make_app(db_pool_size=3, db_max_overflow=2)
    with app.app_context():
        engine = db.engine
        assert database_optimizer.pool_status(engine)["utilization_percent"] == 0.0
        with engine.connect(), engine.connect():
            held = database_optimizer.pool_status(engine)
            assert held["checked_out"] == 2
            assert held["utilization_percent"] == 40.0
            with ExitStack() as stack:
                for _ in range(2):
                    stack.enter_context(engine.connect())
                over = database_optimizer.pool_status(engine)
                assert (over["checked_out"], over["overflow"]) == (4, 1)
                assert over["utilization_percent"] == 80.0
        assert database_optimizer.pool_status(engine)["checked_out"] == 0


def test_a_forked_child_gets_a_pool_of_its_own(app):
    engine = db.engine
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    parent_pid = os.getpid()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            with engine.connect() as conn:
                backend = conn.execute(text("SELECT pg_backend_pid()")).scalar()
            os.write(write, str(backend).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    child_backend = int(os.read(read, 64) or b"0")
    os.close(read)
    with engine.connect() as conn:
        parent_backend = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    assert os.getpid() == parent_pid
    assert child_backend and child_backend != parent_backend


def test_sqlite_keeps_its_own_settings(make_app, tmp_path):
    app = make_app(database_url=f"sqlite:///{tmp_path / 'lite.db'}", db_pool_size=3)
    with app.app_context():
        assert db.session.scalar(text("SELECT 1")) == 1
        assert db.engine.pool.size() != 3  # SQLite's pool is SQLAlchemy's own
        assert database_optimizer.pool_status(db.engine)["checked_out"] == 1


# --- indexes -------------------------------------------------------------------------------


def test_the_migrations_leave_at_least_thirty_indexes(app):
    count = db.session.scalar(text("SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'"))
    assert count >= 30


def _fill_tables() -> dict[str, object]:
    """Enough rows that the planner prefers an index whenever one fits."""
    statements = [
        """INSERT INTO users (email, password_hash, name, role, is_active, created_at,
               updated_at, session_generation)
           SELECT 'bulk' || i || '@example.com', 'x', 'Bulk', CASE WHEN i % 500 = 0 THEN 'admin'
               ELSE 'user' END, true, now(), now(), 0 FROM generate_series(1, 2000) i""",
        """INSERT INTO jobs (id, user_id, job_type, priority, payload, status, progress_percent,
               attempts, lost_leases, cancel_requested, created_at, updated_at, finished_at)
           SELECT md5(i::text), (i % 2000) + 1,
               (ARRAY['diagnostic', 'send_email', 'job_search', 'project_analysis'])[i % 4 + 1],
               i % 5 + 1, '{}', CASE WHEN i % 200 = 0 THEN 'queued' WHEN i % 200 = 1 THEN
               'running' WHEN i % 10 = 2 THEN 'failed' ELSE 'succeeded' END, 0, 1, 0, false,
               now() - i * interval '1 minute', now(),
               CASE WHEN i % 200 > 1 THEN now() - i * interval '1 minute' END
           FROM generate_series(1, 60000) i""",
        """INSERT INTO security_events (created_at, actor_user_id, client_ip, action, outcome,
               details)
           SELECT now() - i * interval '3 minutes', i % 2000 + 1, '10.0.' || (i % 250) || '.'
               || (i % 200), (ARRAY['login', 'logout', 'token_refresh', 'password_change',
               'resume_upload', 'ip_block', 'account_created', 'authorization_failure',
               'credential_change', 'audit'])[i % 10 + 1], 'success', '{}'
           FROM generate_series(1, 60000) i""",
        """INSERT INTO ip_blocks (ip, reason, automatic, created_at, expires_at)
           SELECT '10.1.' || (i % 250) || '.' || (i % 200), 'bulk', true,
               now() - i * interval '1 hour', now() - i * interval '1 hour' + interval '5 hours'
           FROM generate_series(1, 20000) i""",
        """INSERT INTO one_time_tokens (user_id, purpose, token_hash, email, created_at,
               expires_at)
           SELECT i % 2000 + 1, CASE WHEN i % 2 = 0 THEN 'verify_email' ELSE 'password_reset'
               END, md5('t' || i), 'x@example.com', now(), now() - i * interval '1 minute'
           FROM generate_series(1, 20000) i""",
        """INSERT INTO resumes (id, user_id, original_filename, storage_key, content_type,
               size_bytes, sha256, created_at)
           SELECT md5('r' || i)::uuid, i % 2000 + 1, 'cv.pdf', md5('k' || i),
               'application/pdf', 100, md5('s' || i), now() - i * interval '1 minute'
           FROM generate_series(1, 20000) i""",
        """INSERT INTO token_revocations (kind, identifier, state, user_id, created_at,
               expires_at)
           SELECT CASE WHEN i % 3 = 0 THEN 'family' ELSE 'token' END, md5('j' || i), 'access',
               i % 2000 + 1, now(), now() + (i - 10000) * interval '1 minute'
           FROM generate_series(1, 20000) i""",
        """INSERT INTO side_effects (key, job_id, state, created_at)
           SELECT 'mail:' || i, md5(i::text), 'done', now() - i * interval '5 minutes'
           FROM generate_series(1, 20000) i""",
    ]
    with db.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    return {"user_id": 77, "ip": "10.0.77.77"}


@contextmanager
def captured_statements():
    """The statements (with their parameters) the code runs inside the block."""
    seen: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _executemany):
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)


def _plan_nodes(plan):
    yield plan
    for child in plan.get("Plans", ()):
        yield from _plan_nodes(child)


def _scans(statement: str, parameters) -> list[tuple[str, str, str | None]]:
    """(node type, table, index) of every scan in the statement's plan."""
    with db.engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).scalar()
    nodes = _plan_nodes(plan[0]["Plan"])
    return [
        (node["Node Type"], node.get("Relation Name", ""), node.get("Index Name"))
        for node in nodes
        if "Scan" in node["Node Type"]
    ]


def test_each_main_query_uses_an_index(app):
    """The service's own queries, captured as they run, planned on tables with many rows."""
    fixture = _fill_tables()
    user_id, ip = fixture["user_id"], fixture["ip"]
    now = utcnow()
    main_queries = {
        "a user's jobs": lambda: job_queue.get_all_jobs(user_id=user_id, page=1, per_page=20),
        "a user's failed jobs": lambda: job_queue.get_all_jobs(
            user_id=user_id, page=1, per_page=20, status="failed"
        ),
        "a user's jobs of a type": lambda: job_queue.get_all_jobs(
            user_id=user_id, page=1, per_page=20, job_type="send_email"
        ),
        "events of an actor": lambda: events.get_all(page=1, per_page=20, actor_user_id=user_id),
        "events from an address": lambda: events.get_all(page=1, per_page=20, client_ip=ip),
        "events of a kind in a day": lambda: events.count(
            action="login", since=now - timedelta(days=1), until=now
        ),
        "blocks in force": ip_blocking.get_active_blocks,
        "a user's resumes": lambda: resumes.get_all(user_id=user_id),
        "admins": lambda: accounts.get_all_users(page=1, per_page=20, role="admin"),
        "a token's revocations": lambda: token_revocations.state_in_database(
            jti="0" * 32, family="1" * 32
        ),
    }
    # queue_stats' own figures: waiting by priority, oldest queued, finished in the last minute
    # (its breakdown by type reads the whole table on purpose, so it is left out).
    failures = []
    for name, call in main_queries.items():
        with captured_statements() as seen:
            call()
        db.session.rollback()
        assert seen, name
        for statement, parameters in seen:
            scans = _scans(statement, parameters)
            sequential = [s for s in scans if s[0] == "Seq Scan"]
            indexed = [s for s in scans if s[2]]
            if sequential or not indexed:
                failures.append((name, statement, scans))
    with captured_statements() as seen:
        job_queue.queue_stats()
    db.session.rollback()
    for statement, parameters in seen:
        if "GROUP BY jobs.job_type" in statement:
            continue
        scans = _scans(statement, parameters)
        if any(s[0] == "Seq Scan" for s in scans) or not any(s[2] for s in scans):
            failures.append(("queue stats", statement, scans))
    assert failures == []


# --- slow queries --------------------------------------------------------------------------


def test_a_slow_statement_is_logged_and_kept_with_its_duration_and_ids(
    make_app, redis_conn, caplog
):
    app = make_app(slow_query_ms=100)
    token = current_job_id.set("job-123")
    try:
        with app.test_request_context("/"), caplog.at_level(logging.WARNING, "server.database"):
            g.request_id = "req-abc"
            db.session.execute(text("SELECT pg_sleep(0.25), 'secret literal'"))
            db.session.execute(text("SELECT 1"))
    finally:
        current_job_id.reset(token)
    kept = [json.loads(raw) for raw in redis_conn.lrange(SLOW_QUERIES_KEY, 0, -1)]
    assert len(kept) == 1
    entry = kept[0]
    assert entry["sql"] == "SELECT pg_sleep(?), ?"
    assert entry["duration_ms"] >= 250
    assert (entry["request_id"], entry["job_id"]) == ("req-abc", "job-123")
    logged = [r for r in caplog.records if r.getMessage() == "slow query"]
    assert len(logged) == 1 and logged[0].duration_ms == entry["duration_ms"]
    assert "secret literal" not in caplog.text


def test_the_recent_slow_list_is_bounded(make_app, redis_conn):
    app = make_app(slow_query_ms=1, slow_query_recent_max=3)
    with app.app_context():
        for _ in range(5):
            db.session.execute(text("SELECT pg_sleep(0.01)"))
    assert redis_conn.llen(SLOW_QUERIES_KEY) == 3


def test_no_statement_is_recorded_under_the_threshold(app, redis_conn):
    db.session.execute(text("SELECT 1"))
    assert redis_conn.llen(SLOW_QUERIES_KEY) == 0


def test_sql_is_normalised():
    sql = "SELECT * FROM t WHERE a = 'x''y' AND b IN (%(p1)s, %(p2)s, %(p3)s) AND c > 42\n  LIMIT 5"
    assert normalise_sql(sql) == "SELECT * FROM t WHERE a = ? AND b IN (...) AND c > ? LIMIT ?"


def test_without_pg_stat_statements_its_absence_is_reported(app):
    report = database_optimizer.pg_stat_statements(db.session.connection())
    assert report["available"] is False
    assert "pg_stat_statements" in report["reason"]


# --- maintenance ---------------------------------------------------------------------------


def _expired_and_fresh_rows(settings) -> dict[str, set]:
    """Rows on both sides of every retention line; returns the ids that must stay."""
    now = utcnow()
    user_id = make_user()
    old = now - timedelta(days=settings.job_retention_days + 1)
    recent = now - timedelta(days=settings.job_retention_days - 1)
    jobs = {
        "old_done": Job(
            user_id=user_id,
            job_type="diagnostic",
            priority=3,
            payload={},
            status="succeeded",
            created_at=old,
            finished_at=old,
        ),
        "old_failed": Job(
            user_id=user_id,
            job_type="diagnostic",
            priority=3,
            payload={},
            status="failed",
            created_at=old,
            finished_at=old,
        ),
        "recent_done": Job(
            user_id=user_id,
            job_type="diagnostic",
            priority=3,
            payload={},
            status="succeeded",
            created_at=recent,
            finished_at=recent,
        ),
        "old_but_waiting": Job(
            user_id=user_id,
            job_type="diagnostic",
            priority=3,
            payload={},
            status="scheduled",
            created_at=old,
        ),
    }
    db.session.add_all(jobs.values())
    old_event = now - timedelta(days=settings.security_event_retention_days + 1)
    events_ = [
        SecurityEvent(action="login", outcome="success", created_at=old_event, details={}),
        SecurityEvent(action="login", outcome="success", created_at=now, details={}),
    ]
    tokens = [
        OneTimeToken(
            user_id=user_id,
            purpose="verify_email",
            token_hash="a" * 64,
            email="x@example.com",
            expires_at=now - timedelta(minutes=1),
        ),
        OneTimeToken(
            user_id=user_id,
            purpose="verify_email",
            token_hash="b" * 64,
            email="x@example.com",
            expires_at=now + timedelta(hours=1),
        ),
    ]
    revocations = [
        TokenRevocation(
            kind="token", identifier="old", state="access", expires_at=now - timedelta(seconds=1)
        ),
        TokenRevocation(
            kind="token", identifier="live", state="access", expires_at=now + timedelta(hours=1)
        ),
    ]
    blocks = [
        IpBlock(ip="10.9.9.1", reason="old", expires_at=old_event),
        IpBlock(ip="10.9.9.2", reason="live", expires_at=now + timedelta(hours=1)),
    ]
    past, later = now - timedelta(seconds=1), now + timedelta(hours=1)
    login_failures = [
        LoginFailure(email="over@example.com", failures=5, window_ends_at=past, locked_until=past),
        # A lock that outlives its window of failures is kept until it ends.
        LoginFailure(email="lock@example.com", failures=5, window_ends_at=past, locked_until=later),
        LoginFailure(email="counting@example.com", failures=2, window_ends_at=later),
    ]
    effect_cutoff = now - timedelta(days=settings.side_effect_retention_days + 1)
    resume = Resume(
        user_id=user_id,
        original_filename="cv.pdf",
        storage_key=uuid.uuid4().hex,
        content_type="application/pdf",
        size_bytes=1,
        sha256="c" * 64,
        created_at=old_event,
    )
    stale = now - timedelta(days=settings.posting_retention_days + 1)
    postings = [
        Posting(
            user_id=user_id,
            source="lever",
            external_id=name,
            company="Acme",
            title=f"{name} engineer",
            dedupe_key=name * 8,
            fetched_at=when,
            created_at=when,
            updated_at=when,
        )
        for name, when in (("staleeee", stale), ("freshhhh", now))
    ]
    db.session.add_all(
        [*events_, *tokens, *revocations, *blocks, *login_failures, resume, *postings]
    )
    db.session.flush()
    effects = [
        SideEffect(key="old", job_id=jobs["old_done"].id, state="done", created_at=effect_cutoff),
        SideEffect(
            key="old-open-job",
            job_id=jobs["old_but_waiting"].id,
            state="started",
            created_at=effect_cutoff,
        ),
        SideEffect(key="new", job_id=jobs["recent_done"].id, state="done", created_at=now),
    ]
    db.session.add_all(effects)
    db.session.commit()
    kept = {
        "jobs": {jobs["recent_done"].id, jobs["old_but_waiting"].id},
        "security_events": {events_[1].id},
        "one_time_tokens": {tokens[1].id},
        "token_revocations": {revocations[1].id},
        "ip_blocks": {blocks[1].id},
        "login_failures": {"lock@example.com", "counting@example.com"},
        "side_effects": {effects[1].id, effects[2].id},
        "resumes": {resume.id},
        "postings": {postings[1].id},
        "users": {user_id},
    }
    # Reading the ids back opened a transaction: end it, or VACUUM waits for it (to cut the
    # tables' empty ends it needs them to itself).
    db.session.rollback()
    return kept


MODELS = {
    "jobs": Job,
    "security_events": SecurityEvent,
    "one_time_tokens": OneTimeToken,
    "token_revocations": TokenRevocation,
    "ip_blocks": IpBlock,
    "login_failures": LoginFailure,
    "side_effects": SideEffect,
    "resumes": Resume,
    "postings": Posting,
    "users": User,
}


def _remaining() -> dict[str, set]:
    db.session.rollback()
    remaining = {
        name: set(db.session.scalars(select(*model.__table__.primary_key.columns)))
        for name, model in MODELS.items()
    }
    db.session.rollback()  # no transaction left open for a VACUUM to wait on
    return remaining


def test_maintenance_removes_exactly_the_expired_rows_and_reports_it(app, caplog):
    keep = _expired_and_fresh_rows(app.config["SETTINGS"])
    with caplog.at_level(logging.INFO, "server.database"):
        report = run_daily_maintenance()
    assert _remaining() == keep
    assert report["deleted"] == {
        "jobs": 2,
        "side_effects": 1,
        "one_time_tokens": 1,
        "token_revocations": 1,
        "security_events": 1,
        "ip_blocks": 1,
        "login_failures": 1,
        "postings": 1,
    }
    assert report["vacuum"] == "VACUUM (ANALYZE)"
    assert [r.report for r in caplog.records if r.getMessage() == "daily maintenance done"] == [
        report
    ]


def test_maintenance_keeps_a_finished_job_another_table_points_at(app):
    """A table added later with a foreign key to jobs (applications, say) keeps its jobs."""
    from sqlalchemy import Column, ForeignKey, Integer, String, Table

    keep = _expired_and_fresh_rows(app.config["SETTINGS"])
    old_done = (set(db.session.scalars(select(Job.id))) - keep["jobs"]).pop()
    db.session.rollback()
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE maintenance_probe (id serial PRIMARY KEY, job_id varchar(36) "
            "REFERENCES jobs(id))"
        )
        conn.exec_driver_sql("INSERT INTO maintenance_probe (job_id) VALUES (%s)", (old_done,))
    probe = Table(
        "maintenance_probe",
        db.metadata,
        Column("id", Integer, primary_key=True),
        Column("job_id", String(36), ForeignKey("jobs.id")),
    )
    try:
        run_daily_maintenance()
        assert old_done in _remaining()["jobs"]
    finally:
        db.session.rollback()
        db.metadata.remove(probe)
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE maintenance_probe")


def test_vacuum_runs_outside_a_transaction_and_updates_statistics(app):
    make_user()
    report = run_daily_maintenance()
    assert report["vacuum"] == "VACUUM (ANALYZE)"
    analysed = db.session.scalar(
        text(
            "SELECT last_vacuum IS NOT NULL AND last_analyze IS NOT NULL "
            "FROM pg_stat_user_tables WHERE relname = 'users'"
        )
    )
    assert analysed is True


def test_the_runbook_one_liner_works_in_a_fresh_process(app, tmp_path):
    keep = _expired_and_fresh_rows(app.config["SETTINGS"])
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_URL": TEST_DATABASE_URL,
        "REDIS_URL": TEST_REDIS_URL,
        "JWT_SECRET_KEY": TEST_JWT_SECRET,
        "ENCRYPTION_KEY": app.config["SETTINGS"].encryption_key,
        "INSTANCE_DIR": str(tmp_path),
        "LOG_DIR": str(tmp_path / "logs"),
        "LOG_TO_STDOUT": "false",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from server.database_optimizer import run_daily_maintenance; run_daily_maintenance()",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert _remaining() == keep
    logged = (tmp_path / "logs" / "api_server.log").read_text()
    assert "daily maintenance done" in logged


def test_the_maintenance_command_prints_its_report(app):
    _expired_and_fresh_rows(app.config["SETTINGS"])
    result = app.test_cli_runner().invoke(args=["maintenance", "run"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["deleted"]["jobs"] == 2
    assert report["vacuum"] == "VACUUM (ANALYZE)"


def test_a_slow_hot_read_is_recorded_like_any_statement(make_app, redis_conn):
    """Job status and profile reads run on their own pool, outside the engine's events."""
    from sqlalchemy import bindparam, func, select

    from server.services.hot_reads import HotQuery, read_row

    app = make_app(slow_query_ms=100)
    with app.app_context():
        query = HotQuery(select(func.pg_sleep(bindparam("seconds")).label("slept")))
        row = read_row(query, {"seconds": 0.2})
    assert row is not None
    kept = [json.loads(raw) for raw in redis_conn.lrange(SLOW_QUERIES_KEY, 0, -1)]
    assert len(kept) == 1 and kept[0]["sql"].startswith("SELECT pg_sleep(")
    assert kept[0]["duration_ms"] >= 200


def test_a_hot_read_over_the_statement_timeout_is_cancelled(make_app):
    from sqlalchemy import bindparam, func, select
    from sqlalchemy.exc import DBAPIError

    from server.services.hot_reads import HotQuery, read_row

    app = make_app(db_statement_timeout_ms=200)
    with app.app_context(), pytest.raises(DBAPIError, match="statement timeout"):
        read_row(
            HotQuery(select(func.pg_sleep(bindparam("seconds")).label("slept"))), {"seconds": 2}
        )


def test_hot_reads_reuse_their_threads_connection_until_the_pool_is_replaced(make_app):
    """One connection per request thread serves read after read; disposing of the engine (a
    fork, shutdown) closes it, and the next read opens a fresh one."""
    import threading
    import time

    from sqlalchemy import func

    from server.services.hot_reads import HotQuery, read_row

    backend = HotQuery(select(func.pg_backend_pid().label("pid")))
    app = make_app()

    def alive(pid: int) -> bool:
        with db.engine.connect() as conn:
            found = conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            )
            return found.scalar() == 1

    with app.app_context():
        first = read_row(backend, {}).pid
        assert read_row(backend, {}).pid == first
        other: list[int] = []
        thread = threading.Thread(target=lambda: other.append(_read_in(app, backend)))
        thread.start()
        thread.join()
        assert other[0] != first  # another thread, its own connection
        db.engine.dispose()
        fresh = read_row(backend, {}).pid
        assert fresh != first
        deadline = time.monotonic() + 5  # the server ends a closed connection's backend soon
        while alive(first) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(first)
        assert read_row(backend, {}).pid == fresh


def _read_in(app, query) -> int:
    from server.services.hot_reads import read_row

    with app.app_context():
        return read_row(query, {}).pid
