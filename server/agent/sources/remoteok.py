"""RemoteOK: `GET /api`, a JSON array whose first element is metadata (`last_updated`,
`legal`), not a job. Every posting is remote."""

from __future__ import annotations

from typing import Any

from server.agent.sources.base import (
    NormalizedPosting,
    clean_line,
    html_to_text,
    parse_timestamp,
    whole_number,
)
from server.agent.sources.board import Board

NAME = "remoteok"


def to_posting(item: dict[str, Any], _company: str) -> NormalizedPosting | None:
    """One of RemoteOK's jobs as a posting (its metadata element, with `legal`, is none)."""
    if "legal" in item or item.get("id") is None or not item.get("position"):
        return None
    salary_min, salary_max = (
        whole_number(item.get("salary_min")),
        whole_number(item.get("salary_max")),
    )
    return NormalizedPosting(
        source=NAME,
        external_id=str(item["id"]),
        company=clean_line(item.get("company")) or "",
        title=clean_line(item["position"]) or "",
        location=clean_line(item.get("location")) or "Remote",
        remote=True,
        salary_min=salary_min,
        salary_max=salary_max,
        salary_currency="USD" if salary_min or salary_max else None,
        description=html_to_text(item.get("description")),
        posted_at=parse_timestamp(item.get("epoch") or item.get("date")),
        apply_url=clean_line(item.get("apply_url") or item.get("url"), 2048),
    )


BOARD = Board(name=NAME, path="/api", to_posting=to_posting)
