"""Recruitee careers sites: `GET https://{company}.recruitee.com/api/offers/`, one call, with
each offer's screening questions (`open_questions`)."""

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

NAME = "recruitee"

_QUESTION_TYPES = {
    "string": "text",
    "text": "textarea",
    "boolean": "boolean",
    "single_choice": "select",
    "multi_choice": "multi_select",
    "file": "file",
    "date": "date",
}


def questions(raw: Any) -> list[dict[str, Any]]:
    """Recruitee's `open_questions` as normalised questions."""
    found = []
    for question in raw if isinstance(raw, list) else []:
        if not isinstance(question, dict) or question.get("id") is None:
            continue
        found.append(
            {
                "id": str(question["id"]),
                "label": clean_line(question.get("body")) or "",
                "type": _QUESTION_TYPES.get(str(question.get("kind")), "text"),
                "required": bool(question.get("required")),
                "options": [
                    clean_line(option.get("body")) or ""
                    for option in question.get("open_question_options") or []
                    if isinstance(option, dict)
                ],
            }
        )
    return found


def _location(offer: dict[str, Any]) -> str | None:
    given = clean_line(offer.get("location"))
    if given:
        return given
    parts = [clean_line(offer.get(key)) for key in ("city", "country")]
    return ", ".join(part for part in parts if part) or None


def to_posting(offer: dict[str, Any], company: str) -> NormalizedPosting | None:
    """One of a Recruitee careers site's `offers` as a posting, with its questions."""
    if offer.get("id") is None or not offer.get("title"):
        return None
    salary = offer.get("salary") if isinstance(offer.get("salary"), dict) else {}
    description = "\n\n".join(
        text
        for text in (
            html_to_text(offer.get("description")),
            html_to_text(offer.get("requirements")),
        )
        if text
    )
    return NormalizedPosting(
        source=NAME,
        external_id=str(offer["id"]),
        company=clean_line(offer.get("company_name")) or company,
        title=clean_line(offer["title"]) or "",
        location=_location(offer),
        remote=bool(offer.get("remote")),
        employment_type=employment_type(offer.get("employment_type_code")),
        salary_min=whole_number(salary.get("min")),
        salary_max=whole_number(salary.get("max")),
        salary_currency=clean_line(salary.get("currency"), 8),
        description=description,
        posted_at=parse_timestamp(offer.get("published_at") or offer.get("created_at")),
        apply_url=clean_line(
            offer.get("careers_apply_url") or offer.get("careers_url") or offer.get("url"), 2048
        ),
        questions=questions(offer.get("open_questions")),
    )


BOARD = Board(
    name=NAME,
    needs_companies=True,  # the base URL names the company's host
    path="/api/offers/",
    postings_at="offers",
    to_posting=to_posting,
)
