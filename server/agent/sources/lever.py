"""Lever postings: `GET /v0/postings/{site}?mode=json&skip=N&limit=M`, a JSON array per page.

Times are epoch milliseconds; Lever answers 429 when called too fast (retried after its
`Retry-After`).
"""

from __future__ import annotations

from typing import Any

from server.agent.sources.base import (
    NormalizedPosting,
    clean_line,
    employment_type,
    html_to_text,
    parse_timestamp,
    whole_number,
)
from server.agent.sources.board import Board, OffsetPages

NAME = "lever"


def _description(item: dict[str, Any]) -> str:
    parts = [item.get("descriptionPlain") or html_to_text(item.get("description"))]
    for section in item.get("lists") or []:
        if isinstance(section, dict):
            parts.append(clean_line(section.get("text")) or "")
            parts.append(html_to_text(section.get("content")))
    parts.append(item.get("additionalPlain") or html_to_text(item.get("additional")))
    return "\n\n".join(part.strip() for part in parts if part and part.strip())


def to_posting(item: dict[str, Any], site: str) -> NormalizedPosting | None:
    """One of a Lever site's postings as ours."""
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


BOARD = Board(
    name=NAME,
    needs_companies=True,
    path="/v0/postings/{company}",
    params={"mode": "json"},
    paging=OffsetPages(offset_param="skip", limit_param="limit", size=100),
    to_posting=to_posting,
)
