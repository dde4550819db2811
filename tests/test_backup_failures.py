"""A backup that fails ends at once, cleans up, is marked failed and alerts; one whose process
died is reaped. The full disk is a real one: a small tmpfs mounted for the test."""

from __future__ import annotations

import secrets
import shutil
import signal
import subprocess
import sys
import threading

import pytest
from sqlalchemy import create_engine, select, text

from server import backup_manager
from server.core.extensions import db
from server.models import Backup, Job, utcnow
from server.models.base import as_utc
from server.ops import scheduler
from server.ops.monitoring import run_alert_checks
from tests.conftest import TEST_DATABASE_URL
from tests.queue_helpers import make_user, wait_for
from tests.test_monitoring_alerts import messages_about, webhook  # noqa: F401 - a fixture
from tests.test_worker import ROOT, worker_env

DISK_BYTES = 256 * 1024


@pytest.fixture
def full_disk(tmp_path):
    """A folder on a file system of 256 KiB (tmpfs): a database dump outgrows it."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES},mode=0700", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        raise RuntimeError(f"these tests mount a tmpfs and need root: {mounted.stderr.strip()}")
    yield folder
    subprocess.run(["umount", "--lazy", str(folder)], check=True)


def a_large_database() -> None:
    """Rows that make a dump of a few MB (random, so compression does not shrink them)."""
    user = make_user()
    db.session.add(
        Job(
            user_id=user,
            job_type="diagnostic",
            priority=3,
            payload={"blob": secrets.token_hex(1_500_000)},
            status="succeeded",
        )
    )
    db.session.commit()


def sessions(state_or_name: str) -> int:
    """Sessions of the test database in a state, or of a program (`application_name`)."""
    engine = create_engine(TEST_DATABASE_URL)
    try:
        with engine.connect() as conn:
            return conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND (state = :v OR application_name = :v)"
                ),
                {"v": state_or_name},
            )
    finally:
        engine.dispose()


def flask_command(env, *args, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "server", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_backup_command_on_a_full_disk_fails_at_once_in_one_line_and_cleans_up(
    app, tmp_path, full_disk
):
    a_large_database()
    done = flask_command(
        worker_env(tmp_path, BACKUP_DIR=str(full_disk)), "backup", "create", "database"
    )

    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("Error: backup ") and "No space left on device" in line
    assert list(full_disk.iterdir()) == []  # the partial dump does not keep the disk full
    [row] = db.session.scalars(select(Backup)).all()
    assert row.status == "failed" and "No space left on device" in row.error
    assert row.finished_at is not None


def test_a_scheduled_backup_on_a_full_disk_ends_releases_everything_and_alerts(
    make_app,
    tmp_path,
    full_disk,
    webhook,  # noqa: F811 - the fixture
    redis_conn,
):
    app = make_app(
        backup_dir=full_disk,
        alert_webhook_url=webhook.url,
        outbound_allow_loopback_ports=webhook.ports,
    )
    outcome = []

    def scheduled_run():
        with app.app_context():
            outcome.append(scheduler.run_job(scheduler.get_job("database_backup"), owner="test"))

    with app.app_context():
        a_large_database()
        run = threading.Thread(target=scheduled_run, daemon=True)
        run.start()
        run.join(timeout=60)
        assert not run.is_alive(), "the backup hangs"
        [entry] = outcome
        assert entry["outcome"] == "failed" and "No space left on device" in entry["error"]
        # Nothing is left holding the database or the disk, and the next run may start.
        assert sessions("idle in transaction") == 0 and sessions("pg_dump") == 0
        assert list(full_disk.iterdir()) == []
        assert scheduler.last_runs(redis_conn)["database_backup"]["outcome"] == "failed"

        [failed] = [r for r in run_alert_checks() if r["rule"] == "backup_failed"]
        assert failed["firing"] and failed["change"] == "fired"
        [message] = messages_about(webhook, "backup_failed")
        backup_id = db.session.scalars(select(Backup.id)).one()
        assert message.startswith(":rotating_light: FIRING Backup failed")
        assert backup_id in message and "No space left on device" in message

    roomy = make_app(
        backup_dir=tmp_path / "roomy",
        alert_webhook_url=webhook.url,
        outbound_allow_loopback_ports=webhook.ports,
    )
    with roomy.app_context():
        assert backup_manager.create_backup(backup_type="database")["status"] == "completed"
        [resolved] = [r for r in run_alert_checks() if r["rule"] == "backup_failed"]
        assert (resolved["firing"], resolved["change"]) == (False, "resolved")


@pytest.fixture
def locked_users_table():
    """A transaction holding an exclusive lock on `users`: a dump waits for it."""
    engine = create_engine(TEST_DATABASE_URL)
    conn = engine.connect()
    transaction = conn.begin()
    conn.execute(text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))
    yield transaction
    if transaction.is_active:
        transaction.rollback()
    conn.close()
    engine.dispose()


def test_a_backup_whose_process_was_killed_is_reaped_and_alerts(
    make_app,
    tmp_path,
    locked_users_table,
    webhook,  # noqa: F811 - the fixture
):
    backups = tmp_path / "backups"
    app = make_app(
        backup_dir=backups,
        scheduler_lock_seconds=1,
        alert_webhook_url=webhook.url,
        outbound_allow_loopback_ports=webhook.ports,
    )
    env = worker_env(tmp_path, BACKUP_DIR=str(backups), SCHEDULER_LOCK_SECONDS="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "server", "backup", "create", "database"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with app.app_context():

            def running_row():
                db.session.rollback()
                return db.session.scalars(select(Backup).where(Backup.status == "running")).first()

            row = wait_for(running_row, timeout=30)
            backup_id = row.id
            # The row is recorded first, then the backup's folder is made.
            wait_for(lambda: (backups / backup_id).is_dir(), timeout=10)
            # Alive (it waits for the lock) and past its heartbeat's lifetime: not reaped.
            wait_for(lambda: (utcnow() - as_utc(row.created_at)).total_seconds() > 2)
            assert backup_manager.reap_abandoned() == {"reaped": []}

            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            locked_users_table.rollback()
            wait_for(lambda: backup_manager.reap_abandoned()["reaped"] == [backup_id], timeout=10)

            db.session.expire_all()
            row = db.session.get(Backup, backup_id)
            assert row.status == "failed" and "stopped before it finished" in row.error
            assert not (backups / backup_id).exists()
            [failed] = [r for r in run_alert_checks() if r["rule"] == "backup_failed"]
            assert failed["firing"] and backup_id in failed["reason"]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    shutil.rmtree(backups, ignore_errors=True)
