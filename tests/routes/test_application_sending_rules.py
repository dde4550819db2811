"""What the service will send on a user's behalf, and how often: only for a verified address,
only the package it built (the tailored resume, its cover letter), a typed recipient counted
against the caps by its domain, the per-company cap whatever the company's case; and the
tracker's moves only forward."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import GENEROUS_TEST_LIMITS, ApiClient, error_of
from tests.recruitee_stand_in import RecruiteeStandIn
from tests.routes.test_applications import (
    JOB,
    QUESTIONS,
    applicant,
    make_posting,
    prepared,
    recruitee_posting,
    wait_state,
)


@pytest.fixture
def recruitee():
    server = RecruiteeStandIn().start()
    yield server
    server.stop()


@pytest.fixture
def build(make_app, recruitee, smtp_server, run_pool):
    def build(limits=None, **overrides):
        app = make_app(
            recruitee_base_url=f"{recruitee.base_url}/{{company}}",
            outbound_allow_loopback_ports=(recruitee.port,),
            smtp_host="127.0.0.1",
            smtp_port=smtp_server.port,
            smtp_use_tls=False,
            rate_limit_overrides={**GENEROUS_TEST_LIMITS, **(limits or {})},
            **overrides,
        )
        run_pool(app, threads=2)
        return app, ApiClient(app.test_client())

    return build


def lever_posting(app, user_id, company="Acme", **fields) -> int:
    """A posting that gives no channel of its own: sent by email to an address the user types."""
    values = {"source": "lever", "questions": [], "external_id": company, "company": company}
    return make_posting(app, user_id, **{**values, **fields})


def submit(api, account, application_id, **body):
    path = f"/api/applications/{application_id}/submit"
    return api.post(path, json=body, headers=account.headers)


def test_an_unverified_account_sends_nothing_through_any_channel(build, recruitee, smtp_server):
    app, api = build()
    account, resume_id = applicant(api, verified=False)
    on_board = prepared(api, account, recruitee_posting(app, recruitee, account.id), resume_id)
    by_mail = prepared(api, account, lever_posting(app, account.id), resume_id)

    refused = [
        submit(api, account, on_board["id"], answers={"104": "English"}),
        submit(api, account, by_mail["id"], channel="email", email="anyone@victim.example"),
    ]

    for response in refused:
        assert response.status_code == 403
        assert error_of(response)["code"] == "email_unverified"
    assert recruitee.requests == [] and smtp_server.messages == []
    marked = submit(api, account, by_mail["id"], channel="manual")  # sends nothing: allowed
    assert marked.status_code == 200 and marked.get_json()["state"] == "submitted"
    api.verify_email(account)
    sent = submit(api, account, on_board["id"], answers={"104": "English"})
    assert sent.status_code == 202
    assert wait_state(api, account, on_board["id"], "submitted", "failed")["state"] == "submitted"


def test_auto_mode_of_an_unverified_account_waits_for_review(build, recruitee):
    app, api = build()
    account, resume_id = applicant(api, verified=False)
    questions = [q for q in QUESTIONS if q["id"] != "104"]
    posting_id = recruitee_posting(app, recruitee, account.id, questions=questions)
    application = prepared(api, account, posting_id, resume_id, mode="auto")
    assert application["state"] == "ready_for_review"
    decision = application["package"]["auto_submit"]
    assert decision["send"] is False and "Verify your email address" in decision["reason"]
    assert recruitee.requests == []


def test_a_typed_recipient_counts_against_the_cap_of_its_domain(build, smtp_server):
    app, api = build(application_company_cap=1)
    account, resume_id = applicant(api)
    first = prepared(api, account, lever_posting(app, account.id, "Acme"), resume_id)
    second = prepared(api, account, lever_posting(app, account.id, "Globex"), resume_id)

    assert (
        submit(api, account, first["id"], channel="email", email="a@victim.example").status_code
        == 202
    )
    assert wait_state(api, account, first["id"], "submitted", "failed")["state"] == "submitted"
    refused = submit(api, account, second["id"], channel="email", email="b@VICTIM.example")

    assert refused.status_code == 429
    error = error_of(refused)
    assert error["code"] == "company_cap_reached"
    assert error["details"]["recipient_domain"] == "victim.example"
    assert [m["To"] for m in smtp_server.messages] == ["a@victim.example"]
    elsewhere = submit(api, account, second["id"], channel="email", email="jobs@globex.example")
    assert elsewhere.status_code == 202


def test_a_typed_recipient_spends_the_daily_allowance(build, smtp_server):
    app, api = build({"RATE_LIMIT_JOB_APPLICATIONS_PER_USER_PER_DAY": "1/86400"})
    account, resume_id = applicant(api)
    first = prepared(api, account, lever_posting(app, account.id, "Acme"), resume_id)
    second = prepared(api, account, lever_posting(app, account.id, "Globex"), resume_id)
    assert (
        submit(api, account, first["id"], channel="email", email="a@one.example").status_code == 202
    )
    refused = submit(api, account, second["id"], channel="email", email="b@two.example")
    assert refused.status_code == 429
    assert error_of(refused)["details"]["limit"] == "job_applications_per_user_per_day"
    wait_state(api, account, first["id"], "submitted")
    assert [m["To"] for m in smtp_server.messages] == ["a@one.example"]


@pytest.mark.parametrize("second_company", ["ACME", "acme"])
def test_the_per_company_cap_counts_a_company_whatever_its_case(build, recruitee, second_company):
    app, api = build(application_company_cap=1)
    account, resume_id = applicant(api)
    ids = [
        prepared(
            api,
            account,
            recruitee_posting(app, recruitee, account.id, slug=slug, company=company, questions=[]),
            resume_id,
        )["id"]
        for slug, company in (("first-role", "Acme"), ("second-role", second_company))
    ]
    assert submit(api, account, ids[0]).status_code == 202
    wait_state(api, account, ids[0], "submitted")
    refused = submit(api, account, ids[1])
    assert refused.status_code == 429 and error_of(refused)["code"] == "company_cap_reached"
    assert len(recruitee.requests) == 1


def test_an_application_on_its_way_counts_against_the_per_company_cap(build, recruitee):
    app, api = build(application_company_cap=1)
    account, resume_id = applicant(api)
    ids = [
        prepared(
            api,
            account,
            recruitee_posting(app, recruitee, account.id, slug=slug, questions=[]),
            resume_id,
        )["id"]
        for slug in ("first-role", "second-role")
    ]
    for _ in range(5):  # the first send is retried for a while: not yet recorded as sent
        recruitee.fail_next(503)
    assert submit(api, account, ids[0]).status_code == 202

    refused = submit(api, account, ids[1])

    assert refused.status_code == 429 and error_of(refused)["code"] == "company_cap_reached"
    second = api.get(f"/api/applications/{ids[1]}", headers=account.headers).get_json()
    assert second["state"] == "ready_for_review" and second["submission_job_id"] is None


def test_a_burst_of_submits_to_one_company_sends_no_more_than_the_cap(build, recruitee):
    app, api = build(application_company_cap=2)
    account, resume_id = applicant(api)
    ids = [
        prepared(
            api,
            account,
            recruitee_posting(app, recruitee, account.id, slug=f"role-{n}", questions=[]),
            resume_id,
        )["id"]
        for n in range(5)
    ]
    start = threading.Barrier(len(ids))

    def send(application_id):
        client = ApiClient(app.test_client())
        start.wait()
        return submit(client, account, application_id).status_code

    with ThreadPoolExecutor(len(ids)) as pool:
        answers = dict(zip(ids, pool.map(send, ids), strict=True))

    assert sorted(answers.values()) == [202, 202, 429, 429, 429]
    for application_id, status in answers.items():
        if status == 202:
            assert wait_state(api, account, application_id, "submitted")["state"] == "submitted"
    assert len(recruitee.candidates()) == 2


def test_a_mail_carries_the_tailored_resume_and_no_typed_text_to_a_typed_address(
    build, smtp_server
):
    app, api = build()
    account, resume_id = applicant(api)
    questions = [q for q in QUESTIONS if q["id"] in ("101", "104")]
    posting_id = lever_posting(app, account.id, "Acme", questions=questions)
    application = prepared(api, account, posting_id, resume_id)
    answers = {"104": "Buy cheap watches at spam.example"}

    sent = submit(
        api, account, application["id"], channel="email", email="x@victim.example", answers=answers
    )

    assert sent.status_code == 202, sent.get_json()
    assert wait_state(api, account, application["id"], "submitted")["channel"] == "email"
    [mail] = smtp_server.messages
    body = mail.get_body(("plain",)).get_content()
    assert "spam.example" not in body and "Native language" not in body
    assert "Are you legally authorized" in body  # the answer the service found goes along
    attachments = {part.get_filename(): part for part in mail.iter_attachments()}
    assert set(attachments) == {"Ada-Lovelace-Resume.pdf", "cover-letter.txt"}
    letter = attachments["cover-letter.txt"].get_payload(decode=True).decode()
    assert letter == application["package"]["cover_letter"]


def test_the_users_answers_go_to_the_address_the_posting_gives(build, smtp_server):
    app, api = build()
    account, resume_id = applicant(api)
    questions = [q for q in QUESTIONS if q["id"] == "104"]
    posting_id = lever_posting(
        app,
        account.id,
        "Acme",
        questions=questions,
        description=JOB + "\nApply by mail: careers@acme.example",
    )
    application = prepared(api, account, posting_id, resume_id)
    assert application["package"]["channel"] == "email"
    sent = submit(api, account, application["id"], answers={"104": "English"})
    assert sent.status_code == 202
    wait_state(api, account, application["id"], "submitted")
    [mail] = smtp_server.messages
    assert mail["To"] == "careers@acme.example"
    assert "Native language: English" in mail.get_body(("plain",)).get_content()


def test_without_a_tailored_resume_nothing_is_mailed_and_the_upload_stays_home(build, smtp_server):
    app, api = build()
    account, resume_id = applicant(api)
    posting_id = lever_posting(
        app, account.id, "Acme", description="", apply_url="mailto:jobs@acme.example"
    )
    application = prepared(api, account, posting_id, resume_id)
    package = application["package"]
    assert package["tailored_resume"] is None and package["apply_email"] == "jobs@acme.example"
    assert package["channel"] == "manual"

    refused = submit(api, account, application["id"], channel="email")

    assert refused.status_code == 422 and "resume tailored" in error_of(refused)["message"]
    assert smtp_server.messages == []


def test_recruitee_on_an_address_nobody_allowed_is_not_contacted(make_app, recruitee, run_pool):
    app = make_app(
        recruitee_base_url=f"{recruitee.base_url}/{{company}}",  # its port is not allowed
        rate_limit_overrides=GENEROUS_TEST_LIMITS,
    )
    run_pool(app, threads=2)
    api = ApiClient(app.test_client())
    account, resume_id = applicant(api)
    posting_id = recruitee_posting(app, recruitee, account.id, questions=[])
    application = prepared(api, account, posting_id, resume_id)
    assert submit(api, account, application["id"]).status_code == 202
    failed = wait_state(api, account, application["id"], "failed", "submitted")
    assert failed["state"] == "failed" and "cannot be reached" in failed["error"]
    assert recruitee.requests == []


def test_the_tracker_only_moves_forward(build, recruitee):
    app, api = build()
    account, resume_id = applicant(api)
    posting_id = recruitee_posting(app, recruitee, account.id, questions=[])
    application = prepared(api, account, posting_id, resume_id)
    path = f"/api/applications/{application['id']}"
    assert submit(api, account, application["id"], channel="manual").status_code == 200
    order = ["submitted", "responded", "interview", "offer"]

    for step, state in enumerate(order[1:], start=1):
        moved = api.request("PATCH", path, json={"state": state}, headers=account.headers)
        assert moved.status_code == 200, state
        for earlier in order[:step]:
            back = api.request("PATCH", path, json={"state": earlier}, headers=account.headers)
            assert back.status_code == 409, f"{state} -> {earlier}"
            assert earlier not in error_of(back)["details"]["allowed"]
        assert api.get(path, headers=account.headers).get_json()["state"] == state


def test_a_submit_while_the_preparing_job_is_still_finishing_is_taken(build, recruitee):
    """Review mode: the package is ready the moment the state says so; the job that wrote it
    may still be closing, and sends nothing."""
    from sqlalchemy import update

    from server.core.extensions import db
    from server.models import Job

    app, api = build()
    account, resume_id = applicant(api)
    posting_id = recruitee_posting(app, recruitee, account.id, questions=[])
    application = prepared(api, account, posting_id, resume_id)
    with app.app_context():  # as if the worker had not yet marked the job finished
        db.session.execute(
            update(Job).where(Job.id == application["job_id"]).values(status="running")
        )
        db.session.commit()

    response = submit(api, account, application["id"])

    assert response.status_code == 202, response.get_json()
    assert wait_state(api, account, application["id"], "submitted")["channel"] == "recruitee"
    assert len(recruitee.requests) == 1
