"""Two machines that share PostgreSQL, Redis and the S3 bucket, and nothing else.

Each machine is README's scaled layout in a process group of its own (so a signal to the group
stops the whole machine, as a shutdown or a power cut does), with its own INSTANCE_DIR:

- machine A: `gunicorn -c gunicorn.conf.py` (one web process) and `python -m server.worker`
  with JOB_QUEUE_MAX_WORKERS=0 (README's "Scheduler only": a candidate, no job threads), so
  every job A's web process queues runs elsewhere;
- machine B: the same, its worker process with two job threads: it runs every job.

A new user signs up, confirms their address and uploads a resume on A; the resume is parsed
and tailored by B's worker; the tailored resume downloads from A and the upload from B; the
application, prepared and sent by mail through B, carries the tailored resume. The upload is sealed in the bucket and neither
machine's disk holds a user file. Then the scheduler's leadership moves: the machine that
leads is stopped (SIGTERM), the other leads and runs the scheduled jobs; the stopped one is
started again and the leader's machine is cut off (SIGKILL, its lock left to expire): the
restarted one takes over.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from server.core.extensions import db
from server.models import Job, Resume
from server.ops.scheduler import HISTORY_KEY, LEADER_KEY
from server.storage import sealing
from tests.helpers import GENEROUS_TEST_LIMITS
from tests.nginx_helpers import ROOT, free_port
from tests.queue_helpers import wait_for
from tests.storage_helpers import BUCKET, object_keys, reset_and_create_bucket, s3_client
from tests.test_journeys import EMPLOYERS, JD_BACKEND, User, fixture, pdf_text
from tests.test_worker import worker_env

# A two-machine drill: `make test-soak` runs it (CI too), `make test` does not.
pytestmark = pytest.mark.soak

EMAIL = "john@example.com"
RESUME = "resume-single-column.pdf"
# Short, so a lock left by a killed leader lapses soon; the candidates try every third of it.
LOCK_SECONDS = 4
# A loaded machine may be slow to start processes and to elect: generous bounds, never reached
# when things work.
START_SECONDS = 90
TAKEOVER_SECONDS = LOCK_SECONDS * 10


@pytest.fixture
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    reset_and_create_bucket(endpoint)
    yield endpoint
    server.stop()


class Machine:
    """One machine: a gunicorn web server and a worker process in one process group, with an
    INSTANCE_DIR of its own."""

    def __init__(self, name: str, root: Path, *, worker_threads: int, **shared: str):
        self.name = name
        self.folder = root / name
        self.instance_dir = self.folder / "instance"
        self.instance_dir.mkdir(parents=True)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = worker_env(
            self.instance_dir,
            GUNICORN_BIND=f"127.0.0.1:{self.port}",
            WEB_CONCURRENCY="1",
            GUNICORN_THREADS="4",
            JOB_QUEUE_MAX_WORKERS=str(worker_threads),
            JOB_QUEUE_LEASE_SECONDS="10",
            JOB_QUEUE_RECONCILE_INTERVAL_SECONDS="1",
            SCHEDULER_LOCK_SECONDS=str(LOCK_SECONDS),
            BCRYPT_ROUNDS="4",
            **GENEROUS_TEST_LIMITS,
            **shared,
        )
        self.processes: list[subprocess.Popen] = []
        self.group = 0
        self.starts = 0

    def start(self) -> None:
        """Start the web server and the worker process (in a new process group)."""
        self.starts += 1
        web = self._spawn(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "server:create_app()"],
            "gunicorn",
            process_group=0,
        )
        self.group = web.pid
        worker = self._spawn(
            [sys.executable, "-m", "server.worker"], "worker", process_group=self.group
        )
        self.processes = [web, worker]

    def _spawn(self, command: list[str], name: str, *, process_group: int) -> subprocess.Popen:
        log = open(self.folder / f"{name}-{self.starts}.out", "w")  # noqa: SIM115 - closed with the process
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            process_group=process_group,
        )

    @property
    def worker(self) -> subprocess.Popen:
        return self.processes[1]

    def ready(self) -> bool:
        """Serving HTTP, and the worker process is running."""
        for process in self.processes:
            assert process.poll() is None, f"machine {self.name} stopped:\n{self.output()}"
        out = (self.folder / f"worker-{self.starts}.out").read_text()
        if "running" not in out:
            return False
        try:
            return requests.get(f"{self.base}/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def output(self) -> str:
        return "\n".join(path.read_text()[-3000:] for path in sorted(self.folder.glob("*.out")))

    def members(self) -> set[int]:
        """The pids of every process of the machine now (web processes included)."""
        found = subprocess.run(
            ["pgrep", "-g", str(self.group)], capture_output=True, text=True
        ).stdout.split()
        return {int(pid) for pid in found}

    def signal(self, signum: int) -> list[int]:
        """Send `signum` to every process of the machine; their exit codes."""
        os.killpg(self.group, signum)
        return [process.wait(timeout=60) for process in self.processes]

    def stop(self) -> None:
        if any(process.poll() is None for process in self.processes):
            try:
                self.signal(signal.SIGTERM)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)


def pid_of(owner: str) -> int:
    """The pid in a scheduler owner or worker id (`host:pid[:...]`)."""
    return int(owner.split(":")[1])


def leader_on(redis_conn, machine: Machine) -> str | None:
    """The scheduler leader when it is one of the machine's processes."""
    owner = redis_conn.get(LEADER_KEY)
    return owner if owner and pid_of(owner) in machine.members() else None


def runs_by(redis_conn, owner: str) -> list[str]:
    """The scheduled jobs `owner` has run (from the scheduler's history)."""
    entries = [json.loads(raw) for raw in redis_conn.lrange(HISTORY_KEY, 0, -1)]
    return [entry["job"] for entry in entries if entry["owner"] == owner]


def user_files(folder: Path) -> list[str]:
    """Everything under an INSTANCE_DIR that is not one of its own processes' logs."""
    return sorted(
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and path.suffix != ".log"
    )


def test_two_machines_share_files_through_the_bucket_and_hand_over_the_scheduler(
    app, tmp_path, redis_conn, smtp_server, moto_endpoint
):
    shared = {
        "STORAGE_S3_BUCKET": BUCKET,
        "STORAGE_S3_ENDPOINT_URL": moto_endpoint,
        "STORAGE_S3_REGION": "us-east-1",
        "STORAGE_S3_ACCESS_KEY_ID": "testing",
        "STORAGE_S3_SECRET_ACCESS_KEY": "testing",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_server.port),
        "SMTP_USE_TLS": "false",
    }
    a = Machine("a", tmp_path, worker_threads=0, **shared)
    b = Machine("b", tmp_path, worker_threads=2, **shared)
    machines = (a, b)
    try:
        for machine in machines:
            machine.start()
        for machine in machines:
            wait_for(machine.ready, timeout=START_SECONDS, interval=0.1)
        assert "running 0 threads" in (a.folder / "worker-1.out").read_text()
        assert "running 2 threads" in (b.folder / "worker-1.out").read_text()

        # On A: sign up, confirm the address (the mail job runs on B), upload a resume (parsed
        # on B, from the bucket), tailor it (on B), download the result.
        on_a = User(a.base, EMAIL)
        on_a.verify_email(smtp_server, EMAIL)
        uploaded = fixture(RESUME)
        resume = on_a.upload_resume("john.pdf", uploaded)
        assert [role["employer"] for role in resume["parsed"]["experience"]] == list(EMPLOYERS)
        job_description = fixture(JD_BACKEND).decode()
        tailoring = on_a.json(
            "POST",
            "/api/jobs",
            202,
            json={
                "type": "resume_tailoring",
                "payload": {
                    "resume_id": resume["id"],
                    "job_description": job_description,
                    "job_title": "Senior Backend Engineer",
                    "company": "Northwind Labs",
                },
            },
        )
        events = on_a.watch(tailoring["job_id"])
        assert events[-1][1]["status"] == "succeeded", events[-1]
        result = on_a.json("GET", f"/api/jobs/{tailoring['job_id']}/status")["result"]
        download = on_a.call(
            "GET", f"/api/user/tailored-resumes/{result['tailored_resume_id']}?format=pdf"
        )
        assert download.headers["Content-Type"].startswith("application/pdf")
        flat = " ".join(pdf_text(download.content).split())
        assert all(employer in flat for employer in EMPLOYERS), flat[:300]

        # On B: the upload downloads as it was; an application to a job whose description
        # gives an address goes by mail with the resume tailored to it.
        on_b = copy.copy(on_a)
        on_b.base = b.base
        original = on_b.call("GET", f"/api/user/resumes/{resume['id']}/download")
        assert original.content == uploaded
        started = on_b.json(
            "POST",
            "/api/applications",
            202,
            json={
                "job_url": "https://jobs.northwind.example/backend-engineer",
                "title": "Senior Backend Engineer",
                "company": "Northwind Labs",
                "job_description": job_description
                + "\nApply by sending your resume to jobs@northwind.example.",
                "resume_id": resume["id"],
            },
        )
        assert on_b.watch(started["job_id"])[-1][1]["status"] == "succeeded"
        application = on_b.json("GET", f"/api/applications/{started['application_id']}")
        assert application["state"] == "ready_for_review", application
        assert application["package"]["channel"] == "email", application["package"]
        sent = on_b.json("POST", f"/api/applications/{application['id']}/submit", 202, json={})
        assert on_b.watch(sent["submission_job_id"])[-1][1]["status"] == "succeeded"
        application = on_b.json("GET", f"/api/applications/{application['id']}")
        assert application["state"] == "submitted", application
        [mail] = [m for m in smtp_server.messages if m["To"] == "jobs@northwind.example"]
        assert mail["Reply-To"] == EMAIL
        [cv] = [
            part for part in mail.iter_attachments() if part.get_content_type() == "application/pdf"
        ]
        cv_text = " ".join(pdf_text(cv.get_content()).split())
        assert all(employer in cv_text for employer in EMPLOYERS), cv_text[:300]

        # Every job ran on B's worker process.
        db.session.rollback()
        runners = db.session.execute(select(Job.job_type, Job.status, Job.worker_id)).all()
        assert {row.job_type for row in runners} >= {
            "resume_parsing",
            "resume_tailoring",
            "job_application",
            "application_submission",
        }, runners
        assert {(row.status, pid_of(row.worker_id)) for row in runners} == {
            ("succeeded", b.worker.pid)
        }, runners

        # The upload is in the bucket, sealed: its bytes are not the PDF's. Neither machine's
        # INSTANCE_DIR holds a user file (nor a mail): only its own logs.
        [row] = db.session.scalars(select(Resume)).all()
        assert row.storage == "s3"
        key = f"files/users/{row.user_id}/resumes/{row.storage_key}"
        assert object_keys(moto_endpoint) == [key]
        sealed = s3_client(moto_endpoint).get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert sealed.startswith(sealing.MAGIC) and uploaded[:32] not in sealed
        assert not sealed.startswith(b"%PDF")
        for machine in machines:
            assert user_files(machine.instance_dir) == [], machine.name

        # The scheduler: one leader among the four candidates. Its machine shuts down
        # (SIGTERM): every process exits cleanly and the other machine leads.
        owner = wait_for(lambda: redis_conn.get(LEADER_KEY), timeout=TAKEOVER_SECONDS)
        [leading] = [m for m in machines if pid_of(owner) in m.members()]
        standing_by = b if leading is a else a
        assert leading.signal(signal.SIGTERM) == [0, 0], leading.output()
        successor = wait_for(
            lambda: leader_on(redis_conn, standing_by), timeout=TAKEOVER_SECONDS, interval=0.1
        )
        wait_for(lambda: "queue_reaper" in runs_by(redis_conn, successor), timeout=30)

        # The stopped machine comes back and stands by; the leader's machine is cut off
        # (SIGKILL): its lock stays until it expires, then the restarted machine leads.
        leading.start()
        wait_for(leading.ready, timeout=START_SECONDS, interval=0.1)
        assert leader_on(redis_conn, standing_by) == successor
        cut_off = standing_by.members()
        os.killpg(standing_by.group, signal.SIGKILL)
        for process in standing_by.processes:
            process.wait(timeout=30)
        left = redis_conn.get(LEADER_KEY)
        assert left is None or pid_of(left) in cut_off  # nobody released it
        heir = wait_for(
            lambda: leader_on(redis_conn, leading), timeout=TAKEOVER_SECONDS, interval=0.1
        )
        wait_for(lambda: "queue_reaper" in runs_by(redis_conn, heir), timeout=30)
    except BaseException:
        for machine in machines:
            print(f"--- machine {machine.name}\n{machine.output()}")
        raise
    finally:
        for machine in machines:
            machine.stop()
