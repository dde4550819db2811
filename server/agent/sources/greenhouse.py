"""Greenhouse job boards: the whole board in one call; questions from each job's detail.

`GET /v1/boards/{token}/jobs?content=true` → `{jobs: [...], meta: {total}}`; `content` is HTML
escaped once more (`&lt;p&gt;`). `GET /v1/boards/{token}/jobs/{id}?questions=true` adds the
application's `questions`.
"""

from __future__ import annotations

from typing import Any

from server.agent.sources.base import (
    NormalizedPosting,
    clean_line,
    escaped_html_to_text,
    parse_timestamp,
)
from server.agent.sources.board import Board, Detail

NAME = "greenhouse"

_QUESTION_TYPES = {
    "input_text": "text",
    "textarea": "textarea",
    "input_file": "file",
    "multi_value_single_select": "select",
    "multi_value_multi_select": "multi_select",
}


def to_posting(job: dict[str, Any], board: str) -> NormalizedPosting | None:
    """One of a Greenhouse board's `jobs` as a posting (its questions come with the detail)."""
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


def _add_questions(posting: NormalizedPosting, detail: dict[str, Any]) -> None:
    posting.questions = questions(detail.get("questions"))


BOARD = Board(
    name=NAME,
    needs_companies=True,
    path="/v1/boards/{company}/jobs",
    params={"content": "true"},
    postings_at="jobs",
    to_posting=to_posting,
    detail=Detail("/v1/boards/{company}/jobs/{id}", _add_questions, params={"questions": "true"}),
)
