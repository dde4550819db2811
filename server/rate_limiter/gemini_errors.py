"""Reading Gemini's error replies: how long a quota error (429) should pause every call.

Kept apart from the client (and free of heavy imports): the rate limiter pauses the quota by it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

PACIFIC = ZoneInfo("America/Los_Angeles")
DEFAULT_GEMINI_PAUSE_SECONDS = 60.0
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
_RETRY_IN_MESSAGE = re.compile(r"retry in (\d+(?:\.\d+)?)\s*s", re.IGNORECASE)


def seconds_until_pacific_midnight(now_epoch: float) -> float:
    """Seconds from `now_epoch` to the next midnight in America/Los_Angeles (DST-aware)."""
    local = datetime.fromtimestamp(now_epoch, PACIFIC)
    next_day = (local + timedelta(days=1)).date()
    midnight = datetime(next_day.year, next_day.month, next_day.day, tzinfo=PACIFIC)
    return midnight.timestamp() - now_epoch


def gemini_pause_for(error: Any, *, now_epoch: float) -> tuple[float, str] | None:
    """How long a Gemini error should pause every call, and why; None if it is no quota error.

    `error` is the JSON body of the error response (what google-genai's `ClientError.details`
    holds) or an exception carrying it in `.details` and its HTTP status in `.code`. A per-day
    quota clears only at midnight Pacific, so it pauses until then; otherwise the reply's
    `RetryInfo.retryDelay` (or the "retry in Ns" of its message) is used.
    """
    body = getattr(error, "details", error)
    err = body.get("error", body) if isinstance(body, Mapping) else None
    if not isinstance(err, Mapping):
        if getattr(error, "code", None) == 429:  # a 429 whose body is not Google's JSON
            return DEFAULT_GEMINI_PAUSE_SECONDS, "Gemini quota exceeded (no retry delay given)"
        return None
    if err.get("code") != 429 and err.get("status") != "RESOURCE_EXHAUSTED":
        return None
    details = [d for d in err.get("details") or [] if isinstance(d, Mapping)]
    for detail in details:
        for violation in detail.get("violations") or []:
            quota_id = str(violation.get("quotaId", "")) if isinstance(violation, Mapping) else ""
            if "PerDay" in quota_id:
                reason = f"daily Gemini quota exhausted ({quota_id}); resets at midnight Pacific"
                return seconds_until_pacific_midnight(now_epoch), reason
    for detail in details:
        match = _DURATION.match(str(detail.get("retryDelay", "")))
        if match:
            return float(match[1]), f"Gemini asked to retry in {match[1]}s"
    match = _RETRY_IN_MESSAGE.search(str(err.get("message", "")))
    if match:
        return float(match[1]), f"Gemini asked to retry in {match[1]}s"
    return DEFAULT_GEMINI_PAUSE_SECONDS, "Gemini quota exceeded (no retry delay given)"
