"""Ashby job boards: `GET /posting-api/job-board/{board}?includeCompensation=true`, one call;
postings with `isListed: false` are left out."""

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
from server.agent.sources.board import Board

NAME = "ashby"


def _salary(compensation: Any) -> tuple[int | None, int | None, str | None]:
    if not isinstance(compensation, dict):
        return None, None, None
    for component in compensation.get("summaryComponents") or []:
        if isinstance(component, dict) and component.get("compensationType") == "Salary":
            return (
                whole_number(component.get("minValue")),
                whole_number(component.get("maxValue")),
                clean_line(component.get("currencyCode"), 8),
            )
    return None, None, None


def to_posting(job: dict[str, Any], board: str) -> NormalizedPosting | None:
    """One of an Ashby board's listed `jobs` as a posting."""
    external_id = job.get("id") or job.get("jobUrl")
    if job.get("isListed", True) is False or not external_id or not job.get("title"):
        return None
    location = clean_line(job.get("location"))
    salary_min, salary_max, currency = _salary(job.get("compensation"))
    workplace = str(job.get("workplaceType") or "").lower()
    return NormalizedPosting(
        source=NAME,
        external_id=str(external_id),
        company=board,
        title=clean_line(job["title"]) or "",
        location=location,
        remote=bool(job.get("isRemote")) or workplace == "remote",
        employment_type=employment_type(job.get("employmentType")),
        salary_min=salary_min,
        salary_max=salary_max,
        salary_currency=currency,
        description=job.get("descriptionPlain") or html_to_text(job.get("descriptionHtml")),
        posted_at=parse_timestamp(job.get("publishedAt")),
        apply_url=clean_line(job.get("applyUrl") or job.get("jobUrl"), 2048),
    )


BOARD = Board(
    name=NAME,
    needs_companies=True,
    path="/posting-api/job-board/{company}",
    params={"includeCompensation": "true"},
    postings_at="jobs",
    to_posting=to_posting,
)
