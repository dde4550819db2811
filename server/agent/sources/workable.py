"""Workable accounts: `GET /api/v1/widget/accounts/{slug}?details=true`, the full list at once."""

from __future__ import annotations

from typing import Any

from server.agent.sources.base import (
    NormalizedPosting,
    clean_line,
    employment_type,
    html_to_text,
    parse_timestamp,
)
from server.agent.sources.board import Board

NAME = "workable"


def to_posting(job: dict[str, Any], company: str) -> NormalizedPosting | None:
    """One of a Workable account's `jobs` as a posting (`company` is the account's name)."""
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


BOARD = Board(
    name=NAME,
    needs_companies=True,
    path="/api/v1/widget/accounts/{company}",
    params={"details": "true"},
    postings_at="jobs",
    company_name_at="name",
    to_posting=to_posting,
)
