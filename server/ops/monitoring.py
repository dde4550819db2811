"""System status, the Prometheus endpoint's figures, and alerts.

- `system_status()`: what `GET /api/admin/system-status` returns: the seed runbook's keys
  (`timestamp`, `rate_limits`, `job_queue`, `database`, `security`, `backups`) and, beside
  them, workers, scheduler, Redis and database health, version and uptime. Read live.
- `render_metrics()`: the Prometheus text for `GET /metrics`: the instruments of
  `server.core.metrics` (added up over every process under gunicorn) and figures read at scrape
  time (queue depth by priority, open jobs, Gemini quota, backup age, live workers).
- `run_alert_checks()`: the declarative `ALERT_RULES`, checked every minute by the scheduler
  (or `flask --app server alerts check`). A rule that starts firing is logged and posted once
  to `ALERT_WEBHOOK_URL` (Slack-compatible `{"text": ...}`); when it clears, a resolve message
  follows. The firing set lives in Redis (`monitoring:alerts:firing`), so one incident makes
  one message whichever process checks.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, has_app_context

from server.core.version import API_VERSION
from server.security_manager.outbound import OutboundClient, OutboundError, OutboundPolicy

log = logging.getLogger("server.ops.monitoring")

STARTED_AT = time.time()
WORKERS_KEY = "monitoring:workers"
WORKER_INFO_KEY = "monitoring:worker_info"
ALERTS_FIRING_KEY = "monitoring:alerts:firing"
ALERTS_REQUESTS_KEY = "monitoring:alerts:requests"
WORKER_NOTE_EVERY_SECONDS = 5.0
RECENT_EVENTS_HOURS = 24
SLOW_QUERY_ALERT_WINDOW_SECONDS = 300


# --- backups (server.backup_manager, when it is there) -------------------------------------


def backup_figures() -> tuple[dict[str, Any], float | None]:
    """The backup catalogue's summary, and the age of the newest verified backup in seconds
    (None: there is none)."""
    from server import backup_manager

    return backup_manager.summary(), backup_manager.newest_verified_age_seconds()


# --- workers and scheduler -----------------------------------------------------------------

_last_noted: dict[str, float] = {}


def worker_alive_seconds() -> float:
    """A worker pool not heard from for this long is dead: JOB_QUEUE_LEASE_SECONDS, the time
    after which its jobs are taken back too."""
    from server.core.config import get_settings

    return get_settings().job_queue_lease_seconds


def note_worker_alive(name: str, threads: int, busy: int, *, alive_seconds: float) -> None:
    """A worker pool says it is alive (its heartbeat calls this; written every few seconds,
    often enough for `alive_seconds`)."""
    now = time.time()
    every = min(WORKER_NOTE_EVERY_SECONDS, alive_seconds / 6)
    if now - _last_noted.get(name, 0.0) < every:
        return
    _last_noted[name] = now
    from server.core.redis_client import get_redis

    info = json.dumps({"threads": threads, "busy": busy, "pid": os.getpid()})
    try:
        with get_redis().pipeline(transaction=False) as pipe:
            pipe.zadd(WORKERS_KEY, {name: now})
            pipe.hset(WORKER_INFO_KEY, name, info)
            pipe.execute()
    except Exception as exc:  # noqa: BLE001 - a heartbeat must not stop for this
        log.debug("worker liveness not written", extra={"error": f"{type(exc).__name__}: {exc}"})


def workers_status(conn, running: dict[str, int] | None = None) -> dict[str, Any]:
    """Worker pools heard from within `worker_alive_seconds()`, their threads, and the pool
    heard from last (`last_seen`: name and seconds ago, None when none in a day).

    `running` (jobs running per worker, from PostgreSQL) gives each pool's `busy`; without it,
    what the pool said at its last note, which may be seconds old."""
    now = time.time()
    conn.zremrangebyscore(WORKERS_KEY, 0, now - 86400)
    names = conn.zrangebyscore(WORKERS_KEY, now - worker_alive_seconds(), "+inf")
    infos = conn.hmget(WORKER_INFO_KEY, names) if names else []
    pools = []
    for name, raw in zip(names, infos, strict=True):
        info = json.loads(raw) if raw else {}
        busy = info.get("busy") if running is None else running.get(name, 0)
        pools.append({"name": name, "threads": info.get("threads"), "busy": busy})
    newest = conn.zrevrange(WORKERS_KEY, 0, 0, withscores=True)
    return {
        "alive": len(pools),
        "threads": sum(p["threads"] or 0 for p in pools),
        "busy": sum(p["busy"] or 0 for p in pools),
        "pools": pools,
        "last_seen": (
            {"name": newest[0][0], "seconds_ago": round(max(0.0, now - newest[0][1]), 1)}
            if newest
            else None
        ),
    }


def running_by_worker() -> dict[str, int]:
    """Jobs running now per worker pool, from the record that `active_jobs` counts too."""
    from sqlalchemy import func, select

    from server.core.extensions import db
    from server.models import Job, JobStatus

    rows = db.session.execute(
        select(Job.worker_id, func.count())
        .where(Job.status == JobStatus.RUNNING.value, Job.worker_id.is_not(None))
        .group_by(Job.worker_id)
    )
    return {worker: count for worker, count in rows}


def firing_alerts(conn) -> list[dict[str, Any]]:
    """The alert rules firing now (the shared firing set), oldest first."""
    summaries = {rule.name: rule.summary for rule in ALERT_RULES}
    firing = []
    for name, raw in conn.hgetall(ALERTS_FIRING_KEY).items():
        record = json.loads(raw)
        firing.append(
            {
                "rule": name,
                "summary": summaries.get(name),
                "message": record.get("message"),
                "since": _utc(float(record["since"])),
            }
        )
    return sorted(firing, key=lambda alert: alert["since"])


def scheduler_leader(conn) -> dict[str, Any]:
    """Who runs the scheduled work: the elected scheduler's leader (None: no leader now)."""
    from server.ops.scheduler import LEADER_KEY

    return {"leader": conn.get(LEADER_KEY), "source": "scheduler"}


# --- system status -------------------------------------------------------------------------


def _utc(value: datetime | float) -> str:
    if isinstance(value, float | int):
        value = datetime.fromtimestamp(value, UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _section(name: str, errors: dict[str, str], read: Callable[[], Any], fallback: Any) -> Any:
    """One part of the status; a dependency that fails is reported, not raised."""
    try:
        return read()
    except Exception as exc:  # noqa: BLE001 - reported in `errors` and logged
        log.warning(
            "system status: a part could not be read", extra={"part": name, "error": str(exc)}
        )
        errors[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return fallback


def _quota(status: dict[str, Any], name: str) -> dict[str, Any]:
    window = status.get(name) or {}
    return {
        "used": window.get("used"),
        "limit": window.get("limit"),
        "remaining": window.get("remaining"),
    }


def system_status() -> dict[str, Any]:
    """Everything an operator checks first, read live (see the module docstring)."""
    from sqlalchemy import func, select

    from server import rate_limiter
    from server.agent.engines import engine_in_use
    from server.core.config import get_settings
    from server.core.extensions import db
    from server.core.redis_client import get_redis
    from server.jobs.job_queue import queue_stats
    from server.models import IpBlock, SecurityEvent, utcnow
    from server.ops import database_optimizer

    settings = get_settings()
    errors: dict[str, str] = {}
    now = utcnow()
    conn = get_redis()

    redis_ok = _section("redis", errors, lambda: bool(conn.ping()), False)
    gemini = rate_limiter.gemini_quota_status()
    queue = _section("job_queue", errors, queue_stats, None)
    breakdown = (
        {name: count for name, count in queue["by_priority"].items() if count} if queue else {}
    )

    def database_health() -> bool:
        db.session.execute(select(1))
        return True

    db_ok = _section("database", errors, database_health, False)
    slow = _section(
        "slow_queries",
        errors,
        lambda: database_optimizer.recent_slow_queries(conn, limit=20),
        [],
    )
    statements = _section(
        "pg_stat_statements",
        errors,
        lambda: database_optimizer.pg_stat_statements(db.session.connection()),
        {"available": False, "reason": "the database could not be read"},
    )

    def security_counts() -> tuple[int, int]:
        blocked = db.session.scalar(
            select(func.count(IpBlock.id)).where(
                IpBlock.lifted_at.is_(None), IpBlock.expires_at > now
            )
        )
        recent = db.session.scalar(
            select(func.count(SecurityEvent.id)).where(
                SecurityEvent.created_at >= now - timedelta(hours=RECENT_EVENTS_HOURS)
            )
        )
        return int(blocked or 0), int(recent or 0)

    blocked, recent = _section("security", errors, security_counts, (0, 0))
    backups, backup_age = _section(
        "backups", errors, backup_figures, ({"total_backups": 0, "latest_backups": {}}, None)
    )
    # Busy workers from the rows `active_jobs` counts, so the two agree (a pool's own note
    # may be seconds old).
    running = _section("running_jobs", errors, running_by_worker, None)
    workers = _section(
        "workers",
        errors,
        lambda: workers_status(conn, running),
        {"alive": 0, "threads": 0, "busy": 0, "pools": [], "last_seen": None},
    )
    alerts = _section("alerts", errors, lambda: firing_alerts(conn), [])
    leader = _section(
        "scheduler", errors, lambda: scheduler_leader(conn), {"leader": None, "source": None}
    )
    return {
        "timestamp": _utc(now),
        "rate_limits": {
            "gemini_minute": _quota(gemini, rate_limiter.GEMINI_MINUTE),
            "gemini_daily": _quota(gemini, rate_limiter.GEMINI_DAY),
            "degraded": bool(gemini.get("degraded")) or rate_limiter.degraded(),
            "gemini_paused_until": gemini.get("paused_until"),
        },
        "job_queue": {
            "queue_size": queue["queue_size"] if queue else 0,
            "active_jobs": queue["active_jobs"] if queue else 0,
            "priority_breakdown": breakdown,
            "oldest_waiting_seconds": queue["oldest_waiting_seconds"] if queue else None,
            "throughput_last_minute": queue["throughput_last_minute"] if queue else 0,
        },
        "database": {
            "connection_pool": database_optimizer.pool_status(db.engine),
            "slow_queries": slow,
            "slow_query_threshold_ms": settings.slow_query_ms,
            "pg_stat_statements": statements,
            "healthy": db_ok,
            "dialect": db.engine.dialect.name,
        },
        "security": {
            "blocked_ips_count": blocked,
            "recent_events_count": recent,
            "recent_events_window_hours": RECENT_EVENTS_HOURS,
        },
        "backups": {
            **backups,
            "newest_verified_age_seconds": backup_age,
        },
        "workers": workers,
        "alerts": {"firing": alerts},
        "engine": engine_in_use(settings),
        "scheduler": leader,
        "redis": {"healthy": redis_ok, "limiter_degraded": rate_limiter.degraded()},
        "version": API_VERSION,
        "uptime_seconds": round(time.time() - STARTED_AT, 1),
        "host": socket.gethostname(),
        "errors": errors,
    }


# --- /metrics ------------------------------------------------------------------------------


def scrape_allowed(address: str | None, networks: tuple[str, ...]) -> bool:
    """True when `address` is in one of the configured networks."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for network in networks:
        try:
            if ip in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            continue
    return False


class _LiveFigures:
    """Figures read at scrape time from PostgreSQL and Redis (one scrape, one read)."""

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily
        from sqlalchemy import func, select

        from server import rate_limiter
        from server.core.extensions import db
        from server.core.redis_client import get_redis
        from server.jobs.job_queue import priority_name
        from server.models import Job
        from server.models.job import WAITING_STATUSES, JobStatus

        depth = GaugeMetricFamily(
            "job_queue_depth",
            "Jobs waiting (queued or scheduled), by priority",
            labels=["priority"],
        )
        rows = db.session.execute(
            select(Job.priority, func.count())
            .where(Job.status.in_(WAITING_STATUSES))
            .group_by(Job.priority)
        ).all()
        counts = {name: 0 for name in ("CRITICAL", "HIGH", "NORMAL", "LOW", "BULK")}
        for priority, count in rows:
            counts[priority_name(priority)] = counts.get(priority_name(priority), 0) + count
        for name, count in counts.items():
            depth.add_metric([name], count)
        yield depth
        open_jobs = GaugeMetricFamily(
            "job_queue_jobs", "Open jobs by status and type", labels=["status", "type"]
        )
        open_statuses = (*WAITING_STATUSES, JobStatus.RUNNING.value)
        for status, job_type, count in db.session.execute(
            select(Job.status, Job.job_type, func.count())
            .where(Job.status.in_(open_statuses))
            .group_by(Job.status, Job.job_type)
        ):
            open_jobs.add_metric([status, job_type], count)
        yield open_jobs
        oldest = db.session.scalar(
            select(func.min(Job.created_at)).where(Job.status == JobStatus.QUEUED.value)
        )
        from server.models.base import as_utc

        wait = GaugeMetricFamily(
            "job_queue_oldest_wait_seconds", "How long the oldest queued job has waited"
        )
        wait.add_metric([], (datetime.now(UTC) - as_utc(oldest)).total_seconds() if oldest else 0)
        yield wait
        db.session.rollback()

        quota = rate_limiter.gemini_quota_status()
        used = GaugeMetricFamily(
            "gemini_quota_used", "Gemini calls in the window", labels=["window"]
        )
        limit = GaugeMetricFamily(
            "gemini_quota_limit", "Gemini calls allowed per window", labels=["window"]
        )
        for window, name in (
            ("minute", rate_limiter.GEMINI_MINUTE),
            ("day", rate_limiter.GEMINI_DAY),
        ):
            figures = quota.get(name) or {}
            if figures.get("used") is not None:
                used.add_metric([window], figures["used"])
            limit.add_metric([window], figures.get("limit") or 0)
        yield used
        yield limit

        _summary, age = backup_figures()
        backup = GaugeMetricFamily(
            "backup_newest_verified_age_seconds",
            "Age of the newest verified backup (absent when there is none)",
        )
        if age is not None:
            backup.add_metric([], age)
        yield backup
        redis_up = GaugeMetricFamily("redis_up", "1 when Redis answers")
        try:
            conn = get_redis()
            conn.ping()
            alive = workers_status(conn)["alive"]
            redis_up.add_metric([], 1)
        except Exception:  # noqa: BLE001 - reported as redis_up 0
            alive = None
            redis_up.add_metric([], 0)
        yield redis_up
        workers = GaugeMetricFamily("job_worker_pools_alive", "Worker pools heard from lately")
        if alive is not None:
            workers.add_metric([], alive)
        yield workers


def render_metrics() -> tuple[bytes, str]:
    """The Prometheus exposition: every process's instruments and the live figures."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    from server.core.config import get_settings

    directory = get_settings().prometheus_multiproc_dir
    if directory is not None:
        instruments = CollectorRegistry()
        MultiProcessCollector(instruments, path=str(directory))
    else:
        instruments = REGISTRY
    live = CollectorRegistry(auto_describe=False)
    live.register(_LiveFigures())
    return generate_latest(instruments) + generate_latest(live), CONTENT_TYPE_LATEST


def _instrument_samples(name: str) -> list[Any]:
    """Samples of one family of `server.core.metrics`, over every process when multiprocess."""
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    from server.core.config import get_settings

    directory = get_settings().prometheus_multiproc_dir
    if directory is not None:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(directory))
    else:
        registry = REGISTRY
    return [s for family in registry.collect() if family.name == name for s in family.samples]


# --- alerts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertRule:
    """A named condition: `check(figures, settings)` returns why it fires, or None."""

    name: str
    summary: str
    check: Callable[[dict[str, Any], Any], str | None]


def _queue_depth(f, s):
    size = f["queue"]["queue_size"] if f["queue"] else None
    if size is not None and size >= s.alert_queue_depth:
        return f"{size} jobs waiting (threshold {s.alert_queue_depth})"
    return None


def _queue_wait(f, s):
    wait = f["queue"]["oldest_waiting_seconds"] if f["queue"] else None
    if wait is not None and wait >= s.alert_oldest_wait_seconds:
        return f"the oldest queued job has waited {wait:.0f} s (threshold {s.alert_oldest_wait_seconds:.0f} s)"
    return None


def _gemini_quota(f, s):
    day = f["gemini"].get("gemini_requests_per_day") or {}
    used, limit = day.get("used"), day.get("limit")
    if used is not None and limit and 100.0 * used / limit >= s.alert_gemini_quota_percent:
        return f"{used} of {limit} daily Gemini calls used ({100.0 * used / limit:.0f}%)"
    return None


def _error_rate(f, s):
    total, errors = f["requests"]
    if (
        total >= s.alert_error_rate_min_requests
        and 100.0 * errors / total >= s.alert_error_rate_percent
    ):
        return f"{errors} of {total} requests answered 5xx since the last check ({100.0 * errors / total:.1f}%)"
    return None


def _slow_queries(f, s):
    count = f["slow_queries"]
    if count is not None and count >= s.alert_slow_queries:
        return f"{count} slow queries in the last {SLOW_QUERY_ALERT_WINDOW_SECONDS // 60} minutes"
    return None


def _backup_age(f, s):
    age = f["backup_age"]
    limit = s.alert_backup_max_age_hours * 3600
    if age is None:
        return "no verified backup exists"
    if age > limit:
        return f"the newest verified backup is {age / 3600:.1f} h old (limit {s.alert_backup_max_age_hours:g} h)"
    return None


def _backup_failed(f, s):
    failures = f["backup_failures"] or []
    if not failures:
        return None
    return "; ".join(
        f"the {item['type']} backup {item['id']} failed: {(item['error'] or '')[:300]}"
        for item in failures
    )


def _workers_dead(f, s):
    workers, queue = f["workers"], f["queue"]
    if workers is None or workers["alive"]:
        return None
    queued = queue["queued"] if queue else 0
    last = workers.get("last_seen")
    if last is None and not queued:
        return None  # no pool ran here today: nothing died
    reasons = ["no worker pool alive"]
    if last is not None:
        reasons.append(f"{last['name']} was last heard from {last['seconds_ago']:.0f} s ago")
    if queued:
        reasons.append(f"{queued} jobs queued")
    return "; ".join(reasons)


def _redis_degraded(f, s):
    if not f["redis_ok"]:
        return "Redis does not answer"
    if f["limiter_degraded"]:
        return "the rate limiter runs on per-process windows (Redis unreachable)"
    return None


ALERT_RULES: tuple[AlertRule, ...] = (
    AlertRule("queue_depth", "Job queue too deep", _queue_depth),
    AlertRule("queue_oldest_wait", "Jobs wait too long", _queue_wait),
    AlertRule("gemini_quota", "Gemini daily quota nearly spent", _gemini_quota),
    AlertRule("error_rate", "High rate of server errors", _error_rate),
    AlertRule("slow_queries", "Many slow database queries", _slow_queries),
    AlertRule("backup_age", "No recent successful backup", _backup_age),
    AlertRule("backup_failed", "Backup failed", _backup_failed),
    AlertRule("workers_dead", "Worker pool dead", _workers_dead),
    AlertRule("redis_degraded", "Redis degraded", _redis_degraded),
)


def _request_counts(conn) -> tuple[int, int]:
    """Requests and 5xx answers since the previous check (all processes of this machine)."""
    total = errors = 0
    for sample in _instrument_samples("http_requests"):
        if sample.name != "http_requests_total":
            continue
        total += int(sample.value)
        if sample.labels.get("status", "").startswith("5"):
            errors += int(sample.value)
    previous_raw = conn.getset(ALERTS_REQUESTS_KEY, json.dumps([total, errors]))
    if not previous_raw:
        return 0, 0
    before_total, before_errors = json.loads(previous_raw)
    if total < before_total:  # processes restarted: counters began again
        return total, errors
    return total - before_total, errors - before_errors


def alert_figures() -> dict[str, Any]:
    """What the rules look at, read once per check."""
    from server import rate_limiter
    from server.core.redis_client import get_redis
    from server.jobs.job_queue import queue_stats
    from server.ops import database_optimizer

    conn = get_redis()
    figures: dict[str, Any] = {"limiter_degraded": rate_limiter.degraded()}
    try:
        conn.ping()
        figures["redis_ok"] = True
    except Exception:  # noqa: BLE001 - the redis rule reports it
        figures["redis_ok"] = False
    try:
        figures["queue"] = queue_stats()
    except Exception:
        log.exception("alerts: queue figures could not be read")
        figures["queue"] = None
    figures["gemini"] = rate_limiter.gemini_quota_status()
    if figures["redis_ok"]:
        since = time.time() - SLOW_QUERY_ALERT_WINDOW_SECONDS
        figures["slow_queries"] = len(
            database_optimizer.recent_slow_queries(conn, limit=10_000, since=since)
        )
        figures["workers"] = workers_status(conn)
        figures["requests"] = _request_counts(conn)
    else:
        figures.update(slow_queries=None, workers=None, requests=(0, 0))
    try:
        _summary, figures["backup_age"] = backup_figures()
    except Exception:
        log.exception("alerts: backup figures could not be read")
        figures["backup_age"] = None
    try:
        from server import backup_manager

        figures["backup_failures"] = backup_manager.latest_failures()
    except Exception:
        log.exception("alerts: failed backups could not be read")
        figures["backup_failures"] = None
    return figures


_memory_firing: dict[str, str] = {}  # the firing set while Redis is unreachable
_memory_lock = threading.Lock()


def _start_incident(conn, rule: AlertRule, message: str) -> bool:
    record = json.dumps({"since": time.time(), "message": message})
    try:
        return bool(conn.hsetnx(ALERTS_FIRING_KEY, rule.name, record))
    except Exception:  # noqa: BLE001 - Redis down: this process remembers
        with _memory_lock:
            if rule.name in _memory_firing:
                return False
            _memory_firing[rule.name] = record
            return True


def _end_incident(conn, rule: AlertRule) -> dict[str, Any] | None:
    try:
        with conn.pipeline(transaction=True) as pipe:
            pipe.hget(ALERTS_FIRING_KEY, rule.name)
            pipe.hdel(ALERTS_FIRING_KEY, rule.name)
            record, removed = pipe.execute()
        if removed:
            return json.loads(record)
    except Exception as exc:  # noqa: BLE001 - Redis down: this process's memory
        log.debug("alert state read from memory", extra={"error": str(exc)})
    with _memory_lock:
        record = _memory_firing.pop(rule.name, None)
    return json.loads(record) if record else None


def post_to_webhook(settings, text: str) -> bool:
    """Post `{"text": ...}` (Slack-compatible) to the alert webhook; False when it failed."""
    if not settings.alert_webhook_url:
        return False
    client = OutboundClient(
        policy=OutboundPolicy.of(settings),
        user_agent="JobApplicationAgent-Alerts/1",
        timeout_seconds=8.0,
        connect_timeout_seconds=3.0,
        max_bytes=64 * 1024,
        connections_per_host=1,
    )
    try:
        with client:
            response = client.post(settings.alert_webhook_url, json={"text": text})
    except OutboundError as exc:
        log.warning("alert webhook unreachable", extra={"error": f"{type(exc).__name__}: {exc}"})
        return False
    if response.status >= 300:
        log.warning("alert webhook refused the message", extra={"status": response.status})
        return False
    return True


def check_alerts(
    settings,
    *,
    rules: tuple[AlertRule, ...] = ALERT_RULES,
    figures: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Evaluate every rule (or those given) once, in the current app context; returns each
    rule's state and what changed (`fired`, `resolved`)."""
    from server.core.redis_client import get_redis

    conn = get_redis()
    figures = alert_figures() if figures is None else figures
    host = socket.gethostname()
    results = []
    for rule in rules:
        try:
            message = rule.check(figures, settings)
        except Exception:
            log.exception("alert rule failed", extra={"rule": rule.name})
            continue
        change = None
        if message is not None and _start_incident(conn, rule, message):
            change = "fired"
            log.error("alert firing", extra={"rule": rule.name, "reason": message})
            post_to_webhook(
                settings,
                f":rotating_light: FIRING {rule.summary} [{rule.name}] on {host}: {message}",
            )
        elif message is None:
            ended = _end_incident(conn, rule)
            if ended is not None:
                change = "resolved"
                lasted = time.time() - ended.get("since", time.time())
                log.warning(
                    "alert resolved", extra={"rule": rule.name, "lasted_seconds": round(lasted)}
                )
                post_to_webhook(
                    settings,
                    f":white_check_mark: RESOLVED {rule.summary} [{rule.name}] on {host} after {lasted / 60:.0f} min",
                )
        results.append(
            {"rule": rule.name, "firing": message is not None, "reason": message, "change": change}
        )
    return results


def watch_workers() -> list[dict[str, Any]]:
    """The `workers_dead` rule alone, on the figures it needs: the scheduler runs it every
    third of JOB_QUEUE_LEASE_SECONDS (at most 10 s), so a dead worker pool alerts within a
    minute."""
    from sqlalchemy import func, select

    from server.core.config import get_settings
    from server.core.extensions import db
    from server.core.redis_client import get_redis
    from server.models import Job
    from server.models.job import WAITING_STATUSES

    try:
        queued = db.session.scalar(
            select(func.count()).select_from(Job).where(Job.status.in_(WAITING_STATUSES))
        )
    finally:
        db.session.rollback()
    figures = {"workers": workers_status(get_redis()), "queue": {"queued": int(queued or 0)}}
    rules = tuple(rule for rule in ALERT_RULES if rule.name == "workers_dead")
    return check_alerts(get_settings(), rules=rules, figures=figures)


def run_alert_checks(app: Flask | None = None) -> list[dict[str, Any]]:
    """Check every alert rule (the scheduler calls this every minute)."""
    from server.core.config import get_settings
    from server.core.extensions import db

    if app is None and has_app_context():
        try:
            return check_alerts(get_settings())
        finally:
            db.session.rollback()
    if app is None:
        from server import create_app

        app = create_app()
    with app.app_context():
        try:
            return check_alerts(app.config["SETTINGS"])
        finally:
            db.session.remove()
