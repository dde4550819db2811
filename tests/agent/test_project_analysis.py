"""Project analysis: `POST /api/projects/analyze` ranks every project for a job, on both
engines (Gemini through the real google-genai client against the local stand-in)."""

from __future__ import annotations

import json

import pytest

from server import rate_limiter
from server.core.extensions import db
from tests.gemini_stand_in import GeminiStandIn
from tests.helpers import ApiClient, error_of
from tests.queue_helpers import wait_for

JOB = (
    "We are hiring a Backend Engineer.\n"
    "Requirements:\n"
    "- Python and Django\n"
    "- PostgreSQL\n"
    "- Docker\n"
    "Nice to have: Kubernetes"
)
RELEVANT = {
    "name": "Order API",
    "description": "A Django REST service on PostgreSQL, shipped in Docker containers",
    "technologies": ["Python", "Django", "PostgreSQL", "Docker"],
    "highlights": ["Served 2k requests a second"],
    "start_date": "2024-01",
}
IRRELEVANT = {
    "name": "Watercolour portfolio",
    "description": "Paintings of the seaside, shown at a local gallery",
    "technologies": ["Photoshop"],
    "end_date": "2015",
}


def _finished(client, account, job_id):
    def done():
        status = client.get(f"/api/jobs/{job_id}/status", headers=account.headers).get_json()
        return status if status["status"] in ("succeeded", "failed") else None

    return wait_for(done, timeout=30)


def _analyse(client, account, payload=None):
    response = client.post(
        "/api/projects/analyze", json=payload or {"job_description": JOB}, headers=account.headers
    )
    assert response.status_code == 202, response.get_json()
    assert response.headers["Location"] == response.get_json()["status_url"]
    return _finished(client, account, response.get_json()["job_id"])


def _add_projects(client, account):
    ids = {}
    for project in (IRRELEVANT, RELEVANT):
        created = client.post("/api/user/projects", json=project, headers=account.headers)
        ids[project["name"]] = created.get_json()["id"]
    return ids


def test_the_local_engine_ranks_the_relevant_project_first_with_reasons(client, app, run_pool):
    account = client.create_account()
    ids = _add_projects(client, account)
    run_pool(app, threads=1)
    status = _analyse(client, account)
    assert status["status"] == "succeeded", status["error"]
    result = status["result"]
    assert result["engine"] == "local"
    first, second = result["projects"]
    assert (first["project_id"], second["project_id"]) == (
        ids["Order API"],
        ids["Watercolour portfolio"],
    )
    assert first["score"] > second["score"]
    assert first["score"] == sum(first["breakdown"].values())
    assert {"Python", "Django", "PostgreSQL", "Docker"} <= set(first["matched_keywords"])
    assert "Kubernetes" in first["missing_keywords"]
    assert any("Django" in reason for reason in first["reasons"])
    assert second["reasons"][0] == "shows none of the job's keywords"
    assert (first["recommendation"], second["recommendation"]) == ("feature", "omit")
    assert result["feature"] == [ids["Order API"]]


def test_a_project_not_on_the_resume_is_suggested_in_place_of_a_weaker_one(client, app, run_pool):
    account = client.create_account()
    ids = _add_projects(client, account)
    resume = "Ada Lovelace\n\nPROJECTS\nWatercolour portfolio\n- Paintings of the seaside\n"
    uploaded = client.upload_parsed(account.access_token, "cv.txt", resume.encode())
    assert [p["name"] for p in uploaded.get_json()["parsed"]["projects"]] == [
        "Watercolour portfolio"
    ]
    run_pool(app, threads=1)
    result = _analyse(client, account)["result"]
    assert result["swap"][0]["add"] == ids["Order API"]
    assert result["swap"][0]["remove"] == ids["Watercolour portfolio"]
    by_id = {p["project_id"]: p for p in result["projects"]}
    assert by_id[ids["Watercolour portfolio"]]["on_resume"] is True


def test_the_analysis_payload_needs_exactly_one_target(client):
    account = client.create_account()
    both = {"job_description": JOB, "posting_id": 1}
    for payload in ({}, both):
        response = client.post("/api/projects/analyze", json=payload, headers=account.headers)
        assert response.status_code == 422
        assert "exactly one of job_description and posting_id" in error_of(response)["message"]


def test_project_analyses_are_capped_per_user_per_day(make_app):
    app = make_app(rate_limit_overrides={"RATE_LIMIT_PROJECT_ANALYSIS_PER_USER_PER_DAY": "2/86400"})
    client = ApiClient(app.test_client())
    account, other = client.create_account(), client.create_account()
    answers = [
        client.post("/api/projects/analyze", json={"job_description": JOB}, headers=account.headers)
        for _ in range(3)
    ]
    through_jobs = client.post(
        "/api/jobs",
        json={"type": "project_analysis", "payload": {"job_description": JOB}},
        headers=account.headers,
    )
    others = client.post(
        "/api/projects/analyze", json={"job_description": JOB}, headers=other.headers
    )

    assert [a.status_code for a in answers] == [202, 202, 429]
    assert error_of(answers[2])["details"]["limit"] == "project_analysis_per_user_per_day"
    assert int(answers[2].headers["Retry-After"]) > 0
    assert through_jobs.status_code == 429
    assert others.status_code == 202  # another user's own allowance


@pytest.fixture
def stand_in():
    server = GeminiStandIn(api_key="test-key").start()
    yield server
    server.stop()


def _rank_by_keywords(body):
    """Score each candidate by how many of the job's technologies its text names."""
    prompt = json.loads(body["contents"][0]["parts"][0]["text"])
    rankings = []
    for candidate in prompt["candidates"]:
        hits = [w for w in ("Django", "PostgreSQL", "Docker") if w in candidate["text"]]
        rankings.append(
            {
                "id": candidate["id"],
                "score": 30 * len(hits),
                "matched_keywords": hits,
                "missing_keywords": [],
                "reason": f"names {len(hits)} of the job's technologies",
            }
        )
    return {"rankings": rankings}


def test_gemini_reranks_the_projects_through_the_quota(make_app, stand_in, run_pool):
    app = make_app(
        google_api_key="test-key",
        gemini_model="gemini-test",
        gemini_base_url=stand_in.base_url,
        gemini_timeout_seconds=5.0,
    )
    stand_in.answer = _rank_by_keywords
    client = ApiClient(app.test_client())
    account = client.create_account()
    ids = _add_projects(client, account)
    run_pool(app, threads=1)
    status = _analyse(client, account)
    assert status["status"] == "succeeded", status["error"]
    result = status["result"]
    assert (result["engine"], result["model"]) == ("gemini", "gemini-test")
    first, second = result["projects"]
    assert first["project_id"] == ids["Order API"] and first["score"] == 90
    assert first["engine_score"] == 90 and first["local_score"] > second["local_score"]
    assert first["reasons"][0] == "gemini: names 3 of the job's technologies"
    assert second["score"] == 0
    [request] = stand_in.requests
    assert request["path"] == "/v1beta/models/gemini-test:generateContent"
    assert "Watercolour portfolio" in request["body"]["contents"][0]["parts"][0]["text"]
    with app.app_context():
        used = rate_limiter.gemini_quota_status()["gemini_requests_per_minute"]["used"]
    assert used == 1


def test_a_posting_is_analysed_by_id_and_only_the_owners(client, app, run_pool):
    from server.models import Posting

    account, other = client.create_account(), client.create_account()
    ids = _add_projects(client, account)
    posting = Posting(
        user_id=account.id,
        source="lever",
        external_id="x1",
        company="Acme",
        title="Backend Engineer",
        description=JOB,
        dedupe_key="k" * 64,
        questions=[],
    )
    db.session.add(posting)
    db.session.commit()
    posting_id = posting.id
    refused = client.post(
        "/api/projects/analyze", json={"posting_id": posting_id}, headers=other.headers
    )
    assert refused.status_code == 404 and error_of(refused)["details"]["resource"] == "posting"
    run_pool(app, threads=1)
    result = _analyse(client, account, {"posting_id": posting_id})["result"]
    assert result["projects"][0]["project_id"] == ids["Order API"]
    assert result["job"]["title"] == "Backend Engineer"


def _upload(client, account, name, text):
    return client.upload_parsed(account.access_token, name, text.encode()).get_json()["id"]


def test_the_analysis_compares_the_resume_it_names_not_the_newest(client, app, run_pool):
    account = client.create_account()
    ids = _add_projects(client, account)
    older = _upload(
        client,
        account,
        "with-projects.txt",
        "Ada Lovelace\n\nPROJECTS\nWatercolour portfolio\n- Paintings of the seaside\n",
    )
    newest = _upload(client, account, "plain.txt", "Ada Lovelace\n\nSKILLS\nPython, Django\n")
    run_pool(app, threads=1)
    named = _analyse(client, account, {"job_description": JOB, "resume_id": older})["result"]
    assert named["resume_id"] == older
    by_id = {p["project_id"]: p for p in named["projects"]}
    assert by_id[ids["Watercolour portfolio"]]["on_resume"] is True
    assert named["swap"][0]["remove"] == ids["Watercolour portfolio"]
    default = _analyse(client, account)["result"]
    assert default["resume_id"] == newest
    assert not any(p["on_resume"] for p in default["projects"])
    assert default["swap"] == []


def test_someone_elses_resume_is_refused_when_submitted_and_when_run(client, app, run_pool):
    account, other = client.create_account(), client.create_account()
    theirs = _upload(client, other, "theirs.txt", "Grace Hopper\n\nPROJECTS\nCOBOL\n- A compiler\n")
    refused = client.post(
        "/api/projects/analyze",
        json={"job_description": JOB, "resume_id": theirs},
        headers=account.headers,
    )
    assert refused.status_code == 404 and error_of(refused)["details"]["resource"] == "resume"
    run_pool(app, threads=1)
    # POST /api/jobs checks the payload's shape only: the job itself refuses the resume.
    submitted = client.post(
        "/api/jobs",
        json={
            "type": "project_analysis",
            "payload": {"job_description": JOB, "resume_id": theirs},
        },
        headers=account.headers,
    )
    assert submitted.status_code == 202, submitted.get_json()
    status = _finished(client, account, submitted.get_json()["job_id"])
    assert status["status"] == "failed"
    assert "resume" in status["error"].lower() and "Grace" not in status["error"]


def test_a_resume_id_that_names_no_resume_or_is_not_a_uuid_is_refused_clearly(client):
    account = client.create_account()
    missing = "00000000-0000-4000-8000-000000000000"
    absent = client.post(
        "/api/projects/analyze",
        json={"job_description": JOB, "resume_id": missing},
        headers=account.headers,
    )
    assert absent.status_code == 404
    assert error_of(absent)["details"]["resource"] == "resume"
    assert "resume" in error_of(absent)["message"].lower()
    malformed = client.post(
        "/api/projects/analyze",
        json={"job_description": JOB, "resume_id": "newest"},
        headers=account.headers,
    )
    assert malformed.status_code == 422
    assert "resume_id" in json.dumps(error_of(malformed))
    assert client.get("/api/user/jobs", headers=account.headers).get_json()["items"] == []


def test_a_resume_still_being_parsed_is_waited_for_then_compared(client, app, run_pool):
    account = client.create_admin(app)  # an admin may ask for a higher priority
    ids = _add_projects(client, account)
    resume = "Ada Lovelace\n\nPROJECTS\nWatercolour portfolio\n- Paintings of the seaside\n"
    uploaded = client.upload(account.access_token, "cv.txt", resume.encode())
    assert uploaded.status_code == 202 and uploaded.get_json()["parse_status"] == "pending"
    resume_id = uploaded.get_json()["id"]
    # Asked for before any worker has parsed it, at a higher priority than the parse: the
    # analysis is claimed first, waits for the parse, then compares the resume it names.
    submitted = client.post(
        "/api/jobs",
        json={
            "type": "project_analysis",
            "payload": {"job_description": JOB, "resume_id": resume_id},
            "priority": "HIGH",
        },
        headers=account.headers,
    )
    assert submitted.status_code == 202, submitted.get_json()
    run_pool(app, threads=1)
    status = _finished(client, account, submitted.get_json()["job_id"])
    assert status["status"] == "succeeded", status["error"]
    assert status["result"]["resume_id"] == resume_id
    by_id = {p["project_id"]: p for p in status["result"]["projects"]}
    assert by_id[ids["Watercolour portfolio"]]["on_resume"] is True


def test_a_resume_that_could_not_be_parsed_fails_the_analysis_saying_why(client, app, run_pool):
    from fpdf import FPDF

    account = client.create_account()
    blank = FPDF()
    blank.add_page()
    unreadable = client.upload_parsed(account.access_token, "blank.pdf", bytes(blank.output()))
    assert unreadable.get_json()["parse_status"] == "failed"
    run_pool(app, threads=1)
    status = _analyse(
        client, account, {"job_description": JOB, "resume_id": unreadable.get_json()["id"]}
    )
    assert status["status"] == "failed"
    assert "could not be parsed" in status["error"]
