"""Sending mail through the real SMTP client to the SMTP stand-in on 127.0.0.1: the final
reply is waited for as RFC 5321 allows, and a reply that never comes is not a refusal."""

from __future__ import annotations

import time

import pytest

from server.core import mailer


@pytest.fixture
def smtp_settings(settings, smtp_server):
    def build(**overrides):
        options = {"smtp_host": "127.0.0.1", "smtp_port": smtp_server.port, "smtp_use_tls": False}
        return settings.replace(**{**options, **overrides})

    return build


def send(settings, **options):
    return mailer.send_mail(
        settings=settings, to="ada@example.com", subject="Hello", body="Hi Ada", **options
    )


def test_a_final_reply_slower_than_the_commands_timeout_is_waited_for(smtp_settings, smtp_server):
    settings = smtp_settings(smtp_timeout_seconds=0.5, smtp_final_reply_timeout_seconds=10)
    smtp_server.reply_delays = [1.5]  # the server stores the message, then answers late
    assert send(settings) is True
    assert len(smtp_server.messages) == 1


def test_no_final_reply_in_time_means_the_mail_may_have_been_delivered(smtp_settings, smtp_server):
    settings = smtp_settings(smtp_final_reply_timeout_seconds=0.5)
    smtp_server.reply_delays = [3.0]
    with pytest.raises(mailer.MailOutcomeUnknown, match="did not confirm it within 0.5 s"):
        send(settings)
    assert len(smtp_server.messages) == 1  # the server has it: sending again would duplicate it


def test_the_wait_for_the_final_reply_ends_when_the_caller_stops_holding_its_job(
    smtp_settings, smtp_server
):
    settings = smtp_settings(smtp_final_reply_timeout_seconds=600)
    smtp_server.reply_delays = [10.0]
    began = time.monotonic()
    lease_lost_at = began + 0.3

    with pytest.raises(mailer.MailOutcomeUnknown, match="stopped waiting"):
        send(settings, keep_waiting=lambda: time.monotonic() < lease_lost_at)
    assert time.monotonic() - began < 3.0
    assert len(smtp_server.messages) == 1


def test_the_final_reply_is_awaited_in_a_process_with_many_open_files(
    smtp_settings, smtp_server, tmp_path
):
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    # A busy worker's sockets get descriptors past 1024, where select() cannot go.
    held = [(tmp_path / "held").open("w") for _ in range(1100)]
    try:
        settings = smtp_settings(smtp_timeout_seconds=0.5, smtp_final_reply_timeout_seconds=10)
        smtp_server.reply_delays = [1.0]
        assert send(settings) is True
    finally:
        for handle in held:
            handle.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert len(smtp_server.messages) == 1


def test_a_server_that_cannot_be_reached_took_nothing(smtp_settings, unused_port):
    settings = smtp_settings(smtp_port=unused_port, smtp_timeout_seconds=1)
    assert send(settings) is False


@pytest.fixture
def unused_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
