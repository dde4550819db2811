"""Greenhouse job boards: the whole board in one call; questions from each job's detail.

`GET /v1/boards/{token}/jobs?content=true` → `{jobs: [...], meta: {total}}`; `content` is HTML
escaped once more (`&lt;p&gt;`). `GET /v1/boards/{token}/jobs/{id}?questions=true` adds the
application's `questions`.
"""

from __future__ import annotations

from typing import Any

from server.agent.sources.base import (
    BoardClient,
    NormalizedPosting,
    SearchQuery,
    clean_line,
    escaped_html_to_text,
    expect,
    matches_keywords,
    parse_timestamp,
)

NAME = "greenhouse"
NEEDS_COMPANIES = True

_QUESTION_TYPES = {
    "input_text": "text",
    "textarea": "textarea",
    "input_file": "file",
    "multi_value_single_select": "select",
    "multi_value_multi_select": "multi_select",
}


def fetch(client: BoardClient, query: SearchQuery, company: str | None) -> list[NormalizedPosting]:
    """The board's postings that match the keywords, with their screening questions."""
    path = f"/v1/boards/{company}/jobs"
    body = client.get_json(client.url(path), params={"content": "true"})
    expect(isinstance(body, dict) and isinstance(body.get("jobs"), list), "no `jobs` list")
    postings = [
        posting
        for job in body["jobs"]
        if isinstance(job, dict) and (posting := _posting(job, company or "")) is not None
    ]
    postings = [p for p in postings if matches_keywords(p, query.keywords)]
    detailed = postings[: client.options.max_detail_requests]
    urls = [client.url(f"{path}/{posting.external_id}") for posting in detailed]
    for posting, detail in zip(
        detailed, client.get_json_each(urls, params={"questions": "true"}), strict=True
    ):
        if isinstance(detail, dict):  # a failed detail leaves the posting without questions
            posting.questions = questions(detail.get("questions"))
    return postings


def _posting(job: dict[str, Any], board: str) -> NormalizedPosting | None:
    if job.get("id") is None or not job.get("title"):
        return None
    location = clean_line((job.get("location") or {}).get("name"))
    company = clean_line(job.get("company_name")) or board
    return NormalizedPosting(
        source=NAME,
        external_id=str(job["id"]),
        company=company,
        title=clean_line(job["title"]) or "",
        location=location,
        remote=bool(location and "remote" in location.lower()),
        description=escaped_html_to_text(job.get("content")),
        posted_at=parse_timestamp(job.get("first_published") or job.get("updated_at")),
        apply_url=clean_line(job.get("absolute_url"), 2048),
    )


def questions(raw: Any) -> list[dict[str, Any]]:
    """Greenhouse's `questions` as normalised questions (one per field the form asks for)."""
    found: list[dict[str, Any]] = []
    for question in raw if isinstance(raw, list) else []:
        if not isinstance(question, dict):
            continue
        for field in question.get("fields") or []:
            kind = _QUESTION_TYPES.get(str(field.get("type")))
            if kind is None or not field.get("name"):
                continue
            found.append(
                {
                    "id": str(field["name"]),
                    "label": clean_line(question.get("label")) or str(field["name"]),
                    "type": kind,
                    "required": bool(question.get("required")),
                    "options": [
                        clean_line(value.get("label")) or str(value.get("value"))
                        for value in field.get("values") or []
                        if isinstance(value, dict)
                    ],
                }
            )
            break  # one answer per question (a file field's text twin is the same question)
    return found
