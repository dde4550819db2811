"""Reading Gemini's error replies: kept with the quota they pause (`server.rate_limiter`)."""

from server.rate_limiter.gemini_errors import (
    DEFAULT_GEMINI_PAUSE_SECONDS,
    PACIFIC,
    gemini_pause_for,
    seconds_until_pacific_midnight,
)

__all__ = [
    "DEFAULT_GEMINI_PAUSE_SECONDS",
    "PACIFIC",
    "gemini_pause_for",
    "seconds_until_pacific_midnight",
]
