"""The flask CLI commands as an operator runs them."""

import socket

import redis

from server.redis_client import get_redis


def test_redis_cli_reads_and_deletes_a_key_the_app_wrote(app, client, redis_conn):
    client.login("nobody@example.com")  # counted against the login limit of 127.0.0.1
    key = "rate_limit:auth_login_per_ip_per_minute:127.0.0.1"
    runner = app.test_cli_runner()

    counted = runner.invoke(args=["redis-cli", "ZCARD", key])
    assert counted.exit_code == 0 and counted.output == "1\n"
    deleted = runner.invoke(args=["redis-cli", "DEL", key])
    assert deleted.exit_code == 0 and deleted.output == "1\n"
    assert redis_conn.exists(key) == 0


def test_redis_cli_reaches_the_embedded_redis_the_app_uses(make_app, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = make_app(redis_url=None, instance_dir=tmp_path, embedded_redis_port=port)
    embedded = get_redis(app)
    try:
        embedded.set("rate_limit:resume_tailoring_per_user_per_day:123", "2")
        result = app.test_cli_runner().invoke(
            args=["redis-cli", "GET", "rate_limit:resume_tailoring_per_user_per_day:123"]
        )
        assert result.exit_code == 0 and result.output == "2\n"
    finally:
        try:
            embedded.shutdown(nosave=True)
        except redis.ConnectionError:
            pass
