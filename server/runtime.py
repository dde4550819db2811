"""Background services started by the entry points (never by `create_app`)."""

from __future__ import annotations

import logging

from flask import Flask

log = logging.getLogger("server.runtime")

_EXTENSION_KEY = "background_services"


def start_background_services(app: Flask, *, workers: bool = True) -> dict[str, object]:
    """Start the job worker pool and the scheduler candidate (which, once elected, runs the
    scheduled jobs: queue reaper and reconciler, backups, maintenance, alerts); returns what
    runs ("scheduler" unless `SCHEDULER_ENABLED` is false, "pool" unless `JOB_QUEUE_MAX_WORKERS`
    is 0 or `workers` is false: a web process that serves HTTP only is still a candidate, so
    the scheduled work and its alerts go on when every worker process is dead)."""
    from server.scheduler import LeaderScheduler
    from server.worker import WorkerPool, reconcile_at_start

    running = app.extensions.get(_EXTENSION_KEY)
    if running:
        return running
    settings = app.config["SETTINGS"]
    services: dict[str, object] = {}
    runs_pool = workers and settings.job_queue_max_workers > 0
    if workers:
        _restore_ip_blocks(app)
        reconcile_at_start(app)
    if settings.scheduler_enabled:
        scheduler = LeaderScheduler(app)
        scheduler.start()
        services["scheduler"] = scheduler
    if runs_pool:
        pool = WorkerPool(app)
        pool.start()
        services["pool"] = pool
    app.extensions[_EXTENSION_KEY] = services
    log.info(
        "background services started",
        extra={"workers": settings.job_queue_max_workers if runs_pool else 0},
    )
    return services


def stop_background_services(app: Flask) -> None:
    """Stop what `start_background_services` started, letting running work finish."""
    services = app.extensions.pop(_EXTENSION_KEY, None) or {}
    pool = services.get("pool")
    if pool is not None:
        pool.stop()  # first: stop claiming at once, then drain
    scheduler = services.get("scheduler")
    if scheduler is not None:
        scheduler.stop()
    log.info("background services stopped")


def _restore_ip_blocks(app: Flask) -> None:
    """Rebuild Redis's IP-block set from PostgreSQL, in case Redis lost it."""
    import redis

    from server.redis_client import get_redis
    from server.security_manager.ip_blocking import restore_blocks

    with app.app_context():
        try:
            restore_blocks(get_redis())
        except redis.RedisError:
            log.warning("could not restore IP blocks: Redis unavailable")
