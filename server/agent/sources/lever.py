"""Lever postings: `GET /v0/postings/{site}?mode=json&skip=N&limit=M`, a JSON array per page.

Times are epoch milliseconds; Lever answers 429 when called too fast (retried after its
`Retry-After`).
"""

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
    whole_number,
)

NAME = "lever"
NEEDS_COMPANIES = True
PAGE_SIZE = 100


def fetch(client: BoardClient, query: SearchQuery, company: str | None) -> list[NormalizedPosting]:
    """The site's postings that match the keywords, page by page."""
    postings: list[NormalizedPosting] = []
    url = client.url(f"/v0/postings/{company}")
    for page in range(client.options.max_pages):
        params = {"mode": "json", "skip": page * PAGE_SIZE, "limit": PAGE_SIZE}
        body = client.get_json(url, params=params)
        expect(isinstance(body, list), "not a list of postings")
        postings.extend(
            posting
            for item in body
            if isinstance(item, dict) and (posting := _posting(item, company or "")) is not None
        )
        if len(body) < PAGE_SIZE:
            break
    return [p for p in postings if matches_keywords(p, query.keywords)]


def _description(item: dict[str, Any]) -> str:
    parts = [item.get("descriptionPlain") or html_to_text(item.get("description"))]
    for section in item.get("lists") or []:
        if isinstance(section, dict):
            parts.append(clean_line(section.get("text")) or "")
            parts.append(html_to_text(section.get("content")))
    parts.append(item.get("additionalPlain") or html_to_text(item.get("additional")))
    return "\n\n".join(part.strip() for part in parts if part and part.strip())


def _posting(item: dict[str, Any], site: str) -> NormalizedPosting | None:
    if not item.get("id") or not item.get("text"):
        return None
    categories = item.get("categories") or {}
    location = clean_line(categories.get("location"))
    salary = item.get("salaryRange") or {}
    workplace = str(item.get("workplaceType") or "").lower()
    return NormalizedPosting(
        source=NAME,
        external_id=str(item["id"]),
        company=site,
        title=clean_line(item["text"]) or "",
        location=location,
        remote=workplace == "remote" or bool(location and "remote" in location.lower()),
        employment_type=employment_type(categories.get("commitment")),
        salary_min=whole_number(salary.get("min")),
        salary_max=whole_number(salary.get("max")),
        salary_currency=clean_line(salary.get("currency"), 8),
        description=_description(item),
        posted_at=parse_timestamp(item.get("createdAt")),
        apply_url=clean_line(item.get("applyUrl") or item.get("hostedUrl"), 2048),
    )
