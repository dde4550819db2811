"""A worker process SIGKILLed while its browser fills a form leaves no browser behind, and the
application is filled again by the next worker and sent once."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from server.agent.browser import runtime
from tests.ats_stand_ins import AtsStandIn
from tests.browser.test_browser_applications import _app, apply, person
from tests.helpers import GENEROUS_TEST_LIMITS, ApiClient
from tests.queue_helpers import wait_for
from tests.routes.test_applications import wait_state
from tests.test_worker import worker_env, worker_processes  # noqa: F401 - a fixture

# A fault drill: `make test-soak` runs it (CI too), `make test` does not.
pytestmark = pytest.mark.soak


def _descendants(pid: int) -> dict[int, bytes]:
    """The process's descendants, each with its start time (a reused pid is another process)."""
    tree, found, stack = runtime._children(), {}, list(runtime._children().get(pid, []))  # noqa: SLF001
    while stack:
        child = stack.pop()
        started = _start_time(child)
        if started is not None:
            found[child] = started
        stack.extend(tree.get(child, []))
    return found


def _start_time(pid: int) -> bytes | None:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, started: bytes) -> bool:
    """Running as the same process (a zombie waiting for its reaper has ended)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
    except OSError:
        return False
    return fields[19] == started and fields[0] not in (b"Z", b"X")


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _environ(pid: int) -> dict[bytes, bytes]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(pair.split(b"=", 1) for pair in pairs if b"=" in pair)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_a_worker_killed_mid_fill_leaves_no_browser_and_the_next_worker_sends_it_once(
    make_app,
    run_pool,
    tmp_path,
    worker_processes,  # noqa: F811 - the fixture imported above
):
    forms = AtsStandIn().start()
    try:
        app = _app(make_app, forms)
        pool = run_pool(app, threads=2)
        api = ApiClient(app.test_client())
        account, resume_id = person(api)
        application = apply(api, account, resume_id, forms.url("greenhouse_draft"))
        assert application["state"] == "ready_for_review", application["error"]
        assert len(forms.drafts) == 1  # the review's fill
        pool.stop(grace_seconds=2)  # from here on worker processes fill and send it

        forms.hold_drafts.set()  # the next fill waits for its draft to save
        submitted = api.post(
            f"/api/applications/{application['id']}/submit",
            json={"channel": "browser"},
            headers=account.headers,
        )
        assert submitted.status_code == 202, submitted.get_json()
        env = worker_env(
            tmp_path,
            ENCRYPTION_KEY=app.config["SETTINGS"].encryption_key,  # it reads the profile
            OUTBOUND_ALLOW_LOOPBACK_PORTS=str(forms.port),
            BROWSER_SANDBOX="false",  # the tests run as root
            BROWSER_STEP_TIMEOUT_SECONDS="60",  # the fill waits for the held draft
            **GENEROUS_TEST_LIMITS,
        )
        doomed = worker_processes(env)
        wait_for(lambda: len(forms.drafts) == 2, timeout=60, interval=0.1)  # mid-fill
        processes = _descendants(doomed.pid)
        browsers = [pid for pid in processes if runtime.SESSION_MARK.encode() in _cmdline(pid)]
        assert browsers, "the worker's browser is running"
        # Chromium's crash handlers leave the tree (their parent is init): found by the
        # browser's home folder, which their command lines name.
        home = _environ(browsers[0])[b"HOME"]
        helpers = {pid: _start_time(pid) for pid in _all_pids() if home in _cmdline(pid)}
        processes.update({pid: started for pid, started in helpers.items() if started})
        assert any(b"run-driver" in _cmdline(pid) for pid in processes)

        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
        # The driver and every browser process die with the worker.
        wait_for(
            lambda: not any(_alive(pid, started) for pid, started in processes.items()),
            timeout=20,
            interval=0.1,
        )
        assert forms.received("greenhouse_draft") == []

        forms.release_drafts()
        worker_processes(env)  # its reaper finds the lost lease; the job runs again
        done = wait_state(
            api, account, application["id"], "submitted", "needs_human", "failed", timeout=90
        )
        assert done["state"] == "submitted", done["error"]
        [sent] = forms.received("greenhouse_draft")
        assert dict(sent["fields"])["job_application[first_name]"] == "Ada"
        assert [s["outcome"] for s in done["submissions"]] == ["sent"]
        assert len(forms.drafts) == 3
    finally:
        forms.stop()
