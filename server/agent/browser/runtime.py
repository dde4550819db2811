"""Start Debian's Chromium under Playwright, safely, and watch it while it works.

Each session is one browser process (started through `chromium-guard.sh`, so it dies with its
parent) with one fresh context: no cookies or storage outlive an application. A watch thread
kills the browser's process tree when the job is cancelled, when the application's time is up
or when the tree's memory passes its limit; the Playwright call under way then fails, and the
session reports why.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("server.agent.browser")

GUARD_SCRIPT = Path(__file__).with_name("chromium-guard.sh")
SESSION_MARK = "--job-agent-session="
WATCH_SECONDS = 0.25
# Reading the processes' memory is the kernel walking their page tables (milliseconds of
# CPU): once a second, not at every look at the job.
MEMORY_SECONDS = 1.0
# The niceness of the browser's processes (chromium-guard.sh) and of the Playwright driver.
DRIVER_NICENESS = 15
# The niceness of the browser's scheduling group (Linux gives the browser's session a group of
# its own, weighed against the group of the API and the worker): about a tenth of the CPU for
# each browser while the API is saturated, all of it while the API is idle.
GROUP_NICENESS = 10
# Chromium's own background traffic, off: pages' requests are the only ones it makes, and each
# goes through the guard (the dead proxy catches anything that is not intercepted).
CHROMIUM_ARGS = (
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--dns-prefetch-disable",
    "--disable-dev-shm-usage",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--js-flags=--max-old-space-size=512",
    "--disable-features=Translate,MediaRouter,OptimizationHints,InterestFeedContentSuggestions",
)


class BrowserUnavailable(Exception):  # noqa: N818 - reads as an outcome
    """This deployment cannot start a browser; the message says why."""


class BrowserStopped(Exception):  # noqa: N818
    """The watch stopped the browser (cancelled, out of time or of memory)."""


def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:  # a deployment without the package
        raise BrowserUnavailable(f"the playwright package is not installed ({error})") from None
    return sync_playwright


def unavailable_reason(settings: Any) -> str | None:
    """Why no browser can run here (package, executable, the guard's `setpriv`), or None."""
    try:
        _playwright()
    except BrowserUnavailable as error:
        return str(error)
    executable = settings.browser_executable
    if not (os.path.isfile(executable) and os.access(executable, os.X_OK)):
        return f"no Chromium at {executable} (apt-get install chromium, or set BROWSER_EXECUTABLE)"
    if shutil.which("setpriv") is None:
        return "setpriv (util-linux) is missing: the browser could outlive a killed worker"
    return None


def chromium_version(executable: str) -> str:
    """`Chromium 156.0...` as the executable prints it; BrowserUnavailable if it cannot run."""
    try:
        done = subprocess.run(  # noqa: S603 - the configured executable, no shell
            [executable, "--version"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BrowserUnavailable(f"{executable} --version failed: {error}") from None
    if done.returncode != 0:
        raise BrowserUnavailable(f"{executable} --version failed: {done.stderr.strip()[:300]}")
    return done.stdout.strip()


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                ppid = int(stat.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _lower_driver_priority() -> None:
    """Playwright's driver (a Node.js child of this process) does the browser's bookkeeping:
    at the browser's low priority, so requests keep the CPU while a form is filled."""
    for pid in _children().get(os.getpid(), []):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if b"run-driver" not in cmdline.read():
                    continue
            # Linux keeps a niceness per thread: every thread the driver has started so far.
            for task in os.scandir(f"/proc/{pid}/task"):
                tid = int(task.name)
                if os.getpriority(os.PRIO_PROCESS, tid) < DRIVER_NICENESS:
                    os.setpriority(os.PRIO_PROCESS, tid, DRIVER_NICENESS)
        except (OSError, ValueError):
            continue


def _started_with(pid: int, mark: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return mark.encode() in cmdline.read()
    except OSError:
        return False


def session_roots(mark: str) -> list[int]:
    """The processes started with the session's mark."""
    return [
        int(entry.name)
        for entry in os.scandir("/proc")
        if entry.name.isdigit() and _started_with(int(entry.name), mark)
    ]


def session_pids(mark: str, roots: list[int] | None = None) -> list[int]:
    """The processes of one browser session: the process started with the mark (`roots`,
    when already known), and its descendants."""
    roots = session_roots(mark) if roots is None else roots
    if not roots:
        return []
    tree, found, stack = _children(), [], list(roots)
    while stack:
        pid = stack.pop()
        if pid not in found:
            found.append(pid)
            stack.extend(tree.get(pid, []))
    return found


def resident_bytes(pids: list[int]) -> int:
    """The processes' proportional memory together (PSS: a page shared by n processes counts
    1/n in each, so the sum is what the session really holds)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as rollup:
                for line in rollup:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, IndexError, ValueError):
            continue
    return total


def kill_session(mark: str) -> int:
    """SIGKILL every process of the session; how many there were."""
    pids = session_pids(mark)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(pids)


@dataclass
class Watch:
    """Stops a session's browser when `should_stop` says why, or at its memory limit."""

    mark: str
    memory_limit_bytes: int
    deadline: float
    should_stop: Callable[[], str | None]
    stopped: str | None = None
    peak_bytes: int = 0
    _done: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        roots: list[int] = []
        measured = 0.0
        while not self._done.wait(WATCH_SECONDS):
            reason = self.should_stop()
            now = time.monotonic()
            if reason is None and now > self.deadline:
                reason = "the application ran past its time limit"
            if reason is None and now - measured >= MEMORY_SECONDS:
                measured = now
                roots = [pid for pid in roots if _started_with(pid, self.mark)]
                roots = roots or session_roots(self.mark)  # found once, not at every look
                used = resident_bytes(session_pids(self.mark, roots))
                self.peak_bytes = max(self.peak_bytes, used)
                if used > self.memory_limit_bytes:
                    reason = (
                        f"the page used more than {self.memory_limit_bytes // 2**20} MB of memory"
                    )
            if reason is not None:
                self.stopped = reason
                killed = kill_session(self.mark)
                log.warning("browser stopped", extra={"reason": reason, "processes": killed})
                return

    def close(self) -> None:
        self._done.set()


@dataclass
class Browser:
    """A started browser, its one context, and its watch."""

    context: Any
    watch: Watch
    version: str


@contextmanager
def open_browser(
    settings: Any,
    *,
    should_stop: Callable[[], str | None] = lambda: None,
    time_limit_seconds: float | None = None,
) -> Iterator[Browser]:
    """A fresh browser with one fresh context (no storage shared with anything else), closed
    and its processes gone when the block ends; BrowserUnavailable when it cannot start."""
    reason = unavailable_reason(settings)
    if reason:
        raise BrowserUnavailable(reason)
    sync_playwright = _playwright()
    mark = f"{SESSION_MARK}{uuid.uuid4().hex}"
    args = [*CHROMIUM_ARGS, mark]
    if not settings.browser_sandbox:
        args.append("--no-sandbox")
    home = tempfile.mkdtemp(prefix="job-agent-browser-")
    limit = time_limit_seconds or settings.browser_application_timeout_seconds
    watch = Watch(
        mark=mark,
        memory_limit_bytes=settings.browser_memory_limit_mb * 2**20,
        deadline=time.monotonic() + limit,
        should_stop=should_stop,
    )
    thread = threading.Thread(target=watch.run, name="browser-watch", daemon=True)
    try:
        with sync_playwright() as playwright:
            _lower_driver_priority()
            try:
                browser = playwright.chromium.launch(
                    executable_path=str(GUARD_SCRIPT),
                    headless=True,
                    args=args,
                    # Only what Chromium needs: no secret of the service reaches the browser.
                    env={
                        "PATH": "/usr/bin:/bin",
                        "HOME": home,
                        "JOB_AGENT_CHROMIUM": settings.browser_executable,
                        "JOB_AGENT_NICENESS": str(DRIVER_NICENESS),
                        "JOB_AGENT_GROUP_NICENESS": str(GROUP_NICENESS),
                    },
                    timeout=settings.browser_step_timeout_seconds * 1000 * 2,
                )
            except Exception as error:  # noqa: BLE001 - every launch failure reads the same
                raise BrowserUnavailable(f"Chromium did not start: {_first_line(error)}") from None
            thread.start()
            try:
                context = browser.new_context(
                    accept_downloads=False,
                    service_workers="block",
                    java_script_enabled=True,
                    viewport={"width": 1280, "height": 900},
                    locale="en-US",
                )
                context.set_default_timeout(settings.browser_step_timeout_seconds * 1000)
                context.set_default_navigation_timeout(settings.browser_step_timeout_seconds * 1000)
                yield Browser(context=context, watch=watch, version=browser.version)
            finally:
                watch.close()
                try:
                    browser.close()
                except Exception:  # noqa: BLE001, S110 - killed by the watch: nothing to close
                    pass
    finally:
        watch.close()
        kill_session(mark)
        shutil.rmtree(home, ignore_errors=True)


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__


def self_test(settings: Any) -> dict[str, Any]:
    """Start a browser, render a page, stop: what an operator checks before going live."""
    started = time.monotonic()
    with open_browser(settings, time_limit_seconds=60) as browser:
        page = browser.context.new_page()
        page.set_content("<title>ok</title><p>browser self-test</p>")
        title = page.title()
    return {
        "version": browser.version,
        "rendered": title == "ok",
        "seconds": round(time.monotonic() - started, 2),
    }
