"""The job types the service runs: each type's handler and how it may be submitted.

The handler modules (`server.workers.job_handlers`, `server.workers.applicant_handlers`,
`server.workers.browser_handlers`) add their types here when imported (`job_handlers.register_handler`);
the processes that run or accept jobs import them (the worker, `create_app`). The queue and the
services read this registry and never import a handler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HandlerSpec:
    job_type: str
    run: Callable[[Any], Any]  # called with the run's `job_handlers.JobContext`
    max_attempts: int
    timeout_seconds: float
    payload_schema: type | None
    admin_only: bool
    internal: bool  # queued by the service itself; clients cannot submit it
    # A per-user window limit spent when a client submits the type (429 when it is used up).
    submit_limit: str | None = None


_registry: dict[str, HandlerSpec] = {}


def add_handler(spec: HandlerSpec) -> None:
    """Make `spec` the handler of its type."""
    _registry[spec.job_type] = spec


def unregister_handler(job_type: str) -> None:
    """Forget a handler (tests register their own types)."""
    _registry.pop(job_type, None)


def get_handler(job_type: str) -> HandlerSpec | None:
    """The handler registered for a type, or None."""
    return _registry.get(job_type)
