"""Redis through Sentinel: every client follows a failover of the primary."""

from __future__ import annotations

import pytest
import redis

from server.core.config import Settings
from server.core.redis_client import build_redis, dedicated_client, redis_cli_invocation
from tests.failover_drill import LOGIN_LIMIT, drill_settings, run_drill
from tests.sentinel_set import sentinel_set


@pytest.fixture
def redis_set(tmp_path):
    with sentinel_set(tmp_path) as running:
        yield running


def sentinel_settings(tmp_path, sentinels: str, **extra) -> Settings:
    return Settings(
        env="testing",
        instance_dir=tmp_path,
        redis_sentinels=sentinels,
        jwt_secret_key="j" * 40,
        encryption_key="e" * 44,
        **extra,
    )


def test_sentinels_must_be_host_and_port_and_exclude_a_redis_url(tmp_path):
    with pytest.raises(ValueError, match="host:26379"):
        sentinel_settings(tmp_path, "10.0.0.1")
    with pytest.raises(ValueError, match="unset REDIS_URL"):
        sentinel_settings(tmp_path, "10.0.0.1:26379", redis_url="redis://10.0.0.2:6379/0")


@pytest.mark.soak  # a failover drill
def test_every_kind_of_client_reaches_the_primary_the_sentinels_name_after_a_failover(
    tmp_path, redis_set
):
    settings = sentinel_settings(tmp_path, redis_set.sentinels, redis_db=3)
    shared = build_redis(settings)
    waiter = dedicated_client(shared, max_connections=2, socket_timeout=3)
    shared.set("before", "1")
    old = redis_set.kill_primary()
    new = redis_set.wait_for_new_primary(old)
    for client in (shared, waiter):
        for _ in range(100):  # the first use of a pooled connection to the dead primary fails
            try:
                client.set("after", "2")
                break
            except redis.ConnectionError:
                continue
        assert client.get("before") == "1"
    # The write landed on the promoted replica, in REDIS_DB.
    promoted = redis.Redis(port=new, db=3, decode_responses=True)
    assert promoted.get("after") == "2"
    argv, _env = redis_cli_invocation(shared)
    assert argv[argv.index("-p") + 1] == str(new)


@pytest.mark.soak  # a failover drill
def test_the_service_answers_503_never_500_through_a_failover_and_loses_no_job(make_app, redis_set):
    app = make_app(**drill_settings(redis_set.sentinels))
    result = run_drill(app, redis_set)
    assert result.answers[500] == 0, result
    kinds = result.answers_by_kind
    assert set(kinds["submit"]) | set(kinds["status"]) <= {200, 202, 503}, result
    # The login client's 429s may get its address blocked for a while (403): by design.
    assert set(kinds["login"]) <= {200, 429, 403, 503}, result
    assert result.recovery_seconds < 10, result
    assert result.jobs_accepted > 0
    assert (result.jobs_lost, result.jobs_stuck, result.jobs_failed) == (0, 0, 0), result
    # Each process falls back to its own window while Redis is away: at most one more.
    assert LOGIN_LIMIT <= result.logins_admitted <= 2 * LOGIN_LIMIT, result
