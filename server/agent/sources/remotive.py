"""Remotive: `GET /api/remote-jobs[?search=...]` → `{"0-legal-notice", "job-count", jobs}`.
Keys that are not field names (the legal notice, a warning) are ignored."""

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
    salary_from_text,
)

NAME = "remotive"
NEEDS_COMPANIES = False


def fetch(client: BoardClient, query: SearchQuery, company: str | None) -> list[NormalizedPosting]:
    """Remote jobs matching the keywords (the board searches one phrase itself)."""
    params = {"search": query.keywords[0]} if len(query.keywords) == 1 else None
    body = client.get_json(client.url("/api/remote-jobs"), params=params)
    expect(isinstance(body, dict) and isinstance(body.get("jobs"), list), "no `jobs` list")
    postings = [
        posting for item in body["jobs"] if isinstance(item, dict) and (posting := _posting(item))
    ]
    return [p for p in postings if matches_keywords(p, query.keywords)]


def _posting(item: dict[str, Any]) -> NormalizedPosting | None:
    if item.get("id") is None or not item.get("title"):
        return None
    salary_min, salary_max, currency = salary_from_text(item.get("salary"))
    return NormalizedPosting(
        source=NAME,
        external_id=str(item["id"]),
        company=clean_line(item.get("company_name")) or "",
        title=clean_line(item["title"]) or "",
        location=clean_line(item.get("candidate_required_location")) or "Remote",
        remote=True,
        employment_type=employment_type(item.get("job_type")),
        salary_min=salary_min,
        salary_max=salary_max,
        salary_currency=currency,
        description=html_to_text(item.get("description")),
        posted_at=parse_timestamp(item.get("publication_date")),
        apply_url=clean_line(item.get("url"), 2048),
    )
