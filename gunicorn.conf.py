"""Gunicorn settings for scaled deployments:

    gunicorn -c gunicorn.conf.py "server:create_app()"

Web processes serve HTTP only unless WEB_RUNS_WORKERS=1, in which case each process also runs
a job worker pool. Run workers on their own with `python -m server.worker`.
"""

import multiprocessing
import os

from server.config import graceful_timeout_seconds, load_settings

bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{os.environ.get('PORT', '5000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 120
# The job grace period (JOB_QUEUE_SHUTDOWN_GRACE_SECONDS) plus a margin: a web process that
# runs workers must be able to release its running jobs' leases before it is killed.
graceful_timeout = graceful_timeout_seconds(load_settings())
keepalive = 5
# Clients (database pools, Redis, SDKs) are built lazily in each worker after the fork.
preload_app = False
accesslog = None  # the app writes its own structured access log
control_socket_disable = True
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_worker_init(worker):
    if os.environ.get("WEB_RUNS_WORKERS") == "1":
        from server.runtime import start_background_services

        start_background_services(worker.wsgi)


def worker_exit(server, worker):
    if os.environ.get("WEB_RUNS_WORKERS") == "1":
        from server.runtime import stop_background_services

        stop_background_services(worker.wsgi)
