"""Each job-board source against its stand-in: the board's shape and quirks, normalised."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from server.agent.sources import SOURCES, SearchQuery, fetch_all, fetch_source
from server.agent.sources.base import (
    BoardClient,
    ClientOptions,
    NormalizedPosting,
    html_to_text,
    parse_timestamp,
    retry_after_seconds,
    salary_from_text,
)
from server.agent.sources.board import Board, OffsetPages
from tests.job_board_stand_ins import BOARDS, Listing, StandIn, generated_listings, job_boards

ANY = SearchQuery(keywords=("engineer",))
POSTED = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


@pytest.fixture
def boards():
    with job_boards() as running:
        yield running


@pytest.fixture
def board_settings(base_settings, boards):
    def build(**overrides):
        options = {"job_search_retry_max_seconds": 0.05, **overrides}
        return base_settings.replace(**boards.settings_overrides(), **options)

    return build


def python_job(**changes) -> Listing:
    fields = {
        "key": "101",
        "company": "Acme",
        "title": "Senior Python Engineer",
        "location": "Berlin, Germany",
        "description_html": "<p>Python &amp; PostgreSQL</p><script>alert(1)</script><ul><li>Redis</li></ul>",
        "posted_at": POSTED,
        "salary": (80_000, 100_000, "EUR"),
    }
    fields.update(changes)
    return Listing(**fields)


def fetch_one(source, settings, company="acme", query=ANY) -> list[NormalizedPosting]:
    postings, status = fetch_source(source, settings=settings, query=query, companies=[company])
    assert status.status == "ok", status.errors
    return postings


def test_every_board_has_a_source_module_named_as_in_the_settings():
    assert tuple(SOURCES) == BOARDS


@pytest.mark.parametrize("name", BOARDS)
def test_each_board_is_declared_under_its_name_with_a_mapping_of_its_raw_postings(
    name, boards, board_settings
):
    board = SOURCES[name]
    assert board.name == name
    boards.add(name, python_job())
    with BoardClient(ClientOptions.for_source(board_settings(), name)) as client:
        url = client.url(board.path.replace("{company}", "acme"), company="acme")
        first_page = board.paging.params(1, 0) if board.paging else {}
        answer = client.get_json(url, params={**board.params, **first_page})
    mapped = [board.to_posting(raw, "acme") for raw in board.postings_in(answer)]
    [posting] = [posting for posting in mapped if posting is not None]
    assert posting.source == name and posting.external_id
    assert posting.title == "Senior Python Engineer" and posting.company.lower() == "acme"
    assert posting.posted_at.date() == POSTED.date()


class PagedBoardStandIn(StandIn):
    """A board not among the nine: `GET /jobs/api?offset=N&limit=M` answers
    `{"jobs": [{"guid", "title", "companyName", "description", "pubDate", "applicationLink"}]}`."""

    name = "himalayas"

    def route(self, path, query, handler):
        if path != "/jobs/api":
            return 404, {}, {"error": "Not found"}
        offset, limit = int(query.get("offset", 0)), int(query.get("limit", 20))
        jobs = [
            {
                "guid": f"hm-{item.key}",
                "title": item.title,
                "companyName": item.company,
                "description": item.description_html,
                "pubDate": int(item.posted_at.timestamp()),
                "applicationLink": item.apply_url or f"https://himalayas.example/{item.key}",
            }
            for item in self.listings[offset : offset + limit]
        ]
        return 200, {}, {"jobs": jobs}


def himalayas_posting(job: dict, _company: str) -> NormalizedPosting | None:
    if not job.get("guid") or not job.get("title"):
        return None
    return NormalizedPosting(
        source="himalayas",
        external_id=job["guid"],
        company=job["companyName"],
        title=job["title"],
        description=html_to_text(job.get("description")),
        posted_at=parse_timestamp(job.get("pubDate")),
        apply_url=job.get("applicationLink"),
    )


def test_a_new_board_is_a_declaration_and_a_mapping_and_is_searched_beside_the_others(
    boards, board_settings
):
    stand_in = PagedBoardStandIn()
    try:
        stand_in.listings += [
            python_job(key="1"),
            python_job(key="2", title="Office Manager", description_html="<p>Filing</p>"),
            python_job(key="3", title="Python Developer", apply_url="javascript:alert(1)"),
        ]
        himalayas = Board(
            name="himalayas",
            path="/jobs/api",
            postings_at="jobs",
            paging=OffsetPages(size=2),
            to_posting=himalayas_posting,
            base_url=stand_in.base_url,
        )
        boards.add("remoteok", python_job(remote=True))
        ports = (*boards.ports, stand_in.port)
        settings = board_settings().replace(outbound_allow_loopback_ports=ports)
        postings, statuses = fetch_all(
            settings=settings,
            query=SearchQuery(("python",)),
            sources=["himalayas", "remoteok"],
            companies={},
            boards={**SOURCES, "himalayas": himalayas},
        )
    finally:
        stand_in.stop()
    by_source = {status.source: status.as_dict() for status in statuses}
    assert by_source["himalayas"]["status"] == "ok" and by_source["himalayas"]["count"] == 2
    assert by_source["himalayas"]["requests"] == 2  # a full page of 2, then a short one
    assert [q for _path, q, _ua in stand_in.requests] == [
        {"offset": "0", "limit": "2"},
        {"offset": "2", "limit": "2"},
    ]
    found = {(p.source, p.external_id): p for p in postings}
    assert set(found) == {("himalayas", "hm-1"), ("himalayas", "hm-3"), ("remoteok", "101")}
    first = found["himalayas", "hm-1"]
    assert first.company == "Acme" and first.posted_at == POSTED
    assert first.description == "Python & PostgreSQL\n\n- Redis"
    assert first.apply_url == "https://himalayas.example/1"
    assert found["himalayas", "hm-3"].apply_url is None  # a script link is dropped, as for all


def test_greenhouse_unescapes_its_double_escaped_html_into_plain_text_with_questions(
    boards, board_settings
):
    boards.add("greenhouse", python_job())
    [posting] = fetch_one("greenhouse", board_settings())
    assert posting.source == "greenhouse" and posting.external_id == "101"
    assert posting.company == "Acme" and posting.title == "Senior Python Engineer"
    assert posting.description == "Python & PostgreSQL\n\n- Redis"
    assert "alert" not in posting.description and "<" not in posting.description
    assert posting.posted_at == POSTED
    assert posting.apply_url == "https://boards.example/acme/101"
    assert posting.questions == [
        {
            "id": "first_name",
            "label": "First Name",
            "type": "text",
            "required": True,
            "options": [],
        },
        {
            "id": "question_4001",
            "label": "Will you now or in the future require sponsorship?",
            "type": "select",
            "required": False,
            "options": ["Yes", "No"],
        },
    ]


def test_lever_waits_out_its_429_then_pages_with_millisecond_timestamps(boards, board_settings):
    listings = [python_job(key=f"{n:03d}", title=f"Python Engineer {n}") for n in range(150)]
    boards.add("lever", *listings)
    started = time.monotonic()
    postings = fetch_one("lever", board_settings(job_search_retry_max_seconds=30))
    assert time.monotonic() - started >= 1.0  # the stand-in's Retry-After: 1
    assert len(postings) == 150
    pages = [q for path, q, _ua in boards["lever"].requests if path == "/v0/postings/acme"]
    assert [(q.get("skip"), q.get("limit")) for q in pages] == [
        ("0", "100"),  # answered 429
        ("0", "100"),
        ("100", "100"),
    ]
    first = postings[0]
    assert first.posted_at == POSTED  # createdAt in milliseconds
    assert first.employment_type == "full_time"
    assert (first.salary_min, first.salary_max, first.salary_currency) == (80_000, 100_000, "EUR")
    assert "Python & PostgreSQL" in first.description and "<" not in first.description
    assert first.apply_url.endswith("/apply")


def test_a_board_that_keeps_failing_is_tried_the_configured_times_then_reported(
    boards, board_settings
):
    boards.add("lever", python_job())
    boards["lever"].mode = "error"
    postings, status = fetch_source(
        "lever", settings=board_settings(job_search_retries=2), query=ANY, companies=["acme"]
    )
    assert postings == [] and status.status == "failed"
    assert status.errors == ["acme: answered HTTP 500"]
    assert boards["lever"].count("/v0/postings/acme") == 3


def test_ashby_reads_compensation_and_remote(boards, board_settings):
    boards.add("ashby", python_job(remote=True, location="Remote (EU)"))
    [posting] = fetch_one("ashby", board_settings())
    assert posting.remote is True and posting.location == "Remote (EU)"
    assert (posting.salary_min, posting.salary_max, posting.salary_currency) == (
        80_000,
        100_000,
        "EUR",
    )
    assert posting.employment_type == "full_time"
    assert posting.apply_url == "https://jobs.ashby.example/acme/101/application"


def test_recruitee_reads_the_company_host_and_its_open_questions(boards, board_settings):
    boards.add("recruitee", python_job())
    [posting] = fetch_one("recruitee", board_settings())
    assert boards["recruitee"].requests[0][0] == "/acme/api/offers/"
    assert posting.company == "Acme" and posting.posted_at == POSTED
    assert posting.questions[0] == {
        "id": "51",
        "label": "Do you have a work permit for the EU?",
        "type": "boolean",
        "required": True,
        "options": [],
    }
    assert posting.questions[1]["options"] == ["Immediately", "1 month"]
    assert "Team spirit" in posting.description


def test_workable_names_the_account_and_builds_the_location(boards, board_settings):
    boards.add("workable", python_job())
    [posting] = fetch_one("workable", board_settings())
    assert posting.company == "Acme" and posting.location == "Berlin, Germany"
    assert posting.external_id == "W101" and posting.posted_at.date() == POSTED.date()


def test_smartrecruiters_pages_to_the_short_last_page_and_reads_details(boards, board_settings):
    boards.add("smartrecruiters", *[python_job(key=f"{n:03d}") for n in range(230)])
    settings = board_settings(job_search_max_detail_requests=3)
    postings = fetch_one("smartrecruiters", settings)
    assert len(postings) == 230
    offsets = [
        q["offset"]
        for path, q, _ua in boards["smartrecruiters"].requests
        if path == "/v1/companies/acme/postings"
    ]
    assert offsets == ["0", "100", "200"]
    detailed = [p for p in postings if p.description]
    assert len(detailed) == 3 and "Python & PostgreSQL" in detailed[0].description
    assert detailed[0].apply_url == "https://jobs.sr.example/acme/000"


def test_remoteok_skips_its_metadata_element_and_sends_our_user_agent(boards, board_settings):
    boards.add("remoteok", python_job(remote=True))
    postings, status = fetch_source("remoteok", settings=board_settings(), query=ANY, companies=[])
    assert status.status == "ok" and len(postings) == 1
    assert postings[0].remote is True and postings[0].salary_currency == "USD"
    user_agent = boards["remoteok"].requests[0][2]
    assert user_agent.startswith("JobApplicationAgent/1.0 (+http")


def test_remotive_ignores_its_legal_notice_keys_and_reads_free_text_salaries(
    boards, board_settings
):
    boards.add("remotive", python_job(remote=True, salary=(120_000, 150_000, "USD")))
    postings, status = fetch_source("remotive", settings=board_settings(), query=ANY, companies=[])
    assert status.status == "ok" and len(postings) == 1
    posting = postings[0]
    assert (posting.salary_min, posting.salary_max, posting.salary_currency) == (
        120_000,
        150_000,
        "USD",
    )
    assert boards["remotive"].requests[0][1] == {"search": "engineer"}


def test_arbeitnow_counts_its_pages_instead_of_following_the_rotating_next_link(
    boards, board_settings
):
    boards.add("arbeitnow", *generated_listings("arbeitnow", 250))
    postings, status = fetch_source(
        "arbeitnow", settings=board_settings(), query=SearchQuery(()), companies=[]
    )
    assert status.status == "ok" and len(postings) == 250
    queries = [q for _path, q, _ua in boards["arbeitnow"].requests]
    assert queries == [{"page": "1"}, {"page": "2"}, {"page": "3"}]


def test_company_boards_without_companies_are_skipped_not_failed(board_settings):
    postings, status = fetch_source("lever", settings=board_settings(), query=ANY, companies=[])
    assert postings == [] and status.status == "skipped"


def test_one_failing_company_makes_the_board_partial(boards, board_settings):
    boards.add("ashby", python_job())
    postings, status = fetch_source(
        "ashby", settings=board_settings(), query=ANY, companies=["acme", "ghost"]
    )
    assert len(postings) == 1 and status.status == "partial"
    assert status.errors == ["ghost: answered HTTP 404"]


def test_a_board_that_is_down_or_answers_garbage_fails_alone(boards, board_settings):
    for board in BOARDS:
        boards.add(board, python_job())
    boards["workable"].mode = "garbage"
    settings = board_settings()  # base URLs taken while the Ashby port is still open
    boards["ashby"].stop()
    companies = {board: ["acme"] for board in BOARDS}
    postings, statuses = fetch_all(
        settings=settings, query=ANY, sources=BOARDS, companies=companies
    )
    by_source = {status.source: status for status in statuses}
    assert by_source["ashby"].status == "failed"
    assert "unreachable" in by_source["ashby"].errors[0]
    assert by_source["workable"].status == "failed"
    assert by_source["workable"].errors == ["acme: answered something that is not JSON"]
    ok = {name for name, status in by_source.items() if status.status == "ok"}
    assert ok == set(BOARDS) - {"ashby", "workable"}
    assert {p.source for p in postings} == ok


def test_keywords_filter_what_company_boards_return(boards, board_settings):
    boards.add("ashby", python_job(), python_job(key="102", title="Office Manager"))
    python = fetch_one("ashby", board_settings(), query=SearchQuery(("python engineer",)))
    assert [p.external_id for p in python] == ["ashby-101"]


def test_html_to_text_keeps_words_and_lines_and_drops_markup():
    text = html_to_text(
        "<h2>Role</h2><p>Use <b>Go</b>&nbsp;&amp; Rust</p><style>p{}</style><ul><li>A</li></ul>"
    )
    assert text == "Role\n\nUse Go & Rust\n\n- A"
    assert html_to_text("&lt;p&gt;not a tag&lt;/p&gt;") == "<p>not a tag</p>"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1763631000000, datetime(2025, 11, 20, 9, 30, tzinfo=UTC)),  # milliseconds
        (1763631000, datetime(2025, 11, 20, 9, 30, tzinfo=UTC)),  # seconds
        ("2025-11-20T09:30:00Z", datetime(2025, 11, 20, 9, 30, tzinfo=UTC)),
        ("2025-11-20 09:30:00 UTC", datetime(2025, 11, 20, 9, 30, tzinfo=UTC)),
        ("2025-11-20T11:30:00+02:00", datetime(2025, 11, 20, 9, 30, tzinfo=UTC)),
        ("yesterday", None),
        (None, None),
    ],
)
def test_timestamps_in_every_board_format(value, expected):
    assert parse_timestamp(value) == expected


def test_retry_after_reads_seconds_and_dates():
    assert retry_after_seconds("3") == 3.0
    soon = (datetime.now(UTC) + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 25 <= retry_after_seconds(soon) <= 30
    assert retry_after_seconds("soon") is None


def test_free_text_salaries():
    assert salary_from_text("$100k - $120k") == (100_000, 120_000, "USD")
    assert salary_from_text("€60,000 – €75,000 per year") == (60_000, 75_000, "EUR")
    assert salary_from_text("competitive") == (None, None, None)
