"""The scheduler: one leader across processes, hand-over when it dies, runs by hand."""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis
from sqlalchemy import create_engine, func, select, text

from server.core.extensions import db
from server.models import Backup, SideEffect, TokenRevocation, utcnow
from server.ops import scheduler
from server.ops.scheduler import (
    HISTORY_KEY,
    LAST_RUN_KEY,
    LEADER_KEY,
    LeaderScheduler,
    ScheduledJob,
    cron,
    every,
)
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL
from tests.queue_helpers import wait_for
from tests.tcp_proxy import TcpProxy
from tests.test_worker import start_worker, worker_env

PROBE_KEY = "test:scheduler:probe"
REAPER_SECONDS = 0.5
LOCK_SECONDS = 2.0


def probe() -> int:
    """A scheduled job for these tests: counts its runs in Redis."""
    from server.core.redis_client import get_redis

    return get_redis().incr(PROBE_KEY)


def reaper_runs(redis_conn) -> list[dict]:
    """The queue reaper's runs, oldest first, with their start as a UNIX time."""
    runs = [json.loads(item) for item in redis_conn.lrange(HISTORY_KEY, 0, -1)]
    runs = [run for run in runs if run["job"] == "queue_reaper"]
    for run in runs:
        run["at"] = datetime.fromisoformat(run["started_at"].replace("Z", "+00:00")).timestamp()
    return sorted(runs, key=lambda run: run["at"])


def owner_pid(run: dict) -> int:
    return int(run["owner"].split(":")[1])


def assert_once_per_tick(runs: list[dict]) -> None:
    """No more runs than ticks in their span (none ran twice), and most ticks ran."""
    ticks = (runs[-1]["at"] - runs[0]["at"]) / REAPER_SECONDS
    assert len(runs) <= ticks + 1.5, f"{len(runs)} runs in {ticks:.1f} ticks: a tick ran twice"
    assert len(runs) >= ticks / 2, f"{len(runs)} runs in {ticks:.1f} ticks: ticks were skipped"


@pytest.fixture
def scheduler_processes():
    """Start `python -m server.worker` processes; killed at the end of the test."""
    processes = []

    def start(env):
        process = start_worker(env)
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_two_scheduler_processes_run_each_tick_once_and_the_survivor_takes_over(
    app,
    tmp_path,
    scheduler_processes,
    redis_conn,
):
    env = worker_env(
        tmp_path,
        JOB_QUEUE_MAX_WORKERS="0",  # scheduler candidates only
        JOB_QUEUE_REAPER_INTERVAL_SECONDS=str(REAPER_SECONDS),
        SCHEDULER_LOCK_SECONDS=str(LOCK_SECONDS),
    )
    first = scheduler_processes(env)
    wait_for(lambda: reaper_runs(redis_conn), timeout=30)
    second = scheduler_processes(env)
    wait_for(lambda: len(reaper_runs(redis_conn)) >= 12, timeout=30)
    time.sleep(2.0)  # both candidates are up by now (the second one started seconds ago)

    both_alive = reaper_runs(redis_conn)
    leader = owner_pid(both_alive[0])
    assert {owner_pid(run) for run in both_alive} == {leader}
    assert_once_per_tick(both_alive)

    doomed, survivor = (first, second) if leader == first.pid else (second, first)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    killed_at = time.time()
    wait_for(
        lambda: any(owner_pid(run) == survivor.pid for run in reaper_runs(redis_conn)),
        timeout=20,
    )
    time.sleep(2.0)
    runs = reaper_runs(redis_conn)
    taken_over = next(run for run in runs if owner_pid(run) == survivor.pid)
    # The dead leader's lock expires (LOCK_SECONDS), the survivor sees it at its next try (a
    # third of that) and runs the next tick.
    # (plus a second of slack for a loaded machine).
    assert taken_over["at"] - killed_at <= LOCK_SECONDS + LOCK_SECONDS / 3 + REAPER_SECONDS + 1.0
    after = [run for run in runs if run["at"] >= taken_over["at"]]
    assert {owner_pid(run) for run in after} == {survivor.pid}
    assert_once_per_tick(after)


@pytest.fixture
def candidates():
    started = []

    def start(app, jobs, **options) -> LeaderScheduler:
        candidate = LeaderScheduler(app, jobs=jobs, **options)
        candidate.start()
        started.append(candidate)
        return candidate

    yield start
    for candidate in started:
        candidate.stop()


PROBE_EVERY_MINUTE = ScheduledJob(
    "probe", "tests.test_scheduler:probe", cron("backup_database_cron"), "probe", 3600
)


def test_a_new_leader_catches_up_a_cron_run_missed_while_no_one_led(
    make_app, candidates, redis_conn
):
    app = make_app(backup_database_cron="* * * * *")
    # The every-minute run must not fall inside the test: start well before the next minute.
    if utcnow().second >= 45:
        time.sleep(61 - utcnow().second)
    missed_since = utcnow() - timedelta(seconds=90)  # a fire time passed since then
    redis_conn.hset(
        LAST_RUN_KEY,
        "probe",
        json.dumps({"job": "probe", "started_at": missed_since.isoformat(), "outcome": "ok"}),
    )
    candidates(app, (PROBE_EVERY_MINUTE,), lock_seconds=2)
    wait_for(lambda: redis_conn.get(PROBE_KEY) == "1", timeout=10)
    time.sleep(1.0)
    assert redis_conn.get(PROBE_KEY) == "1"  # coalesced: once, however many were missed


def test_a_former_leader_that_lost_its_lock_runs_nothing(make_app, candidates, redis_conn):
    app = make_app(job_queue_reaper_interval_seconds=0.2)
    probe_often = ScheduledJob(
        "probe", "tests.test_scheduler:probe", every("job_queue_reaper_interval_seconds"), "p", 5
    )
    candidate = candidates(app, (probe_often,), lock_seconds=30)
    wait_for(lambda: candidate.is_leader and redis_conn.get(PROBE_KEY), timeout=10)
    with app.app_context():
        assert scheduler.current_leader() == candidate.owner
    redis_conn.set(LEADER_KEY, "another-process")  # it stalled; another took over
    time.sleep(0.3)
    before = int(redis_conn.get(PROBE_KEY))
    time.sleep(1.0)
    assert int(redis_conn.get(PROBE_KEY)) <= before + 1  # at most one already under way
    wait_for(lambda: not candidate.is_leader, timeout=15)


def test_scheduler_list_shows_every_job_and_run_runs_one_by_hand(app, redis_conn):
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["scheduler", "list"])
    assert listed.exit_code == 0, listed.output
    for job in scheduler.SCHEDULED_JOBS:
        assert job.id in listed.output
    assert "cron[" in listed.output and "interval[" in listed.output

    ran = runner.invoke(args=["scheduler", "run", "queue_reconciler"])
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.output)["outcome"] == "succeeded"
    assert scheduler.last_runs(redis_conn)["queue_reconciler"]["outcome"] == "succeeded"
    assert "queue_reconciler" in runner.invoke(args=["scheduler", "list"]).output.split("last")[1]

    unknown = runner.invoke(args=["scheduler", "run", "no_such_job"])
    assert unknown.exit_code != 0 and "known: queue_reaper" in unknown.output


def test_the_daily_maintenance_job_prunes_old_side_effects_and_expired_revocations(app):
    now = utcnow()
    db.session.add_all(
        [
            SideEffect(
                key="mail:old", job_id=None, state="done", created_at=now - timedelta(days=40)
            ),
            SideEffect(key="mail:new", job_id=None, state="done", created_at=now),
            TokenRevocation(
                kind="token", identifier="old", state="access", expires_at=now - timedelta(hours=1)
            ),
            TokenRevocation(
                kind="token", identifier="new", state="access", expires_at=now + timedelta(hours=1)
            ),
        ]
    )
    db.session.commit()
    entry = scheduler.run_job(scheduler.get_job("daily_maintenance"), owner="test")
    assert entry["outcome"] == "succeeded"
    assert entry["result"]["deleted"]["side_effects"] == 1
    assert entry["result"]["deleted"]["token_revocations"] == 1
    assert db.session.scalars(select(SideEffect.key)).all() == ["mail:new"]
    assert db.session.scalar(select(func.count()).select_from(TokenRevocation)) == 1


def test_interval_jobs_fire_on_a_grid_every_process_shares(settings):
    trigger = every("job_queue_reaper_interval_seconds")(settings)
    now = datetime(2026, 12, 1, 0, 0, 7, 123000, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, now) == datetime(2026, 12, 1, 0, 0, 10, tzinfo=UTC)


def test_every_scheduled_job_names_a_function_that_exists():
    ids = [job.id for job in scheduler.SCHEDULED_JOBS]
    assert len(ids) == len(set(ids))
    for job in scheduler.SCHEDULED_JOBS:
        assert callable(scheduler.resolve(job.target)), job.id


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BACKUP_DATABASE_CRON", "61 2 * * *"),
        ("MAINTENANCE_CRON", "0 3 * *"),
        ("SCHEDULER_TIMEZONE", "Mars/Base"),
    ],
)
def test_a_schedule_that_does_not_parse_stops_start_up_naming_its_variable(variable, value):
    from server.core.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match=variable):
        load_settings({variable: value})


# --- the lock: extended, given up in time, never taken on a Redis error ---------------------


@pytest.fixture
def redis_through_a_proxy():
    """A proxy in front of the test Redis, and the URL that reaches the test database
    through it."""
    url = redis.Redis.from_url(TEST_REDIS_URL).connection_pool.connection_kwargs
    proxy = TcpProxy(url.get("port", 6379), url.get("host", "127.0.0.1"))
    proxy.start()
    yield proxy, f"redis://127.0.0.1:{proxy.port}/{url.get('db', 0)}"
    proxy.cut()


def test_the_leader_extends_its_lock_at_every_renewal(make_app, candidates, redis_conn):
    candidate = candidates(make_app(), (), lock_seconds=1.5)
    wait_for(lambda: candidate.is_leader, timeout=10)
    deadline = time.monotonic() + 3 * 1.5
    while time.monotonic() < deadline:
        with redis_conn.pipeline() as pipe:
            holder, left = pipe.get(LEADER_KEY).pttl(LEADER_KEY).execute()
        assert holder == candidate.owner and left > 0, "the lock lapsed under its leader"
        time.sleep(0.01)
    assert candidate.terms == 1


def test_a_leader_cut_off_from_redis_steps_down_while_its_lock_still_stands(
    make_app, candidates, redis_conn, redis_through_a_proxy
):
    proxy, url = redis_through_a_proxy
    candidate = candidates(make_app(redis_url=url), (), lock_seconds=3)
    wait_for(lambda: candidate.is_leader, timeout=10)
    proxy.cut()
    # It cannot renew: it must stop leading before the lock could lapse (and another take
    # over), never after.
    deadline = time.monotonic() + 6
    while candidate.is_leader and time.monotonic() < deadline:
        time.sleep(0.005)
    left = redis_conn.pttl(LEADER_KEY)
    assert not candidate.is_leader, "a leader that cannot reach Redis kept leading"
    assert left > 0 and redis_conn.get(LEADER_KEY) == candidate.owner


def test_a_candidate_that_cannot_reach_redis_never_takes_the_lead(
    make_app, candidates, redis_through_a_proxy
):
    proxy, url = redis_through_a_proxy
    proxy.cut()
    candidate = candidates(make_app(redis_url=url), (), lock_seconds=0.6)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        assert not candidate.is_leader
        time.sleep(0.01)
    assert candidate.terms == 0


# --- a run cut short by its leader's death is run again, once -------------------------------


def test_a_scheduled_backup_killed_with_its_leader_is_run_again_by_the_next_leader(
    app, tmp_path, scheduler_processes, redis_conn
):
    now = datetime.now(UTC)
    due = now - timedelta(minutes=20)  # today's fire time passed 20 minutes ago
    redis_conn.hset(
        LAST_RUN_KEY,
        "database_backup",
        json.dumps(
            {
                "job": "database_backup",
                "started_at": (due - timedelta(days=1)).isoformat(),
                "outcome": "succeeded",
            }
        ),
    )
    env = worker_env(
        tmp_path,
        JOB_QUEUE_MAX_WORKERS="0",
        SCHEDULER_LOCK_SECONDS=str(LOCK_SECONDS),
        BACKUP_DIR=str(tmp_path / "backups"),
        BACKUP_DATABASE_CRON=f"{due.minute} {due.hour} * * *",
        ALERT_CHECK_INTERVAL_SECONDS="5",
    )
    engine = create_engine(TEST_DATABASE_URL)
    blocker = engine.connect()
    blocking = blocker.begin()
    blocker.execute(text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))  # the dump waits
    try:
        first = scheduler_processes(env)
        running = wait_for(lambda: backup_rows("running"), timeout=30)
        [cut_short] = running
        record = scheduler.last_runs(redis_conn)["database_backup"]
        assert record["outcome"] == "running" and owner_pid(record) == first.pid
        second = scheduler_processes(env)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        blocking.rollback()
        blocker.close()
        engine.dispose()

    def retried():
        done = scheduler.last_runs(redis_conn)["database_backup"]
        return done if done["outcome"] == "succeeded" else None

    done = wait_for(retried, timeout=60)
    assert owner_pid(done) == second.pid
    assert done["period"] == record["period"] and done["attempt"] == 2
    # The killed attempt is reaped: failed, its folder gone; the period has one backup.
    wait_for(lambda: backup_rows("failed") == [cut_short], timeout=30)
    [made] = backup_rows("completed")
    assert not (tmp_path / "backups" / cut_short).exists()
    assert (tmp_path / "backups" / made / "manifest.json").is_file()
    runs = [run for run in scheduler.history(redis_conn) if run["job"] == "database_backup"]
    assert [run["outcome"] for run in runs] == ["succeeded"]


def backup_rows(status: str) -> list[str]:
    db.session.rollback()
    return db.session.scalars(select(Backup.id).where(Backup.status == status)).all()
