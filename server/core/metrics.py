"""Prometheus instruments the service updates as it works, and the per-request hooks.

Counters and histograms live here, with light imports, so the limiter, the worker pool and the
request hooks can update them without pulling in the rest of monitoring. `/metrics`, the live
figures read at scrape time and the alerts are in `server.ops.monitoring`.

With `PROMETHEUS_MULTIPROC_DIR` set (in the environment or `.env`), each process writes its
values to files there and `/metrics` adds them up: gunicorn's web processes and the worker
processes alike. `gunicorn.conf.py` removes, at start, the files of processes no longer
running (never a live one's), and drops a dead web process's live gauges; a worker process
drops its own when it stops.
"""

from __future__ import annotations

import os
import time
from typing import Any

from flask import Flask, g, request
from prometheus_client import Counter, Gauge, Histogram, values

from server.core.config import metrics_folder
from server.core.logging_config import STARTED_KEY

# PROMETHEUS_MULTIPROC_DIR, whether exported or only in `.env`: every process (web, worker,
# all-in-one) writes its values there, so the worker's job figures reach /metrics too.
# prometheus-client chooses where values live when an instrument is created, from the
# variable, so it is set and the choice made again here, before the instruments below. Each
# opens its file as it is created: a folder not made yet (or removed) must not stop every
# `flask` command.
_FOLDER = metrics_folder()
if _FOLDER is not None:
    _FOLDER.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_FOLDER)
    values.ValueClass = values.get_value_class()

REQUESTS = Counter(
    "http_requests",
    "HTTP requests answered, by method, route and status",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
JOBS_FINISHED = Counter("jobs_finished", "Job runs by type and outcome", ["type", "outcome"])
JOB_SECONDS = Histogram(
    "job_duration_seconds",
    "Time a job run took, by type",
    ["type"],
    buckets=(0.1, 0.5, 1.0, 2.5, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0),
)
RATE_LIMIT_DECISIONS = Counter(
    "rate_limit_decisions",
    "Checks of each limit: admitted or rejected (a request rejected by one limit is not "
    "counted against the others)",
    ["limit", "decision"],
)
GEMINI_UPSTREAM_ERRORS = Counter(
    "gemini_upstream_errors", "Gemini calls that failed upstream, by kind", ["kind"]
)
SLOW_QUERIES = Counter("db_slow_queries", "Statements slower than SLOW_QUERY_MS")
SECURITY_EVENTS = Counter("security_events", "Security events recorded, by action", ["action"])
DB_POOL_CHECKED_OUT = Gauge(
    "db_pool_checked_out", "Database connections in use", multiprocess_mode="livesum"
)
DB_POOL_CAPACITY = Gauge(
    "db_pool_capacity",
    "Database connections the pools may open (size + overflow)",
    multiprocess_mode="livesum",
)
DB_POOL_OVERFLOW = Gauge(
    "db_pool_overflow", "Connections open beyond the pool size", multiprocess_mode="livesum"
)

# The limiter's per-process counters (`server.rate_limiter.METRICS`), under the same names.
LIMITER_COUNTERS = {
    name: Counter(name.removesuffix("_total"), help_text)
    for name, help_text in (
        ("rate_limiter_redis_errors_total", "Limiter calls to Redis that failed"),
        ("rate_limiter_fallback_checks_total", "Checks decided by the per-process fallback"),
        ("rate_limiter_rejections_total", "Requests refused by a limit"),
        ("rate_limiter_load_shed_total", "Requests shed by the global limit (503)"),
        ("gemini_reservations_granted_total", "Gemini calls granted a quota slot"),
        ("gemini_reservations_refused_total", "Gemini calls that found no quota slot"),
    )
}
LIMITER_DEGRADED = Gauge(
    "rate_limiter_degraded",
    "1 while the limiter runs on per-process windows (Redis unreachable)",
    multiprocess_mode="livemax",
)

_decision_children: dict[tuple[str, str], object] = {}
# The limiter is shared by the process, so its per-limit counting follows the process's
# METRICS_ENABLED (set by `init_app`), not a single app's.
_count_decisions = True


def count_limiter_decisions(enabled: bool) -> None:
    """Turn the per-limit decision counters on or off for this process."""
    global _count_decisions
    _count_decisions = enabled


def count_limiter_metric(name: str, amount: float) -> None:
    """Mirror one of the limiter's counters."""
    counter = LIMITER_COUNTERS.get(name)
    if counter is not None:
        counter.inc(amount)


def set_limiter_degraded(value: float) -> None:
    """Mirror the limiter's degraded flag."""
    LIMITER_DEGRADED.set(value)


def count_decision(decision) -> None:
    """Count a limiter decision against each limit it checked (the refusing ones only when
    it refused)."""
    if not _count_decisions:
        return
    if decision.allowed:
        states, outcome = decision.states, "admitted"
    else:
        states, outcome = decision.refused_by, "rejected"
    for state in states:
        key = (state.name, outcome)
        child = _decision_children.get(key)
        if child is None:
            child = _decision_children[key] = RATE_LIMIT_DECISIONS.labels(state.name, outcome)
        child.inc()  # type: ignore[attr-defined]


def observe_job(job_type: str, outcome: str, seconds: float) -> None:
    """Count one finished job run and its duration."""
    JOBS_FINISHED.labels(job_type, outcome).inc()
    JOB_SECONDS.labels(job_type).observe(seconds)


def init_app(app: Flask) -> None:
    """Time every request and count it by route and status (unless METRICS_ENABLED=false)."""
    count_limiter_decisions(app.config["SETTINGS"].metrics_enabled)
    if not app.config["SETTINGS"].metrics_enabled:
        return
    clock = time.perf_counter

    @app.before_request
    def _start_timer() -> None:
        g._metrics_started = request.environ.get(STARTED_KEY) or clock()

    @app.after_request
    def _observe(response):
        started = g.get("_metrics_started")
        if started is None:
            return response
        rule = request.url_rule
        observe_request(
            request.method,
            rule.rule if rule is not None else "unmatched",
            response.status_code,
            clock() - started,
        )
        return response


_request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe_request(method: str, rule: str, status: int, seconds: float) -> None:
    """Count one answered request by route and status, and time it (callers check
    `METRICS_ENABLED`)."""
    key = (method, rule, status)
    pair = _request_children.get(key)
    if pair is None:
        pair = _request_children[key] = (
            REQUESTS.labels(method, rule, str(status)),
            REQUEST_SECONDS.labels(method, rule),
        )
    pair[0].inc()
    pair[1].observe(seconds)
