"""The scheduled jobs (one declarative list), and the one scheduler that runs them.

Every process that runs background services (`python server/api_server.py`,
`python -m server.worker`, gunicorn with WEB_RUNS_WORKERS) is a candidate. One of them is the
leader: it holds the Redis key `scheduler:leader` (`SET NX PX`, SCHEDULER_LOCK_SECONDS long,
renewed every third of that) and only the leader runs an APScheduler 3 `BackgroundScheduler`
with the jobs below. APScheduler itself must never run in two processes (its job stores cannot
be shared), hence the election. When the leader dies its lock expires and another candidate
takes over within the lock's time; a leader that cannot renew steps down before its lock could
have expired, and each run checks the lock first, so a stalled former leader runs nothing.

A new leader catches up a cron job whose time passed while no one led (once, within the job's
grace time): the time of every job's last run is kept in Redis (`scheduler:last_run`), and
the last runs of all jobs in `scheduler:history` (newest first, capped).

By hand: `flask --app server scheduler list`, `flask --app server scheduler run <id>`.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click
import redis
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from flask.cli import AppGroup

from server.config import Settings, get_settings
from server.extensions import db
from server.models.base import isoformat, utcnow

log = logging.getLogger("server.scheduler")
# APScheduler logs two INFO lines per run (every few seconds for the reaper); our own record
# of each run is in Redis, and failures are logged here.
logging.getLogger("apscheduler").setLevel(logging.WARNING)

LEADER_KEY = "scheduler:leader"
LAST_RUN_KEY = "scheduler:last_run"
HISTORY_KEY = "scheduler:history"
HISTORY_LENGTH = 1000
# Interval jobs fire on a grid counted from this instant, so every candidate computes the
# same fire times.
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

# KEYS[1]: the lock. ARGV: owner, ms. Take it, or extend it when this owner holds it.
HOLD_LOCK = r"""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
# KEYS[1]: the lock. ARGV: owner. Delete it only if this owner holds it.
RELEASE_LOCK = r"""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class ScheduledJob:
    """One scheduled job: a stable id, a `module:function` called with no arguments in an
    app context, and its trigger built from the settings."""

    id: str
    target: str
    trigger: Callable[[Settings], BaseTrigger]
    description: str
    misfire_grace_seconds: int = 3600


def cron(setting: str) -> Callable[[Settings], BaseTrigger]:
    """A trigger from a five-field cron expression held by a setting."""
    return lambda settings: CronTrigger.from_crontab(
        getattr(settings, setting), timezone=settings.scheduler_timezone
    )


def every(setting: str) -> Callable[[Settings], BaseTrigger]:
    """A trigger every N seconds (a setting), on a grid shared by every process."""
    return lambda settings: IntervalTrigger(
        seconds=getattr(settings, setting), start_date=EPOCH, timezone=UTC
    )


SCHEDULED_JOBS: tuple[ScheduledJob, ...] = (
    ScheduledJob(
        "queue_reaper",
        "server.job_queue:reap_expired_leases",
        every("job_queue_reaper_interval_seconds"),
        "put jobs whose worker lease expired back in line",
        misfire_grace_seconds=60,
    ),
    ScheduledJob(
        "queue_reconciler",
        "server.job_queue:reconcile",
        every("job_queue_reconcile_interval_seconds"),
        "enqueue jobs PostgreSQL says are waiting but Redis does not hold",
        misfire_grace_seconds=60,
    ),
    ScheduledJob(
        "database_backup",
        "server.backup_manager:scheduled_database_backup",
        cron("backup_database_cron"),
        "daily database backup",
    ),
    ScheduledJob(
        "files_backup",
        "server.backup_manager:scheduled_files_backup",
        cron("backup_files_cron"),
        "weekly backup of uploaded and generated files",
    ),
    ScheduledJob(
        "logs_backup",
        "server.backup_manager:scheduled_logs_backup",
        cron("backup_logs_cron"),
        "weekly backup of the logs",
    ),
    ScheduledJob(
        "backup_reaper",
        "server.backup_manager:scheduled_reaping",
        every("alert_check_interval_seconds"),
        "mark backups whose process died as failed and remove their files",
        misfire_grace_seconds=60,
    ),
    ScheduledJob(
        "backup_retention",
        "server.backup_manager:scheduled_retention",
        cron("backup_retention_cron"),
        "delete backups past the retention policy (local and S3)",
    ),
    ScheduledJob(
        "backup_verification",
        "server.backup_manager:scheduled_verification",
        cron("backup_verify_cron"),
        "restore the newest backup of each type into a scratch database and check it",
    ),
    ScheduledJob(
        "daily_maintenance",
        "server.database_optimizer:run_daily_maintenance",
        cron("maintenance_cron"),
        "VACUUM (ANALYZE) and delete expired records: finished jobs, tokens, revocations, "
        "side-effect records, security events, stale postings",
    ),
    ScheduledJob(
        "alert_checks",
        "server.monitoring:run_alert_checks",
        every("alert_check_interval_seconds"),
        "check the alert rules; post what starts or stops firing",
        misfire_grace_seconds=60,
    ),
)


def get_job(job_id: str, jobs: tuple[ScheduledJob, ...] = SCHEDULED_JOBS) -> ScheduledJob:
    """The scheduled job with this id; KeyError naming the known ids."""
    for job in jobs:
        if job.id == job_id:
            return job
    raise KeyError(f"no scheduled job {job_id!r}; known: {', '.join(j.id for j in jobs)}")


def resolve(target: str) -> Callable[[], Any]:
    """The function a `module:function` reference names."""
    module_name, _, name = target.partition(":")
    return getattr(importlib.import_module(module_name), name)


def _summarise(result: Any) -> Any:
    text = json.dumps(result, default=str)
    return result if len(text) <= 1000 else text[:1000] + "…"


def record_run(conn: redis.Redis, entry: dict[str, Any]) -> None:
    """Keep a run's record: the job's last run and the capped history."""
    encoded = json.dumps(entry, default=str)
    pipe = conn.pipeline(transaction=False)
    pipe.hset(LAST_RUN_KEY, entry["job"], encoded)
    pipe.lpush(HISTORY_KEY, encoded)
    pipe.ltrim(HISTORY_KEY, 0, HISTORY_LENGTH - 1)
    pipe.execute()


def last_runs(conn: redis.Redis) -> dict[str, dict[str, Any]]:
    """The last run of each job (as recorded in Redis)."""
    return {key: json.loads(value) for key, value in conn.hgetall(LAST_RUN_KEY).items()}


def history(conn: redis.Redis, limit: int = HISTORY_LENGTH) -> list[dict[str, Any]]:
    """Recent runs of all jobs, newest first."""
    return [json.loads(item) for item in conn.lrange(HISTORY_KEY, 0, limit - 1)]


def current_leader() -> str | None:
    """Who leads now: the owner (`host:pid:random`) of the scheduler lock, or None."""
    from server.redis_client import get_redis

    return get_redis().get(LEADER_KEY)


def run_job(job: ScheduledJob, *, owner: str) -> dict[str, Any]:
    """Run one job now, in the current app context, and record the run."""
    from server.redis_client import get_redis

    conn = get_redis()
    started = utcnow()
    began = time.monotonic()
    entry: dict[str, Any] = {"job": job.id, "owner": owner, "started_at": isoformat(started)}
    # Marked before it runs: a leader taking over meanwhile does not run it again.
    conn.hset(LAST_RUN_KEY, job.id, json.dumps({**entry, "outcome": "running"}))
    try:
        result = resolve(job.target)()
        entry.update(outcome="succeeded", result=_summarise(result))
    except Exception as exc:
        entry.update(outcome="failed", error=f"{type(exc).__name__}: {exc}"[:1000])
        log.exception("scheduled job failed", extra={"scheduled_job": job.id})
    finally:
        db.session.remove()
    entry["duration_ms"] = int((time.monotonic() - began) * 1000)
    record_run(conn, entry)
    return entry


class LeaderScheduler:
    """A scheduler candidate: elects itself through the Redis lock and, while it leads, runs
    the scheduled jobs with APScheduler."""

    def __init__(
        self,
        app: Flask,
        *,
        jobs: tuple[ScheduledJob, ...] = SCHEDULED_JOBS,
        lock_seconds: float | None = None,
    ):
        settings: Settings = app.config["SETTINGS"]
        self.app = app
        self.settings = settings
        self.jobs = jobs
        self.lock_seconds = lock_seconds or settings.scheduler_lock_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.terms = 0  # times this candidate became the leader
        self._scheduler: BackgroundScheduler | None = None
        self._valid_until = 0.0  # monotonic: the lock is ours at least until then
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._elect, name="scheduler-election", daemon=True)
        self._conn: redis.Redis | None = None

    @property
    def is_leader(self) -> bool:
        return self._scheduler is not None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop leading (running jobs are not waited for) and let the lock go."""
        self._stopping.set()
        self._thread.join(timeout=10)

    # --- election ---------------------------------------------------------------------------

    def _elect(self) -> None:
        from server.redis_client import get_redis

        with self.app.app_context():
            self._conn = get_redis()
        hold = self._conn.register_script(HOLD_LOCK)
        release = self._conn.register_script(RELEASE_LOCK)
        renew_every = self.lock_seconds / 3
        while not self._stopping.is_set():
            try:
                self._round(hold, release, renew_every)
            except Exception:
                # The election must outlive any surprise; a leader that cannot lead lets go.
                log.exception("scheduler election round failed")
                if self.is_leader:
                    self._step_down("election round failed")
            self._stopping.wait(renew_every)
        if self.is_leader:
            self._step_down("stopping")
        try:
            release(keys=[LEADER_KEY], args=[self.owner])
        except redis.RedisError:
            log.warning("scheduler lock not released; it expires on its own")

    def _round(self, hold, release, renew_every: float) -> None:
        began = time.monotonic()
        try:
            held = bool(hold(keys=[LEADER_KEY], args=[self.owner, self._lock_ms]))
            if held:
                self._valid_until = began + self.lock_seconds
        except redis.RedisError as exc:
            held = None
            log.warning("scheduler lock not renewed", extra={"error": str(exc)})
        if held:
            if not self.is_leader:
                try:
                    self._lead()
                except Exception:
                    release(keys=[LEADER_KEY], args=[self.owner])  # let another try
                    raise
        elif self.is_leader and (
            held is False or time.monotonic() > self._valid_until - renew_every
        ):
            # Lost it, or cannot tell and it may lapse before the next try: step down.
            self._step_down("lost the scheduler lock" if held is False else "Redis away")

    @property
    def _lock_ms(self) -> int:
        return max(1, int(self.lock_seconds * 1000))

    def _still_leader(self) -> bool:
        try:
            return self._conn.get(LEADER_KEY) == self.owner
        except redis.RedisError:
            return False

    def _lead(self) -> None:
        scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=4)},
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        now = datetime.now(UTC)
        for job in self.jobs:
            trigger = job.trigger(self.settings)
            options: dict[str, Any] = {}
            missed = self._missed_fire_time(job, trigger, now)
            if missed is not None:
                options["next_run_time"] = missed
            scheduler.add_job(
                self._run,
                trigger=trigger,
                args=[job.id],
                id=job.id,
                name=job.description,
                misfire_grace_time=job.misfire_grace_seconds,
                replace_existing=True,
                **options,
            )
        scheduler.start()
        self._scheduler = scheduler
        self.terms += 1
        log.info("this process is now the scheduler", extra={"owner": self.owner})

    def _missed_fire_time(
        self, job: ScheduledJob, trigger: BaseTrigger, now: datetime
    ) -> datetime | None:
        """A cron fire time that passed while no one led, within the job's grace time."""
        if not isinstance(trigger, CronTrigger):
            return None
        try:
            raw = self._conn.hget(LAST_RUN_KEY, job.id)
        except redis.RedisError:
            return None
        if not raw:
            return None
        last = datetime.fromisoformat(json.loads(raw)["started_at"].replace("Z", "+00:00"))
        missed = trigger.get_next_fire_time(last, now)
        if missed is None or missed > now:
            return None
        if (now - missed).total_seconds() > job.misfire_grace_seconds:
            return None
        return missed

    def _step_down(self, reason: str) -> None:
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        log.warning("this process stopped being the scheduler", extra={"reason": reason})

    def _run(self, job_id: str) -> None:
        job = get_job(job_id, self.jobs)
        if not self._still_leader():
            log.warning("scheduled run skipped: not the leader", extra={"scheduled_job": job_id})
            return
        with self.app.app_context():
            run_job(job, owner=self.owner)


# --- CLI -------------------------------------------------------------------------------------

scheduler_cli = AppGroup("scheduler", help="The scheduled jobs: list them, run one by hand.")


@scheduler_cli.command("list")
def list_command() -> None:
    """Every scheduled job: id, trigger, next run, last run."""
    from server.redis_client import get_redis

    settings = get_settings()
    try:
        last = last_runs(get_redis())
    except redis.RedisError:
        last = {}
    now = datetime.now(UTC)
    for job in SCHEDULED_JOBS:
        trigger = job.trigger(settings)
        upcoming = trigger.get_next_fire_time(None, now)
        ran = last.get(job.id)
        ran_text = f"{ran['started_at']} {ran['outcome']}" if ran else "never"
        click.echo(
            f"{job.id:<26} {str(trigger):<44} next {isoformat(upcoming)}  last {ran_text}\n"
            f"{'':<26} {job.description}"
        )


@scheduler_cli.command("run")
@click.argument("job_id")
def run_command(job_id: str) -> None:
    """Run one scheduled job now, in this process, and print its outcome."""
    try:
        job = get_job(job_id)
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0])) from None
    entry = run_job(job, owner=f"cli:{socket.gethostname()}:{os.getpid()}")
    click.echo(json.dumps(entry, indent=2, default=str))
    if entry["outcome"] != "succeeded":
        raise SystemExit(1)
