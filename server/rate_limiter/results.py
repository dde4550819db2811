"""What a check, a Gemini reservation and a concurrency slot come back as."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

# The two results of every check are named tuples: immutable like a frozen dataclass, at a
# third of its construction cost, which every limited request pays.


class LimitState(NamedTuple):
    """One limit's state after a check."""

    name: str
    limit: int
    window_seconds: float
    scope: str
    remaining: int
    # With requests left: until the quota is whole again (a full window after this admission).
    # With none left: until the next slot frees. When a check is refused, measured for the
    # limits that refused only (0 for the others): that is all the response headers use.
    reset_seconds: float
    retry_after: float  # 0 unless this limit refused: until it can admit one more

    @property
    def refused(self) -> bool:
        return self.retry_after > 0


class Decision(NamedTuple):
    """The outcome of one all-or-nothing check of several limits."""

    allowed: bool
    states: tuple[LimitState, ...]
    paused_seconds: float = 0.0
    token: str | None = None  # the admission's member, to refund it
    degraded: bool = False  # decided by this process's in-memory fallback

    @property
    def retry_after(self) -> float:
        """Seconds until every refusing limit has room again (0 when allowed)."""
        if self.allowed:
            return 0.0
        return max([self.paused_seconds, *(s.retry_after for s in self.states)], default=0.0)

    @property
    def refused_by(self) -> tuple[LimitState, ...]:
        return tuple(s for s in self.states if s.refused)

    @property
    def most_constraining(self) -> LimitState | None:
        """The limit with the fewest requests left (the longest wait on a tie)."""
        if not self.states:
            return None
        return min(self.states, key=lambda s: (s.remaining, -s.reset_seconds))


class GeminiCaller(NamedTuple):
    """Whose job a Gemini call is for: the user whose allowance and share it spends."""

    user_id: str
    job_id: str


@dataclass(frozen=True)
class Reservation:
    """A Gemini call slot: granted, or how long until one frees."""

    granted: bool
    retry_after: float
    token: str | None = None
    reason: str = ""
    user_id: str | None = None  # the caller whose allowance and share the slot counts in
    # What refused it: "paused", "minute", "day", "user_day" (the caller's allowance), "share"
    # (the caller is at their share of the window while it has room for others).
    refused_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Lease:
    """The outcome of acquiring or renewing a concurrency slot."""

    acquired: bool
    holders: int
    retry_after: float = 0.0
