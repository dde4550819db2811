"""Arbeitnow: `GET /api/job-board-api?page=N`, 100 a page. `links.next` may carry a rotating
`search=` term, so pages are counted here rather than followed."""

from __future__ import annotations

from typing import Any

from server.agent.sources.base import (
    NormalizedPosting,
    clean_line,
    employment_type,
    html_to_text,
    parse_timestamp,
)
from server.agent.sources.board import Board, NumberedPages

NAME = "arbeitnow"


def to_posting(item: dict[str, Any], _company: str) -> NormalizedPosting | None:
    """One of Arbeitnow's `data` as a posting."""
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


BOARD = Board(
    name=NAME,
    path="/api/job-board-api",
    postings_at="data",
    paging=NumberedPages(param="page", next_link_at=("links", "next")),
    to_posting=to_posting,
)
