"""Filtering, deduplication and explained scores of postings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.agent.posting_search import (
    WEIGHTS,
    deduplicate,
    drop_already_applied,
    keep_wanted,
    rank,
    resume_profile,
)
from server.agent.sources.base import NormalizedPosting, SearchQuery

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
RESUME = {
    "contact": {"headline": None, "location": "Berlin, Germany"},
    "summary": "Backend engineer.",
    "skills": [{"category": "Languages", "items": ["Python", "Django", "PostgreSQL", "Redis"]}],
    "experience": [
        {
            "title": "Senior Backend Engineer",
            "start_date": "2018-03",
            "end_date": None,
            "is_current": True,
            "bullets": ["Built REST APIs in Python"],
        }
    ],
    "projects": [],
}


def posting(source="greenhouse", external_id="1", **fields) -> NormalizedPosting:
    values = {
        "company": "Acme",
        "title": "Senior Backend Engineer",
        "location": "Berlin, Germany",
        "description": "Python, Django and PostgreSQL.",
        "posted_at": NOW - timedelta(days=1),
        "apply_url": f"https://jobs.example/{source}/{external_id}",
    }
    values.update(fields)
    return NormalizedPosting(source=source, external_id=external_id, **values)


def test_the_same_job_on_two_boards_is_kept_once_with_the_richer_listing():
    plain = posting("lever", "a", title="Senior Backend Engineer (m/w/d)", company="ACME GmbH")
    rich = posting("greenhouse", "b", questions=[{"id": "q", "label": "Why?", "type": "text"}])
    [kept] = deduplicate([plain, rich])
    assert (kept.posting.source, kept.posting.external_id) == ("greenhouse", "b")
    assert kept.also_on == [
        {"source": "lever", "external_id": "a", "apply_url": "https://jobs.example/lever/a"}
    ]


def test_the_same_apply_url_is_the_same_job_whatever_the_titles_say():
    one = posting("remoteok", "1", title="Backend Dev", apply_url="https://Globex.example/jobs/9/")
    two = posting(
        "remotive", "2", title="Backend Developer", apply_url="https://globex.example/jobs/9?ref=x"
    )
    assert len(deduplicate([one, two])) == 1


def test_different_locations_are_different_jobs():
    berlin, london = posting(external_id="1"), posting(external_id="2", location="London, UK")
    assert len(deduplicate([berlin, london])) == 2


def test_a_company_named_by_its_slug_on_one_board_is_the_same_company_on_another():
    # Ashby's API names no company: the board's slug stands in for it ("northwindlabs").
    named = posting("greenhouse", "a", company="Northwind Labs")
    slug = posting("ashby", "b", company="northwindlabs")
    [kept] = deduplicate([named, slug])
    assert [other["source"] for other in kept.also_on] == ["ashby"]


def test_postings_already_applied_to_are_dropped_by_board_id_or_dedupe_key():
    candidates = deduplicate(
        [posting(external_id="1"), posting(external_id="2", title="Data Engineer")]
    )
    kept, dropped = drop_already_applied(candidates, {"greenhouse:1"})
    assert dropped == 1 and [c.posting.external_id for c in kept] == ["2"]
    kept, dropped = drop_already_applied(candidates, {candidates[1].dedupe_key})
    assert dropped == 1 and [c.posting.external_id for c in kept] == ["1"]


def test_remote_location_and_age_conditions_filter_postings():
    old = posting(external_id="old", posted_at=NOW - timedelta(days=40))
    remote = posting(external_id="remote", remote=True, location="Remote")
    paris = posting(external_id="paris", location="Paris, France")
    undated = posting(external_id="undated", posted_at=None)
    everything = [old, remote, paris, undated]

    def kept(**conditions):
        query = SearchQuery(keywords=("engineer",), **conditions)
        return {p.external_id for p in keep_wanted(everything, query, now=NOW)}

    assert kept(posted_within_days=30) == {"remote", "paris", "undated"}
    assert kept(remote=True) == {"remote"}
    assert kept(remote=False) == {"old", "paris", "undated"}
    assert kept(location="Berlin") == {"old", "remote", "undated"}


def test_a_matching_posting_outscores_an_unrelated_one_and_says_why():
    profile = resume_profile(RESUME, today=NOW.date())
    assert profile.level == "senior" and {"Python", "Django"} <= profile.skills
    good = posting(external_id="good")
    poor = posting(
        external_id="poor",
        title="Junior iOS Developer",
        description="Swift and Objective-C for our iPhone app.",
        location="Sydney, Australia",
        posted_at=NOW - timedelta(days=80),
    )
    query = SearchQuery(keywords=("backend engineer",))
    best, worst = rank(deduplicate([poor, good]), profile, query, now=NOW)
    assert best.posting.external_id == "good" and best.score > 85 > 30 > worst.score
    parts = best.breakdown
    assert set(parts) == set(WEIGHTS)
    assert sum(part["points"] for part in parts.values()) == best.score
    assert parts["skills"]["matched"] == ["Python", "Django", "PostgreSQL"]
    assert parts["seniority"] == {
        "posting": "senior",
        "resume": "senior",
        "weight": 10,
        "points": 10.0,
    }
    assert parts["location"]["reason"] == "in the wanted place"
    assert worst.breakdown["skills"]["missing"] == ["Swift"]
    assert worst.breakdown["location"]["reason"] == "elsewhere"
    assert worst.breakdown["recency"] == {"days_old": 80, "weight": 10, "points": 0.0}


def test_without_a_resume_the_keywords_still_rank_postings():
    profile = resume_profile(None)
    query = SearchQuery(keywords=("python",))
    python = posting(external_id="py", title="Python Engineer", description="Python")
    java = posting(external_id="java", title="Java Engineer", description="Java")
    best, worst = rank(deduplicate([java, python]), profile, query, now=NOW)
    assert best.posting.external_id == "py" and best.score > worst.score
    assert best.breakdown["skills"]["matched"] == ["Python"]
