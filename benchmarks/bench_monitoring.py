"""The request overhead of metrics and slow-query timing.

`GET /api/jobs/<job_id>/status` with a valid access token (one Redis round trip, one PostgreSQL
query) through the Flask test client, single thread, on two apps over the same PostgreSQL
database (`job_agent_bench_monitoring`, created when missing; its tables are emptied) and the
Redis database `--redis-url` names:

- with: per-request metrics (request counter, latency histogram, per-limit decisions, pool
  gauges) and every statement timed against `SLOW_QUERY_MS`;
- without: `METRICS_ENABLED=false` and `SLOW_QUERY_MS=0`;
- control: a second app exactly like `without`, whose ratio to it is the run's noise floor.

A second line times the instruments' own code directly (the request hooks, the per-limit
decision counts, the pool gauges and three timed statements) and gives its share of a request.

The figure is the median over rounds, each made of short alternating slices of both variants
(so a shared machine's changing load falls on both alike); the ratio is with / without (goal:
>= 0.9).
The test client leaves out the network and the WSGI server, so the overhead shows at its
largest here; behind gunicorn and nginx it is a smaller share of each request.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import redis
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

from benchmarks.scratch import ensure_database
from server.core.config import normalise_database_url

DATABASE_URL = normalise_database_url(
    os.environ.get(
        "BENCH_MONITORING_DATABASE_URL",
        "postgresql://root@127.0.0.1:5432/job_agent_bench_monitoring",
    )
)
OUT_OF_REACH = "1000000000/60"


def _settings(redis_url: str, scratch: Path):
    from server.core.config import Settings

    return Settings(
        env="development",
        instance_dir=scratch,
        log_dir=scratch / "logs",
        log_to_stdout=False,
        database_url=DATABASE_URL,
        database_is_default=False,
        redis_url=redis_url,
        jwt_secret_key="bench-" + "k" * 40,
        encryption_key=Fernet.generate_key().decode(),
        bcrypt_rounds=4,
        auto_migrate=False,
        access_token_minutes=60,
        job_queue_max_workers=0,
        rate_limit_overrides={
            # Checked on every request but never refusing: the cost of admitted requests.
            "RATE_LIMIT_API_READS_PER_USER_PER_MINUTE": OUT_OF_REACH,
            "RATE_LIMIT_API_REQUESTS_GLOBAL_PER_MINUTE": OUT_OF_REACH,
            "RATE_LIMIT_API_REQUESTS_PER_IP_PER_MINUTE": OUT_OF_REACH,
        },
    )


def _prepare_database() -> None:
    ensure_database(DATABASE_URL)
    engine = create_engine(DATABASE_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


SLICES_PER_ROUND = 10


def _calls_in(call, seconds: float) -> tuple[int, float]:
    """Calls made in about `seconds`, and the time they took."""
    calls = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(5):
            call()
        calls += 5
        if time.perf_counter() >= deadline:
            return calls, time.perf_counter() - started


def _cleanup(conn: redis.Redis) -> None:
    for pattern in ("jobq:{default}:*", "rate_limit:api_*", "user_auth:*", "monitoring:*"):
        keys = list(conn.scan_iter(match=pattern, count=1000))
        for start in range(0, len(keys), 1000):
            conn.delete(*keys[start : start + 1000])


def bench_endpoint(redis_url: str, rounds: int, seconds: float) -> list[str]:
    """Requests per second with and without metrics and slow-query timing."""
    from flask_migrate import upgrade

    from server import create_app
    from server.core import metrics
    from server.core.extensions import db
    from server.jobs import job_queue
    from server.rate_limiter import Decision, LimitState
    from server.services import accounts

    _prepare_database()
    scratch = Path(tempfile.mkdtemp(prefix="bench-monitoring-"))
    settings = _settings(redis_url, scratch)
    apps = {
        "with": create_app(settings.replace(metrics_enabled=True, slow_query_ms=500.0)),
        "without": create_app(settings.replace(metrics_enabled=False, slow_query_ms=0.0)),
        # The same as `without`: its ratio to `without` shows the run's noise.
        "control": create_app(settings.replace(metrics_enabled=False, slow_query_ms=0.0)),
    }
    conn = redis.Redis.from_url(redis_url)
    _cleanup(conn)
    setup = create_app(settings)  # a third app prepares the data, so neither variant is favoured
    with setup.app_context():
        upgrade()
        user = accounts.create_user(
            email="bench@example.com",
            password="a throwaway scratch passphrase",  # noqa: S106 - scratch DB only
            name="Bench",
        )
        token = accounts.issue_tokens(user=user)["access_token"]
        job_id = job_queue.submit_job(user_id=user.id, job_type="diagnostic", payload={})
        db.session.remove()
        db.engine.dispose()
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/api/jobs/{job_id}/status"
    clients = {name: app.test_client() for name, app in apps.items()}

    def call(name):
        client = clients[name]

        def once():
            response = client.get(path, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"{name}: {response.status_code} {response.get_data(True)}")

        return once

    calls_of = {name: call(name) for name in apps}
    rates: dict[str, list[float]] = {name: [] for name in apps}
    try:
        for name in apps:  # warm up: connections, scripts, caches
            metrics.count_limiter_decisions(name == "with")
            _calls_in(calls_of[name], 0.3)
        for round_number in range(rounds):
            # Short slices in alternation, so the load of a shared machine drifting during a
            # round falls on every variant alike.
            totals = {name: [0, 0.0] for name in apps}
            for slice_number in range(SLICES_PER_ROUND):
                shift = (round_number + slice_number) % len(apps)
                order = list(apps)[shift:] + list(apps)[:shift]  # each variant leads in turn
                for name in order:
                    # The limiter is per process: its per-limit counting follows the variant.
                    metrics.count_limiter_decisions(name == "with")
                    calls, elapsed = _calls_in(calls_of[name], seconds / SLICES_PER_ROUND)
                    totals[name][0] += calls
                    totals[name][1] += elapsed
            for name, (count, elapsed) in totals.items():
                rates[name].append(count / elapsed)
        metrics.count_limiter_decisions(True)
        decision = Decision(
            True,
            tuple(
                LimitState(name, 10**9, 60.0, "user", 10**9 - 1, 60.0, 0.0)
                for name in (
                    "api_requests_per_ip_per_minute",
                    "api_requests_global_per_minute",
                    "api_reads_per_user_per_minute",
                )
            ),
        )
        cost_us = instrument_cost_us(apps["with"], decision)
    finally:
        metrics.count_limiter_decisions(True)
        _cleanup(conn)
        conn.close()
        for app in apps.values():
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
    with_rps = statistics.median(rates["with"])
    without_rps = statistics.median(rates["without"])
    control_rps = statistics.median(rates["control"])
    return [
        f"monitoring.endpoint_rps with={with_rps:.0f} without={without_rps:.0f} "
        f"ratio={with_rps / without_rps:.2f} (goal >= 0.9; GET /api/jobs/<id>/status, metrics "
        f"and slow-query timing on/off, Flask test client, PostgreSQL, single thread, median "
        f"of {rounds} rounds of {seconds:g} s, each in {SLICES_PER_ROUND} alternating slices)",
        f"monitoring.endpoint_rps_control same={control_rps:.0f} without={without_rps:.0f} "
        f"ratio={control_rps / without_rps:.2f} (two identical apps without the instruments, "
        f"in the same slices: the noise of this run)",
        f"monitoring.instrument_cost_us per_request={cost_us:.1f} "
        f"share={cost_us * with_rps / 1e4:.2f}% (request hooks, per-limit decisions, pool "
        f"gauges, 3 timed statements; their own code timed directly; share of one request at "
        f"the median rate above)",
    ]


def instrument_cost_us(app, decision, repeat: int = 20_000) -> float:
    """Microseconds the instruments add to one request, timing their own code directly: the
    two request hooks, the per-limit decision counts, the pool gauges of one checkout and
    checkin, and the timing of three statements (the status read, its ping and rollback)."""
    from flask import Response

    from server.core import metrics
    from server.core.extensions import db

    with app.app_context():
        engine = db.engine
    hooks = [f for f in app.before_request_funcs[None] if f.__module__ == "server.core.metrics"]
    hooks += [f for f in app.after_request_funcs[None] if f.__module__ == "server.core.metrics"]
    before = list(engine.dispatch.before_cursor_execute)
    after = list(engine.dispatch.after_cursor_execute)
    pool_events = [
        f
        for f in (*engine.pool.dispatch.checkout, *engine.pool.dispatch.checkin)
        if f.__name__ == "_update"
    ]
    response = Response("{}", status=200)

    class _Conn:
        info: dict = {}

    conn = _Conn()
    with app.test_request_context("/api/jobs/x/status"):
        started = time.perf_counter()
        for _ in range(repeat):
            hooks[0]()
            metrics.count_decision(decision)
            for listener in pool_events:
                listener(None, None, None)
            for _statement in range(3):
                for listener in before:
                    listener(conn, None, "SELECT 1", {}, None, False)
                for listener in after:
                    listener(conn, None, "SELECT 1", {}, None, False)
            hooks[1](response)
        return (time.perf_counter() - started) / repeat * 1e6


def run(args) -> list[str]:
    """The endpoint comparison, and the instruments' own cost per request."""
    return bench_endpoint(args.redis_url, args.rounds, args.seconds)
