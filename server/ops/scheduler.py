"""The scheduled jobs (one declarative list), and the one scheduler that runs them.

Every process that runs background services (`python server/api_server.py`,
`python -m server.worker`, gunicorn with WEB_RUNS_WORKERS) is a candidate. One of them is the
leader: it holds the Redis key `scheduler:leader` (`SET NX PX`, SCHEDULER_LOCK_SECONDS long,
renewed every third of that) and only the leader runs an APScheduler 3 `BackgroundScheduler`
with the jobs below. APScheduler itself must never run in two processes (its job stores cannot
be shared), hence the election. When the leader dies its lock expires and another candidate
takes over within the lock's time; a leader that cannot renew steps down before its lock could
have expired, and each run is claimed under the lock (one Redis script), so a stalled former
leader runs nothing.

Each run holds `scheduler:running:<job>` while it runs (renewed like the lock) and is recorded
with its period (the fire time it is for). A cron job's run left `running` whose key expired
was cut short by its process's death: the leader runs that period again, once (the retry is
claimed against the record it replaces). An interval job's next tick is its retry.

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
from datetime import UTC, datetime, timedelta
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

from server.core.config import Settings, get_settings
from server.core.extensions import db
from server.models.base import isoformat, utcnow

log = logging.getLogger("server.ops.scheduler")
# APScheduler logs two INFO lines per run (every few seconds for the reaper); our own record
# of each run is in Redis, and failures are logged here.
logging.getLogger("apscheduler").setLevel(logging.WARNING)

LEADER_KEY = "scheduler:leader"
LAST_RUN_KEY = "scheduler:last_run"
HISTORY_KEY = "scheduler:history"
# Held by the process running a job (`<owner>:<random>`), for the lock's time, renewed.
RUNNING_KEY = "scheduler:running:{job}"
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
# KEYS: the lock, the job's running key, the last runs. ARGV: the leader it must be ('' for a
# run by hand), the running key's value, ms, the job id, the run's record, and the record a
# retry replaces ('' for a new run). 1: claimed; 0: not the leader; -1: a run is under way;
# -2: someone else retried it already.
CLAIM_RUN = r"""
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
if ARGV[6] ~= '' and redis.call('HGET', KEYS[3], ARGV[4]) ~= ARGV[6] then return -2 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
return 1
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
        "server.jobs.job_queue:reap_expired_leases",
        every("job_queue_reaper_interval_seconds"),
        "put jobs whose worker lease expired back in line",
        misfire_grace_seconds=60,
    ),
    ScheduledJob(
        "queue_reconciler",
        "server.jobs.job_queue:reconcile",
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
        "server.ops.database_optimizer:run_daily_maintenance",
        cron("maintenance_cron"),
        "VACUUM (ANALYZE) and delete expired records: finished jobs, tokens, revocations, "
        "side-effect records, security events, stale postings",
    ),
    ScheduledJob(
        "worker_watch",
        "server.ops.monitoring:watch_workers",
        # A third of the time after which a silent pool is dead, at most 10 s: with the
        # defaults a killed worker alerts within a minute even when it led the scheduler.
        lambda settings: IntervalTrigger(
            seconds=min(10.0, settings.job_queue_lease_seconds / 3), start_date=EPOCH, timezone=UTC
        ),
        "alert at once when no worker pool is alive (the workers_dead rule alone)",
        misfire_grace_seconds=60,
    ),
    ScheduledJob(
        "alert_checks",
        "server.ops.monitoring:run_alert_checks",
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
    from server.core.redis_client import get_redis

    return get_redis().get(LEADER_KEY)


def running_key(job_id: str) -> str:
    return RUNNING_KEY.format(job=job_id)


def run_job(
    job: ScheduledJob,
    *,
    owner: str,
    leader: bool = False,
    period: datetime | str | None = None,
    replacing: str | None = None,
    alive_seconds: float | None = None,
) -> dict[str, Any]:
    """Run one job now, in the current app context, and record the run.

    The run is claimed first, in one step: as the leader (`leader`: the lock must be
    `owner`'s, so a former leader runs nothing), while no other run of the job is under way,
    and for a retry (`replacing`) only if no one retried that run already. While it runs its
    key `scheduler:running:<job>` is kept alive; a run recorded as `running` whose key expired
    was cut short by its process's death, and the leader runs that period again. Returns the
    run's record (`outcome` "skipped" when it was not claimed).
    """
    from server.core.redis_client import get_redis, kept_alive

    conn = get_redis()
    seconds = alive_seconds or get_settings().scheduler_lock_seconds
    started = utcnow()
    began = time.monotonic()
    period_text = period if isinstance(period, str) else isoformat(period or started)
    previous = json.loads(replacing) if replacing else {}
    entry: dict[str, Any] = {
        "job": job.id,
        "owner": owner,
        "started_at": isoformat(started),
        "period": period_text,
        "attempt": previous.get("attempt", 1) + 1 if replacing else 1,
    }
    token = f"{owner}:{secrets.token_hex(4)}"
    claimed = conn.register_script(CLAIM_RUN)(
        keys=[LEADER_KEY, running_key(job.id), LAST_RUN_KEY],
        args=[
            owner if leader else "",
            token,
            max(1, int(seconds * 1000)),
            job.id,
            json.dumps({**entry, "outcome": "running"}),
            replacing or "",
        ],
    )
    if claimed != 1:
        reason = {0: "not the leader", -1: "a run is under way", -2: "retried already"}[claimed]
        log.warning("scheduled run skipped", extra={"scheduled_job": job.id, "reason": reason})
        return {**entry, "outcome": "skipped", "reason": reason}
    with kept_alive(conn, running_key(job.id), token, seconds):
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
        from server.core.redis_client import get_redis

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
            try:
                self._retry_cut_short()
            except Exception:  # noqa: BLE001 - logged; the next round looks again
                log.exception("runs cut short could not be checked")
        elif self.is_leader and (
            held is False or time.monotonic() > self._valid_until - renew_every
        ):
            # Lost it, or cannot tell and it may lapse before the next try: step down.
            self._step_down("lost the scheduler lock" if held is False else "Redis away")

    @property
    def _lock_ms(self) -> int:
        return max(1, int(self.lock_seconds * 1000))

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
        record = json.loads(raw)
        last = _parse_time(record.get("period") or record["started_at"])
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

    def _run(self, job_id: str, period: str | None = None, replacing: str | None = None) -> None:
        job = get_job(job_id, self.jobs)
        if period is None:
            # The fire time this run is for (a late run keeps its period).
            period = _fire_time_before(job, self.settings, datetime.now(UTC))
        with self.app.app_context():
            try:
                run_job(
                    job,
                    owner=self.owner,
                    leader=True,
                    period=period,
                    replacing=replacing,
                    alive_seconds=self.lock_seconds,
                )
            except redis.RedisError as exc:
                # Redis is down or failing over: the run could not be claimed. An interval job
                # runs at its next tick; a cron job's missed period is retried by the leader.
                log.warning(
                    "scheduled run skipped: Redis unavailable",
                    extra={"scheduled_job": job.id, "error": str(exc)},
                )

    def _retry_cut_short(self) -> None:
        """Run again, once, each cron job's period whose run died with its process."""
        records = self._conn.hgetall(LAST_RUN_KEY)
        for job in self.jobs:
            raw = records.get(job.id)
            if not raw or not isinstance(job.trigger(self.settings), CronTrigger):
                continue  # an interval job's next tick comes soon anyway
            record = json.loads(raw)
            if record.get("outcome") != "running" or self._conn.exists(running_key(job.id)):
                continue
            log.warning(
                "scheduled run cut short; running it again",
                extra={"scheduled_job": job.id, "period": record.get("period")},
            )
            self._scheduler.add_job(
                self._run,
                trigger="date",
                run_date=datetime.now(UTC),
                args=[job.id, record.get("period") or record["started_at"], raw],
                id=f"{job.id}:retry",
                replace_existing=True,
                misfire_grace_time=job.misfire_grace_seconds,
            )


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _fire_time_before(job: ScheduledJob, settings: Settings, now: datetime) -> str | None:
    """The latest fire time of a job at or before `now`, within its grace time: the period a
    run is for."""
    trigger = job.trigger(settings)
    if isinstance(trigger, IntervalTrigger):
        step = trigger.interval.total_seconds()
        ticks = int((now - EPOCH).total_seconds() // step)
        return isoformat(EPOCH + timedelta(seconds=ticks * step))
    previous = None
    since = now - timedelta(seconds=job.misfire_grace_seconds + 1)
    moment = trigger.get_next_fire_time(None, since)
    while moment is not None and moment <= now:
        previous = moment
        moment = trigger.get_next_fire_time(moment, moment + timedelta(microseconds=1))
    return isoformat(previous) if previous else None


# --- CLI -------------------------------------------------------------------------------------

scheduler_cli = AppGroup("scheduler", help="The scheduled jobs: list them, run one by hand.")


@scheduler_cli.command("list")
def list_command() -> None:
    """Every scheduled job: id, trigger, next run, last run."""
    from server.core.redis_client import get_redis

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
    if entry["outcome"] == "skipped":
        raise click.ClickException(f"{job_id} not run: {entry['reason']}")
    click.echo(json.dumps(entry, indent=2, default=str))
    if entry["outcome"] != "succeeded":
        raise SystemExit(1)
