"""The browser channel on this machine: seconds per application (fill + submit) per ATS
stand-in, peak memory per browser session, and the API's status endpoint throughput while
2 browser applications run, as a ratio to the same without them (rounds alternate).

The stand-ins are the tests' (tests/ats_stand_ins.py) on 127.0.0.1, at the lowest priority (a
real form is served by another machine, whose CPU is not the service's); the browser is
Debian's Chromium. The API is the hot-path benchmark's gunicorn service, loaded by wrk.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import threading
from pathlib import Path
from types import SimpleNamespace

import redis

from benchmarks import bench_hot_path as hot
from benchmarks.scratch import ensure_database
from server.agent.browser import runtime, session
from server.agent.browser.answers import Sources
from server.security_manager.outbound import OutboundPolicy
from tests.ats_stand_ins import AtsStandIn

ATSES = ("greenhouse", "greenhouse_new", "lever", "ashby", "workable", "smartrecruiters")
RUNS_PER_ATS = 3
PROFILE = {
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "phone": "+44 20 7946 0958",
    "location": "London, UK",
    "links": [{"label": "LinkedIn", "url": "https://www.linkedin.com/in/ada"}],
    "work_authorization": [{"country": "GB", "status": "citizen"}],
    "requires_sponsorship": False,
    "willing_to_relocate": True,
    "salary_expectation": {"minimum": 90000, "maximum": 110000, "currency": "GBP"},
    "notice_period_days": 30,
    "eeo": {"gender": "female"},
}


def _settings() -> SimpleNamespace:
    return SimpleNamespace(
        browser_executable="/usr/bin/chromium",
        browser_sandbox=os.geteuid() != 0,  # Chromium refuses its sandbox as root
        browser_step_timeout_seconds=60.0,
        # The browser yields the CPU to everything else on the machine: a loaded machine
        # makes an application slow, which is measured, not cut short.
        browser_application_timeout_seconds=600.0,
        browser_memory_limit_mb=1536,
        browser_max_pages=8,
    )


def _apply(settings, policy, url: str) -> session.Outcome:
    sources = Sources(
        profile=PROFILE,
        resume={},
        posting={"company": "Acme", "title": "Backend Engineer", "location": "London, UK"},
        cover_letter="Dear Acme hiring team,\n\nI build Django APIs.\n\nAda Lovelace",
        resume_file={
            "name": "Ada-Lovelace-Resume.pdf",
            "mimeType": "application/pdf",
            "buffer": b"%PDF-1.4\n" + b"0" * 40_000,
        },
        cover_letter_file=None,
    )
    request = session.Request(
        url=url,
        sources=sources,
        submit=True,
        write_answers=lambda fields: {f["key"]: "I built a Django REST API." for f in fields},
    )
    return session.run(settings, policy, request)


def run(args) -> list[str]:
    settings = _settings()
    missing = runtime.unavailable_reason(settings)
    if missing:
        return [f"browser.skipped {missing}"]
    forms = AtsStandIn(niceness=19).start()  # the employer's site: another machine's CPU
    policy = OutboundPolicy(frozenset({forms.port}))
    lines: list[str] = []
    peaks: list[int] = []
    try:
        _apply(settings, policy, forms.url("greenhouse"))  # warm the page cache
        for name in ATSES:
            seconds = []
            for _ in range(RUNS_PER_ATS):
                outcome = _apply(settings, policy, forms.url(name))
                if outcome.status != "submitted":
                    raise RuntimeError(f"{name}: {outcome.status} {outcome.reason}")
                seconds.append(outcome.seconds)
                peaks.append(outcome.peak_memory_bytes)
            lines.append(
                f"browser.seconds_per_application.{name} median {statistics.median(seconds):.2f} "
                f"max {max(seconds):.2f} (fill + submit, {RUNS_PER_ATS} runs, goal <= 15)"
            )
        lines.append(
            f"browser.peak_memory_mb_per_session {max(peaks) / 2**20:.0f} "
            f"(median {statistics.median(peaks) / 2**20:.0f}, PSS of the browser's processes)"
        )
        lines += _throughput(args, settings, policy, forms)
    finally:
        forms.stop()
    return lines


def _throughput(args, settings, policy, forms) -> list[str]:
    if shutil.which("wrk") is None:
        return ["browser.throughput.skipped wrk is not installed (apt-get install wrk)"]
    ensure_database(hot.DATABASE_URL)
    redis.Redis.from_url(args.redis_url).flushdb()
    scratch = Path(tempfile.mkdtemp(prefix="bench-browser-"))
    env = hot._service_env(scratch, args.redis_url)  # noqa: SLF001 - the same service
    hot._migrate(env)  # noqa: SLF001
    port = hot._free_port()  # noqa: SLF001
    server = hot._gunicorn("server:create_app()", port, env)  # noqa: SLF001
    base = f"http://127.0.0.1:{port}"
    try:
        token, job_id = hot._prepare_user(base)  # noqa: SLF001
        url = f"{base}/api/jobs/{job_id}/status"
        hot._wrk(url, 1, token)  # noqa: SLF001 - warm-up
        alone, loaded, sessions, stopped = [], [], [], []
        # The browser yields the CPU to the API: a session waits out the saturating load.
        loaded_settings = SimpleNamespace(
            **{**vars(settings), "browser_step_timeout_seconds": 120.0}
        )
        for _ in range(args.rounds):
            alone.append(hot._wrk(url, args.seconds * 3, token)[0])  # noqa: SLF001
            stop = threading.Event()

            def browse(stop=stop) -> None:
                while not stop.is_set():
                    try:
                        outcome = _apply(loaded_settings, policy, forms.url("greenhouse_new"))
                    except runtime.BrowserStopped:
                        stopped.append(1)
                        continue
                    sessions.append(outcome.seconds)
                    if outcome.status != "submitted":
                        stopped.append(1)

            workers = [threading.Thread(target=browse) for _ in range(2)]
            for worker in workers:
                worker.start()
            loaded.append(hot._wrk(url, args.seconds * 3, token)[0])  # noqa: SLF001
            stop.set()
            for worker in workers:
                worker.join()
    finally:
        hot._stop(server)  # noqa: SLF001
        shutil.rmtree(scratch, ignore_errors=True)
    ratio = statistics.median(loaded) / statistics.median(alone)
    return [
        f"browser.status_rps_alone {statistics.median(alone):.0f}",
        f"browser.status_rps_with_2_browser_applications {statistics.median(loaded):.0f}",
        f"browser.status_throughput_ratio {ratio:.2f} (goal >= 0.8; {args.rounds} alternating "
        f"rounds, {len(sessions)} browser applications during them, median "
        f"{statistics.median(sessions) if sessions else 0:.1f} s each, {len(stopped)} not sent "
        "(a time limit)",
    ]
