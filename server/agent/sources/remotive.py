"""Remotive: `GET /api/remote-jobs[?search=...]` → `{"0-legal-notice", "job-count", jobs}`.
Keys that are not field names (the legal notice, a warning) are ignored."""

from __future__ import annotations

from typing import Any

from server.agent.sources.base import (
    NormalizedPosting,
    clean_line,
    employment_type,
    html_to_text,
    parse_timestamp,
    salary_from_text,
)
from server.agent.sources.board import Board

NAME = "remotive"


def to_posting(item: dict[str, Any], _company: str) -> NormalizedPosting | None:
    """One of Remotive's `jobs` as a posting."""
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


BOARD = Board(
    name=NAME,
    path="/api/remote-jobs",
    search_param="search",
    postings_at="jobs",
    to_posting=to_posting,
)
