"""RemoteOK: `GET /api`, a JSON array whose first element is metadata (`last_updated`,
`legal`), not a job. Every posting is remote."""

from __future__ import annotations

from typing import Any

from server.agent.sources.base import (
    BoardClient,
    NormalizedPosting,
    SearchQuery,
    clean_line,
    expect,
    html_to_text,
    matches_keywords,
    parse_timestamp,
    whole_number,
)

NAME = "remoteok"
NEEDS_COMPANIES = False


def fetch(client: BoardClient, query: SearchQuery, company: str | None) -> list[NormalizedPosting]:
    """The latest remote jobs that match the keywords."""
    body = client.get_json(client.url("/api"))
    expect(isinstance(body, list), "not a list")
    postings = [
        posting
        for item in body
        if isinstance(item, dict) and "legal" not in item and (posting := _posting(item))
    ]
    return [p for p in postings if matches_keywords(p, query.keywords)]


def _posting(item: dict[str, Any]) -> NormalizedPosting | None:
    if item.get("id") is None or not item.get("position"):
        return None
    salary_min, salary_max = (
        whole_number(item.get("salary_min")),
        whole_number(item.get("salary_max")),
    )
    return NormalizedPosting(
        source=NAME,
        external_id=str(item["id"]),
        company=clean_line(item.get("company")) or "",
        title=clean_line(item["position"]) or "",
        location=clean_line(item.get("location")) or "Remote",
        remote=True,
        salary_min=salary_min,
        salary_max=salary_max,
        salary_currency="USD" if salary_min or salary_max else None,
        description=html_to_text(item.get("description")),
        posted_at=parse_timestamp(item.get("epoch") or item.get("date")),
        apply_url=clean_line(item.get("apply_url") or item.get("url"), 2048),
    )
