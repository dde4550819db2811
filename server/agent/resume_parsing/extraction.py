"""A resume document read into its structure in a child process with limits.

PDF and DOCX readers parse attacker-controlled structure (compressed streams, object graphs,
XML), and the heuristic parser runs regular expressions over attacker-controlled text, so both
run in `extract_child.py` under CPU, memory and wall-clock limits. A document that exceeds
them, or cannot be read, or has no text, is refused with a 422 that says why; the service
process is never at risk.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from server.core.errors import ApiError, ServiceUnavailable

log = logging.getLogger("server.agent.resume_parsing")

CHILD = Path(__file__).with_name("extract_child.py")


class DocumentUnreadable(ApiError):
    """The document could not be turned into text (broken, encrypted, hostile or image-only)."""

    status_code, code = 422, "resume_unreadable"


@dataclass(frozen=True)
class ExtractionLimits:
    cpu_seconds: int = 10
    memory_bytes: int = 512 * 1024 * 1024
    wall_seconds: float = 20.0
    max_pages: int = 30
    max_concurrent: int = 2  # children at once in this process; each may use memory_bytes


_slots_lock = threading.Lock()
_slots: dict[int, threading.BoundedSemaphore] = {}


def _slots_for(limit: int) -> threading.BoundedSemaphore:
    with _slots_lock:
        return _slots.setdefault(limit, threading.BoundedSemaphore(limit))


def _run_child(kind: str, data: bytes, limits: ExtractionLimits) -> dict:
    # Bound the children at once, so a burst of uploads cannot multiply the memory limit.
    slots = _slots_for(limits.max_concurrent)
    if not slots.acquire(timeout=limits.wall_seconds):
        raise ServiceUnavailable(
            "Too many documents are being read right now; try again shortly",
            headers={"Retry-After": "5"},
        )
    try:
        return _run_limited_child(kind, data, limits)
    finally:
        slots.release()


def _run_limited_child(kind: str, data: bytes, limits: ExtractionLimits) -> dict:
    command = [
        sys.executable,
        "-I",
        str(CHILD),
        kind,
        str(limits.cpu_seconds),
        str(limits.memory_bytes),
        str(limits.max_pages),
    ]
    try:
        completed = subprocess.run(  # noqa: S603 - our own script, no shell
            command,
            input=data,
            capture_output=True,
            timeout=limits.wall_seconds,
            env={"PYTHONHASHSEED": "0"},
            close_fds=True,
            check=False,
        )
    except subprocess.TimeoutExpired:
        log.warning("resume extraction timed out", extra={"kind": kind, "size": len(data)})
        raise DocumentUnreadable(
            f"Reading the {kind.upper()} took longer than {limits.wall_seconds:g} s; "
            "the document is too complex or malformed",
            code="resume_too_complex",
        ) from None
    if completed.returncode != 0:
        # PDFium aborts (SIGABRT) when an allocation fails under the memory limit.
        killed = -completed.returncode in (signal.SIGXCPU, signal.SIGKILL, signal.SIGABRT)
        log.warning(
            "resume extraction failed",
            extra={
                "kind": kind,
                "size": len(data),
                "returncode": completed.returncode,
                "stderr": completed.stderr[-500:].decode("utf-8", "replace"),
            },
        )
        if killed or completed.returncode == 3 or b"MemoryError" in completed.stderr:
            raise DocumentUnreadable(
                f"Reading the {kind.upper()} exceeded the parser's CPU or memory limit; "
                "the document is too complex or malformed",
                code="resume_too_complex",
            )
        raise DocumentUnreadable(f"The {kind.upper()} could not be read")
    try:
        return json.loads(completed.stdout)
    except ValueError:
        raise DocumentUnreadable(f"The {kind.upper()} could not be read") from None


def parse_document(*, extension: str, data: bytes, limits: ExtractionLimits) -> dict:
    """The structured resume of a validated upload; raises `DocumentUnreadable` (422)."""
    result = _run_child(extension, data, limits)
    if result.get("error") == "no_text":
        what = "PDF (is it a scanned image?)" if extension == "pdf" else "document"
        raise DocumentUnreadable(
            f"No text could be extracted from the {what}; upload a document with selectable "
            "text, or a TXT or DOCX version",
            code="resume_no_text",
        )
    if "error" in result:
        too_complex = result["error"] in ("too_many_pages", "too_complex")
        code = "resume_too_complex" if too_complex else None
        raise DocumentUnreadable(str(result.get("message")), code=code)
    parsed = result.get("parsed")
    if not isinstance(parsed, dict):
        raise DocumentUnreadable(f"The {extension.upper()} could not be read")
    pages, paper = result.get("pages"), result.get("paper")
    parsed["source"] = {
        "format": extension,
        "pages": pages if isinstance(pages, int) else None,
        "paper": paper if paper in ("a4", "letter") else None,
    }
    return parsed
