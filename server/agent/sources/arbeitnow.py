"""Arbeitnow: `GET /api/job-board-api?page=N`, 100 a page. `links.next` may carry a rotating
`search=` term, so pages are counted here rather than followed."""

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

NAME = "arbeitnow"
NEEDS_COMPANIES = False


def fetch(client: BoardClient, query: SearchQuery, company: str | None) -> list[NormalizedPosting]:
    """Jobs from the first pages that match the keywords."""
    postings: list[NormalizedPosting] = []
    url = client.url("/api/job-board-api")
    for page in range(1, client.options.max_pages + 1):
        body = client.get_json(url, params={"page": page})
        expect(isinstance(body, dict) and isinstance(body.get("data"), list), "no `data` list")
        postings.extend(
            posting
            for item in body["data"]
            if isinstance(item, dict) and (posting := _posting(item))
        )
        if not body["data"] or not (body.get("links") or {}).get("next"):
            break
    return [p for p in postings if matches_keywords(p, query.keywords)]


def _posting(item: dict[str, Any]) -> NormalizedPosting | None:
    if not item.get("slug") or not item.get("title"):
        return None
    types = item.get("job_types") if isinstance(item.get("job_types"), list) else []
    return NormalizedPosting(
        source=NAME,
        external_id=str(item["slug"]),
        company=clean_line(item.get("company_name")) or "",
        title=clean_line(item["title"]) or "",
        location=clean_line(item.get("location")),
        remote=bool(item.get("remote")),
        employment_type=next((kind for t in types if (kind := employment_type(t))), None),
        description=html_to_text(item.get("description")),
        posted_at=parse_timestamp(item.get("created_at")),
        apply_url=clean_line(item.get("url"), 2048),
    )
