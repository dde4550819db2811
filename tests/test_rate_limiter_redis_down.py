"""Redis unreachable: requests are served under per-process limits; Gemini calls are held."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time

import pytest
import redis

from server.rate_limiter import METRICS, get_rate_limiter
from tests.helpers import ApiClient, error_of


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A throwaway redis-server on its own port, stopped and started by the test."""

    def __init__(self, tmp_path) -> None:
        self.port = free_port()
        self.dir = tmp_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 5
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True)


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def limiter_log():
    handler = Collect()
    logger = logging.getLogger("server.rate_limiter")
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def test_with_redis_unreachable_requests_are_served_and_limited_per_process(make_app):
    app = make_app(
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        rate_limit_overrides={"RATE_LIMIT_AUTH_REGISTER_PER_IP_PER_HOUR": "2/3600"},
    )
    client = ApiClient(app.test_client())
    started = time.monotonic()
    statuses = [client.register().status_code for _ in range(3)]
    assert statuses == [201, 201, 429]
    assert time.monotonic() - started < 3  # no multi-second client retries per request
    refused = client.register()
    assert error_of(refused)["details"]["limit"] == "auth_register_per_ip_per_hour"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert int(refused.headers["Retry-After"]) >= 3599
    limiter = get_rate_limiter(app)
    assert limiter.degraded
    assert METRICS["rate_limiter_degraded"] == 1
    with app.app_context():
        reservation = limiter.reserve_gemini_call()
    assert not reservation.granted
    assert 1 <= reservation.retry_after <= 5
    assert reservation.reason == "rate-limit store unavailable"


def test_redis_going_away_and_back_is_logged_once_each_way(make_app, private_redis, limiter_log):
    app = make_app(
        redis_url=private_redis.url,
        rate_limit_overrides={"RATE_LIMIT_AUTH_LOGIN_PER_IP_PER_MINUTE": "3/60"},
    )
    limiter = get_rate_limiter(app)
    limiter.health.initial_backoff = 0.05
    limiter.health.max_backoff = 0.1
    client = ApiClient(app.test_client())
    body = {"email": "nobody@example.com", "password": "wrong"}
    login_key = "rate_limit:auth_login_per_ip_per_minute:127.0.0.1"

    assert client.post("/api/auth/login", json=body).status_code == 401
    assert private_redis.client().zcard(login_key) == 1
    assert limiter.reserve_gemini_call().granted
    assert not limiter.degraded and METRICS["rate_limiter_degraded"] == 0

    private_redis.stop()
    statuses = []
    for _ in range(5):
        statuses.append(client.post("/api/auth/login", json=body).status_code)
        time.sleep(0.03)  # let re-probes happen while it is down
    # This process counts afresh: three admitted, then refused, while Redis is away.
    assert statuses == [401, 401, 401, 429, 429]
    assert not limiter.reserve_gemini_call().granted
    assert limiter.degraded and METRICS["rate_limiter_degraded"] == 1
    assert sum("degraded" in m for m in limiter_log) == 1

    private_redis.start()  # empty: the old window is gone with the old server
    time.sleep(0.15)
    assert client.post("/api/auth/login", json=body).status_code == 401
    assert not limiter.degraded and METRICS["rate_limiter_degraded"] == 0
    assert private_redis.client().zcard(login_key) == 1
    assert limiter.reserve_gemini_call().granted
    assert sum("recovered" in m for m in limiter_log) == 1
    assert sum("degraded" in m for m in limiter_log) == 1


def test_a_dead_redis_is_not_retried_on_every_request(make_app, limiter_log):
    app = make_app(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    limiter = get_rate_limiter(app)
    limiter.health.initial_backoff = 60
    before = METRICS["rate_limiter_redis_errors_total"]
    for _ in range(20):
        limiter.hit(["auth_login_per_ip_per_minute"], "10.0.0.1")
    assert METRICS["rate_limiter_redis_errors_total"] - before == 1
    assert METRICS["rate_limiter_fallback_checks_total"] >= 20


def test_with_redis_down_a_request_refused_by_one_limit_uses_none_of_the_others(make_app):
    app = make_app(
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        rate_limit_overrides={
            "RATE_LIMIT_AUTH_LOGIN_PER_IP_PER_MINUTE": "3/60",
            "RATE_LIMIT_AUTH_REGISTER_PER_IP_PER_HOUR": "1/3600",
        },
    )
    limiter = get_rate_limiter(app)
    both = ["auth_login_per_ip_per_minute", "auth_register_per_ip_per_hour"]
    assert limiter.hit(["auth_register_per_ip_per_hour"], "10.0.0.1").allowed
    for _ in range(3):
        assert not limiter.hit(both, "10.0.0.1").allowed  # the second limit is full
    assert limiter.degraded
    # All or nothing: the refused requests took nothing from the first limit.
    admitted = [limiter.hit(["auth_login_per_ip_per_minute"], "10.0.0.1") for _ in range(4)]
    assert [decision.allowed for decision in admitted] == [True, True, True, False]
    assert [decision.states[0].remaining for decision in admitted[:3]] == [2, 1, 0]


def test_with_redis_down_a_window_frees_its_slot_as_soon_as_the_window_has_passed(make_app):
    app = make_app(
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        rate_limit_overrides={"RATE_LIMIT_AUTH_LOGIN_PER_IP_PER_MINUTE": "1/1"},
    )
    limiter = get_rate_limiter(app)
    names = ["auth_login_per_ip_per_minute"]
    assert limiter.hit(names, "10.0.0.1").allowed
    refused = limiter.hit(names, "10.0.0.1")
    assert not refused.allowed and refused.retry_after <= 1
    time.sleep(1.2)
    assert limiter.hit(names, "10.0.0.1").allowed
