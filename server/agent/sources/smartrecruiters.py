"""SmartRecruiters: `GET /v1/companies/{company}/postings?limit=100&offset=N`, paged, with
`totalFound`; the list has no description, so matching postings are read one by one
(`GET /v1/companies/{company}/postings/{id}`) up to the detail budget."""

from __future__ import annotations

from typing import Any

from server.agent.sources.base import (
    NormalizedPosting,
    clean_line,
    employment_type,
    html_to_text,
    parse_timestamp,
)
from server.agent.sources.board import Board, Detail, OffsetPages

NAME = "smartrecruiters"
_SECTIONS = ("companyDescription", "jobDescription", "qualifications", "additionalInformation")


def _add_detail(posting: NormalizedPosting, detail: dict[str, Any]) -> None:
    sections = ((detail.get("jobAd") or {}).get("sections")) or {}
    texts = []
    for key in _SECTIONS:
        section = sections.get(key)
        if isinstance(section, dict) and section.get("text"):
            texts.append(html_to_text(section["text"]))
    posting.description = "\n\n".join(texts)
    posting.apply_url = clean_line(detail.get("applyUrl"), 2048) or posting.apply_url


def to_posting(item: dict[str, Any], company: str) -> NormalizedPosting | None:
    """One of a company's SmartRecruiters postings as ours, without its description."""
    if not item.get("id") or not item.get("name"):
        return None
    location = item.get("location") or {}
    place = clean_line(location.get("fullLocation")) or ", ".join(
        part
        for part in (clean_line(location.get(k)) for k in ("city", "region", "country"))
        if part
    )
    company_name = clean_line((item.get("company") or {}).get("name")) or company
    return NormalizedPosting(
        source=NAME,
        external_id=str(item["id"]),
        company=company_name,
        title=clean_line(item["name"]) or "",
        location=place or None,
        remote=bool(location.get("remote")),
        employment_type=employment_type((item.get("typeOfEmployment") or {}).get("label")),
        posted_at=parse_timestamp(item.get("releasedDate")),
        apply_url=f"https://jobs.smartrecruiters.com/{company}/{item['id']}",
    )


BOARD = Board(
    name=NAME,
    needs_companies=True,
    path="/v1/companies/{company}/postings",
    paging=OffsetPages(offset_param="offset", limit_param="limit", size=100, total_at="totalFound"),
    postings_at="content",
    descriptions_in_list=False,
    detail=Detail("/v1/companies/{company}/postings/{id}", _add_detail),
    to_posting=to_posting,
)
