"""The Gemini quota gate: every Gemini call takes its slot through `reserve_gemini_call`.

The engines call it; the job framework says, for the job a thread runs, on whose account a call
is spent (`spending_for`): that user's daily allowance and share of each window. Below both,
so that the domain does not import the job framework.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

from server import rate_limiter
from server.core.errors import QuotaWait

# What a job waits for when its user is at their share of the Gemini window while the window
# has room: a job that stops asking (its run ends) brings such waiters forward, since the
# share of each user left grows.
GEMINI_SHARE_WAIT = "gemini_share"


class GeminiSpender(Protocol):
    """The running job, as the gate sees it: its ids, and its caller once it asked."""

    job_id: str
    user_id: Any
    gemini_caller: rate_limiter.GeminiCaller | None


# The job this thread is running: whose allowance and share an engine call spends.
_running_job: ContextVar[GeminiSpender | None] = ContextVar("running_job", default=None)


@contextmanager
def spending_for(job: GeminiSpender) -> Iterator[None]:
    """Within the block, Gemini calls on this thread spend `job`'s user's quota."""
    token = _running_job.set(job)
    try:
        yield
    finally:
        _running_job.reset(token)


def reserve_gemini_call() -> rate_limiter.Reservation:
    """Take one slot of the Gemini quota, or raise `QuotaWait` so the caller's job waits.

    Inside a job the slot counts against the job's user: their daily allowance and their
    share of each window (see `RateLimiter.reserve_gemini_call`).
    """
    job = _running_job.get()
    caller = None
    if job is not None and job.user_id is not None:
        caller = job.gemini_caller = rate_limiter.GeminiCaller(str(job.user_id), job.job_id)
    reservation = rate_limiter.reserve_gemini_call(caller)
    if not reservation.granted:
        # At their share while the window has room: brought forward when the share grows.
        cap = GEMINI_SHARE_WAIT if reservation.refused_by == ("share",) else None
        raise QuotaWait(
            reservation.retry_after, f"the Gemini quota ({reservation.reason})", cap=cap
        )
    return reservation
