"""Applications: prepared by the `job_application` job, reviewed, submitted through the
Recruitee candidates API or by email (local stand-ins), tracked; caps and ownership."""

from __future__ import annotations

import hashlib
import json
import threading

import pytest
from sqlalchemy import event, select

from server.core.extensions import db
from server.models import ApplicationSubmission, Posting
from tests.helpers import GENEROUS_TEST_LIMITS, ApiClient, at_once, error_of
from tests.queue_helpers import wait_for
from tests.recruitee_stand_in import RecruiteeStandIn
from tests.test_worker import worker_processes  # noqa: F401 - a fixture

RESUME = b"""Ada Lovelace
ada@example.com

SUMMARY
Backend engineer building APIs in Python.

EXPERIENCE
Senior Backend Engineer | Analytical Engines Ltd | London
Jan 2021 - Present
- Built a Django REST API on PostgreSQL serving 2k requests a second
- Ran the services in Docker on AWS

SKILLS
Python, Django, PostgreSQL, Docker, AWS
"""
PROFILE = {
    "name": "Ada Lovelace",
    "phone": "+44 20 7946 0958",
    "location": "London, UK",
    "links": [{"label": "LinkedIn", "url": "https://www.linkedin.com/in/ada"}],
    "work_authorization": [{"country": "GB", "status": "citizen"}],
    "requires_sponsorship": False,
    "salary_expectation": {"minimum": 90000, "maximum": 110000, "currency": "GBP"},
    "eeo": {"gender": "female"},
}
JOB = (
    "We are hiring a Backend Engineer.\n"
    "Requirements:\n- Python and Django\n- PostgreSQL\nNice to have: Kubernetes"
)
QUESTIONS = [
    {
        "id": "101",
        "label": "Are you legally authorized to work in the United Kingdom?",
        "type": "boolean",
        "required": True,
        "options": [],
    },
    {"id": "102", "label": "Desired salary", "type": "text", "required": True, "options": []},
    {"id": "103", "label": "LinkedIn profile", "type": "text", "required": False, "options": []},
    {"id": "104", "label": "Native language", "type": "text", "required": True, "options": []},
    {
        "id": "105",
        "label": "Gender",
        "type": "select",
        "required": False,
        "options": ["Female", "Male", "Decline to answer"],
    },
]


@pytest.fixture
def recruitee():
    server = RecruiteeStandIn().start()
    yield server
    server.stop()


@pytest.fixture
def apply_app(make_app, recruitee, smtp_server):
    return make_app(
        recruitee_base_url=f"{recruitee.base_url}/{{company}}",
        outbound_allow_loopback_ports=(recruitee.port,),
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        smtp_use_tls=False,
        rate_limit_overrides=GENEROUS_TEST_LIMITS,
    )


@pytest.fixture
def api(apply_app, run_pool) -> ApiClient:
    run_pool(apply_app, threads=2)
    return ApiClient(apply_app.test_client())


def applicant(api: ApiClient, *, verified: bool = True):
    """An account (its address verified) with a profile and an uploaded resume; returns it and
    the resume id."""
    account = api.create_account()
    if verified:
        api.verify_email(account)
    response = api.request("PATCH", "/api/user/profile", json=PROFILE, headers=account.headers)
    assert response.status_code == 200, response.get_json()
    uploaded = api.upload_parsed(account.access_token, "cv.txt", RESUME)
    return account, uploaded.get_json()["id"]


def make_posting(app, user_id: int, **fields) -> int:
    """A posting as a search stores it."""
    values = {
        "source": "recruitee",
        "external_id": str(fields.get("external_id", "77")),
        "company": "Acme",
        "title": "Backend Engineer",
        "location": "London, United Kingdom",
        "description": JOB,
        "apply_url": None,
        "questions": QUESTIONS,
        **fields,
    }
    values["dedupe_key"] = hashlib.sha256(repr(values).encode()).hexdigest()
    with app.app_context():
        posting = Posting(user_id=user_id, **values)
        db.session.add(posting)
        db.session.commit()
        return posting.id


def recruitee_posting(app, recruitee, user_id, *, slug="backend-engineer", **fields) -> int:
    apply_url = f"{recruitee.base_url}/acme/o/{slug}/c/new"
    return make_posting(app, user_id, apply_url=apply_url, external_id=slug, **fields)


def start(api, account, posting_id, resume_id, **extra):
    body = {"posting_id": posting_id, "resume_id": resume_id, **extra}
    return api.post("/api/applications", json=body, headers=account.headers)


def wait_state(api, account, application_id, *states, timeout=30):
    def reached():
        response = api.get(f"/api/applications/{application_id}", headers=account.headers)
        body = response.get_json()
        return body if body["state"] in states else None

    # Four reads a second: a slow machine's half minute of polling stays under the user's 300.
    return wait_for(reached, timeout=timeout, interval=0.25)


def prepared(api, account, posting_id, resume_id, **extra):
    response = start(api, account, posting_id, resume_id, **extra)
    assert response.status_code == 202, response.get_json()
    started = response.get_json()
    assert response.headers["Location"] == started["status_url"]
    return wait_state(api, account, started["application_id"], "ready_for_review", "failed")


def test_review_then_submit_through_recruitee(apply_app, api, recruitee):
    account, resume_id = applicant(api)
    posting_id = recruitee_posting(apply_app, recruitee, account.id)

    application = prepared(api, account, posting_id, resume_id)

    assert application["state"] == "ready_for_review", application["error"]
    package = application["package"]
    assert package["channel"] == "recruitee" and package["engine"] == "local"
    assert package["cover_letter"].startswith(
        "Dear Acme hiring team,\n\nI am applying for the Backend Engineer position at Acme."
    )
    assert (
        "At Analytical Engines Ltd, I built a Django REST API on PostgreSQL"
        in (package["cover_letter"])
    )
    assert package["dropped_claims"] == [] and package["missing_details"] == []
    answers = {a["question_id"]: a for a in package["answers"]}
    assert answers["101"]["answer"] is True
    assert answers["101"]["source"] == "profile.work_authorization"
    assert answers["102"]["answer"] == "90,000-110,000 GBP per year"
    assert answers["103"]["answer"] == "https://www.linkedin.com/in/ada"
    assert answers["105"]["answer"] == "Female"
    # Nothing in the profile or resume says it: left for the user, not invented.
    assert answers["104"]["answer"] is None and answers["104"]["source"] is None
    assert package["unanswered_required"] == ["Native language"]
    assert recruitee.requests == []  # review mode sends nothing by itself

    path = f"/api/applications/{application['id']}/submit"
    missing = api.post(path, json={}, headers=account.headers)
    assert missing.status_code == 422 and error_of(missing)["code"] == "answers_missing"
    submitted = api.post(path, json={"answers": {"104": "English"}}, headers=account.headers)
    assert submitted.status_code == 202, submitted.get_json()
    done = wait_state(api, account, application["id"], "submitted", "failed")

    assert done["state"] == "submitted" and done["channel"] == "recruitee"
    [sent] = recruitee.requests
    assert (sent["company"], sent["slug"], sent["status"]) == ("acme", "backend-engineer", 201)
    assert sent["content_type"] == "multipart/form-data"
    form = dict(sent["form"])
    assert form["candidate[name]"] == "Ada Lovelace"
    assert form["candidate[email]"] == account.email
    assert form["candidate[phone]"] == "+44 20 7946 0958"
    assert form["candidate[cover_letter]"] == package["cover_letter"]
    group = "candidate[open_question_answers_attributes]"
    given = {
        form[f"{group}[{i}][open_question_id]"]: form.get(f"{group}[{i}][content]")
        or form.get(f"{group}[{i}][flag]")
        for i in range(5)
    }
    assert given == {
        "101": "true",
        "102": "90,000-110,000 GBP per year",
        "103": "https://www.linkedin.com/in/ada",
        "104": "English",
        "105": "Female",
    }
    # The resume sent is the one tailored to this posting, rendered as PDF.
    cv = sent["files"]["candidate[cv]"]
    assert (cv["filename"], cv["content_type"]) == ("Ada-Lovelace-Resume.pdf", "application/pdf")
    assert cv["data"].startswith(b"%PDF")
    tailored = package["tailored_resume"]
    stored = api.get(f"/api/user/tailored-resumes/{tailored['id']}", headers=account.headers)
    assert stored.status_code == 200, stored.get_json()
    assert stored.get_json()["company"] == "Acme"
    assert tailored["match_score"]["after"] >= tailored["match_score"]["before"]
    [record] = done["submissions"]
    assert (record["channel"], record["outcome"]) == ("recruitee", "sent")
    assert record["detail"]["candidate_id"] == 1001


def test_review_then_submit_by_email_with_resume_and_cover_letter_attached(
    apply_app, api, smtp_server
):
    account, resume_id = applicant(api)
    posting_id = make_posting(
        apply_app,
        account.id,
        source="greenhouse",
        description=JOB + "\nTo apply, send your resume to careers@acme.example.",
        questions=[],
    )
    application = prepared(api, account, posting_id, resume_id)
    assert application["package"]["channel"] == "email"
    assert application["apply_email"] == "careers@acme.example"

    path = f"/api/applications/{application['id']}/submit"
    assert api.post(path, json={}, headers=account.headers).status_code == 202
    done = wait_state(api, account, application["id"], "submitted", "failed")

    assert done["state"] == "submitted", done["error"]
    [mail] = [m for m in smtp_server.messages if m["To"] == "careers@acme.example"]
    assert mail["Subject"] == "Application: Backend Engineer at Acme"
    assert mail["Reply-To"] == account.email
    attachments = {part.get_filename(): part for part in mail.iter_attachments()}
    assert set(attachments) == {"Ada-Lovelace-Resume.pdf", "cover-letter.txt"}
    resume = attachments["Ada-Lovelace-Resume.pdf"]
    assert resume.get_content_type() == "application/pdf"
    assert resume.get_payload(decode=True).startswith(b"%PDF")
    letter = attachments["cover-letter.txt"].get_payload(decode=True).decode()
    assert letter == application["package"]["cover_letter"]
    assert [(s["channel"], s["outcome"]) for s in done["submissions"]] == [("email", "sent")]


def test_line_breaks_in_a_postings_title_do_not_stop_the_email_or_add_headers(
    apply_app, api, smtp_server
):
    account, resume_id = applicant(api)
    posting_id = make_posting(
        apply_app,
        account.id,
        source="greenhouse",
        title="Dev\r\nBcc: x@evil.example",
        company="Acme\nX-Bad: 1",
        description=JOB + "\nTo apply, send your resume to careers@acme.example.",
        questions=[],
    )
    application = prepared(api, account, posting_id, resume_id)
    path = f"/api/applications/{application['id']}/submit"
    assert api.post(path, json={}, headers=account.headers).status_code == 202
    done = wait_state(api, account, application["id"], "submitted", "failed")

    assert done["state"] == "submitted", done["error"]
    [mail] = smtp_server.messages
    assert mail["To"] == "careers@acme.example"
    assert mail["Subject"] == "Application: Dev Bcc: x@evil.example at Acme X-Bad: 1"
    assert mail["Bcc"] is None and mail["X-Bad"] is None


def test_the_user_may_give_the_address_for_the_email_channel(apply_app, api, smtp_server):
    account, resume_id = applicant(api)
    posting_id = make_posting(apply_app, account.id, source="lever", questions=[])
    application = prepared(api, account, posting_id, resume_id)
    assert application["package"]["channel"] == "manual"
    path = f"/api/applications/{application['id']}/submit"
    refused = api.post(path, json={"channel": "email"}, headers=account.headers)
    assert refused.status_code == 422 and "email" in error_of(refused)["message"]
    body = {"channel": "email", "email": "hiring@acme.example"}
    assert api.post(path, json=body, headers=account.headers).status_code == 202
    assert wait_state(api, account, application["id"], "submitted")["channel"] == "email"
    assert [m["To"] for m in smtp_server.messages] == ["hiring@acme.example"]


def test_auto_mode_sends_at_once_when_every_required_answer_is_known(apply_app, api, recruitee):
    account, resume_id = applicant(api)
    questions = [q for q in QUESTIONS if q["id"] != "104"]
    posting_id = recruitee_posting(apply_app, recruitee, account.id, questions=questions)

    response = start(api, account, posting_id, resume_id, mode="auto")
    assert response.status_code == 202
    done = wait_state(api, account, response.get_json()["application_id"], "submitted", "failed")

    assert done["state"] == "submitted", done["error"]
    assert len(recruitee.candidates()) == 1
    assert [s["outcome"] for s in done["submissions"]] == ["sent"]


def test_a_submit_while_auto_mode_is_sending_is_a_conflict_and_sends_once(
    apply_app, api, recruitee
):
    account, resume_id = applicant(api)
    questions = [q for q in QUESTIONS if q["id"] != "104"]
    posting_id = recruitee_posting(apply_app, recruitee, account.id, questions=questions)
    recruitee.delay_seconds = 3.0  # the auto send is under way while the user submits
    started = start(api, account, posting_id, resume_id, mode="auto").get_json()
    application_id = started["application_id"]
    sending = ("ready_for_review", "submitted_unconfirmed")
    ready = wait_state(api, account, application_id, *sending, "submitted", "failed")
    assert ready["state"] in sending and ready["package"]["auto_submit"]["send"]

    path = f"/api/applications/{application_id}/submit"
    response = api.post(path, json={}, headers=account.headers)

    assert response.status_code == 409
    assert error_of(response)["code"] == "submission_in_progress"
    done = wait_state(api, account, application_id, "submitted", "failed")
    assert done["state"] == "submitted"
    assert [s["outcome"] for s in done["submissions"]] == ["sent"]
    assert len(recruitee.requests) == 1


def test_auto_mode_stops_for_review_when_a_required_answer_is_unknown(apply_app, api, recruitee):
    account, resume_id = applicant(api)
    posting_id = recruitee_posting(apply_app, recruitee, account.id)
    application = prepared(api, account, posting_id, resume_id, mode="auto")
    assert application["state"] == "ready_for_review"
    assert application["package"]["auto_submit"]["send"] is False
    assert "Native language" in application["package"]["auto_submit"]["reason"]
    assert recruitee.requests == []


def test_a_second_application_for_the_same_posting_is_a_conflict(apply_app, api, recruitee):
    account, resume_id = applicant(api)
    posting_id = recruitee_posting(apply_app, recruitee, account.id)
    first = start(api, account, posting_id, resume_id)
    assert first.status_code == 202
    second = start(api, account, posting_id, resume_id, mode="auto")
    assert second.status_code == 409
    error = error_of(second)
    assert error["code"] == "application_exists"
    assert error["details"]["application_id"] == first.get_json()["application_id"]
    listed = api.get("/api/applications", headers=account.headers).get_json()
    assert listed["meta"]["total"] == 1


def test_the_daily_cap_is_a_429_and_sends_nothing(make_app, recruitee, smtp_server, run_pool):
    app = make_app(
        recruitee_base_url=f"{recruitee.base_url}/{{company}}",
        outbound_allow_loopback_ports=(recruitee.port,),
        rate_limit_overrides={
            **GENEROUS_TEST_LIMITS,
            "RATE_LIMIT_JOB_APPLICATIONS_PER_USER_PER_DAY": "1/86400",
        },
    )
    run_pool(app, threads=2)
    api = ApiClient(app.test_client())
    account, resume_id = applicant(api)
    ids = []
    for slug, company in (("one", "Acme"), ("two", "Globex")):
        posting_id = recruitee_posting(app, recruitee, account.id, slug=slug, company=company)
        ids.append(prepared(api, account, posting_id, resume_id)["id"])
    answers = {"answers": {"104": "English"}}
    first = api.post(f"/api/applications/{ids[0]}/submit", json=answers, headers=account.headers)
    assert first.status_code == 202
    second = api.post(f"/api/applications/{ids[1]}/submit", json=answers, headers=account.headers)

    assert second.status_code == 429
    assert error_of(second)["details"]["limit"] == "job_applications_per_user_per_day"
    assert "Retry-After" in second.headers
    wait_state(api, account, ids[0], "submitted")
    still = api.get(f"/api/applications/{ids[1]}", headers=account.headers).get_json()
    assert still["state"] == "ready_for_review" and still["submissions"] == []
    assert [r["slug"] for r in recruitee.requests] == ["one"]


def test_preparing_applications_is_capped_per_user_per_day(make_app, recruitee, run_pool):
    app = make_app(
        recruitee_base_url=f"{recruitee.base_url}/{{company}}",
        rate_limit_overrides={
            **GENEROUS_TEST_LIMITS,
            "RATE_LIMIT_APPLICATION_PREPARATIONS_PER_USER_PER_DAY": "1/86400",
        },
    )
    api = ApiClient(app.test_client())
    account, resume_id = applicant(api)
    first = start(api, account, recruitee_posting(app, recruitee, account.id), resume_id)
    second = start(
        api, account, recruitee_posting(app, recruitee, account.id, slug="two"), resume_id
    )

    assert first.status_code == 202
    assert second.status_code == 429
    assert error_of(second)["details"]["limit"] == "application_preparations_per_user_per_day"
    listed = api.get("/api/applications", headers=account.headers).get_json()
    assert [a["id"] for a in listed["items"]] == [first.get_json()["application_id"]]


def test_a_tailoring_inside_an_application_spends_the_daily_tailoring_limit(
    make_app, recruitee, run_pool
):
    app = make_app(
        recruitee_base_url=f"{recruitee.base_url}/{{company}}",
        rate_limit_overrides={
            **GENEROUS_TEST_LIMITS,
            "RATE_LIMIT_RESUME_TAILORING_PER_USER_PER_DAY": "1/86400",
        },
    )
    run_pool(app, threads=1)
    api = ApiClient(app.test_client())
    account, resume_id = applicant(api)
    tailored = prepared(api, account, recruitee_posting(app, recruitee, account.id), resume_id)
    assert tailored["package"]["tailored_resume"] is not None
    assert tailored["package"]["tailoring_skipped"] is None

    # The day's one tailoring is spent: neither a tailoring job nor an application makes one.
    alone = api.post(
        "/api/jobs",
        json={
            "type": "resume_tailoring",
            "payload": {"resume_id": resume_id, "job_description": JOB},
        },
        headers=account.headers,
    )
    assert alone.status_code == 429
    assert error_of(alone)["details"]["limit"] == "resume_tailoring_per_user_per_day"
    second = prepared(
        api, account, recruitee_posting(app, recruitee, account.id, slug="two"), resume_id
    )
    assert second["state"] == "ready_for_review", second["error"]
    package = second["package"]
    assert package["tailored_resume"] is None and package["cover_letter"]
    assert package["tailoring_skipped"] == (
        "resume_tailoring_per_user_per_day reached: the resume is sent as uploaded, not tailored"
    )
    listed = api.get("/api/user/tailored-resumes", headers=account.headers).get_json()
    assert len(listed["items"]) == 1


def test_a_submission_the_boards_outage_defeated_gives_the_daily_application_back(
    make_app, recruitee, run_pool
):
    app = make_app(
        recruitee_base_url=f"{recruitee.base_url}/{{company}}",
        outbound_allow_loopback_ports=(recruitee.port,),
        job_queue_retry_base_seconds=0,
        job_queue_retry_max_seconds=0,
        rate_limit_overrides={
            **GENEROUS_TEST_LIMITS,
            "RATE_LIMIT_JOB_APPLICATIONS_PER_USER_PER_DAY": "1/86400",
        },
    )
    run_pool(app, threads=2)
    api = ApiClient(app.test_client())
    account, resume_id = applicant(api)
    posting_id = recruitee_posting(app, recruitee, account.id, questions=[])
    application = prepared(api, account, posting_id, resume_id)
    for _ in range(5):  # every attempt of the submission job
        recruitee.fail_next(503)
    path = f"/api/applications/{application['id']}/submit"
    first = api.post(path, json={}, headers=account.headers)
    assert first.status_code == 202, first.get_json()
    job_id = first.get_json()["submission_job_id"]

    def failed_job():
        body = api.get(f"/api/jobs/{job_id}/status", headers=account.headers).get_json()
        return body if body["status"] == "failed" else None

    status = wait_for(failed_job)
    assert status["attempts"] == 5 and "Recruitee" in status["error"]

    # Recruitee's outage was not the user's doing: the daily application is theirs again.
    # Four tries a second: a slow machine's half minute stays under the user's request limits.
    again = wait_for(
        lambda: (
            (sent := api.post(path, json={}, headers=account.headers)).status_code != 429 and sent
        ),
        timeout=30,
        interval=0.25,
    )
    assert again.status_code == 202, again.get_json()
    assert wait_state(api, account, application["id"], "submitted")["state"] == "submitted"


def test_the_per_company_cap_is_a_429(make_app, recruitee, run_pool):
    app = make_app(
        recruitee_base_url=f"{recruitee.base_url}/{{company}}",
        outbound_allow_loopback_ports=(recruitee.port,),
        application_company_cap=1,
        rate_limit_overrides=GENEROUS_TEST_LIMITS,
    )
    run_pool(app, threads=2)
    api = ApiClient(app.test_client())
    account, resume_id = applicant(api)
    ids = []
    for slug in ("first-role", "second-role"):
        posting_id = recruitee_posting(app, recruitee, account.id, slug=slug)
        ids.append(prepared(api, account, posting_id, resume_id)["id"])
    answers = {"answers": {"104": "English"}}
    assert (
        api.post(
            f"/api/applications/{ids[0]}/submit", json=answers, headers=account.headers
        ).status_code
        == 202
    )
    wait_state(api, account, ids[0], "submitted")
    refused = api.post(f"/api/applications/{ids[1]}/submit", json=answers, headers=account.headers)
    assert refused.status_code == 429
    assert error_of(refused)["code"] == "company_cap_reached"
    assert len(recruitee.requests) == 1


def test_the_tracker_allows_only_valid_transitions(apply_app, api, recruitee):
    account, resume_id = applicant(api)
    posting_id = recruitee_posting(apply_app, recruitee, account.id)
    application = prepared(api, account, posting_id, resume_id)
    path = f"/api/applications/{application['id']}"
    assert application["next_states"] == ["withdrawn"]

    for state in ("interview", "submitted", "offer", "saved"):
        response = api.request("PATCH", path, json={"state": state}, headers=account.headers)
        assert response.status_code == 409, state
        assert error_of(response)["code"] == "invalid_transition"
    assert api.get(path, headers=account.headers).get_json()["state"] == "ready_for_review"

    marked = api.post(f"{path}/submit", json={"channel": "manual"}, headers=account.headers)
    assert marked.status_code == 200 and marked.get_json()["state"] == "submitted"
    for state in ("responded", "interview", "offer"):
        moved = api.request(
            "PATCH", path, json={"state": state, "notes": f"now {state}"}, headers=account.headers
        )
        assert moved.status_code == 200 and moved.get_json()["state"] == state
    back = api.request("PATCH", path, json={"state": "interview"}, headers=account.headers)
    assert back.status_code == 409
    assert error_of(back)["details"]["allowed"] == ["rejected", "withdrawn"]
    withdrawn = api.request("PATCH", path, json={"state": "withdrawn"}, headers=account.headers)
    assert withdrawn.get_json()["next_states"] == []
    again = api.post(f"{path}/submit", json={}, headers=account.headers)
    assert again.status_code == 409
    listed = api.get("/api/applications?state=withdrawn", headers=account.headers).get_json()
    assert [a["id"] for a in listed["items"]] == [application["id"]]
    assert listed["items"][0]["notes"] == "now offer"


def test_the_tracker_shows_every_state_the_application_went_through(apply_app, api, recruitee):
    account, resume_id = applicant(api)
    posting_id = recruitee_posting(apply_app, recruitee, account.id)
    application = prepared(api, account, posting_id, resume_id)
    path = f"/api/applications/{application['id']}"
    api.post(f"{path}/submit", json={"channel": "manual"}, headers=account.headers)
    api.request("PATCH", path, json={"state": "interview"}, headers=account.headers)
    refused = api.request("PATCH", path, json={"state": "saved"}, headers=account.headers)
    assert refused.status_code == 409

    history = api.get(path, headers=account.headers).get_json()["history"]
    assert [(h["from"], h["state"]) for h in history] == [
        (None, "saved"),
        ("saved", "preparing"),
        ("preparing", "ready_for_review"),
        ("ready_for_review", "submitted"),
        ("submitted", "interview"),
    ]
    times = [h["at"] for h in history]
    assert times == sorted(times) and all(t.endswith("Z") for t in times)


def test_answers_given_at_the_same_moment_are_all_kept(apply_app, api, recruitee):
    account, resume_id = applicant(api)
    posting_id = recruitee_posting(apply_app, recruitee, account.id)
    application = prepared(api, account, posting_id, resume_id)
    path = f"/api/applications/{application['id']}"
    changes = [
        {"answers": {"104": "English"}},
        {"answers": {"102": "100,000 GBP"}},
        {"answers": {"103": "https://ada.example"}},
        {"notes": "call back on Monday"},
    ]

    codes = at_once(
        len(changes),
        lambda i: (
            apply_app.test_client()
            .patch(path, json=changes[i], headers=account.headers)
            .status_code
        ),
    )

    assert codes == [200] * len(changes)
    stored = api.get(path, headers=account.headers).get_json()
    answers = {a["question_id"]: a["answer"] for a in stored["package"]["answers"]}
    assert answers["104"] == "English"
    assert answers["102"] == "100,000 GBP"
    assert answers["103"] == "https://ada.example"
    assert stored["notes"] == "call back on Monday"
    assert stored["package"]["unanswered_required"] == []


def test_marking_an_application_sent_elsewhere_spends_no_daily_application(
    make_app, recruitee, run_pool, redis_conn
):
    app = make_app(
        recruitee_base_url=f"{recruitee.base_url}/{{company}}",
        outbound_allow_loopback_ports=(recruitee.port,),
        rate_limit_overrides=GENEROUS_TEST_LIMITS,
    )
    run_pool(app, threads=2)
    api = ApiClient(app.test_client())
    account, resume_id = applicant(api)
    posting_id = recruitee_posting(app, recruitee, account.id)
    application = prepared(api, account, posting_id, resume_id)
    path = f"/api/applications/{application['id']}/submit"
    marked = api.post(path, json={"channel": "manual"}, headers=account.headers).get_json()
    assert [(s["channel"], s["outcome"]) for s in marked["submissions"]] == [("manual", "marked")]
    assert redis_conn.zcard(f"rate_limit:job_applications_per_user_per_day:{account.id}") == 0
    assert recruitee.requests == []


def test_a_refused_submission_is_recorded_and_the_application_fails(apply_app, api, recruitee):
    account, resume_id = applicant(api)
    posting_id = recruitee_posting(apply_app, recruitee, account.id, questions=[])
    application = prepared(api, account, posting_id, resume_id)
    recruitee.required = ["name", "email", "phone", "cv", "photo"]
    path = f"/api/applications/{application['id']}/submit"
    assert api.post(path, json={}, headers=account.headers).status_code == 202
    failed = wait_state(api, account, application["id"], "failed", "submitted")
    assert failed["state"] == "failed"
    [record] = failed["submissions"]
    assert record["outcome"] == "failed" and record["detail"]["http_status"] == 422
    assert record["detail"]["errors"] == {"photo": ["can't be blank"]}


def test_a_board_outage_is_retried_and_sent_once(apply_app, api, recruitee):
    account, resume_id = applicant(api)
    posting_id = recruitee_posting(apply_app, recruitee, account.id, questions=[])
    application = prepared(api, account, posting_id, resume_id)
    recruitee.fail_next(503)
    path = f"/api/applications/{application['id']}/submit"
    assert api.post(path, json={}, headers=account.headers).status_code == 202
    done = wait_state(api, account, application["id"], "submitted", "failed", timeout=40)
    assert done["state"] == "submitted"
    assert [r["status"] for r in recruitee.requests] == [503, 201]
    assert [s["outcome"] for s in done["submissions"]] == ["retrying", "sent"]


def test_submits_at_the_same_moment_send_the_application_once(apply_app, api, recruitee):
    account, resume_id = applicant(api)
    posting_id = recruitee_posting(apply_app, recruitee, account.id, questions=[])
    application = prepared(api, account, posting_id, resume_id)
    path = f"/api/applications/{application['id']}/submit"
    start_together = threading.Barrier(6)
    codes = []

    def submit():
        client = apply_app.test_client()
        start_together.wait()
        codes.append(client.post(path, json={}, headers=account.headers).status_code)

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(codes) == [202, 409, 409, 409, 409, 409]
    done = wait_state(api, account, application["id"], "submitted", "failed")
    assert done["state"] == "submitted"
    assert [s["outcome"] for s in done["submissions"]] == ["sent"]
    assert len(recruitee.requests) == 1


def test_another_users_application_is_not_found(apply_app, api, recruitee):
    alice, resume_id = applicant(api)
    bob, bob_resume = applicant(api)
    posting_id = recruitee_posting(apply_app, recruitee, alice.id)
    application = prepared(api, alice, posting_id, resume_id)
    path = f"/api/applications/{application['id']}"
    assert api.get(path, headers=bob.headers).status_code == 404
    patched = api.request("PATCH", path, json={"state": "withdrawn"}, headers=bob.headers)
    assert patched.status_code == 404
    submitted = api.post(f"{path}/submit", json={"channel": "manual"}, headers=bob.headers)
    assert submitted.status_code == 404
    assert api.get("/api/applications", headers=bob.headers).get_json()["items"] == []
    # Nor may Bob apply to Alice's posting, or with Alice's resume.
    assert start(api, bob, posting_id, bob_resume).status_code == 404
    bob_posting = recruitee_posting(apply_app, recruitee, bob.id, slug="bobs")
    assert start(api, bob, bob_posting, resume_id).status_code == 404
    assert api.get(path, headers=alice.headers).get_json()["state"] == "ready_for_review"
    with apply_app.app_context():
        assert db.session.scalars(select(ApplicationSubmission)).all() == []


def test_a_posting_applied_to_is_one_the_search_drops(apply_app, api, recruitee):
    from server.services import postings

    account, resume_id = applicant(api)
    posting_id = recruitee_posting(apply_app, recruitee, account.id)
    other_id = recruitee_posting(apply_app, recruitee, account.id, slug="other", title="Designer")
    assert start(api, account, posting_id, resume_id).status_code == 202
    with apply_app.app_context():
        keys = postings.applied_posting_keys(user_id=account.id)
        posting, other = db.session.get(Posting, posting_id), db.session.get(Posting, other_id)
        assert {posting.dedupe_key, "recruitee:backend-engineer"} == keys
        assert other.dedupe_key not in keys


def test_with_gemini_the_letter_comes_from_the_model_and_unsupported_claims_are_left_out(
    make_app, recruitee, run_pool
):
    import json

    from tests.gemini_stand_in import GeminiStandIn

    gemini = GeminiStandIn(api_key="test-key").start()
    try:
        seen = []

        def letter(body):
            # One answer per task: the tailoring's two calls, then the cover letter.
            prompt = json.loads(body["contents"][0]["parts"][0]["text"])
            seen.append(prompt)
            if prompt["task"] == "extract_requirements":
                requirement = {
                    "text": "Django",
                    "kind": "skill",
                    "keywords": ["Django"],
                    "importance": "required",
                }
                return {
                    "title": "Backend Engineer",
                    "seniority": None,
                    "requirements": [requirement],
                    "keywords": ["Django"],
                }
            if prompt["task"] == "propose_edits":
                return {"edits": []}
            if prompt["task"] == "answer_question":
                return {"answer": None}
            return {
                "cover_letter": "Dear Acme, I built Django APIs and I run Kubernetes clusters.",
                "keywords": ["Django"],
            }

        gemini.answer = letter
        app = make_app(
            google_api_key="test-key",
            gemini_model="gemini-test",
            gemini_base_url=gemini.base_url,
            gemini_timeout_seconds=5.0,
            recruitee_base_url=f"{recruitee.base_url}/{{company}}",
            outbound_allow_loopback_ports=(recruitee.port,),
            rate_limit_overrides=GENEROUS_TEST_LIMITS,
        )
        run_pool(app, threads=1)
        api = ApiClient(app.test_client())
        account, resume_id = applicant(api)
        posting_id = recruitee_posting(app, recruitee, account.id)
        application = prepared(api, account, posting_id, resume_id)
    finally:
        gemini.stop()
    package = application["package"]
    assert (package["engine"], package["model"]) == ("gemini", "gemini-test")
    assert package["cover_letter"].startswith("Dear Acme hiring team,")
    # The model's sentence claims a tool the resume does not show: it is left out, and said.
    assert "Kubernetes" not in package["cover_letter"]
    assert package["unsupported_terms"] == ["Kubernetes"]
    assert {d["section"] for d in package["dropped_claims"]} == {"cover_letter"}
    assert [p["task"] for p in seen] == [
        "extract_requirements",
        "propose_edits",
        "write_cover_letter",
        "answer_question",  # "Native language": nothing in the profile answers it
    ]
    prompt = seen[2]
    assert prompt["posting"]["title"] == "Backend Engineer"
    # The engine sees the resume's facts, not its contact details.
    assert prompt["resume"]["name"] == "Ada Lovelace" and "ada@example.com" not in json.dumps(
        prompt
    )


def test_auto_mode_never_sends_a_letter_that_claims_more_than_the_resume(
    make_app, recruitee, run_pool
):
    from tests.gemini_stand_in import GeminiStandIn

    gemini = GeminiStandIn(api_key="test-key").start()

    def answer(body):
        task = json.loads(body["contents"][0]["parts"][0]["text"])["task"]
        if task == "extract_requirements":
            requirement = {
                "text": "Django",
                "kind": "skill",
                "keywords": ["Django"],
                "importance": "required",
            }
            return {
                "title": "Backend Engineer",
                "seniority": None,
                "requirements": [requirement],
                "keywords": ["Django"],
            }
        if task == "propose_edits":
            return {"edits": []}
        if task == "answer_question":
            return {"answer": None}
        return {
            "cover_letter": "Dear Acme, I built Django APIs and I run Kubernetes clusters.",
            "keywords": ["Django"],
        }

    gemini.answer = answer
    try:
        app = make_app(
            google_api_key="test-key",
            gemini_model="gemini-test",
            gemini_base_url=gemini.base_url,
            gemini_timeout_seconds=5.0,
            recruitee_base_url=f"{recruitee.base_url}/{{company}}",
            outbound_allow_loopback_ports=(recruitee.port,),
            rate_limit_overrides=GENEROUS_TEST_LIMITS,
        )
        run_pool(app, threads=1)
        api = ApiClient(app.test_client())
        account, resume_id = applicant(api)
        questions = [q for q in QUESTIONS if q["id"] != "104"]  # every required one known
        posting_id = recruitee_posting(app, recruitee, account.id, questions=questions)
        application = prepared(api, account, posting_id, resume_id, mode="auto")
    finally:
        gemini.stop()

    assert application["state"] == "ready_for_review"
    assert application["package"]["unsupported_terms"] == ["Kubernetes"]
    assert "Kubernetes" not in application["package"]["cover_letter"]
    decision = application["package"]["auto_submit"]
    assert decision["send"] is False and "Kubernetes" in decision["reason"]
    assert recruitee.requests == [] and application["submissions"] == []


def test_a_failed_application_is_prepared_again_and_can_then_be_sent(apply_app, api, recruitee):
    account, resume_id = applicant(api)
    posting_id = recruitee_posting(apply_app, recruitee, account.id, questions=[])
    application = prepared(api, account, posting_id, resume_id)
    recruitee.required = ["name", "email", "phone", "cv", "photo"]
    path = f"/api/applications/{application['id']}"
    api.post(f"{path}/submit", json={}, headers=account.headers)
    assert wait_state(api, account, application["id"], "failed")["state"] == "failed"

    recruitee.required = ["name", "email", "phone", "cv"]
    again = start(api, account, posting_id, resume_id)
    assert again.status_code == 202
    assert again.get_json()["application_id"] == application["id"]
    wait_state(api, account, application["id"], "ready_for_review")
    assert api.post(f"{path}/submit", json={}, headers=account.headers).status_code == 202
    done = wait_state(api, account, application["id"], "submitted", "failed")
    assert done["state"] == "submitted"
    assert [s["outcome"] for s in done["submissions"]] == ["failed", "sent"]
    assert [r["status"] for r in recruitee.requests] == [422, 201]


def test_an_internal_error_while_preparing_shows_a_reference_not_the_sql(apply_app, api, recruitee):
    account, resume_id = applicant(api)
    posting_id = recruitee_posting(apply_app, recruitee, account.id, questions=[])

    def broken_resumes_table(_conn, _cursor, statement, parameters, _context, _many):
        # Only the job's reads (the API's stay intact): PostgreSQL refuses the statement, and
        # SQLAlchemy's error quotes it.
        if threading.current_thread().name.startswith("job-worker") and "FROM resumes" in (
            statement
        ):
            statement = statement.replace("FROM resumes", "FROM resumes_internal_copy")
        return statement, parameters

    with apply_app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", broken_resumes_table, retval=True)
    try:
        response = start(api, account, posting_id, resume_id)
        assert response.status_code == 202, response.get_json()
        started = response.get_json()
        failed = wait_state(api, account, started["application_id"], "failed", "ready_for_review")
    finally:
        event.remove(engine, "before_cursor_execute", broken_resumes_table)
    status = api.get(started["status_url"], headers=account.headers).get_json()
    shown = f"internal error while running the job (reference {started['job_id']})"
    assert (failed["state"], failed["error"]) == ("failed", shown)
    assert (status["status"], status["error"]) == ("failed", shown)


def test_an_application_whose_resume_was_deleted_fails_without_sending(apply_app, api, recruitee):
    account, resume_id = applicant(api)
    # No description to tailor to: the uploaded resume itself is what would be sent.
    posting_id = recruitee_posting(apply_app, recruitee, account.id, questions=[], description="")
    application = prepared(api, account, posting_id, resume_id)
    assert application["package"]["tailored_resume"] is None
    assert api.delete(f"/api/user/resumes/{resume_id}", headers=account.headers).status_code == 204
    path = f"/api/applications/{application['id']}"
    assert api.post(f"{path}/submit", json={}, headers=account.headers).status_code == 202
    failed = wait_state(api, account, application["id"], "failed", "submitted")
    assert failed["state"] == "failed" and "resume" in failed["error"]
    assert [s["outcome"] for s in failed["submissions"]] == ["failed"]
    assert recruitee.requests == []


def test_auto_mode_at_the_daily_cap_waits_for_review_and_sends_nothing(
    make_app, recruitee, run_pool
):
    app = make_app(
        recruitee_base_url=f"{recruitee.base_url}/{{company}}",
        outbound_allow_loopback_ports=(recruitee.port,),
        rate_limit_overrides={
            **GENEROUS_TEST_LIMITS,
            "RATE_LIMIT_JOB_APPLICATIONS_PER_USER_PER_DAY": "0/86400",
        },
    )
    run_pool(app, threads=1)
    api = ApiClient(app.test_client())
    account, resume_id = applicant(api)
    posting_id = recruitee_posting(app, recruitee, account.id, questions=[])
    application = prepared(api, account, posting_id, resume_id, mode="auto")
    assert application["state"] == "ready_for_review"
    decision = application["package"]["auto_submit"]
    assert decision["send"] is False
    assert "job_applications_per_user_per_day" in decision["reason"]
    assert recruitee.requests == []


def test_an_application_to_a_job_url_is_prepared_for_a_manual_send(apply_app, api):
    account, resume_id = applicant(api)
    body = {
        "job_url": "https://careers.example/jobs/42",  # its page cannot be read from here
        "resume_id": resume_id,
        "title": "Backend Engineer",
        "company": "Acme",
    }
    response = api.post("/api/applications", json=body, headers=account.headers)
    assert response.status_code == 202, response.get_json()
    application = wait_state(
        api, account, response.get_json()["application_id"], "ready_for_review", "failed"
    )
    assert application["state"] == "ready_for_review", application["error"]
    assert application["package"]["channel"] == "manual"
    assert application["package"]["apply_url"] == "https://careers.example/jobs/42"
    again = api.post("/api/applications", json=body, headers=account.headers)
    assert again.status_code == 409


# --- sends whose outcome is unknown ---------------------------------------------------------


def email_posting(app, user_id: int) -> int:
    description = JOB + "\nTo apply, send your resume to careers@acme.example."
    return make_posting(app, user_id, source="greenhouse", description=description, questions=[])


def submit(api, account, application_id, **body):
    return api.post(
        f"/api/applications/{application_id}/submit", json=body, headers=account.headers
    )


def patch_state(api, account, application_id, state):
    path = f"/api/applications/{application_id}"
    return api.request("PATCH", path, json={"state": state}, headers=account.headers)


def job_finished(api, account, job_id):
    status = api.get(f"/api/jobs/{job_id}/status", headers=account.headers).get_json()
    return status["status"] in ("succeeded", "failed", "cancelled")


def test_a_mail_the_server_never_confirmed_is_not_sent_again_until_the_user_says(
    make_app, smtp_server, run_pool
):
    app = make_app(
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        smtp_use_tls=False,
        smtp_final_reply_timeout_seconds=0.5,
        job_queue_retry_base_seconds=0.05,
        rate_limit_overrides=GENEROUS_TEST_LIMITS,
    )
    run_pool(app, threads=2)
    api = ApiClient(app.test_client())
    account, resume_id = applicant(api)
    application = prepared(api, account, email_posting(app, account.id), resume_id)
    smtp_server.reply_delays = [3.0]  # the server stores the mail and confirms it too late

    submitted = submit(api, account, application["id"])
    assert submitted.status_code == 202
    wait_for(lambda: job_finished(api, account, submitted.get_json()["submission_job_id"]))

    unsure = api.get(f"/api/applications/{application['id']}", headers=account.headers).get_json()
    assert unsure["state"] == "submitted_unconfirmed"
    assert [s["outcome"] for s in unsure["submissions"]] == ["unknown"]
    assert {"submitted", "ready_for_review"} <= set(unsure["next_states"])
    again = submit(api, account, application["id"])
    assert again.status_code == 409 and "may have been sent" in error_of(again)["message"]
    assert len(smtp_server.messages) == 1

    # The user hears nothing from the company: it is offered for sending again, and sent.
    assert patch_state(api, account, application["id"], "ready_for_review").status_code == 200
    assert submit(api, account, application["id"]).status_code == 202
    done = wait_state(api, account, application["id"], "submitted", "failed")
    assert [s["outcome"] for s in done["submissions"]] == ["unknown", "sent"]
    assert len(smtp_server.messages) == 2
    assert [c["state"] for c in done["history"]][-4:] == [
        "submitted_unconfirmed",
        "ready_for_review",
        "submitted_unconfirmed",
        "submitted",
    ]


def test_a_board_that_answers_too_late_is_not_sent_the_application_again(
    make_app, recruitee, run_pool
):
    app = make_app(
        recruitee_base_url=f"{recruitee.base_url}/{{company}}",
        outbound_allow_loopback_ports=(recruitee.port,),
        # Longer than the board takes to create the candidate, shorter than its answer.
        application_submit_timeout_seconds=1.0,
        rate_limit_overrides=GENEROUS_TEST_LIMITS,
    )
    run_pool(app, threads=2)
    api = ApiClient(app.test_client())
    account, resume_id = applicant(api)
    posting_id = recruitee_posting(app, recruitee, account.id, questions=[])
    application = prepared(api, account, posting_id, resume_id)
    recruitee.answer_delay_seconds = 2.0

    submitted = submit(api, account, application["id"])
    assert submitted.status_code == 202
    wait_for(lambda: job_finished(api, account, submitted.get_json()["submission_job_id"]))

    unsure = api.get(f"/api/applications/{application['id']}", headers=account.headers).get_json()
    assert unsure["state"] == "submitted_unconfirmed"
    assert [s["outcome"] for s in unsure["submissions"]] == ["unknown"]
    assert len(recruitee.candidates()) == 1

    # The company replied: the application did arrive.
    confirmed = patch_state(api, account, application["id"], "submitted")
    assert confirmed.status_code == 200
    body = confirmed.get_json()
    assert body["state"] == "submitted" and body["submitted_at"] is not None
    assert body["error"] is None
    assert submit(api, account, application["id"]).status_code == 409
    assert len(recruitee.requests) == 1


def test_an_application_whose_worker_died_after_sending_is_not_offered_for_sending_again(
    make_app,
    smtp_server,
    run_pool,
    tmp_path,
    worker_processes,  # noqa: F811 - the fixture imported above
):
    import signal

    from server.jobs import job_queue
    from tests.test_worker import worker_env

    app = make_app(
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        smtp_use_tls=False,
        job_queue_max_lost_leases=1,
        rate_limit_overrides=GENEROUS_TEST_LIMITS,
    )
    pool = run_pool(app, threads=2)
    api = ApiClient(app.test_client())
    account, resume_id = applicant(api)
    application = prepared(api, account, email_posting(app, account.id), resume_id)
    pool.stop(grace_seconds=2)  # from here on a worker process sends it
    smtp_server.reply_delays = [30.0]  # the mail is stored; its worker waits for the reply
    submitted = submit(api, account, application["id"])
    assert submitted.status_code == 202
    env = worker_env(
        tmp_path,
        ENCRYPTION_KEY=app.config["SETTINGS"].encryption_key,  # it reads the profile
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_server.port),
        SMTP_USE_TLS="false",
    )
    worker = worker_processes(env)
    wait_for(lambda: smtp_server.messages, timeout=30)
    # While the send waits for its outcome, the user cannot say how it went.
    refused = patch_state(api, account, application["id"], "ready_for_review")
    assert refused.status_code == 409 and error_of(refused)["code"] == "submission_in_progress"

    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    with app.app_context():  # the reaper gives up on the job (one lost lease allowed)
        wait_for(lambda: job_queue.reap_expired_leases()["failed"] == 1, timeout=15)
    job = api.get(
        f"/api/jobs/{submitted.get_json()['submission_job_id']}/status", headers=account.headers
    ).get_json()
    assert job["status"] == "failed"

    shown = api.get(f"/api/applications/{application['id']}", headers=account.headers).get_json()
    assert shown["state"] == "submitted_unconfirmed"
    again = submit(api, account, application["id"])
    assert again.status_code == 409 and error_of(again)["code"] == "invalid_transition"
    assert len(smtp_server.messages) == 1
    confirmed = patch_state(api, account, application["id"], "submitted")
    assert confirmed.status_code == 200 and confirmed.get_json()["state"] == "submitted"


def test_an_application_may_be_submitted_the_moment_it_is_ready_for_review(
    apply_app, api, recruitee
):
    account, resume_id = applicant(api)
    posting_id = recruitee_posting(apply_app, recruitee, account.id, questions=[])
    holding, release = threading.Event(), threading.Event()

    def hold_the_outcome(_conn, _cursor, statement, *_args):
        # The preparing job wrote `ready_for_review` and returned; its outcome is not
        # recorded yet (held here until the user has submitted).
        if (
            threading.current_thread().name.startswith("job-worker")
            and statement.startswith("UPDATE jobs SET")
            and "finished_at" in statement
            and not holding.is_set()
        ):
            holding.set()
            release.wait(timeout=20)

    with apply_app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", hold_the_outcome)
    try:
        started = start(api, account, posting_id, resume_id).get_json()
        assert holding.wait(timeout=30)
        ready = api.get(f"/api/applications/{started['application_id']}", headers=account.headers)
        assert ready.get_json()["state"] == "ready_for_review"
        status = api.get(started["status_url"], headers=account.headers).get_json()
        assert status["status"] == "running"
        submitted = submit(api, account, started["application_id"])
    finally:
        release.set()
        event.remove(engine, "before_cursor_execute", hold_the_outcome)
    assert submitted.status_code == 202, submitted.get_json()
    done = wait_state(api, account, started["application_id"], "submitted", "failed")
    assert done["state"] == "submitted" and len(recruitee.candidates()) == 1


def test_a_worker_killed_between_sending_and_recording_the_outcome_sends_once(
    make_app,
    smtp_server,
    run_pool,
    tmp_path,
    worker_processes,  # noqa: F811 - the fixture imported above
):
    import signal

    from sqlalchemy import create_engine, text

    from tests.conftest import TEST_DATABASE_URL
    from tests.test_worker import worker_env

    app = make_app(
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        smtp_use_tls=False,
        rate_limit_overrides=GENEROUS_TEST_LIMITS,
    )
    pool = run_pool(app, threads=2)
    api = ApiClient(app.test_client())
    account, resume_id = applicant(api)
    application = prepared(api, account, email_posting(app, account.id), resume_id)
    pool.stop(grace_seconds=2)  # from here on worker processes send it
    smtp_server.reply_delays = [1.0]  # time to lock the job's row while the mail goes out
    job_id = submit(api, account, application["id"]).get_json()["submission_job_id"]
    env = worker_env(
        tmp_path,
        ENCRYPTION_KEY=app.config["SETTINGS"].encryption_key,  # it reads the profile
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_server.port),
        SMTP_USE_TLS="false",
    )
    status_path = f"/api/jobs/{job_id}/status"

    def job_status():
        return api.get(status_path, headers=account.headers).get_json()

    dba = create_engine(TEST_DATABASE_URL)
    try:
        with dba.connect() as lock:
            doomed = worker_processes(env)
            wait_for(lambda: job_status()["status"] == "running", timeout=30, interval=0.25)
            # Hold the job's row: the handler runs to its end (the mail is sent, the
            # application marked submitted), then its outcome's write waits here.
            lock.execute(text("SELECT id FROM jobs WHERE id = :id FOR UPDATE"), {"id": job_id})
            waiting = text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE 'UPDATE jobs SET%' AND datname = current_database()"
            )

            def outcome_waits() -> bool:
                with dba.connect() as watch:  # a new snapshot of the activity each time
                    return watch.execute(waiting).scalar() == 1

            wait_for(outcome_waits, timeout=30)
            sent = api.get(f"/api/applications/{application['id']}", headers=account.headers)
            assert sent.get_json()["state"] == "submitted" and len(smtp_server.messages) == 1
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(timeout=10)
            lock.rollback()
    finally:
        dba.dispose()

    worker_processes(env)  # its reaper finds the lost lease; the job runs again
    # Four reads a second: a slow machine's polling stays under the user's 300 a minute.
    wait_for(lambda: job_status()["status"] in ("succeeded", "failed"), timeout=40, interval=0.25)
    final = job_status()
    assert final["status"] == "succeeded" and final["attempts"] == 1
    assert final["result"] == {"sent": True, "channel": "email", "outcome": "sent"}
    done = api.get(f"/api/applications/{application['id']}", headers=account.headers).get_json()
    assert [(s["outcome"], s["job_id"]) for s in done["submissions"]] == [("sent", job_id)]
    assert len(smtp_server.messages) == 1


def test_an_auto_run_cut_short_after_its_decision_spends_the_daily_allowance_once(
    apply_app, api, recruitee, redis_conn
):
    from sqlalchemy import create_engine, text

    from tests.conftest import TEST_DATABASE_URL

    account, resume_id = applicant(api)
    questions = [q for q in QUESTIONS if q["id"] != "104"]
    posting_id = recruitee_posting(apply_app, recruitee, account.id, questions=questions)
    dba = create_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT")
    killed = []

    def kill_the_package_write(connection, _cursor, statement, *_args):
        # The run spent the allowance and decided to send; the connection that would record
        # its package and decision dies (a failover): the run is cut short and runs again.
        if (
            threading.current_thread().name.startswith("job-worker")
            and statement.startswith("UPDATE applications SET")
            and "package" in statement
            and not killed
        ):
            killed.append(connection.connection.dbapi_connection.info.backend_pid)
            with dba.connect() as admin:
                admin.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": killed[0]})

    with apply_app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", kill_the_package_write)
    try:
        started = start(api, account, posting_id, resume_id, mode="auto").get_json()
        done = wait_state(
            api, account, started["application_id"], "submitted", "failed", timeout=60
        )
    finally:
        event.remove(engine, "before_cursor_execute", kill_the_package_write)
        dba.dispose()
    assert killed and done["state"] == "submitted"
    assert len(recruitee.candidates()) == 1
    spent = redis_conn.zcard(f"rate_limit:job_applications_per_user_per_day:{account.id}")
    assert spent == 1
