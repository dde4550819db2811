"""The browser channel end to end: `job_application` fills the ATS stand-ins' forms in Debian's
Chromium (review and auto), submits once, and hands pages that need a person to the user."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from server import storage
from server.core.extensions import db
from server.models import ApplicationScreenshot, SavedAnswer, SideEffect, SideEffectState
from tests.ats_stand_ins import AtsStandIn
from tests.gemini_stand_in import GeminiStandIn
from tests.helpers import GENEROUS_TEST_LIMITS, ApiClient
from tests.lying_model import LyingModel
from tests.routes.test_applications import PROFILE, applicant, wait_state

JOB = "Backend Engineer. Python, Django and PostgreSQL; Docker on AWS."
SETTLED = ("ready_for_review", "needs_review", "needs_human", "submitted", "failed")
RELOCATING = {**PROFILE, "willing_to_relocate": True, "notice_period_days": 30}


@pytest.fixture(scope="module")
def forms():
    server = AtsStandIn(never_loads_seconds=15).start()
    yield server
    server.stop()


TRUE = "I built a Django REST API on PostgreSQL serving 2k requests a second."
LIE = "I led a team of 40 engineers at Google."
QUESTIONS = (
    "What is the most complex system you have built, and what was your part in it?",
    "Why do you want to work at Globex?",
)


@pytest.fixture
def model():
    stand_in = GeminiStandIn(api_key="test-key").start()
    lying = LyingModel(stand_in)
    lying.letter = (
        "Dear Acme hiring team,\n\nI built a Django REST API on PostgreSQL serving 2k requests "
        "a second.\n\nKind regards,\nAda Lovelace"
    )
    lying.answers = {question: f"{TRUE} {LIE}" for question in QUESTIONS}
    yield lying
    stand_in.stop()


def _app(make_app, forms, **settings):
    return make_app(
        outbound_allow_loopback_ports=(forms.port,),
        rate_limit_overrides=GENEROUS_TEST_LIMITS,
        browser_sandbox=False,  # the tests run as root
        browser_step_timeout_seconds=5,
        **settings,
    )


@pytest.fixture
def api(make_app, forms, run_pool) -> ApiClient:
    app = _app(make_app, forms)
    run_pool(app, threads=2)
    return ApiClient(app.test_client())


@pytest.fixture
def lying_api(make_app, forms, model, run_pool) -> ApiClient:
    """The engine is a model that lies (behind the Gemini stand-in)."""
    app = _app(
        make_app,
        forms,
        google_api_key="test-key",
        gemini_model="gemini-test",
        gemini_base_url=model.stand_in.base_url,
        gemini_timeout_seconds=5.0,
        llm_cache_ttl_seconds=0,
    )
    run_pool(app, threads=2)
    return ApiClient(app.test_client())


def apply(api, account, resume_id, url, *, mode="review"):
    body = {
        "job_url": url,
        "resume_id": resume_id,
        "title": "Backend Engineer",
        "company": "Acme",
        "job_description": JOB,
        "mode": mode,
    }
    response = api.post("/api/applications", json=body, headers=account.headers)
    assert response.status_code == 202, response.get_json()
    application_id = response.get_json()["application_id"]
    return wait_state(api, account, application_id, *SETTLED, timeout=60)


def person(api, profile=RELOCATING):
    account, resume_id = applicant(api)
    response = api.request("PATCH", "/api/user/profile", json=profile, headers=account.headers)
    assert response.status_code == 200, response.get_json()
    return account, resume_id


def fields_of(submission) -> dict[str, str]:
    return dict(submission["fields"])


def assert_resume_upload(upload):
    assert upload["filename"] == "Ada-Lovelace-Resume.pdf"
    assert upload["data"].startswith(b"%PDF-")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(upload["data"])).pages)
    assert "Ada Lovelace" in text and "Django" in text


def test_review_mode_fills_and_shows_the_form_and_sends_nothing_until_submitted(api, forms):
    account, resume_id = person(api)
    before = len(forms.received("greenhouse"))
    application = apply(api, account, resume_id, forms.url("greenhouse"))

    assert application["state"] == "ready_for_review", application["error"]
    assert len(forms.received("greenhouse")) == before  # nothing sent while in review
    browser = application["package"]["browser"]
    assert browser["ats"] == "greenhouse" and application["package"]["channel"] == "browser"
    values = {f["key"]: (f["value"], f["source"]) for f in browser["fields"]}
    assert values["job_application[first_name]"] == ("Ada", "account.name")
    assert values["job_application[gender]"] == ("Female", "profile.eeo")
    assert values["job_application[veteran_status]"] == (
        "I don't wish to answer",
        "decline_to_answer",
    )
    assert values["job_application[resume]"] == ("Ada-Lovelace-Resume.pdf", "tailored_resume")
    shot = browser["screenshots"][0]
    image = api.get(shot["url"], headers=account.headers)
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert image.data.startswith(b"\x89PNG")
    with api.raw.application.app_context():  # the image is in the file store, sealed
        stored = db.session.scalars(
            select(ApplicationScreenshot).where(
                ApplicationScreenshot.application_id == application["id"]
            )
        ).all()
        assert stored and all(row.png is None and row.storage == "local" for row in stored)
        assert storage.get_store().get(stored[0].storage_key) == image.data
    stranger, _ = applicant(api)
    assert api.get(shot["url"], headers=stranger.headers).status_code == 404

    response = api.post(
        f"/api/applications/{application['id']}/submit",
        json={"channel": "browser"},
        headers=account.headers,
    )
    assert response.status_code == 202, response.get_json()
    done = wait_state(api, account, application["id"], "submitted", "needs_human", timeout=60)
    assert done["state"] == "submitted", done["error"]
    [sent] = forms.received("greenhouse")[before:]
    got = fields_of(sent)
    assert got["job_application[first_name]"] == "Ada"
    assert got["job_application[last_name]"] == "Lovelace"
    assert got["job_application[email]"] == account.email
    assert got["job_application[phone]"] == PROFILE["phone"]
    assert got["job_application[answers_attributes][0][text_value]"] == PROFILE["links"][0]["url"]
    assert got["job_application[answers_attributes][1][boolean_value]"] == "1"  # authorised (GB)
    assert got["job_application[answers_attributes][2][boolean_value]"] == "0"  # no sponsorship
    assert (
        got["job_application[answers_attributes][3][text_value]"] == "90,000-110,000 GBP per year"
    )
    assert got["job_application[gender]"] == "2"  # Female: the user said so
    assert got["job_application[veteran_status]"] == "3"  # not given: declined
    letter = got["job_application[cover_letter_text]"].replace("\r\n", "\n")  # as forms post
    assert letter == done["package"]["cover_letter"]
    assert_resume_upload(sent["files"]["job_application[resume]"])
    kinds = [s["kind"] for s in done["package"]["browser"]["screenshots"]]
    assert kinds[-1] == "confirmation"
    assert done["submissions"][-1]["outcome"] == "sent"


EXPECTED = {
    "ashby": {
        "_systemfield_name": "Ada Lovelace",
        "_systemfield_phone": PROFILE["phone"],
        "8c5e2f1a-6d4b-4a3e-9f7c-2b1d0e9a8c7f": "no",
    },
    "workable": {
        "firstname": "Ada",
        "lastname": "Lovelace",
        "phone": PROFILE["phone"],
        "address": "London, UK",
        "QA_5820173": "false",
        "QA_5820175": "yes",
    },
    "smartrecruiters": {
        "first-name-input": "Ada",
        "last-name-input": "Lovelace",
        "phone-input": PROFILE["phone"],
        "linkedin-input": PROFILE["links"][0]["url"],
        "q-relocate": "Yes",
        "q-salary": "90,000-110,000 GBP per year",
    },
}
RESUME_FIELD = {
    "ashby": "_systemfield_resume",
    "workable": "resume",
    "smartrecruiters": "resume-file",
}


@pytest.mark.parametrize("ats", sorted(EXPECTED))
def test_auto_mode_submits_a_form_answered_from_the_profile_and_sees_the_confirmation(
    api, forms, ats
):
    account, resume_id = person(api)
    before = len(forms.received(ats))
    application = apply(api, account, resume_id, forms.url(ats), mode="auto")

    assert application["state"] == "submitted", application["error"]
    [sent] = forms.received(ats)[before:]
    got = fields_of(sent)
    for key, value in EXPECTED[ats].items():
        assert got[key] == value, (key, got)
    emails = [v for k, v in got.items() if "email" in k]
    assert emails and set(emails) == {account.email}
    assert_resume_upload(sent["files"][RESUME_FIELD[ats]])
    assert application["package"]["browser"]["screenshots"][-1]["kind"] == "confirmation"


@pytest.mark.parametrize("ats", ["lever", "greenhouse_new"])
def test_auto_mode_stops_for_review_when_the_engine_wrote_an_answer(lying_api, forms, ats):
    api = lying_api
    account, resume_id = person(api)
    before = len(forms.received(ats))
    application = apply(api, account, resume_id, forms.url(ats), mode="auto")

    assert application["state"] == "ready_for_review", application["error"]
    assert "the engine wrote answers to review first" in application["error"]
    assert forms.received(ats)[before:] == []
    written = [f for f in application["package"]["browser"]["fields"] if f["source"] == "engine"]
    assert [f["value"] for f in written] == [TRUE]  # the verifier left the lie out

    response = api.post(
        f"/api/applications/{application['id']}/submit",
        json={"channel": "browser"},
        headers=account.headers,
    )
    assert response.status_code == 202, response.get_json()
    done = wait_state(api, account, application["id"], "submitted", "needs_human", timeout=60)
    assert done["state"] == "submitted", done["error"]
    [sent] = forms.received(ats)[before:]
    got = fields_of(sent)
    assert got[written[0]["key"]] == TRUE  # what the user reviewed is what was sent
    assert all("Google" not in value for value in got.values())


def test_a_form_that_asks_for_the_cover_letter_as_a_file_gets_the_letter_as_a_pdf(api, forms):
    account, resume_id = person(api)
    application = apply(api, account, resume_id, forms.url("greenhouse_letter_file"), mode="auto")

    assert application["state"] == "submitted", application["error"]
    [sent] = forms.received("greenhouse_letter_file")
    assert_resume_upload(sent["files"]["job_application[resume]"])
    upload = sent["files"]["job_application[cover_letter]"]
    assert upload["filename"] == "Ada-Lovelace-Cover-Letter.pdf"
    assert upload["content_type"] == "application/pdf" and upload["data"].startswith(b"%PDF-")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(upload["data"])).pages)
    shown = " ".join(text.split())
    letter = application["package"]["cover_letter"]
    assert letter.strip() and " ".join(letter.split()) in shown
    assert shown.startswith("Ada Lovelace")  # the writer's name heads it, as on the resume
    fields = {f["key"]: f for f in application["package"]["browser"]["fields"]}
    letter_field = fields["job_application[cover_letter]"]
    assert (letter_field["value"], letter_field["source"]) == (
        "Ada-Lovelace-Cover-Letter.pdf",
        "package.cover_letter",
    )


HAND_OFFS = {
    "captcha": "CAPTCHA",
    "private_redirect": "may not be reached: http://10.0.0.7/internal/apply",
    "never_loads": "did not load within 5 s",
    "workday": "sign in or create an account",
    "upload_rejected": "refused the uploaded file",
    "closed": "posting is closed",
}


@pytest.mark.parametrize("case", sorted(HAND_OFFS))
def test_a_page_that_needs_a_person_is_handed_to_the_user_with_everything_prepared(
    api, forms, case
):
    account, resume_id = person(api)
    before = len(forms.submissions)
    application = apply(api, account, resume_id, forms.url(case), mode="auto")

    assert application["state"] == "needs_human"
    assert HAND_OFFS[case] in application["error"]
    handoff = application["package"]["handoff"]
    assert handoff["url"] and HAND_OFFS[case] in handoff["reason"]
    assert handoff["files"][0]["kind"] == "resume"
    assert handoff["cover_letter"] == application["package"]["cover_letter"]
    assert len(forms.submissions) == before
    assert "submitted" in application["next_states"]  # applied by hand


def test_unanswered_required_questions_wait_for_the_user_and_are_saved_for_next_time(api, forms):
    account, resume_id = person(api, profile={**PROFILE, "notice_period_days": 30})  # no relocation
    before = len(forms.received("smartrecruiters"))
    application = apply(api, account, resume_id, forms.url("smartrecruiters"), mode="auto")

    assert application["state"] == "needs_review"
    assert application["package"]["unanswered_required"] == ["Are you willing to relocate?"]
    assert forms.received("smartrecruiters")[before:] == []
    response = api.request(
        "PATCH",
        f"/api/applications/{application['id']}",
        json={"answers": {"form:q-relocate": "No"}},
        headers=account.headers,
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["state"] == "ready_for_review"
    with api.raw.application.app_context():
        saved = db.session.scalar(
            select(SavedAnswer.answer).where(SavedAnswer.label_key == "are you willing to relocate")
        )
    assert saved == "No"

    # The next form that asks it is answered from the saved answer, and sent in auto mode.
    second = apply(api, account, resume_id, forms.url("workable"), mode="auto")
    assert second["state"] == "submitted", second["error"]
    assert fields_of(forms.received("workable")[-1])["QA_5820175"] == "no"
    relocate = [f for f in second["package"]["browser"]["fields"] if f["key"] == "QA_5820175"]
    assert relocate[0]["source"] == "saved_answer"


def test_a_run_that_died_after_clicking_submit_never_clicks_again(api, forms):
    account, resume_id = person(api)
    application = apply(api, account, resume_id, forms.url("workable"))
    assert application["state"] == "ready_for_review", application["error"]
    before = len(forms.received("workable"))
    with (
        api.raw.application.app_context()
    ):  # what a worker killed right after the click leaves behind
        db.session.add(
            SideEffect(
                key=f"application:{application['id']}:browser",
                job_id="a-dead-worker",
                state=SideEffectState.STARTED.value,
            )
        )
        db.session.commit()

    response = api.post(
        f"/api/applications/{application['id']}/submit",
        json={"channel": "browser"},
        headers=account.headers,
    )
    assert response.status_code == 202, response.get_json()
    done = wait_state(api, account, application["id"], "submitted_unconfirmed", "submitted")
    assert done["state"] == "submitted_unconfirmed"
    assert "check your email for Workable's confirmation" in done["error"]
    assert forms.received("workable")[before:] == []
    assert set(done["next_states"]) >= {"submitted", "withdrawn"}
