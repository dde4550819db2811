"""Redis failover benchmark: the service under load while Sentinel replaces a SIGKILLed primary.

A Redis primary, its replica and three sentinels (Debian's `redis-server` and `redis-sentinel`,
loopback ports, down-after 400 ms) serve the app (REDIS_SENTINELS) on the PostgreSQL database
`job_agent_bench_failover`. Three threads submit jobs and read their status, one client logs in
over and over against `auth_login_per_ip_per_minute` = 10; two worker threads run the jobs and
the scheduler's reaper and reconciler run every half second. After a second of load the
primary is SIGKILLed (tests/failover_drill.py). Reported: seconds until the sentinels promote
the replica and until every kind of request succeeds again, the answers in between (503s,
500s: goal 0), successful answers a second during the outage against before it (the ratio),
jobs lost and stuck (goal 0), and the logins the limiter admitted over its limit.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from server import create_app
from server.core.config import Settings, normalise_database_url
from tests.failover_drill import LOGIN_LIMIT, drill_settings, run_drill
from tests.sentinel_set import DOWN_AFTER_MS, sentinel_set

DATABASE_URL = normalise_database_url(
    os.environ.get(
        "BENCH_FAILOVER_DATABASE_URL", "postgresql://root@127.0.0.1:5432/job_agent_bench_failover"
    )
)


def _build_app(scratch: Path, sentinels: str):
    from flask_migrate import upgrade

    from tests.conftest import ensure_database, reset_schema

    ensure_database(DATABASE_URL)
    reset_schema(DATABASE_URL)
    settings = Settings(
        env="testing",
        instance_dir=scratch,
        log_dir=scratch,
        log_to_stdout=False,
        database_url=DATABASE_URL,
        database_is_default=False,
        jwt_secret_key="f" * 40,
        encryption_key="e" * 44,
        bcrypt_rounds=4,
        auto_migrate=False,
        **drill_settings(sentinels),
    )
    app = create_app(settings)
    with app.app_context():
        upgrade()
    logging.getLogger("server").setLevel(logging.CRITICAL)
    return app


def run(args) -> list[str]:
    """One failover drill; its figures in five lines."""
    missing = [name for name in ("redis-server", "redis-sentinel") if shutil.which(name) is None]
    if missing:
        return [
            f"failover.skipped {' and '.join(missing)} not installed (apt-get install {' '.join(missing)})"
        ]
    with tempfile.TemporaryDirectory(prefix="bench-failover-") as scratch:
        folder = Path(scratch)
        (folder / "redis").mkdir()
        with sentinel_set(folder / "redis") as redis_set:
            app = _build_app(folder, redis_set.sentinels)
            result = run_drill(app, redis_set)
    outage = result.answers_in_outage
    ratio = result.ok_per_second_in_outage / max(result.ok_per_second_before, 1e-9)
    return [
        f"failover.recovery promoted_s={result.failover_seconds:.2f} "
        f"requests_succeed_again_s={result.recovery_seconds:.2f} (primary SIGKILLed under load; "
        f"sentinel down-after {DOWN_AFTER_MS} ms, quorum 2 of 3)",
        f"failover.answers_in_outage 503={outage[503]} 500={outage[500]} "
        f"2xx={sum(n for code, n in outage.items() if 200 <= code < 300)} "
        f"whole_run={dict(sorted(result.answers.items()))}",
        f"failover.throughput ok_per_s_in_outage={result.ok_per_second_in_outage:.0f} "
        f"before={result.ok_per_second_before:.0f} ratio={ratio:.2f}",
        f"failover.jobs accepted={result.jobs_accepted} lost={result.jobs_lost} "
        f"stuck={result.jobs_stuck} failed={result.jobs_failed} "
        f"all_finished_s_after_recovery={result.drain_seconds:.2f}",
        f"failover.limiter logins_admitted={result.logins_admitted} limit={LOGIN_LIMIT} "
        f"over_limit_admitted={result.over_limit_admitted} (one client against "
        f"auth_login_per_ip_per_minute through the failover)",
    ]
