"""The request overhead of metrics and slow-query timing.

`GET /api/jobs/<job_id>/status` with a valid access token (one Redis round trip, one PostgreSQL
query) through the Flask test client, single thread, on two apps over the same PostgreSQL
database (`job_agent_bench_monitoring`, created when missing; its tables are emptied) and the
Redis database `--redis-url` names:

- with: per-request metrics (request counter, latency histogram, per-limit decisions, pool
  gauges) and every statement timed against `SLOW_QUERY_MS`;
- without: `METRICS_ENABLED=false` and `SLOW_QUERY_MS=0`.

The figure is the median of interleaved rounds; the ratio is with / without (goal: >= 0.9).
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
from server.config import normalise_database_url

DATABASE_URL = normalise_database_url(
    os.environ.get(
        "BENCH_MONITORING_DATABASE_URL",
        "postgresql://root@127.0.0.1:5432/job_agent_bench_monitoring",
    )
)
OUT_OF_REACH = "1000000000/60"


def _settings(redis_url: str, scratch: Path):
    from server.config import Settings

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


def _rate(call, seconds: float) -> float:
    calls = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(20):
            call()
        calls += 20
        if time.perf_counter() >= deadline:
            return calls / (time.perf_counter() - started)


def _cleanup(conn: redis.Redis) -> None:
    for pattern in ("jobq:{default}:*", "rate_limit:api_*", "user_auth:*", "monitoring:*"):
        keys = list(conn.scan_iter(match=pattern, count=1000))
        for start in range(0, len(keys), 1000):
            conn.delete(*keys[start : start + 1000])


def bench_endpoint(redis_url: str, rounds: int, seconds: float) -> list[str]:
    """Requests per second with and without metrics and slow-query timing."""
    from flask_migrate import upgrade

    from server import create_app, job_queue, metrics
    from server.extensions import db
    from server.services import accounts

    _prepare_database()
    scratch = Path(tempfile.mkdtemp(prefix="bench-monitoring-"))
    settings = _settings(redis_url, scratch)
    apps = {
        "with": create_app(settings.replace(metrics_enabled=True, slow_query_ms=500.0)),
        "without": create_app(settings.replace(metrics_enabled=False, slow_query_ms=0.0)),
    }
    conn = redis.Redis.from_url(redis_url)
    _cleanup(conn)
    with apps["with"].app_context():
        upgrade()
        user = accounts.create_user(
            email="bench@example.com",
            password="a throwaway scratch passphrase",  # noqa: S106 - scratch DB only
            name="Bench",
        )
        token = accounts.issue_tokens(user=user)["access_token"]
        job_id = job_queue.submit_job(user_id=user.id, job_type="diagnostic", payload={})
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

    calls = {name: call(name) for name in apps}
    rates: dict[str, list[float]] = {name: [] for name in apps}
    try:
        for name in apps:  # warm up: connections, scripts, caches
            metrics.count_limiter_decisions(name == "with")
            _rate(calls[name], 0.3)
        for round_number in range(rounds):
            order = list(apps) if round_number % 2 == 0 else list(reversed(apps))
            for name in order:
                # The limiter is per process: its per-limit counting follows the variant.
                metrics.count_limiter_decisions(name == "with")
                rates[name].append(_rate(calls[name], seconds))
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
    return [
        f"monitoring.endpoint_rps with={with_rps:.0f} without={without_rps:.0f} "
        f"ratio={with_rps / without_rps:.2f} (goal >= 0.9; GET /api/jobs/<id>/status, metrics "
        f"and slow-query timing on/off, Flask test client, PostgreSQL, single thread, median "
        f"of {rounds} interleaved rounds of {seconds:g} s)"
    ]


def run(args) -> list[str]:
    """The endpoint comparison."""
    return bench_endpoint(args.redis_url, args.rounds, args.seconds)
