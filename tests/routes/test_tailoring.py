"""Resume tailoring through the API and the queue: local engine, Gemini stand-in, Mimikree."""

from __future__ import annotations

import io
import json

import pytest

from server import rate_limiter
from tests.gemini_stand_in import GeminiStandIn
from tests.helpers import GENEROUS_TEST_LIMITS, ApiClient, downloaded_text, error_of
from tests.mimikree_stand_in import MimikreeStandIn
from tests.queue_helpers import fetch_job, wait_for
from tests.tailoring_samples import (
    FAITHFUL_EDITS,
    INVENTED_EDITS,
    JOB_DESCRIPTION,
    RESUME_TEXT,
    edit,
    gemini_answers,
)


@pytest.fixture
def build(make_app):
    """An app (limits generous for everything but what a test sets) and its API client."""

    def make(**overrides):
        limits = {**GENEROUS_TEST_LIMITS, **overrides.pop("limits", {})}
        app = make_app(rate_limit_overrides=limits, **overrides)
        return app, ApiClient(app.test_client())

    return make


@pytest.fixture
def gemini():
    server = GeminiStandIn(api_key="test-key").start()
    server.answer = gemini_answers()
    yield server
    server.stop()


def gemini_settings(stand_in: GeminiStandIn) -> dict:
    return {
        "google_api_key": "test-key",
        "gemini_model": "gemini-test",
        "gemini_base_url": stand_in.base_url,
        "gemini_timeout_seconds": 5.0,
    }


def upload_resume(client: ApiClient, account) -> str:
    response = client.upload_parsed(account.access_token, "jane.txt", RESUME_TEXT.encode())
    return response.get_json()["id"]


def submit(client: ApiClient, account, resume_id: str, **extra):
    payload = {"resume_id": resume_id, "job_description": JOB_DESCRIPTION, **extra}
    return client.post(
        "/api/jobs",
        token=account.access_token,
        json={"type": "resume_tailoring", "payload": payload},
    )


def finished(app, job_id: str, timeout: float = 30.0):
    with app.app_context():
        return wait_for(
            lambda: (
                fetch_job(job_id).status in ("succeeded", "failed", "cancelled")
                and fetch_job(job_id)
            ),
            timeout=timeout,
        )


def tailor_once(app, client, account, resume_id, **extra):
    response = submit(client, account, resume_id, **extra)
    assert response.status_code == 202, response.get_json()
    job = finished(app, response.get_json()["job_id"])
    assert job.status == "succeeded", job.error
    return job


def test_a_resume_is_tailored_end_to_end_with_the_local_engine(build, run_pool):
    app, client = build(google_api_key=None)
    run_pool(app, threads=2)
    account = client.create_account()
    resume_id = upload_resume(client, account)

    job = tailor_once(
        app, client, account, resume_id, job_title="Backend Engineer", company="Initrode"
    )

    result = job.result
    assert result["engine"] == "local"
    tailored = result["tailored_resume"]
    assert tailored["contact"]["email"] == "jane@example.com"
    assert [e["employer"] for e in tailored["experience"]] == ["Acme Corp", "Globex"]
    # The person's own words, the bullets that show the job's keywords first.
    assert tailored["experience"][0]["bullets"] == [
        "Built Python APIs on Postgres serving 2M requests a day",
        "Reduced p99 latency by 40% with Redis caching",
        "Mentored 3 engineers",
    ]
    assert set(result["keywords"]) == {"present", "added_with_evidence", "missing"}
    assert "Kubernetes" in result["keywords"]["missing"]
    assert "Python" in result["keywords"]["present"]
    score = result["match_score"]
    assert 0 <= score["before"] <= score["after"] <= 100
    assert [part["part"] for part in score["breakdown"]] == [
        "requirements",
        "keywords",
        "prominence",
        "title",
        "focus",
    ]
    assert score["requirements_found"] == len(result["requirements"])
    assert result["dropped_claims"] == []
    assert {change["section"] for change in result["diff"]} >= {"summary", "skills"}

    listed = client.get("/api/user/tailored-resumes", token=account.access_token).get_json()
    assert listed["meta"]["total"] == 1
    [item] = listed["items"]
    assert item["id"] == result["tailored_resume_id"]
    assert (item["job_title"], item["company"], item["engine"]) == (
        "Backend Engineer",
        "Initrode",
        "local",
    )
    one = client.get(
        f"/api/user/tailored-resumes/{item['id']}", token=account.access_token
    ).get_json()
    assert one["tailored_resume"] == tailored
    assert one["source_resume_id"] == resume_id


def test_progress_is_reported_step_by_step(build, run_pool):
    app, client = build(google_api_key=None)
    account = client.create_account()
    resume_id = upload_resume(client, account)
    job_id = submit(client, account, resume_id).get_json()["job_id"]
    seen = []
    run_pool(app, threads=1)
    with app.app_context():

        def record():
            job = fetch_job(job_id)
            if job.progress_message and job.progress_message not in seen:
                seen.append(job.progress_message)
            return job.status == "succeeded"

        wait_for(record, timeout=30, interval=0.001)
    # The last step's message stays; earlier ones may pass between two polls.
    assert seen[-1] == "storing the tailored resume"


def test_downloads_show_the_same_content_in_every_format(build, run_pool):
    app, client = build(google_api_key=None)
    run_pool(app, threads=1)
    account = client.create_account()
    job = tailor_once(app, client, account, upload_resume(client, account))
    tailored_id = job.result["tailored_resume_id"]
    path = f"/api/user/tailored-resumes/{tailored_id}"

    markdown = client.get(f"{path}?format=md", token=account.access_token)
    word = client.get(f"{path}?format=docx", token=account.access_token)
    pdf = client.get(f"{path}?format=pdf", token=account.access_token)

    assert markdown.status_code == word.status_code == pdf.status_code == 200
    assert markdown.content_type.startswith("text/markdown")
    assert pdf.content_type == "application/pdf"
    assert "attachment" in word.headers["Content-Disposition"]
    summary = job.result["tailored_resume"]["summary"]
    for fmt, response in (("md", markdown), ("docx", word), ("pdf", pdf)):
        text = downloaded_text(fmt, response.data)
        assert "Acme Corp" in text
        assert summary.split(".")[0] in text


def users_docx() -> bytes:
    """The sample resume as a user's own Word document: A4, 20 mm sides, Georgia, a bold
    role line, a bold label before each skills line."""
    import docx as python_docx
    from docx.shared import Mm, Pt

    document = python_docx.Document()
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.left_margin = section.right_margin = Mm(20)
    document.styles["Normal"].font.name = "Georgia"
    document.styles["Normal"].font.size = Pt(10.5)
    name = document.add_paragraph().add_run("Jane Doe")
    name.bold, name.font.size = True, Pt(20)
    document.add_paragraph("jane@example.com | (555) 123-4567 | Austin, TX")
    document.add_heading("SUMMARY", level=1)
    document.add_paragraph("Backend engineer with 6 years building Python services.")
    document.add_heading("EXPERIENCE", level=1)
    document.add_paragraph().add_run(
        "Senior Software Engineer | Acme Corp | Austin, TX"
    ).bold = True
    document.add_paragraph("Jan 2021 - Present")
    for bullet in (
        "Mentored 3 engineers",
        "Reduced p99 latency by 40% with Redis caching",
        "Built Python APIs on Postgres serving 2M requests a day",
    ):
        document.add_paragraph(bullet, style="List Bullet")
    document.add_heading("SKILLS", level=1)
    for label, items in (("Languages: ", "Go, SQL, Python"), ("Tools: ", "Redis, Docker, AWS")):
        line = document.add_paragraph()
        line.add_run(label).bold = True
        line.add_run(items)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_a_docx_source_downloads_as_the_users_own_document_with_only_the_changed_text(
    build, run_pool
):
    import docx as python_docx

    app, client = build(google_api_key=None)
    run_pool(app, threads=1)
    account = client.create_account()
    original = users_docx()
    uploaded = client.upload(account.access_token, "jane.docx", original)
    assert uploaded.status_code == 202, uploaded.get_json()
    job = tailor_once(app, client, account, uploaded.get_json()["id"])
    tailored = job.result["tailored_resume"]
    path = f"/api/user/tailored-resumes/{job.result['tailored_resume_id']}"

    response = client.get(f"{path}?format=docx", token=account.access_token)
    assert response.status_code == 200
    before = python_docx.Document(io.BytesIO(original))
    after = python_docx.Document(io.BytesIO(response.data))
    # The user's page, margins and styles.
    for name in ("page_width", "page_height", "left_margin", "right_margin", "top_margin"):
        assert getattr(after.sections[0], name) == getattr(before.sections[0], name), name
    assert after.styles["Normal"].font.name == "Georgia"
    assert [p.style.name for p in after.paragraphs] == [p.style.name for p in before.paragraphs]
    # The tailored content, in the user's runs.
    texts = [p.text for p in after.paragraphs]
    assert texts[3] == tailored["summary"] != before.paragraphs[3].text
    assert texts[7:10] == tailored["experience"][0]["bullets"]
    assert texts[7:10] != [p.text for p in before.paragraphs[7:10]]
    skills = after.paragraphs[11]
    assert [(run.text, run.bold) for run in skills.runs] == [
        ("Languages: ", True),
        (", ".join(tailored["skills"][0]["items"]), None),
    ]
    # Every paragraph the tailoring did not change is the user's, as it was.
    unchanged = {0, 1, 2, 4, 5, 6, 10}
    for index in unchanged:
        assert after.paragraphs[index]._p.xml == before.paragraphs[index]._p.xml, index

    # A template, asked for, renders instead; a PDF of a DOCX source uses one too.
    classic = client.get(f"{path}?format=docx&template=classic", token=account.access_token)
    assert python_docx.Document(io.BytesIO(classic.data)).styles["Normal"].font.name == "Arial"
    pdf = client.get(f"{path}?format=pdf", token=account.access_token)
    assert pdf.status_code == 200 and pdf.content_type == "application/pdf"


def test_the_download_template_is_chosen_per_request_and_checked(build, run_pool):
    app, client = build(google_api_key=None)
    run_pool(app, threads=1)
    account = client.create_account()
    job = tailor_once(app, client, account, upload_resume(client, account))
    path = f"/api/user/tailored-resumes/{job.result['tailored_resume_id']}"

    def get(query):
        return client.get(f"{path}?{query}", token=account.access_token)

    for fmt in ("pdf", "docx"):
        default, classic, compact = (
            get(f"format={fmt}"),
            get(f"format={fmt}&template=classic"),
            get(f"format={fmt}&template=compact"),
        )
        assert default.status_code == classic.status_code == compact.status_code == 200
        # Compact prints the role's place on the role's line.
        assert "Acme Corp · Austin, TX" in downloaded_text(fmt, compact.data)
        assert "Acme Corp · Austin, TX" not in downloaded_text(fmt, classic.data)
    assert downloaded_text("pdf", get("format=pdf").data) == downloaded_text(
        "pdf", get("format=pdf&template=classic").data
    )
    # The user's own document needs a DOCX source and a DOCX download; a text source has none.
    for query, problem in (
        ("format=docx&template=original", "not a DOCX"),
        ("format=pdf&template=original", "format=docx"),
        ("format=pdf&template=fancy", "template"),
    ):
        refused = get(query)
        assert refused.status_code == 422, query
        assert problem in json.dumps(error_of(refused)), (query, error_of(refused))


def test_a_download_named_in_any_script_has_a_header_http_can_carry(build, run_pool):
    app, client = build(google_api_key=None)
    run_pool(app, threads=1)
    account = client.create_account()
    text = RESUME_TEXT.replace("Jane Doe", "Łukasz Żółć", 1)
    uploaded = client.upload_parsed(account.access_token, "cv.txt", text.encode())
    job = tailor_once(app, client, account, uploaded.get_json()["id"])
    path = f"/api/user/tailored-resumes/{job.result['tailored_resume_id']}"

    for fmt in ("md", "docx", "pdf"):
        response = client.get(f"{path}?format={fmt}", token=account.access_token)
        assert response.status_code == 200
        disposition = response.headers["Content-Disposition"]
        disposition.encode("latin-1")  # a WSGI server sends nothing else (PEP 3333)
        assert disposition.startswith("attachment;")
        assert f"filename*=UTF-8''%C5%82ukasz-%C5%BC%C3%B3%C5%82%C4%87-tailored.{fmt}" in (
            disposition
        )
    markdown = client.get(f"{path}?format=md", token=account.access_token)
    assert markdown.content_type == "text/markdown; charset=utf-8"
    assert "Łukasz Żółć" in markdown.data.decode()


def test_someone_elses_tailored_resume_is_not_found(build, run_pool):
    app, client = build(google_api_key=None)
    run_pool(app, threads=1)
    owner, other = client.create_account(), client.create_account()
    job = tailor_once(app, client, owner, upload_resume(client, owner))
    path = f"/api/user/tailored-resumes/{job.result['tailored_resume_id']}"

    for fmt in ("json", "pdf"):
        response = client.get(f"{path}?format={fmt}", token=other.access_token)
        assert response.status_code == 404
        assert error_of(response)["details"]["resource"] == "tailored_resume"
    listed = client.get("/api/user/tailored-resumes", token=other.access_token).get_json()
    assert listed == {"items": [], "meta": {"page": 1, "per_page": 20, "total": 0}}


def test_an_unknown_download_format_is_refused_by_name(build):
    app, client = build(google_api_key=None)
    account = client.create_account()
    response = client.get(
        "/api/user/tailored-resumes/00000000-0000-4000-8000-000000000000?format=rtf",
        token=account.access_token,
    )
    assert response.status_code == 422
    assert "format" in error_of(response)["message"]


def test_someone_elses_resume_fails_the_job_and_stores_nothing(build, run_pool):
    app, client = build(google_api_key=None)
    run_pool(app, threads=1)
    owner, other = client.create_account(), client.create_account()
    resume_id = upload_resume(client, owner)
    job_id = submit(client, other, resume_id).get_json()["job_id"]
    job = finished(app, job_id)
    assert job.status == "failed" and "not found" in job.error
    listed = client.get("/api/user/tailored-resumes", token=other.access_token).get_json()
    assert listed["meta"]["total"] == 0


def test_the_daily_limit_is_charged_at_submission(build):
    app, client = build(limits={"RATE_LIMIT_RESUME_TAILORING_PER_USER_PER_DAY": "2/86400"})
    account = client.create_account()
    resume_id = upload_resume(client, account)
    first = client.post(
        "/api/jobs",
        token=account.access_token,
        json={
            "type": "resume_tailoring",
            "payload": {"resume_id": resume_id, "job_description": "Go"},
        },
        headers={"Idempotency-Key": "first"},
    )
    retried = client.post(
        "/api/jobs",
        token=account.access_token,
        json={
            "type": "resume_tailoring",
            "payload": {"resume_id": resume_id, "job_description": "Go"},
        },
        headers={"Idempotency-Key": "first"},
    )
    second = submit(client, account, resume_id)
    third = submit(client, account, resume_id)

    assert first.status_code == retried.status_code == second.status_code == 202
    assert retried.get_json()["job_id"] == first.get_json()["job_id"]  # not charged twice
    assert third.status_code == 429
    error = error_of(third)
    assert error["details"]["limit"] == "resume_tailoring_per_user_per_day"
    assert int(third.headers["Retry-After"]) > 0


def test_a_tailoring_asked_for_while_the_resume_is_parsed_waits_for_it_then_runs(build, run_pool):
    app, client = build()
    account = client.create_account()
    uploaded = client.upload(account.access_token, "jane.txt", RESUME_TEXT.encode())
    assert uploaded.get_json()["parse_status"] == "pending"
    job_id = submit(client, account, uploaded.get_json()["id"]).get_json()["job_id"]
    run_pool(app, threads=2)
    job = finished(app, job_id)
    assert job.status == "succeeded", job.error
    assert job.result["tailored_resume"]["contact"]["name"] == "Jane Doe"


def test_a_job_waits_for_a_free_tailoring_session(build, run_pool):
    app, client = build(limits={"RATE_LIMIT_CONCURRENT_TAILORING_SESSIONS": "0"})
    account = client.create_account()
    job_id = submit(client, account, upload_resume(client, account)).get_json()["job_id"]
    run_pool(app, threads=1)
    with app.app_context():
        waiting = wait_for(lambda: fetch_job(job_id).status == "scheduled" and fetch_job(job_id))
    assert waiting.attempts == 0
    assert "concurrent_tailoring_sessions" in waiting.progress_message


# --- Gemini ---------------------------------------------------------------------------------


def test_a_tailoring_with_gemini_makes_two_calls_and_a_repeat_makes_none(build, run_pool, gemini):
    app, client = build(**gemini_settings(gemini))
    run_pool(app, threads=1)
    account = client.create_account()
    resume_id = upload_resume(client, account)

    first = tailor_once(app, client, account, resume_id)
    assert len(gemini.requests) == 2
    second = tailor_once(app, client, account, resume_id)

    assert len(gemini.requests) == 2  # both answers came from the cache
    assert first.result["engine"] == second.result["engine"] == "gemini"
    assert (first.result["engine_calls"], second.result["engine_calls"]) == (2, 0)
    assert second.result["tailored_resume"] == first.result["tailored_resume"]
    assert second.result["tailored_resume_id"] != first.result["tailored_resume_id"]
    tailored = first.result["tailored_resume"]
    assert tailored["summary"] == FAITHFUL_EDITS["edits"][0]["text"]
    assert [p["name"] for p in tailored["projects"]] == ["Queue Lab"]
    with app.app_context():
        used = rate_limiter.gemini_quota_status()["gemini_requests_per_minute"]["used"]
    assert used == 2


def test_a_gemini_429_defers_the_job_pauses_the_quota_and_counts_no_attempt(
    build, run_pool, gemini
):
    app, client = build(**gemini_settings(gemini))
    gemini.fail_next("429", retry_delay="2s")
    account = client.create_account()
    job_id = submit(client, account, upload_resume(client, account)).get_json()["job_id"]
    run_pool(app, threads=1)
    with app.app_context():
        deferred = wait_for(lambda: fetch_job(job_id).status == "scheduled" and fetch_job(job_id))
        paused = rate_limiter.gemini_quota_status()
    assert deferred.attempts == 0 and deferred.error is None
    assert paused["pause_reason"] == "Gemini asked to retry in 2s"
    done = finished(app, job_id)
    assert (done.status, done.attempts) == ("succeeded", 1)
    assert len(gemini.requests) == 3  # the refused call, then one per task


def test_invented_claims_from_gemini_never_reach_the_output(build, run_pool, gemini):
    gemini.answer = gemini_answers(edits=INVENTED_EDITS)
    app, client = build(**gemini_settings(gemini))
    run_pool(app, threads=1)
    account = client.create_account()
    job = tailor_once(app, client, account, upload_resume(client, account))

    result = job.result
    tailored = result["tailored_resume"]
    everything = json.dumps(tailored)
    for invented in ("Initech", "PhD", "90%", "Kubernetes"):
        assert invented not in everything
    dropped = {(d["kind"], d["claim"]) for d in result["dropped_claims"]}
    assert ("employer", "Initech") in dropped
    assert ("degree", "PhD") in dropped
    assert ("number", "90%") in dropped
    assert ("skill", "Kubernetes") in dropped
    for claim in result["dropped_claims"]:
        assert claim["section"] and claim["text"] and claim["reason"]
    # What was true stays: the first sentence of the summary, the original 40%, and the
    # faithful rewrite.
    assert tailored["summary"] == "Backend engineer with 6 years building Python services."
    bullets = tailored["experience"][0]["bullets"]
    assert "Reduced p99 latency by 40% with Redis caching" in bullets
    assert "Built Python APIs on PostgreSQL serving 2M requests a day" in bullets
    assert "Kubernetes" in result["keywords"]["missing"]
    path = f"/api/user/tailored-resumes/{result['tailored_resume_id']}"
    for fmt in ("md", "docx", "pdf"):
        data = client.get(f"{path}?format={fmt}", token=account.access_token).data
        text = downloaded_text(fmt, data)
        assert "Acme Corp" in text
        for invented in ("Initech", "PhD", "90%", "Kubernetes"):
            assert invented not in text, (fmt, invented)


# --- Mimikree -------------------------------------------------------------------------------


@pytest.fixture
def mimikree():
    server = MimikreeStandIn().start()
    yield server
    server.stop()


def link_mimikree(client: ApiClient, account) -> None:
    response = client.put(
        "/api/user/credentials/mimikree",
        token=account.access_token,
        json={"username": "jane@example.com", "secret": "correct horse"},
    )
    assert response.status_code == 200, response.get_json()


def test_claims_in_look_alike_letters_or_number_words_never_reach_the_output(
    build, run_pool, gemini
):
    gemini.answer = gemini_answers(
        edits={
            "edits": [
                edit(
                    "summary",
                    "rewrite",
                    # Full-width letters, and a Cyrillic І opening "Initech".
                    text="Backend engineer with 6 years building Python services. "
                    "Previously at \uff28\uff4f\uff4f\uff4c\uff49 and \u0406nitech.",
                ),
                edit(
                    "experience",
                    "rewrite",
                    experience_index=0,
                    bullet_index=0,
                    text="Mentored thirty engineers",
                ),
                edit(
                    "experience",
                    "rewrite",
                    experience_index=0,
                    bullet_index=2,
                    text="Built Python APIs on Postgres serving millions of users",
                ),
            ]
        }
    )
    app, client = build(**gemini_settings(gemini))
    run_pool(app, threads=1)
    account = client.create_account()
    job = tailor_once(app, client, account, upload_resume(client, account))

    result = job.result
    everything = json.dumps(result["tailored_resume"], ensure_ascii=False)
    for invented in ("\uff28\uff4f", "Hooli", "\u0406nitech", "thirty", "millions"):
        assert invented not in everything
    dropped = {d["claim"] for d in result["dropped_claims"]}
    assert {"Hooli", "\u0406nitech", "thirty", "millions"} <= dropped
    assert result["tailored_resume"]["summary"] == (
        "Backend engineer with 6 years building Python services."
    )
    bullets = result["tailored_resume"]["experience"][0]["bullets"]
    assert bullets[0] == "Mentored 3 engineers"
    path = f"/api/user/tailored-resumes/{result['tailored_resume_id']}"
    markdown = client.get(f"{path}?format=md", token=account.access_token).data.decode()
    assert "Hooli" not in markdown and "thirty" not in markdown and "millions" not in markdown


def test_mimikree_answers_count_as_evidence_marked_as_theirs(build, run_pool, mimikree):
    mimikree.answers = lambda question: (
        "Yes: I ran our Kubernetes clusters at Acme Corp." if "Kubernetes" in question else "No."
    )
    app, client = build(
        google_api_key=None,
        mimikree_base_url=mimikree.base_url,
        outbound_allow_loopback_ports=(mimikree.port,),
    )
    run_pool(app, threads=1)
    account = client.create_account()
    link_mimikree(client, account)
    job = tailor_once(app, client, account, upload_resume(client, account))

    result = job.result
    assert "Kubernetes" in result["keywords"]["added_with_evidence"]
    assert "Kubernetes" in result["tailored_resume"]["summary"]
    [from_mimikree] = [e for e in result["evidence"] if e["source"] == "mimikree"]
    assert "Kubernetes" in from_mimikree["text"] and "Kubernetes" in from_mimikree["question"]
    assert result["mimikree"]["answered"] == 1
    assert result["match_score"]["after"] > result["match_score"]["before"]
    batches = [r for r in mimikree.requests if r["path"].endswith("batch-questions")]
    assert 1 <= len(batches[0]["body"]["questions"]) <= 20


@pytest.mark.parametrize("mode", ["down", "401"])
def test_mimikree_down_or_refusing_never_fails_a_tailoring(build, run_pool, mimikree, mode):
    mimikree.mode = mode
    app, client = build(
        google_api_key=None,
        mimikree_base_url=mimikree.base_url,
        outbound_allow_loopback_ports=(mimikree.port,),
    )
    run_pool(app, threads=1)
    account = client.create_account()
    link_mimikree(client, account)
    job = tailor_once(app, client, account, upload_resume(client, account))
    assert job.result["mimikree"]["status"] == "unavailable"
    assert "Kubernetes" in job.result["keywords"]["missing"]


def test_a_job_that_runs_again_returns_what_it_stored_and_calls_nothing(build, run_pool, gemini):
    from server.jobs.job_queue import ClaimedJob
    from server.models import TailoredResume
    from server.services import tailored_resumes
    from server.workers.job_handlers import JobContext

    app, client = build(**gemini_settings(gemini))
    run_pool(app, threads=1)
    account = client.create_account()
    job = tailor_once(app, client, account, upload_resume(client, account))
    calls = len(gemini.requests)

    # At-least-once delivery: the same job handed to a worker a second time.
    claimed = ClaimedJob(job.id, job.user_id, job.job_type, job.payload, job.priority, 2, "t")
    with app.app_context():
        again = tailored_resumes.tailor_for_job(JobContext(claimed, timeout_seconds=60))
        rows = db_count(TailoredResume)
    assert again == job.result
    assert len(gemini.requests) == calls
    assert rows == 1


def db_count(model) -> int:
    from sqlalchemy import func, select

    from server.core.extensions import db

    return db.session.scalar(select(func.count()).select_from(model))


def test_a_one_page_letter_pdf_comes_back_one_letter_page_with_its_new_summary_first(
    build, run_pool
):
    import docx as python_docx

    from tests import pdf_layout
    from tests.helpers import make_pdf

    app, client = build(google_api_key=None)
    run_pool(app, threads=1)
    account = client.create_account()
    source = make_pdf(
        "Jane Doe\njane@example.com | Austin, TX\n\nEXPERIENCE\n"
        "Senior Software Engineer | Acme Corp | Jan 2021 - Present\n"
        "- Built Python APIs on Postgres serving 2M requests a day\n"
        "- Reduced p99 latency by 40% with Redis caching\n"
        "- Organised the team's weekly demo\n\nSKILLS\nGo, Python, Redis",
        paper="Letter",
    )
    assert pdf_layout.page_size_mm(source) == (215.9, 279.4)
    uploaded = client.upload_parsed(account.access_token, "jane.pdf", source).get_json()
    assert uploaded["parsed"]["source"]["paper"] == "letter" and not uploaded["parsed"]["summary"]
    job = tailor_once(app, client, account, uploaded["id"])
    summary = job.result["tailored_resume"]["summary"]
    assert summary
    path = f"/api/user/tailored-resumes/{job.result['tailored_resume_id']}"

    pdf = client.get(f"{path}?format=pdf", token=account.access_token).data
    assert pdf_layout.page_count(pdf) == 1
    assert pdf_layout.page_size_mm(pdf) == (215.9, 279.4)
    printed = [line.text for line in pdf_layout.lines(pdf)]
    # The summary the tailoring added is read first, under a heading in the source's case.
    assert printed.index("SUMMARY") < printed.index("EXPERIENCE") < printed.index("SKILLS")
    assert printed[printed.index("SUMMARY") + 1] == summary
    word = client.get(f"{path}?format=docx", token=account.access_token).data
    section = python_docx.Document(io.BytesIO(word)).sections[0]
    assert (round(section.page_width.mm, 1), round(section.page_height.mm, 1)) == (215.9, 279.4)
