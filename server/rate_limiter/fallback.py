"""Redis down: per-process windows and leases, the health tracker that re-probes, metrics."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence

from server.core import metrics
from server.rate_limiter.catalogue import ConcurrencyCap, RateLimit
from server.rate_limiter.results import Decision, Lease, LimitState

log = logging.getLogger("server.rate_limiter")


# Per-process metrics, mirrored as Prometheus metrics (`server.core.metrics`, served at /metrics).
METRICS: dict[str, float] = {
    "rate_limiter_degraded": 0,
    "rate_limiter_redis_errors_total": 0,
    "rate_limiter_fallback_checks_total": 0,
    "rate_limiter_rejections_total": 0,
    "rate_limiter_load_shed_total": 0,
    "gemini_reservations_granted_total": 0,
    "gemini_reservations_refused_total": 0,
}
_metrics_lock = threading.Lock()


def count_metric(metric: str, amount: float = 1) -> None:
    """Add to one of the limiter's per-process metrics."""
    with _metrics_lock:
        METRICS[metric] = METRICS.get(metric, 0) + amount
    metrics.count_limiter_metric(metric, amount)


def _set_degraded(value: int) -> None:
    if METRICS["rate_limiter_degraded"] != value:
        metrics.set_limiter_degraded(value)
    METRICS["rate_limiter_degraded"] = value


class RedisUnavailable(Exception):
    """Redis is not usable right now (down, or not due for a re-probe yet)."""


class RedisHealth:
    """Tracks whether Redis answers; after a failure, skips it until the next probe time."""

    def __init__(self, initial_backoff: float = 0.5, max_backoff: float = 30.0) -> None:
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self._lock = threading.Lock()
        self._degraded = False
        self._backoff = initial_backoff
        self._next_probe = 0.0

    @property
    def degraded(self) -> bool:
        return self._degraded

    def seconds_to_probe(self) -> float:
        return max(0.0, self._next_probe - time.monotonic())

    def should_try(self) -> bool:
        """True when Redis is healthy, or when this caller takes the due re-probe."""
        if not self._degraded:
            return True
        with self._lock:
            now = time.monotonic()
            if now < self._next_probe:
                return False
            self._next_probe = now + self._backoff  # other threads wait for this probe
            return True

    def failed(self, exc: BaseException) -> None:
        count_metric("rate_limiter_redis_errors_total")
        with self._lock:
            if self._degraded:
                self._backoff = min(self._backoff * 2, self.max_backoff)
            else:
                self._degraded = True
                self._backoff = self.initial_backoff
                log.warning(
                    "rate limiter degraded: Redis unavailable, using per-process limits; "
                    "Gemini calls are held until it returns",
                    extra={"error": f"{type(exc).__name__}: {exc}"},
                )
            self._next_probe = time.monotonic() + self._backoff
            _set_degraded(1)

    def succeeded(self) -> None:
        if not self._degraded:
            _set_degraded(0)  # the latest observation in this process
            return
        with self._lock:
            if self._degraded:
                self._degraded = False
                self._backoff = self.initial_backoff
                _set_degraded(0)
                log.warning("rate limiter recovered: Redis answers again")


# --- In-memory fallback --------------------------------------------------------------------


class MemoryWindows:
    """Per-process sliding logs and leases, used only while Redis is unreachable."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: dict[str, deque[float]] = {}
        self._leases: dict[str, dict[str, float]] = {}

    def hit(self, checks: Sequence[tuple[str, str, RateLimit]]) -> Decision:
        with self._lock:
            now = time.monotonic()
            logs = []
            for _name, key, rule in checks:
                entries = self._logs.setdefault(key, deque())
                while entries and entries[0] <= now - rule.window_seconds:
                    entries.popleft()
                logs.append(entries)
            allowed = all(len(e) < r.limit for e, (_, _, r) in zip(logs, checks, strict=True))
            states = []
            for entries, (name, _key, rule) in zip(logs, checks, strict=True):
                retry = 0.0
                if allowed:
                    entries.append(now)
                elif len(entries) >= rule.limit:
                    index = len(entries) - rule.limit
                    retry = (
                        rule.window_seconds
                        if rule.limit == 0
                        else entries[index] + rule.window_seconds - now
                    )
                count = len(entries)
                if count < rule.limit:
                    reset = rule.window_seconds if allowed else 0.0
                elif rule.limit == 0:
                    reset = rule.window_seconds
                else:
                    reset = entries[count - rule.limit] + rule.window_seconds - now
                states.append(_state(name, rule, count, reset, max(retry, 0.0)))
            if len(self._logs) > 10_000:
                self._logs = {k: v for k, v in self._logs.items() if v}
        return Decision(allowed, tuple(states), degraded=True)

    def acquire(self, key: str, holder: str, cap: ConcurrencyCap, renew_only: bool) -> Lease:
        with self._lock:
            now = time.monotonic()
            holders = {h: exp for h, exp in self._leases.get(key, {}).items() if exp > now}
            self._leases[key] = holders
            if holder in holders or (not renew_only and len(holders) < cap.limit):
                holders[holder] = now + cap.lease_seconds
                return Lease(True, len(holders))
            retry = min(holders.values()) - now if holders and not renew_only else 0.0
            return Lease(False, len(holders), retry)

    def release(self, key: str, holder: str) -> None:
        with self._lock:
            self._leases.get(key, {}).pop(holder, None)

    def reset(self, key: str) -> None:
        with self._lock:
            self._logs.pop(key, None)
            self._leases.pop(key, None)


def _state(name: str, rule: RateLimit, count: int, reset: float, retry: float) -> LimitState:
    return LimitState(
        name=name,
        limit=rule.limit,
        window_seconds=rule.window_seconds,
        scope=rule.scope,
        remaining=max(0, rule.limit - count),
        reset_seconds=retry if retry > 0 else max(reset, 0.0),
        retry_after=retry,
    )
