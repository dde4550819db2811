"""SmartRecruiters: `GET /v1/companies/{company}/postings?limit=100&offset=N`, paged, with
`totalFound`; the list has no description, so matching postings are read one by one
(`GET /v1/companies/{company}/postings/{id}`) up to the detail budget."""

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
    parse_timestamp,
    title_matches_keywords,
)

NAME = "smartrecruiters"
NEEDS_COMPANIES = True
PAGE_SIZE = 100
_SECTIONS = ("companyDescription", "jobDescription", "qualifications", "additionalInformation")


def fetch(client: BoardClient, query: SearchQuery, company: str | None) -> list[NormalizedPosting]:
    """The company's public postings whose titles match the keywords, with descriptions."""
    url = client.url(f"/v1/companies/{company}/postings")
    postings: list[NormalizedPosting] = []
    offset = 0
    for _page in range(client.options.max_pages):
        body = client.get_json(url, params={"limit": PAGE_SIZE, "offset": offset})
        expect(isinstance(body, dict) and isinstance(body.get("content"), list), "no `content`")
        content = body["content"]
        postings.extend(
            posting
            for item in content
            if isinstance(item, dict) and (posting := _posting(item, company or "")) is not None
        )
        offset += len(content)
        total = body.get("totalFound")
        if len(content) < PAGE_SIZE or (isinstance(total, int) and offset >= total):
            break
    postings = [p for p in postings if title_matches_keywords(p.title, query.keywords)]
    detailed = postings[: client.options.max_detail_requests]
    urls = [f"{url}/{posting.external_id}" for posting in detailed]
    for posting, detail in zip(detailed, client.get_json_each(urls), strict=True):
        if isinstance(detail, dict):  # a failed detail leaves the posting without one
            _add_detail(posting, detail)
    return postings


def _add_detail(posting: NormalizedPosting, detail: dict[str, Any]) -> None:
    sections = ((detail.get("jobAd") or {}).get("sections")) or {}
    texts = []
    for key in _SECTIONS:
        section = sections.get(key)
        if isinstance(section, dict) and section.get("text"):
            texts.append(html_to_text(section["text"]))
    posting.description = "\n\n".join(texts)
    posting.apply_url = clean_line(detail.get("applyUrl"), 2048) or posting.apply_url


def _posting(item: dict[str, Any], company: str) -> NormalizedPosting | None:
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
