"""Workable accounts: `GET /api/v1/widget/accounts/{slug}?details=true`, the full list at once."""

from __future__ import annotations

from typing import Any

from server.agent.sources.base import (
    BoardClient,
    NormalizedPosting,
    SearchQuery,
    clean_line,
    employment_type,
    expect,
    html_to_text,
    matches_keywords,
    parse_timestamp,
)

NAME = "workable"
NEEDS_COMPANIES = True


def fetch(client: BoardClient, query: SearchQuery, company: str | None) -> list[NormalizedPosting]:
    """The account's jobs that match the keywords."""
    body = client.get_json(
        client.url(f"/api/v1/widget/accounts/{company}"), params={"details": "true"}
    )
    expect(isinstance(body, dict) and isinstance(body.get("jobs"), list), "no `jobs` list")
    name = clean_line(body.get("name")) or company or ""
    postings = [
        posting
        for job in body["jobs"]
        if isinstance(job, dict) and (posting := _posting(job, name)) is not None
    ]
    return [p for p in postings if matches_keywords(p, query.keywords)]


def _posting(job: dict[str, Any], company: str) -> NormalizedPosting | None:
    external_id = job.get("shortcode") or job.get("code")
    if not external_id or not job.get("title"):
        return None
    parts = [clean_line(job.get(key)) for key in ("city", "state", "country")]
    location = ", ".join(part for part in parts if part) or None
    return NormalizedPosting(
        source=NAME,
        external_id=str(external_id),
        company=company,
        title=clean_line(job["title"]) or "",
        location=location,
        remote=bool(job.get("telecommuting")),
        employment_type=employment_type(job.get("employment_type")),
        description=html_to_text(job.get("description")),
        posted_at=parse_timestamp(job.get("published_on") or job.get("created_at")),
        apply_url=clean_line(
            job.get("application_url") or job.get("url") or job.get("shortlink"), 2048
        ),
    )
