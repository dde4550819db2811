"""Ashby job boards: `GET /posting-api/job-board/{board}?includeCompensation=true`, one call."""

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

NAME = "ashby"
NEEDS_COMPANIES = True


def fetch(client: BoardClient, query: SearchQuery, company: str | None) -> list[NormalizedPosting]:
    """The board's listed postings that match the keywords."""
    body = client.get_json(
        client.url(f"/posting-api/job-board/{company}"), params={"includeCompensation": "true"}
    )
    expect(isinstance(body, dict) and isinstance(body.get("jobs"), list), "no `jobs` list")
    postings = [
        posting
        for job in body["jobs"]
        if isinstance(job, dict)
        and job.get("isListed", True) is not False
        and (posting := _posting(job, company or "")) is not None
    ]
    return [p for p in postings if matches_keywords(p, query.keywords)]


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


def _posting(job: dict[str, Any], board: str) -> NormalizedPosting | None:
    external_id = job.get("id") or job.get("jobUrl")
    if not external_id or not job.get("title"):
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
