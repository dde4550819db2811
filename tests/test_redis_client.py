"""The embedded Redis server as an operator reaches it: by TCP on loopback, or its socket."""

import socket

import pytest
import redis

from server.core.config import Settings
from server.core.redis_client import build_redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def embedded(tmp_path):
    """Start embedded servers under tmp_path; each is stopped after the test."""
    clients = []

    def start(port: int) -> redis.Redis:
        client = build_redis(Settings(instance_dir=tmp_path / str(port), embedded_redis_port=port))
        clients.append(client)
        return client

    yield start
    for client in clients:
        try:
            client.shutdown(nosave=True)
        except redis.ConnectionError:
            pass  # already gone


def test_the_embedded_redis_listens_on_loopback_so_a_plain_client_sees_its_keys(embedded, capsys):
    port = free_port()
    client = embedded(port)
    client.set("rate_limit:resume_tailoring_per_user_per_day:123", "seen")

    plain = redis.Redis(port=port, decode_responses=True)
    try:
        assert plain.get("rate_limit:resume_tailoring_per_user_per_day:123") == "seen"
        assert plain.delete("rate_limit:resume_tailoring_per_user_per_day:123") == 1
    finally:
        plain.close()
    assert client.exists("rate_limit:resume_tailoring_per_user_per_day:123") == 0
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0]


def test_with_its_port_taken_the_embedded_redis_starts_and_prints_its_socket_once(embedded, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        client = embedded(port)
        assert client.ping()
        assert client.config_get("port")["port"] == "0"  # no TCP listener of its own
    sock = client.connection_pool.connection_kwargs["path"]
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert f"127.0.0.1:{port} is in use" in lines[0] and f"redis-cli -s {sock}" in lines[0]
