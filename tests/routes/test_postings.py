"""Posting search through the queue against the board stand-ins, and the posting routes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.agent.posting_search import deduplicate, rank, resume_profile
from server.agent.sources.base import NormalizedPosting, SearchQuery
from server.models.job import TERMINAL_STATUSES
from server.services import postings as posting_service
from tests.helpers import ApiClient, error_of
from tests.internal_service_stand_in import SECRET, InternalService
from tests.job_board_stand_ins import BOARDS, Listing, job_boards
from tests.queue_helpers import fetch_job, wait_for

RESUME_TEXT = b"""Ada Lovelace
Berlin, Germany
ada@example.com

Experience
Senior Backend Engineer, Analytical Engines GmbH, Berlin 2018 - Present
- Built REST APIs in Python with Django and PostgreSQL
- Ran Redis queues

Skills
Python, Django, PostgreSQL, Redis, Docker
"""
RECENT = datetime.now(UTC) - timedelta(days=1)
PYTHON_JOB = "<p>We use Python, Django &amp; PostgreSQL.</p>"


def listing(key, title="Senior Python Engineer", **fields) -> Listing:
    values = {"company": "Acme", "description_html": PYTHON_JOB, "posted_at": RECENT}
    values.update(fields)
    return Listing(key=key, title=title, **values)


@pytest.fixture
def boards():
    with job_boards() as running:
        running.add(
            "greenhouse",
            listing("101"),
            listing("102", "Office Manager", description_html="<p>Spreadsheets</p>"),
        )
        # The same job as Greenhouse's 101: same company, title and place.
        running.add("lever", listing("201", "Senior Python Engineer (m/w/d)"))
        running.add("ashby", listing("301", "Python Data Engineer", location="London, UK"))
        running.add("recruitee", listing("401", "Junior Python Developer"))
        running.add("workable", listing("501", "Python Platform Engineer"))
        running.add("smartrecruiters", listing("601", "Python Backend Engineer"))
        # One job on two remote boards, told apart by nothing but its apply URL.
        same_url = "https://globex.example/careers/77"
        running.add(
            "remoteok",
            listing(
                "701", "Python Backend Developer", company="Globex", remote=True, apply_url=same_url
            ),
        )
        running.add(
            "remotive",
            listing(
                "801",
                "Backend Developer (Python)",
                company="Globex Inc",
                remote=True,
                apply_url=same_url,
            ),
        )
        running.add("arbeitnow", listing("901", "Python Entwickler", location="Munich, Germany"))
        yield running


@pytest.fixture
def search_app(make_app, boards):
    def build(**overrides):
        app = make_app(
            **boards.settings_overrides(),
            job_search_companies={board: ["acme"] for board in BOARDS[:6]},
            job_search_retry_max_seconds=0.05,
            **overrides,
        )
        return app, ApiClient(app.test_client())

    return build


def run_search(app, client, user, run_pool, payload) -> dict:
    response = client.post("/api/postings/search", token=user.access_token, json=payload)
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert (
        response.headers["Location"] == body["status_url"] == f"/api/jobs/{body['job_id']}/status"
    )
    run_pool(app, threads=1)
    with app.app_context():
        wait_for(lambda: fetch_job(body["job_id"]).status in TERMINAL_STATUSES, timeout=30)
    status = client.get(body["status_url"], token=user.access_token).get_json()
    assert status["status"] == "succeeded", status
    return {**status["result"], "job_id": body["job_id"]}


def postings_of(client, user, query="") -> dict:
    response = client.get(f"/api/postings{query}", token=user.access_token)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_a_search_across_every_board_stores_deduplicated_ranked_postings(
    search_app, run_pool, boards
):
    app, client = search_app()
    user = client.create_account()
    assert client.upload(user.access_token, "cv.txt", RESUME_TEXT).status_code == 201

    result = run_search(app, client, user, run_pool, {"keywords": ["python"]})

    assert [s["source"] for s in result["sources"]] == list(BOARDS)
    assert {s["source"]: (s["status"], s["count"]) for s in result["sources"]} == {
        "greenhouse": ("ok", 1),  # the office manager does not match "python"
        "lever": ("ok", 1),
        "ashby": ("ok", 1),
        "recruitee": ("ok", 1),
        "workable": ("ok", 1),
        "smartrecruiters": ("ok", 1),
        "remoteok": ("ok", 1),
        "remotive": ("ok", 1),
        "arbeitnow": ("ok", 1),
    }
    assert result["failed_sources"] == []
    assert (result["found"], result["unique"], result["stored"]) == (9, 7, 7)
    assert result["resume_id"] is not None

    page = postings_of(client, user)
    items = page["items"]
    assert page["meta"] == {"page": 1, "per_page": 20, "total": 7}
    scores = [item["score"] for item in items]
    assert scores == sorted(scores, reverse=True)
    assert [item["posting_id"] for item in result["top"]] == [item["id"] for item in items]
    # Greenhouse's listing has questions, so it is the one kept; Lever's is named beside it.
    acme = next(item for item in items if item["company"] == "Acme" and "Senior" in item["title"])
    assert acme["source"] == "greenhouse"
    assert [(o["source"], o["external_id"]) for o in acme["also_on"]] == [
        ("lever", "201-lever-0000-0000-000000000000")
    ]
    globex = [item for item in items if item["company"].startswith("Globex")]
    assert len(globex) == 1 and globex[0]["remote"] is True
    # The senior Berlin Python job fits the Berlin senior Python resume best.
    assert items[0]["id"] == acme["id"]
    assert acme["score_breakdown"]["skills"]["matched"] == ["Python", "Django", "PostgreSQL"]
    assert acme["score_breakdown"]["seniority"]["resume"] == "senior"

    detail = client.get(f"/api/postings/{acme['id']}", token=user.access_token).get_json()
    assert detail["description"] == "We use Python, Django & PostgreSQL."
    assert [q["id"] for q in detail["questions"]] == ["first_name", "question_4001"]
    assert detail["search_job_id"] == result["job_id"]


def test_a_board_down_and_a_board_answering_garbage_do_not_stop_the_others(
    search_app, run_pool, boards
):
    app, client = search_app()
    boards["ashby"].stop()
    boards["remotive"].mode = "garbage"
    user = client.create_account()

    result = run_search(app, client, user, run_pool, {"keywords": "python"})

    by_source = {s["source"]: s for s in result["sources"]}
    assert result["failed_sources"] == ["ashby", "remotive"]
    assert "unreachable" in by_source["ashby"]["errors"][0]
    assert by_source["remotive"]["errors"] == ["answered something that is not JSON"]
    assert all(by_source[b]["status"] == "ok" for b in set(BOARDS) - {"ashby", "remotive"})
    sources = {item["source"] for item in postings_of(client, user, "?per_page=100")["items"]}
    assert "ashby" not in sources and "remotive" not in sources
    assert {"greenhouse", "remoteok", "arbeitnow"} <= sources
    assert result["resume_id"] is None  # no resume: ranked on the keywords alone


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/latest/meta-data/iam/security-credentials/",
        "http://[::ffff:127.0.0.1]:{port}/latest/meta-data/",
        "http://[2002:7f00:1::]:{port}/latest/meta-data/",
    ],
)
def test_a_board_redirecting_to_an_internal_address_is_refused_and_stores_nothing(
    search_app, run_pool, boards, target
):
    internal = InternalService()
    try:
        app, client = search_app()
        boards["remotive"].mode = "redirect"
        boards["remotive"].redirect_to = target.format(port=internal.port)
        user = client.create_account()

        payload = {"keywords": "python", "sources": ["remotive", "arbeitnow"]}
        result = run_search(app, client, user, run_pool, payload)
    finally:
        internal.stop()

    assert internal.requests == []
    [remotive] = [s for s in result["sources"] if s["source"] == "remotive"]
    assert remotive["status"] == "failed" and remotive["errors"][0].startswith("refused")
    items = postings_of(client, user, "?per_page=100")["items"]
    assert {item["source"] for item in items} == {"arbeitnow"}
    assert SECRET not in str(items)


def test_searching_again_updates_the_stored_postings_instead_of_adding_copies(
    search_app, run_pool, boards
):
    app, client = search_app()
    user = client.create_account()
    payload = {"keywords": "python", "sources": ["greenhouse", "lever", "recruitee"]}
    first = run_search(app, client, user, run_pool, payload)
    ids = {item["id"] for item in postings_of(client, user)["items"]}
    boards["recruitee"].listings[0].title = "Junior Python Developer II"
    second = run_search(app, client, user, run_pool, payload)
    items = postings_of(client, user)["items"]
    assert first["stored"] == second["stored"] == 2 and {item["id"] for item in items} == ids
    assert "Junior Python Developer II" in {item["title"] for item in items}


def test_a_search_limited_by_payload_companies_and_sources_asks_only_those(
    search_app, run_pool, boards
):
    app, client = search_app()
    user = client.create_account()
    boards.add("workable", listing("502", "Python SRE", slug="initech", company="Initech"))
    result = run_search(
        app,
        client,
        user,
        run_pool,
        {"keywords": "python", "sources": ["workable"], "companies": {"workable": ["initech"]}},
    )
    assert [(s["source"], s["count"]) for s in result["sources"]] == [("workable", 1)]
    assert [item["company"] for item in postings_of(client, user)["items"]] == ["Initech"]
    assert all(board.count() == 0 for name, board in boards.boards.items() if name != "workable")


def test_an_apply_link_a_browser_must_not_follow_is_not_stored(make_app, run_pool):
    with job_boards() as running:
        running.add(
            "remotive",
            listing("1", remote=True, apply_url="javascript:alert(document.cookie)"),
            listing("2", "Python Developer", remote=True, apply_url=" JavaScript:alert(1)"),
            listing("3", "Python Engineer", remote=True, apply_url="data:text/html,<script>"),
            listing("4", "Python Lead", remote=True, apply_url="https://acme.example/jobs/4"),
            listing("5", "Python Coach", remote=True, apply_url="mailto:jobs@acme.example"),
        )
        app = make_app(**running.settings_overrides())
        client = ApiClient(app.test_client())
        user = client.create_account()
        run_search(app, client, user, run_pool, {"keywords": "python", "sources": ["remotive"]})

    items = postings_of(client, user)["items"]
    links = {item["title"]: item["apply_url"] for item in items}
    assert links == {
        "Senior Python Engineer": None,
        "Python Developer": None,
        "Python Engineer": None,
        "Python Lead": "https://acme.example/jobs/4",
        "Python Coach": "mailto:jobs@acme.example",
    }
    for item in items:
        detail = client.get(f"/api/postings/{item['id']}", token=user.access_token).get_json()
        assert "javascript" not in str(detail).lower() and "data:" not in str(detail)


def test_searches_are_limited_per_user_per_day(search_app):
    app, client = search_app(
        rate_limit_overrides={"RATE_LIMIT_JOB_SEARCH_PER_USER_PER_DAY": "2/86400"}
    )
    user, other = client.create_account(), client.create_account()
    body = {"keywords": "python"}
    assert (
        client.post("/api/postings/search", token=user.access_token, json=body).status_code == 202
    )
    submitted = client.post(
        "/api/jobs", token=user.access_token, json={"type": "job_search", "payload": body}
    )
    assert submitted.status_code == 202  # the same job through the generic route counts too
    refused = client.post("/api/postings/search", token=user.access_token, json=body)
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert error_of(refused)["details"]["limit"] == "job_search_per_user_per_day"
    assert (
        client.post("/api/postings/search", token=other.access_token, json=body).status_code == 202
    )
    jobs = client.get("/api/user/jobs?type=job_search", token=user.access_token).get_json()
    assert jobs["meta"]["total"] == 2


def test_a_retried_search_with_the_same_idempotency_key_spends_the_limit_once(search_app):
    app, client = search_app(
        rate_limit_overrides={"RATE_LIMIT_JOB_SEARCH_PER_USER_PER_DAY": "1/86400"}
    )
    user = client.create_account()
    body = {"keywords": "python"}

    def search(key):
        return client.post(
            "/api/postings/search",
            token=user.access_token,
            json=body,
            headers={"Idempotency-Key": key},
        )

    first, again = search("search-1"), search("search-1")
    assert first.status_code == again.status_code == 202
    assert first.get_json()["job_id"] == again.get_json()["job_id"]
    assert search("search-2").status_code == 429


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "keywords"),
        ({"keywords": "python", "sources": ["monster"]}, "sources.0"),
        ({"keywords": "python", "remote": "yes"}, "remote"),
        ({"keywords": "python", "companies": {"lever": ["../etc"]}}, "companies.lever.0"),
        ({"keywords": "python", "user_id": 1}, "user_id"),
    ],
)
def test_a_bad_search_is_refused_and_queues_nothing(client, body, field):
    user = client.create_account()
    response = client.post("/api/postings/search", token=user.access_token, json=body)
    assert response.status_code == 422
    detail = error_of(response)["details"]["json"]
    for part in field.split("."):
        detail = detail[part]
    assert detail
    jobs = client.get("/api/user/jobs", token=user.access_token).get_json()
    assert jobs["meta"]["total"] == 0


# --- the posting routes, on postings stored by the search's own store ------------------------


def store_postings(app, user_id: int, postings: list[NormalizedPosting]) -> dict:
    query = SearchQuery(keywords=("python",))
    now = datetime.now(UTC)
    with app.app_context():
        ranked = rank(deduplicate(postings), resume_profile(None), query, now=now)
        return posting_service.store(user_id=user_id, job_id="manual", candidates=ranked)


def stored(source, external_id, title, **fields) -> NormalizedPosting:
    values = {"company": "Acme", "location": "Berlin", "description": "Python", "posted_at": RECENT}
    values.update(fields)
    return NormalizedPosting(source=source, external_id=external_id, title=title, **values)


@pytest.fixture
def three_postings(app, client):
    owner = client.create_account()
    ids = store_postings(
        app,
        owner.id,
        [
            stored("lever", "a", "Python Engineer"),
            stored("ashby", "b", "Python Developer", remote=True, company="Globex"),
            stored("lever", "c", "Office Manager", description="Spreadsheets"),
        ],
    )
    return owner, ids


def test_postings_are_filtered_by_source_remote_score_and_words(client, three_postings):
    owner, ids = three_postings
    every = postings_of(client, owner)["items"]
    assert len(every) == 3 and every[-1]["title"] == "Office Manager"
    lever = postings_of(client, owner, "?source=lever")["items"]
    assert {item["external_id"] for item in lever} == {"a", "c"}
    remote = postings_of(client, owner, "?remote=true")["items"]
    assert [item["external_id"] for item in remote] == ["b"]
    assert len(postings_of(client, owner, "?remote=false")["items"]) == 2
    threshold = every[1]["score"]
    high = postings_of(client, owner, f"?min_score={threshold}")["items"]
    assert [item["id"] for item in high] == [item["id"] for item in every[:2]]
    assert [i["company"] for i in postings_of(client, owner, "?q=GLOBEX")["items"]] == ["Globex"]
    assert (
        postings_of(client, owner, "?q=100%25")["items"] == []
    )  # % is a character, not a wildcard
    page = postings_of(client, owner, "?per_page=2&page=2")
    assert page["meta"] == {"page": 2, "per_page": 2, "total": 3}
    assert [item["id"] for item in page["items"]] == [every[2]["id"]]


@pytest.mark.parametrize(
    "query",
    [
        "?min_score=101",
        "?min_score=-1",
        "?min_score=high",
        "?source=monster",
        "?remote=maybe",
        "?page=0",
        "?per_page=1000",
        "?q=",
        "?colour=red",
    ],
)
def test_bad_posting_filters_are_refused(client, three_postings, query):
    owner, _ids = three_postings
    response = client.get(f"/api/postings{query}", token=owner.access_token)
    assert response.status_code == 422, response.get_json()
    assert error_of(response)["code"] == "validation_error"


def test_a_posting_is_shown_to_its_owner_only(client, three_postings):
    owner, ids = three_postings
    posting_id = ids[("lever", "a")]
    mine = client.get(f"/api/postings/{posting_id}", token=owner.access_token)
    assert mine.status_code == 200 and mine.get_json()["description"] == "Python"
    stranger = client.create_account()
    theirs = client.get(f"/api/postings/{posting_id}", token=stranger.access_token)
    assert theirs.status_code == 404 and error_of(theirs)["code"] == "not_found"
    assert postings_of(client, stranger)["items"] == []
    for missing in (999_999, 2**31, 10**30):
        response = client.get(f"/api/postings/{missing}", token=owner.access_token)
        assert response.status_code == 404
    assert client.get("/api/postings").status_code == 401


def test_a_search_whose_every_board_fails_is_retried_then_fails_naming_them(
    search_app, run_pool, boards
):
    app, client = search_app(job_queue_retry_base_seconds=0, job_queue_retry_max_seconds=0)
    for name in ("greenhouse", "remoteok"):
        boards[name].mode = "error"
    user = client.create_account()
    body = {"keywords": "python", "sources": ["greenhouse", "remoteok"]}
    submitted = client.post("/api/postings/search", token=user.access_token, json=body)
    job_id = submitted.get_json()["job_id"]
    run_pool(app, threads=1)
    with app.app_context():
        job = wait_for(
            lambda: (row := fetch_job(job_id)).status in TERMINAL_STATUSES and row, timeout=30
        )
    assert job.status == "failed" and job.attempts == 3
    assert job.error == "every job board failed: greenhouse, remoteok (after 3 attempts)"
    assert postings_of(client, user)["items"] == []
