"""Email verification and password reset, end to end through a real SMTP server on 127.0.0.1.

Mail leaves the request path: requests queue a `send_email` job, and a worker pool
(`deliver_mail`) sends it.
"""

import re
import socket
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from server import create_app
from server.core.config import Settings
from server.core.extensions import db
from server.jobs import job_queue
from server.models import Job, JobStatus, OneTimeToken, SideEffect, utcnow
from server.services.accounts import MAIL_JOB
from tests.conftest import CapturedMail
from tests.helpers import DEFAULT_PASSWORD, ApiClient, error_of
from tests.queue_helpers import fetch_job, wait_for

NEW_PASSWORD = "a brand new passphrase for tests"
TOKEN = re.compile(r"^([A-Za-z0-9_-]{40,})\s*$", re.MULTILINE)


def token_from(mail_body: str) -> str:
    return TOKEN.search(mail_body).group(1)


def mail_jobs(app) -> list[Job]:
    session = app.extensions["sqlalchemy"].session
    session.rollback()
    return session.scalars(
        select(Job).where(Job.job_type == MAIL_JOB).order_by(Job.created_at)
    ).all()


def test_email_verification_end_to_end(mail_client, mail_app, smtp_server, deliver_mail):
    account = mail_client.create_account()
    response = mail_client.post("/api/auth/verify-email/request", token=account.access_token)
    assert response.status_code == 202
    deliver_mail(mail_app)
    [body] = smtp_server.bodies_to(account.email)
    token = token_from(body)
    assert f"verify-email?token={token}" in body
    confirmed = mail_client.post("/api/auth/verify-email/confirm", json={"token": token})
    assert confirmed.status_code == 200
    profile = mail_client.get("/api/user/profile", token=account.access_token).get_json()
    assert profile["email_verified_at"].endswith("Z")
    reused = mail_client.post("/api/auth/verify-email/confirm", json={"token": token})
    assert reused.status_code == 400
    assert error_of(reused)["code"] == "invalid_token"


def test_links_in_mails_and_the_api_document_follow_the_port(settings, smtp_server, deliver_mail):
    """PORT=5100 without PUBLIC_BASE_URL: the links lead to the port the server listens on."""
    moved = Settings(
        **{
            **settings.model_dump(),
            "port": 5100,
            "public_base_url": "",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_server.port,
            "smtp_use_tls": False,
        }
    )
    app = create_app(moved)
    try:
        client = ApiClient(app.test_client())
        spec = client.get("/api/openapi.json").get_json()
        assert spec["servers"] == [{"url": "http://127.0.0.1:5100"}]
        account = client.create_account()
        client.post("/api/auth/verify-email/request", token=account.access_token)
        deliver_mail(app)
        [body] = smtp_server.bodies_to(account.email)
        assert f"http://127.0.0.1:5100/verify-email?token={token_from(body)}" in body
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_only_a_hash_of_the_token_is_stored(mail_client, mail_app, smtp_server, deliver_mail):
    account = mail_client.create_account()
    mail_client.post("/api/auth/verify-email/request", token=account.access_token)
    deliver_mail(mail_app)
    token = token_from(smtp_server.bodies_to(account.email)[0])
    session = mail_app.extensions["sqlalchemy"].session
    stored = session.query(OneTimeToken).one()
    assert stored.token_hash != token and token not in stored.token_hash
    assert len(stored.token_hash) == 64
    assert all(token not in str(job.payload) + str(job.result) for job in mail_jobs(mail_app))


def test_password_reset_end_to_end_revokes_sessions(
    mail_client, mail_app, smtp_server, deliver_mail
):
    account = mail_client.create_account()
    response = mail_client.post("/api/auth/password-reset/request", json={"email": account.email})
    assert response.status_code == 202
    deliver_mail(mail_app)
    token = token_from(smtp_server.bodies_to(account.email)[0])
    weak = mail_client.post(
        "/api/auth/password-reset/confirm", json={"token": token, "new_password": "short"}
    )
    assert weak.status_code == 422  # and the token still works:
    done = mail_client.post(
        "/api/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert done.status_code == 200
    assert mail_client.get("/api/user/profile", token=account.access_token).status_code == 401
    assert mail_client.post("/api/auth/refresh", token=account.refresh_token).status_code == 401
    assert mail_client.login(account.email, DEFAULT_PASSWORD).status_code == 401
    assert mail_client.login(account.email, NEW_PASSWORD).status_code == 200
    again = mail_client.post(
        "/api/auth/password-reset/confirm",
        json={"token": token, "new_password": "yet another fine passphrase"},
    )
    assert again.status_code == 400


def test_reset_answers_the_same_for_unknown_addresses_and_sends_nothing(
    mail_client, mail_app, smtp_server, deliver_mail
):
    account = mail_client.create_account()
    known = mail_client.post("/api/auth/password-reset/request", json={"email": account.email})
    unknown = mail_client.post(
        "/api/auth/password-reset/request", json={"email": "ghost@example.com"}
    )
    assert known.status_code == unknown.status_code == 202
    assert known.get_json() == unknown.get_json()
    deliver_mail(mail_app)
    assert smtp_server.bodies_to("ghost@example.com") == []
    assert len(smtp_server.bodies_to(account.email)) == 1


def test_a_reset_request_does_the_same_work_for_any_address_and_no_smtp(
    mail_client, mail_app, smtp_server, deliver_mail
):
    account = mail_client.create_account()
    for email in (account.email, "ghost@example.com"):
        response = mail_client.post("/api/auth/password-reset/request", json={"email": email})
        assert response.status_code == 202
    assert smtp_server.messages == []  # nothing was sent while the requests were answered
    known, unknown = mail_jobs(mail_app)
    assert (
        (known.status, known.user_id, known.priority)
        == (
            unknown.status,
            unknown.user_id,
            unknown.priority,
        )
        == (JobStatus.QUEUED.value, None, int(job_queue.JobPriority.HIGH))
    )
    assert known.payload == {"kind": "password_reset", "email": account.email}
    assert unknown.payload == {"kind": "password_reset", "email": "ghost@example.com"}
    deliver_mail(mail_app)
    assert [m["To"] for m in smtp_server.messages] == [account.email]


def test_reset_requests_for_one_address_are_spaced_out(
    mail_client, mail_app, smtp_server, deliver_mail
):
    account = mail_client.create_account()
    for _ in range(3):
        mail_client.post("/api/auth/password-reset/request", json={"email": account.email})
    deliver_mail(mail_app)
    assert len(smtp_server.bodies_to(account.email)) == 1


def test_an_expired_reset_token_is_refused(mail_client, mail_app, smtp_server, deliver_mail):
    account = mail_client.create_account()
    mail_client.post("/api/auth/password-reset/request", json={"email": account.email})
    deliver_mail(mail_app)
    token = token_from(smtp_server.bodies_to(account.email)[0])
    session = mail_app.extensions["sqlalchemy"].session
    session.execute(update(OneTimeToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    session.commit()
    response = mail_client.post(
        "/api/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 400
    assert mail_client.login(account.email).status_code == 200


def test_a_newer_reset_token_voids_the_older_one(make_app, smtp_server, deliver_mail):
    app = make_app(
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        smtp_use_tls=False,
        password_reset_cooldown_seconds=0,
    )
    client = ApiClient(app.test_client())
    account = client.create_account()
    for _ in range(2):
        client.post("/api/auth/password-reset/request", json={"email": account.email})
        deliver_mail(app)
    bodies = smtp_server.bodies_to(account.email)
    assert len(bodies) == 2, bodies
    first, second = (token_from(b) for b in bodies)
    old = client.post(
        "/api/auth/password-reset/confirm", json={"token": first, "new_password": NEW_PASSWORD}
    )
    assert old.status_code == 400
    new = client.post(
        "/api/auth/password-reset/confirm", json={"token": second, "new_password": NEW_PASSWORD}
    )
    assert new.status_code == 200


def test_without_smtp_mail_goes_to_the_outbox(app, client, settings, deliver_mail):
    account = client.create_account()
    assert (
        client.post("/api/auth/verify-email/request", token=account.access_token).status_code == 202
    )
    deliver_mail(app)
    mails = [p.read_text() for p in settings.outbox_dir.glob("*.eml")]
    assert sum(f"To: {account.email}" in mail for mail in mails) == 1


def test_email_change_sends_a_confirmation_to_the_new_address(
    mail_client, mail_app, smtp_server, deliver_mail
):
    account = mail_client.create_account()
    mail_client.post(
        "/api/user/email",
        token=account.access_token,
        json={"new_email": "moved@example.com", "current_password": DEFAULT_PASSWORD},
    )
    deliver_mail(mail_app)
    assert "move it to moved@example.com" in smtp_server.bodies_to(account.email)[0]
    token = token_from(smtp_server.bodies_to("moved@example.com")[0])
    assert (
        mail_client.post("/api/auth/verify-email/confirm", json={"token": token}).status_code == 200
    )
    deliver_mail(mail_app)
    assert "changed to moved@example.com" in smtp_server.bodies_to(account.email)[1]


def requeue(app, job_id: str) -> None:
    """Deliver a finished job again, as the queue may (at least once)."""
    session = app.extensions["sqlalchemy"].session
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(status=JobStatus.QUEUED.value, finished_at=None, result=None)
    )
    session.commit()
    job = session.get(Job, job_id)
    assert job_queue.enqueue([(job.id, job.user_id, job.priority, 0.0)]) == 1


def test_a_mail_job_that_runs_again_sends_one_mail(
    mail_client, mail_app, smtp_server, deliver_mail
):
    account = mail_client.create_account()
    mail_client.post("/api/auth/verify-email/request", token=account.access_token)
    deliver_mail(mail_app)
    [job] = mail_jobs(mail_app)
    assert job.result == {"sent": True}
    requeue(mail_app, job.id)
    deliver_mail(mail_app)
    again = fetch_job(job.id)
    assert again.status == JobStatus.SUCCEEDED.value
    assert again.result == {"sent": False, "reason": "already handled by an earlier run"}
    assert len(smtp_server.bodies_to(account.email)) == 1


def test_a_run_that_died_after_recording_its_mail_does_not_send_it_again(
    mail_client, mail_app, smtp_server, deliver_mail
):
    """At most once: a key left `started` (the process died before or while sending) is
    taken as sent, because a duplicate cannot be taken back and a lost mail can be asked for."""
    account = mail_client.create_account()
    mail_client.post("/api/auth/verify-email/request", token=account.access_token)
    [job] = mail_jobs(mail_app)
    session = mail_app.extensions["sqlalchemy"].session
    session.add(SideEffect(key=f"mail:{job.id}", job_id=job.id, state="started"))
    session.commit()
    deliver_mail(mail_app)
    assert fetch_job(job.id).result["sent"] is False
    assert smtp_server.messages == []


def test_a_mail_the_server_stored_but_confirmed_too_late_is_not_sent_again(
    make_app, smtp_server, deliver_mail
):
    app = make_app(
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        smtp_use_tls=False,
        smtp_final_reply_timeout_seconds=0.5,
        job_queue_retry_base_seconds=0.05,
    )
    client = ApiClient(app.test_client())
    account = client.create_account()
    smtp_server.reply_delays = [2.0]  # stored at once, confirmed after the client gave up
    client.post("/api/auth/verify-email/request", token=account.access_token)
    with app.app_context():
        deliver_mail(app)
        [job] = mail_jobs(app)
        assert (job.status, job.attempts) == (JobStatus.FAILED.value, 1)
        assert "may have been delivered, so it is not sent again" in job.error
    assert len(smtp_server.bodies_to(account.email)) == 1


def test_a_slow_final_reply_is_waited_for_while_the_job_keeps_its_lease(
    make_app, smtp_server, run_pool
):
    app = make_app(
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        smtp_use_tls=False,
        smtp_timeout_seconds=0.5,  # each command's reply
        smtp_final_reply_timeout_seconds=10,
        job_queue_lease_seconds=1.0,
    )
    client = ApiClient(app.test_client())
    account = client.create_account()
    smtp_server.reply_delays = [2.5]  # longer than a command's timeout and than the lease
    client.post("/api/auth/verify-email/request", token=account.access_token)
    with app.app_context():
        run_pool(app, threads=1)
        [job] = mail_jobs(app)

        def finished_and_never_reaped():
            assert job_queue.reap_expired_leases()["requeued"] == 0  # as the scheduler would
            return fetch_job(job.id).status in (JobStatus.SUCCEEDED.value, JobStatus.FAILED.value)

        wait_for(finished_and_never_reaped, timeout=20, interval=0.1)
        done = fetch_job(job.id)
        assert (done.status, done.result, done.attempts, done.lost_leases) == (
            JobStatus.SUCCEEDED.value,
            {"sent": True},
            1,
            0,
        )
    assert len(smtp_server.bodies_to(account.email)) == 1


class RefusesFirstMessage(CapturedMail):
    """An SMTP server that answers the first message with a temporary failure."""

    refused = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        if not self.refused:
            self.refused += 1
            return "451 Try again later"
        return await super().handle_DATA(server, session, envelope)


class FailsToSayGoodbye(CapturedMail):
    """An SMTP server that takes every message, then answers QUIT with an error."""

    async def handle_QUIT(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        return "421 Closing with an error"


def start_smtp(mailbox: CapturedMail):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    mailbox.port = port
    return controller


@pytest.fixture
def flaky_smtp():
    mailbox = RefusesFirstMessage()
    controller = start_smtp(mailbox)
    yield mailbox
    controller.stop()


@pytest.fixture
def rude_smtp():
    mailbox = FailsToSayGoodbye()
    controller = start_smtp(mailbox)
    yield mailbox
    controller.stop()


def test_a_mail_the_server_took_is_not_sent_again_when_its_goodbye_fails(
    make_app, rude_smtp, deliver_mail
):
    app = make_app(
        smtp_host="127.0.0.1",
        smtp_port=rude_smtp.port,
        smtp_use_tls=False,
        job_queue_retry_base_seconds=0.1,
    )
    client = ApiClient(app.test_client())
    account = client.create_account()
    client.post("/api/auth/password-reset/request", json={"email": account.email})
    deliver_mail(app)
    assert len(rude_smtp.bodies_to(account.email)) == 1
    with app.app_context():
        [job] = mail_jobs(app)
        assert (job.status, job.attempts, job.result) == ("succeeded", 1, {"sent": True})


def test_a_mail_the_server_refused_is_sent_by_a_retry(make_app, flaky_smtp, deliver_mail):
    app = make_app(
        smtp_host="127.0.0.1",
        smtp_port=flaky_smtp.port,
        smtp_use_tls=False,
        job_queue_retry_base_seconds=0.1,
    )
    client = ApiClient(app.test_client())
    account = client.create_account()
    client.post("/api/auth/password-reset/request", json={"email": account.email})
    deliver_mail(app)
    assert flaky_smtp.refused == 1
    assert len(flaky_smtp.bodies_to(account.email)) == 1
    with app.app_context():
        [job] = mail_jobs(app)
        assert (job.status, job.attempts) == (JobStatus.SUCCEEDED.value, 2)


def test_clients_cannot_submit_mail_jobs(client):
    account = client.create_account()
    response = client.post(
        "/api/jobs",
        token=account.access_token,
        json={"type": MAIL_JOB, "payload": {"kind": "password_reset", "email": "x@example.com"}},
    )
    assert response.status_code == 422
    assert "unknown job type" in error_of(response)["message"]


def test_mail_jobs_are_not_in_the_users_job_list(mail_client, mail_app):
    account = mail_client.create_account()
    mail_client.post("/api/auth/verify-email/request", token=account.access_token)
    assert len(mail_jobs(mail_app)) == 1
    listed = mail_client.get("/api/user/jobs", token=account.access_token).get_json()
    assert listed["items"] == []
