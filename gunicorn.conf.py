"""Gunicorn settings for scaled deployments:

    gunicorn -c gunicorn.conf.py "server:create_app()"

Web processes serve HTTP and are scheduler candidates; with WEB_RUNS_WORKERS=1 each also runs
a job worker pool. Run workers on their own with `python -m server.worker`. Every figure comes
from the service's settings (`server/core/config.py`, docs/configuration.md).
"""

import os
from pathlib import Path

from server.core.config import config_errors_exit, graceful_timeout_seconds, load_settings
from server.web.request_lanes import server_threads

with config_errors_exit():  # a bad variable: one line and exit code 2, before any worker
    settings = load_settings()

bind = settings.gunicorn_address
workers = settings.gunicorn_workers
worker_class = "gthread"
# GUNICORN_THREADS for requests, and one more per event stream a process allows
# (JOB_EVENTS_MAX_STREAMS): an open stream never takes a thread other requests need.
threads = server_threads(settings, http_threads=settings.gunicorn_threads)
timeout = 120
# The job grace period (JOB_QUEUE_SHUTDOWN_GRACE_SECONDS) plus a margin: a web process that
# runs workers must be able to release its running jobs' leases before it is killed.
graceful_timeout = graceful_timeout_seconds(settings)
keepalive = 5
# Clients (database pools, Redis, SDKs) are built lazily in each worker after the fork.
preload_app = False
accesslog = None  # the app writes its own structured access log
control_socket_disable = True
forwarded_allow_ips = settings.forwarded_allow_ips


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def remove_files_of_dead_processes(folder: Path) -> None:
    """Remove the metric files (`<kind>_<pid>.db`) of processes that no longer run, so a
    previous run's counters do not come back; a live process's files (a worker process's,
    another gunicorn's) stay, or its figures would vanish from /metrics until it restarted."""
    for path in folder.glob("*.db"):
        _, _, pid = path.stem.rpartition("_")
        if pid.isdigit() and not _running(int(pid)):
            path.unlink(missing_ok=True)


# Metrics of every process, added up at /metrics (see server/core/metrics.py, which also sets the
# variable when it is only in .env).
if settings.prometheus_multiproc_dir is not None:
    settings.prometheus_multiproc_dir.mkdir(parents=True, exist_ok=True)
    remove_files_of_dead_processes(settings.prometheus_multiproc_dir)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(settings.prometheus_multiproc_dir)


def post_worker_init(worker):
    # Every web process is a scheduler candidate (so alerts and backups go on when the worker
    # processes are dead); with WEB_RUNS_WORKERS it runs a worker pool too.
    from server.web import request_lanes
    from server.workers.runtime import start_background_services

    request_lanes.install(worker.wsgi, http_threads=settings.gunicorn_threads)
    start_background_services(worker.wsgi, workers=settings.web_runs_workers)


def worker_exit(server, worker):
    from server.workers.runtime import stop_background_services

    stop_background_services(worker.wsgi)


def child_exit(server, worker):
    if settings.prometheus_multiproc_dir is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # its live gauges no longer count
