"""The browser's processes run below the API's priority and are gone when a session ends."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from server.agent.browser import runtime, session
from server.agent.browser.answers import Sources
from server.security_manager.outbound import OutboundPolicy
from tests.ats_stand_ins import AtsStandIn


def _niceness_of_every_thread(pid: int) -> set[int]:
    """Linux keeps a niceness per thread: Chromium sets its own threads' when it may."""
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_bytes().rsplit(b")", 1)[1].split()
        found.add(int(fields[16]))
    return found


def test_the_browser_and_its_driver_run_at_a_low_priority_and_leave_nothing_behind(base_settings):
    # Chromium refuses its sandbox as root.
    settings = base_settings.replace(browser_sandbox=os.geteuid() != 0)
    with runtime.open_browser(settings, time_limit_seconds=60) as browser:
        page = browser.context.new_page()
        page.set_content("<title>ok</title><p>a page that runs</p>")
        assert page.title() == "ok"
        mark = browser.watch.mark
        session = runtime.session_pids(mark)
        drivers = [
            pid
            for pid in runtime._children().get(os.getpid(), [])  # noqa: SLF001
            if b"run-driver" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        assert len(session) >= 3 and len(drivers) == 1  # browser, zygote, renderer...; driver
        niceness = set().union(*(_niceness_of_every_thread(pid) for pid in session + drivers))
        assert min(niceness) >= runtime.DRIVER_NICENESS, niceness
        # The browser runs in a session (and so a scheduling group) of its own: the group has
        # a low priority, or it would weigh as much as the API and the worker together.
        # Linux shows a process's autogroup only when autogroups schedule it: under a cpu cgroup
        # of its own (a container, a CI runner) the file is empty and the cgroup decides instead.
        ours = Path("/proc/self/autogroup").read_text().split()
        if ours:
            groups = {tuple(Path(f"/proc/{pid}/autogroup").read_text().split()) for pid in session}
            assert {name for name, *_ in groups}.isdisjoint({ours[0]})
            assert {int(group[-1]) for group in groups} == {runtime.GROUP_NICENESS}
    assert runtime.session_pids(mark) == []


def test_the_session_fills_a_form_at_the_browsers_priority_and_leaves_the_callers_alone(
    base_settings,
):
    # Playwright's client work runs in this process: it happens in a thread of its own at the
    # browser's niceness, and the caller's thread (a worker's, or a request's) keeps its own.
    settings = base_settings.replace(browser_sandbox=os.geteuid() != 0)
    forms = AtsStandIn().start()
    seen: list[int] = []

    def write_answers(fields):
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return {f["key"]: "I built a Django REST API." for f in fields}

    ours = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    try:
        outcome = session.run(
            settings,
            OutboundPolicy(frozenset({forms.port})),
            session.Request(
                url=forms.url("greenhouse"),
                sources=Sources(
                    profile={"name": "Ada Lovelace", "email": "ada@example.com"},
                    resume={},
                    posting={"company": "Acme", "title": "Backend Engineer"},
                    cover_letter="",
                    resume_file=None,
                    cover_letter_file=None,
                ),
                submit=False,
                write_answers=write_answers,
            ),
        )
    finally:
        forms.stop()
    assert outcome.ats == "greenhouse" and seen
    assert min(seen) >= runtime.DRIVER_NICENESS
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == ours
