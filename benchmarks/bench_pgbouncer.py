"""PgBouncer benchmark: the service's throughput through PgBouncer (transaction pooling,
DB_PGBOUNCER=true: no server-side prepared statements) against straight to PostgreSQL.

Two copies of the service run under gunicorn with the hot-path benchmark's settings
(benchmarks/bench_hot_path.py: 2 gthread workers of 4 threads, every limit out of reach) on
the same database `job_agent_bench_http` and Redis: one with DATABASE_URL on PostgreSQL, one
on a PgBouncer (Debian's `pgbouncer`, started here on a free loopback port, default_pool_size
20). wrk loads each in alternation for `--rounds` rounds of `--seconds` (at least 5):

- `GET /api/jobs/<id>/status` and `GET /api/user/profile`: the hot path's one SELECT each,
  on its own pool (psycopg prepares them when it may; through PgBouncer it may not),
- `GET /api/user/jobs`: the ORM's path, a transaction of several statements.

A third copy goes straight to PostgreSQL without prepared statements (DB_PGBOUNCER=true on a
direct URL), which splits the ratio into what dropping prepared statements costs and what the
hop through PgBouncer costs. Each line gives the median requests per second of each and the
ratios over direct.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from pathlib import Path

import redis

from benchmarks.bench_hot_path import (
    DATABASE_URL,
    _free_port,
    _gunicorn,
    _migrate,
    _prepare_user,
    _service_env,
    _stop,
    _wrk,
)
from benchmarks.scratch import ensure_database
from tests.pgbouncer import POOL_SIZE, pgbouncer


def run(args) -> list[str]:
    """Alternate direct and PgBouncer per route; one line per route."""
    missing = [name for name in ("wrk", "pgbouncer") if shutil.which(name) is None]
    if missing:
        return [f"pgbouncer.skipped {' and '.join(missing)} not installed (apt-get install)"]
    ensure_database(DATABASE_URL)
    conn = redis.Redis.from_url(args.redis_url)
    conn.flushdb()
    seconds = max(args.seconds, 5.0)
    results: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-pgbouncer-") as scratch:
        direct_env = _service_env(Path(scratch), args.redis_url)
        _migrate(direct_env)
        with pgbouncer(DATABASE_URL) as bouncer:
            pooled_env = {
                **direct_env,
                "DATABASE_URL": bouncer.url,
                "DB_PGBOUNCER": "true",
                "DATABASE_DIRECT_URL": DATABASE_URL,
            }
            envs = {
                "direct": direct_env,
                "unprepared": {**direct_env, "DB_PGBOUNCER": "true"},
                "pgbouncer": pooled_env,
            }
            ports = {way: _free_port() for way in envs}
            services = {
                way: _gunicorn("server:create_app()", ports[way], env) for way, env in envs.items()
            }
            try:
                token, job_id = _prepare_user(f"http://127.0.0.1:{ports['direct']}")
                paths = {
                    "status": f"/api/jobs/{job_id}/status",
                    "profile": "/api/user/profile",
                    "job_list": "/api/user/jobs",
                }
                for port in ports.values():  # warm up: pools, statements, imports
                    for path in paths.values():
                        _wrk(f"http://127.0.0.1:{port}{path}", 1, token)
                for round_number in range(args.rounds):
                    order = list(ports) if round_number % 2 == 0 else list(reversed(ports))
                    for name, path in paths.items():
                        for way in order:
                            rps, _p99, bad = _wrk(
                                f"http://127.0.0.1:{ports[way]}{path}", seconds, token
                            )
                            if bad:
                                raise RuntimeError(f"{way} {path}: {bad} answers not 2xx")
                            results.setdefault((name, way), []).append(rps)
            finally:
                for process in services.values():
                    _stop(process)
                conn.flushdb()
                conn.close()
    lines = []
    for name, route in (
        ("status", "GET /api/jobs/<id>/status"),
        ("profile", "GET /api/user/profile"),
        ("job_list", "GET /api/user/jobs"),
    ):
        direct = statistics.median(results[(name, "direct")])
        pooled = statistics.median(results[(name, "pgbouncer")])
        unprepared = statistics.median(results[(name, "unprepared")])
        lines.append(
            f"pgbouncer.{name}_rps pgbouncer={pooled:.0f} direct={direct:.0f} "
            f"ratio={pooled / direct:.2f} direct_unprepared={unprepared:.0f} "
            f"unprepared_ratio={unprepared / direct:.2f} ({route}; transaction pooling, pool "
            f"{POOL_SIZE}; median of {args.rounds} rounds of {seconds:.0f} s)"
        )
    return lines
