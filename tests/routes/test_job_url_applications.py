"""Applications to a job URL: the job's page (a stand-in on 127.0.0.1) is read for its title,
company and description; what neither the user nor the page says is asked for, never made up."""

from __future__ import annotations

import pytest

from tests.helpers import GENEROUS_TEST_LIMITS, ApiClient, error_of
from tests.internal_service_stand_in import InternalService
from tests.job_page_stand_in import JobPages, json_ld_page
from tests.routes.test_applications import applicant, make_posting, wait_state

PLACEHOLDERS = ("your company", "this role", "hiring team ...", "None", "the advertised")
POSTING = {
    "title": "Platform Engineer",
    "hiringOrganization": {"@type": "Organization", "name": "Initrode"},
    "description": "<p>Build Python and Django services on PostgreSQL.</p>"
    "<ul><li>Docker</li><li>AWS</li></ul>",
}


@pytest.fixture
def pages():
    server = JobPages()
    yield server
    server.stop()


@pytest.fixture
def url_app(make_app, pages):
    return make_app(
        outbound_allow_loopback_ports=(pages.port,),
        rate_limit_overrides=GENEROUS_TEST_LIMITS,
    )


@pytest.fixture
def api(url_app, run_pool) -> ApiClient:
    run_pool(url_app, threads=2)
    return ApiClient(url_app.test_client())


def apply_to(api, account, resume_id, job_url, **details):
    body = {"job_url": job_url, "resume_id": resume_id, **details}
    response = api.post("/api/applications", json=body, headers=account.headers)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["application_id"]


def settled(api, account, application_id):
    return wait_state(api, account, application_id, "ready_for_review", "needs_details", "failed")


def assert_letter_names(application, title, company):
    letter = application["package"]["cover_letter"]
    assert title in letter and company in letter, letter
    for placeholder in PLACEHOLDERS:
        assert placeholder not in letter, (placeholder, letter)


def test_the_jobs_page_json_ld_gives_the_title_company_and_description(api, pages):
    account, resume_id = applicant(api)
    url = pages.html("/jobs/42", json_ld_page(POSTING))

    application = settled(api, account, apply_to(api, account, resume_id, url))

    assert application["state"] == "ready_for_review", application["error"]
    assert (application["title"], application["company"]) == ("Platform Engineer", "Initrode")
    assert application["job_description"].startswith("Build Python and Django services")
    assert_letter_names(application, "Platform Engineer", "Initrode")
    assert application["package"]["tailored_resume"] is not None  # tailored to the page's text
    assert application["missing_details"] == []


def test_a_page_without_json_ld_is_read_from_its_tags(api, pages):
    account, resume_id = applicant(api)
    url = pages.html(
        "/careers/sre",
        '<html><head><meta property="og:title" content="Site Reliability Engineer">'
        '<meta property="og:site_name" content="Umbrella"></head>'
        "<body><main><p>Run Python services on AWS.</p></main></body></html>",
    )
    application = settled(api, account, apply_to(api, account, resume_id, url))
    assert application["state"] == "ready_for_review", application["error"]
    assert_letter_names(application, "Site Reliability Engineer", "Umbrella")


def test_details_given_with_the_request_are_used_and_win_over_the_page(api, pages):
    account, resume_id = applicant(api)
    url = pages.html("/jobs/7", json_ld_page(POSTING))
    application_id = apply_to(
        api,
        account,
        resume_id,
        url,
        title="Staff\nEngineer",
        company="Hooli",
        job_description="Python and PostgreSQL at scale.",
    )
    application = settled(api, account, application_id)
    assert application["state"] == "ready_for_review", application["error"]
    assert (application["title"], application["company"]) == ("Staff Engineer", "Hooli")
    assert_letter_names(application, "Staff Engineer", "Hooli")
    assert pages.requests == []  # nothing was missing: the page was not fetched


def test_a_page_that_says_neither_waits_for_the_details_then_patch_prepares_it(api, pages):
    account, resume_id = applicant(api)
    url = pages.html("/jobs/blank", "<html><body><p>Apply today!</p></body></html>")
    application_id = apply_to(api, account, resume_id, url)

    waiting = settled(api, account, application_id)
    assert waiting["state"] == "needs_details"
    assert waiting["missing_details"] == ["title", "company"]
    assert "title and company" in waiting["error"] and "PATCH" in waiting["error"]
    assert waiting["package"] == {} and waiting["next_states"] == ["withdrawn"]
    path = f"/api/applications/{application_id}"
    for channel in ("manual", "email"):
        body = {"channel": channel, "email": "jobs@initrode.example"}
        marked = api.post(f"{path}/submit", json=body, headers=account.headers)
        assert marked.status_code == 409, channel
    assert api.get(path, headers=account.headers).get_json()["state"] == "needs_details"

    half = api.request("PATCH", path, json={"title": "Platform Engineer"}, headers=account.headers)
    assert half.status_code == 200, half.get_json()
    assert half.get_json()["state"] == "needs_details"
    assert half.get_json()["missing_details"] == ["company"]
    given = api.request("PATCH", path, json={"company": " Initrode "}, headers=account.headers)
    assert given.status_code == 200, given.get_json()
    assert given.get_json()["state"] != "needs_details"  # saved, or already being prepared
    assert given.get_json()["job_id"] and given.get_json()["missing_details"] == []

    prepared = wait_state(api, account, application_id, "ready_for_review", "failed")
    assert prepared["state"] == "ready_for_review", prepared["error"]
    assert_letter_names(prepared, "Platform Engineer", "Initrode")
    assert prepared["error"] is None


def test_applying_again_with_the_details_prepares_a_waiting_application(api, pages):
    account, resume_id = applicant(api)
    url = pages.html("/jobs/blank", "<html><body></body></html>")
    application_id = apply_to(api, account, resume_id, url)
    assert settled(api, account, application_id)["state"] == "needs_details"

    again = apply_to(api, account, resume_id, url, title="Data Engineer", company="Globex")

    assert again == application_id
    prepared = wait_state(api, account, application_id, "ready_for_review", "failed")
    assert_letter_names(prepared, "Data Engineer", "Globex")


@pytest.mark.parametrize("where", ["internal", "missing", "not_html"])
def test_a_page_that_cannot_be_read_waits_for_details_saying_why(api, pages, where):
    account, resume_id = applicant(api)
    internal = InternalService()  # a port nobody allowed: the guard refuses it
    try:
        url = {
            "internal": f"http://127.0.0.1:{internal.port}/latest/meta-data/",
            "missing": f"{pages.base}/jobs/gone",
            "not_html": pages.html("/jobs/file", b"%PDF-1.4", content_type="application/pdf"),
        }[where]
        application = settled(api, account, apply_to(api, account, resume_id, url))
    finally:
        internal.stop()
    assert application["state"] == "needs_details"
    assert "could not be read" in application["error"]
    assert internal.requests == []
    if where == "internal":
        assert "non-public address" in application["error"]


def test_job_details_are_refused_for_a_posting(url_app, api):
    account, resume_id = applicant(api)
    posting_id = make_posting(url_app, account.id, questions=[])
    body = {"posting_id": posting_id, "resume_id": resume_id, "title": "Other"}
    refused = api.post("/api/applications", json=body, headers=account.headers)
    assert refused.status_code == 422
    assert "title" in str(error_of(refused)["details"])
    assert api.get("/api/applications", headers=account.headers).get_json()["items"] == []


def test_job_details_cannot_be_patched_once_prepared_or_on_a_posting(url_app, api, pages):
    account, resume_id = applicant(api)
    url = pages.html("/jobs/42", json_ld_page(POSTING))
    ready = settled(api, account, apply_to(api, account, resume_id, url))
    path = f"/api/applications/{ready['id']}"
    late = api.request("PATCH", path, json={"company": "Other"}, headers=account.headers)
    assert late.status_code == 409 and error_of(late)["code"] == "invalid_transition"

    posting_id = make_posting(url_app, account.id, questions=[])
    started = api.post(
        "/api/applications",
        json={"posting_id": posting_id, "resume_id": resume_id},
        headers=account.headers,
    ).get_json()
    path = f"/api/applications/{started['application_id']}"
    refused = api.request("PATCH", path, json={"title": "Other"}, headers=account.headers)
    assert refused.status_code == 422
    blank = api.request("PATCH", path, json={"title": "  "}, headers=account.headers)
    assert blank.status_code == 422


def test_an_application_without_a_prepared_package_is_never_marked_sent(url_app, api, pages):
    """Even one that reached `ready_for_review` some other way (an older release's data)."""
    from server.core.extensions import db
    from server.models import Application

    account, resume_id = applicant(api)
    url = pages.html("/jobs/42", json_ld_page(POSTING))
    ready = settled(api, account, apply_to(api, account, resume_id, url))
    with url_app.app_context():
        db.session.get(Application, ready["id"]).package = {}
        db.session.commit()
    path = f"/api/applications/{ready['id']}"
    marked = api.post(f"{path}/submit", json={"channel": "manual"}, headers=account.headers)
    assert marked.status_code == 409
    after = api.get(path, headers=account.headers).get_json()
    assert after["state"] == "ready_for_review" and after["submissions"] == []
