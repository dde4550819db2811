"""User journeys for the load test (`python -m benchmarks.load`, `make load`), run by locust.

Each simulated job seeker comes from its own address (sent as X-Forwarded-For: the service
runs with TRUSTED_PROXY_COUNT=1, as behind nginx; the addresses are from 198.18.0.0/15, the
range set aside for benchmarks) and goes through what a person does: register, log in, upload
a resume, ask for a tailoring and a job search, poll the jobs' status and read their own
objects. A few operators (admin accounts made by the runner, LOAD_OPERATORS) submit
`diagnostic` jobs and poll them, so the worker process has work.

Every answer is classified: expected (2xx, or 422 `job_type_unavailable` for a job type whose
handler this build does not have), 429 (a limit, by design), or an error. The counts go to the
JSON file LOAD_OUTCOMES_PATH names when the run ends.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import threading
from collections import Counter

from locust import HttpUser, between, events, task

_addresses = itertools.count(1)
_lock = threading.Lock()
OUTCOMES: Counter[str] = Counter()
# Latency samples (ms) of answered requests: the sign-up (register, login, first upload: bcrypt,
# the password strength estimate, parsing) apart from everything a signed-in user does after.
LATENCIES: dict[str, list[float]] = {"signup": [], "steady": []}
SIGNUP_ROUTES = {"/api/auth/register", "/api/auth/login", "/api/user/resumes [upload]"}
OPERATORS = json.loads(os.environ.get("LOAD_OPERATORS", "[]"))
RUN_ID = os.environ.get("LOAD_RUN_ID", "run")
PASSWORD = "quartz lantern orbit 4417 meadow"  # noqa: S105 - test accounts on a scratch database
RESUME = (
    b"Ada Example\nada@example.com\n\nSUMMARY\nBackend engineer, 6 years of Python and "
    b"PostgreSQL.\n\nEXPERIENCE\nSenior Engineer | Example Corp | Remote\nJan 2021 - Present\n"
    b"- Built a job queue on Redis serving 2 million jobs a day\n- Cut p99 latency by 40%\n\n"
    b"SKILLS\nPython, Flask, PostgreSQL, Redis, Docker\n"
)
JOB_DESCRIPTION = (
    "We are hiring a backend engineer with Python, Flask and PostgreSQL experience to build "
    "reliable APIs and queues. Redis and Docker are a plus."
)


def next_address() -> str:
    with _lock:
        n = next(_addresses)
    return f"198.18.{n // 250}.{n % 250 + 1}"


def classify(response, name: str, expected=(200, 201, 202)) -> None:
    """Mark a `catch_response` answer, count its outcome and keep its latency."""
    status = response.status_code
    group = "signup" if name in SIGNUP_ROUTES else "steady"
    with _lock:
        LATENCIES[group].append(response.elapsed.total_seconds() * 1000)
    if status in expected:
        kind = "ok"
        response.success()
    elif status == 429:
        kind = "throttled_429"
        response.failure("429 (a limit, by design)")
    elif status == 422 and _code(response) == "job_type_unavailable":
        kind = "unavailable_422"
        response.success()
    else:
        kind = "error"
        response.failure(f"{status}: {response.text[:200]}")
    with _lock:
        OUTCOMES[kind] += 1
        if kind == "error":
            OUTCOMES[f"error {response.request.method} {status}"] += 1


def _code(response) -> str | None:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


@events.quitting.add_listener
def _write_outcomes(environment, **_kwargs) -> None:
    path = os.environ.get("LOAD_OUTCOMES_PATH")
    if path:
        with open(path, "w") as handle:
            json.dump({"outcomes": dict(OUTCOMES), "latencies_ms": LATENCIES}, handle)


class _Client(HttpUser):
    abstract = True

    def on_start(self) -> None:
        self.address = next_address()
        self.headers = {"X-Forwarded-For": self.address}
        self.jobs: list[str] = []

    def post(self, path, name=None, expected=(200, 201, 202), **kwargs):
        name = name or path
        with self.client.post(
            path, headers=self.headers, name=name, catch_response=True, **kwargs
        ) as response:
            classify(response, name, expected)
            return response

    def get(self, path, name=None):
        name = name or path
        with self.client.get(
            path, headers=self.headers, name=name, catch_response=True
        ) as response:
            classify(response, name)
            return response

    def login(self, email: str) -> bool:
        response = self.post(
            "/api/auth/login", json={"email": email, "password": PASSWORD}, expected=(200,)
        )
        if response.status_code != 200:
            return False
        self.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        return True

    def poll(self) -> None:
        if self.jobs:
            job_id = random.choice(self.jobs[-5:])
            self.get(f"/api/jobs/{job_id}/status", name="/api/jobs/[id]/status")


class JobSeeker(_Client):
    weight = 20
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        super().on_start()
        self.resume_id = None
        email = f"seeker-{RUN_ID}-{self.address}@example.com"
        registered = self.post(
            "/api/auth/register",
            json={"email": email, "password": PASSWORD, "name": "Load Seeker"},
            expected=(201,),
        )
        if registered.status_code != 201 or not self.login(email):
            self.stop()
            return
        upload = self.post(
            "/api/user/resumes",
            name="/api/user/resumes [upload]",
            files={"file": ("resume.txt", RESUME, "text/plain")},
            expected=(202,),  # stored; parsed by a `resume_parsing` job on the worker
        )
        if upload.status_code == 202:
            self.resume_id = upload.json()["id"]

    @task(6)
    def poll_status(self) -> None:
        self.poll()

    @task(4)
    def read_own(self) -> None:
        self.get("/api/user/profile")
        self.get("/api/user/jobs")
        self.get("/api/user/resumes")
        if self.resume_id:
            self.get(f"/api/user/resumes/{self.resume_id}", name="/api/user/resumes/[id]")

    @task(1)
    def ask_for_tailoring(self) -> None:
        if not self.resume_id:
            return
        response = self.post(
            "/api/jobs",
            name="/api/jobs [resume_tailoring]",
            json={
                "type": "resume_tailoring",
                "payload": {"resume_id": self.resume_id, "job_description": JOB_DESCRIPTION},
            },
        )
        if response.status_code == 202:
            self.jobs.append(response.json()["job_id"])

    @task(1)
    def search_jobs(self) -> None:
        response = self.post(
            "/api/jobs",
            name="/api/jobs [job_search]",
            json={
                "type": "job_search",
                "payload": {"keywords": ["python", "backend"], "sources": ["remotive"]},
            },
        )
        if response.status_code == 202:
            self.jobs.append(response.json()["job_id"])


class Operator(_Client):
    """An admin account (made by the runner) that keeps the workers busy."""

    fixed_count = len(OPERATORS)
    weight = 1
    wait_time = between(0.5, 1.5)
    _taken = itertools.count()

    def on_start(self) -> None:
        super().on_start()
        index = next(self._taken)
        if index >= len(OPERATORS) or not self.login(OPERATORS[index]):
            self.stop()

    @task(1)
    def submit(self) -> None:
        response = self.post(
            "/api/jobs",
            name="/api/jobs [diagnostic]",
            json={"type": "diagnostic", "payload": {"sleep_ms": random.choice([0, 50, 200])}},
        )
        if response.status_code == 202:
            self.jobs.append(response.json()["job_id"])

    @task(3)
    def poll_status(self) -> None:
        self.poll()
