"""Logging a backing service's outage: once when it starts, a summary while it lasts, once
when it ends.

During an outage every request and every worker round meets the same error. Logging each
(with a traceback) buries the one fact an operator needs: "Redis is down since 12:03, 2,200
requests affected". Each dependency has one `OutageLog` per process; the places that meet the
error call `failed`, the places that see it answer again call `recovered`.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("server.core.outages")

SUMMARY_SECONDS = 60.0
PROBE_SECONDS = 1.0


class OutageLog:
    """One dependency's outage state in this process, and the lines it logs."""

    def __init__(self, dependency: str, *, summary_seconds: float = SUMMARY_SECONDS):
        self.dependency = dependency
        self.summary_seconds = summary_seconds
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._last_line = 0.0
        self._last_probe = 0.0
        self._affected_since_line = 0
        self._affected = 0

    @property
    def down(self) -> bool:
        """True from the first failure until `recovered` is called."""
        return self._down_since is not None

    def failed(self, where: str, error: BaseException) -> None:
        """Count one operation that met the outage; log only a start or a due summary."""
        now = time.monotonic()
        with self._lock:
            self._affected += 1
            self._affected_since_line += 1
            if self._down_since is None:
                self._down_since = self._last_line = now
                message = f"{self.dependency} unavailable"
            elif now - self._last_line >= self.summary_seconds:
                self._last_line = now
                message = f"{self.dependency} still unavailable"
            else:
                return
            extra = {
                "dependency": self.dependency,
                "where": where,
                "error": f"{type(error).__name__}: {error}",
                "down_seconds": round(now - self._down_since, 1),
                "affected": self._affected_since_line,
            }
            self._affected_since_line = 0
        log.warning(message, extra=extra)

    def recovered(self) -> None:
        """The dependency answered: log the end of the outage once (cheap when it was up)."""
        if self._down_since is None:
            return
        with self._lock:
            if self._down_since is None:
                return
            extra = {
                "dependency": self.dependency,
                "down_seconds": round(time.monotonic() - self._down_since, 1),
                "affected": self._affected,
            }
            self._down_since = None
            self._affected = self._affected_since_line = 0
        log.warning(f"{self.dependency} available again", extra=extra)

    def probe_due(self) -> bool:
        """While down, True for one caller per `PROBE_SECONDS`: that caller checks the
        dependency and reports `recovered` or `failed`."""
        if self._down_since is None:
            return False
        with self._lock:
            now = time.monotonic()
            if now - self._last_probe < PROBE_SECONDS:
                return False
            self._last_probe = now
            return True


_logs: dict[str, OutageLog] = {}
_logs_lock = threading.Lock()


def outage_log(dependency: str) -> OutageLog:
    """The process's outage log of this dependency ("redis", "database")."""
    found = _logs.get(dependency)
    if found is None:
        with _logs_lock:
            found = _logs.setdefault(dependency, OutageLog(dependency))
    return found
