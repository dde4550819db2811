"""The product's two user journeys, end to end, as a new user makes them over HTTP.

The service runs as docs/deployment.md deploys it: `gunicorn -c gunicorn.conf.py` (two web
processes) and one `python -m server.worker` process, on the test PostgreSQL and Redis. Every
outside party is a local stand-in speaking its real wire format: Gemini, the nine job boards, a
Recruitee careers site (its offers and its candidates API on one address), an SMTP server and
Mimikree. The resume and the job description are the real files in tests/fixtures/.

- Tailoring: upload a resume PDF, submit a job description, watch progress through the event
  stream with an events token (as a browser does), read the result, download DOCX and PDF, with
  the local engine and with Gemini (whose stand-in invents an employer, a degree and a number).
- Applications: search several boards at once, read the ranked postings, prepare an
  application, review its package, submit it, track it.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from docx import Document
from pypdf import PdfReader
from werkzeug.wrappers import Request, Response

from tests.gemini_stand_in import GeminiStandIn
from tests.helpers import GENEROUS_TEST_LIMITS
from tests.job_board_stand_ins import Listing, job_boards
from tests.mimikree_stand_in import MimikreeStandIn
from tests.nginx_helpers import ROOT, free_port
from tests.queue_helpers import wait_for
from tests.recruitee_stand_in import RecruiteeStandIn
from tests.tailoring_samples import edit, task_of
from tests.test_worker import worker_env

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture(name: str) -> bytes:
    """A real fixture file kept with the tests (tests/fixtures/NOTICE.md says where from)."""
    return (FIXTURES / name).read_bytes()


PASSWORD = "quartz lantern orbit 4417 meadow"
# The real resume's employers and titles (tests/fixtures/NOTICE.md: a fictional person).
EMPLOYERS = ("Stripe", "Figma", "Notion")
TITLES = ("Senior Software Engineer", "Software Engineer")
INVENTED = ("Initech", "PhD", "Doctorate")


class Service:
    """gunicorn plus a worker process, started with the given environment."""

    def __init__(self, tmp_path: Path, **extra: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = worker_env(
            tmp_path,
            GUNICORN_BIND=f"127.0.0.1:{self.port}",
            WEB_CONCURRENCY="2",
            GUNICORN_THREADS="4",
            JOB_QUEUE_MAX_WORKERS="3",
            JOB_QUEUE_LEASE_SECONDS="10",
            BCRYPT_ROUNDS="4",
            **GENEROUS_TEST_LIMITS,
            **extra,
        )
        self.logs = tmp_path
        self.processes = [
            self._start(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "server:create_app()"],
                env,
                "gunicorn.out",
            ),
            self._start([sys.executable, "-m", "server.worker"], env, "worker.out"),
        ]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"the service did not start:\n{self.output()}")

    def _start(self, command, env, name):
        log = open(self.logs / name, "w")  # noqa: SIM115 - closed with the process
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return "\n".join(
            (self.logs / name).read_text()[-4000:] for name in ("gunicorn.out", "worker.out")
        )

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture
def deploy(settings, tmp_path):
    """Start the service with extra environment; stopped after the test."""
    services: list[Service] = []

    def start(**extra: str) -> Service:
        service = Service(tmp_path, **extra)
        services.append(service)
        return service

    yield start
    for service in services:
        service.stop()


class User:
    """A new user talking to the service over HTTP, as a client would."""

    def __init__(self, base: str, email: str, name: str = "John Doe"):
        self.base = base
        self.http = requests.Session()
        registered = self.http.post(
            f"{base}/api/auth/register",
            json={"email": email, "password": PASSWORD, "name": name},
            timeout=30,
        )
        assert registered.status_code == 201, registered.text
        login = self.http.post(
            f"{base}/api/auth/login", json={"email": email, "password": PASSWORD}, timeout=30
        )
        assert login.status_code == 200, login.text
        self.http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"

    def call(self, method: str, path: str, expect: int | None = 200, **kwargs) -> Any:
        response = self.http.request(method, f"{self.base}{path}", timeout=30, **kwargs)
        if expect is not None:
            assert response.status_code == expect, (method, path, response.text)
        return response

    def json(self, method: str, path: str, expect: int = 200, **kwargs) -> Any:
        return self.call(method, path, expect, **kwargs).json()

    def verify_email(self, smtp_server, email: str) -> None:
        """Ask for the verification mail, read its code from the mailbox, confirm it."""
        self.call("POST", "/api/auth/verify-email/request", 202)
        [body] = wait_for(lambda: smtp_server.bodies_to(email), timeout=30)
        token = re.search(r"^([A-Za-z0-9_-]{40,})\s*$", body, re.MULTILINE).group(1)
        self.call("POST", "/api/auth/verify-email/confirm", 200, json={"token": token})

    def upload_resume(self, filename: str, data: bytes) -> dict[str, Any]:
        """Upload a PDF resume (202), follow its parsing job's events to the end; the resume
        as `GET /api/user/resumes/<id>` then shows it, parsed."""
        accepted = self.call(
            "POST", "/api/user/resumes", 202, files={"file": (filename, data, "application/pdf")}
        ).json()
        assert accepted["parse_status"] == "pending", accepted
        events = self.watch(accepted["parse_job_id"])
        assert events[-1][1]["status"] == "succeeded", events
        resume = self.json("GET", f"/api/user/resumes/{accepted['id']}")
        assert resume["parse_status"] == "parsed", resume
        return resume

    def watch(self, job_id: str, timeout: float = 60) -> list[tuple[str, dict[str, Any]]]:
        """Follow a job's event stream with an events token until it ends, as a browser's
        EventSource does (reconnecting with Last-Event-ID when the stream closes)."""
        events: list[tuple[str, dict[str, Any]]] = []
        last_id = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            token = self.json("POST", f"/api/jobs/{job_id}/events-token")["token"]
            headers = {"Accept": "text/event-stream", "Authorization": ""}
            if last_id:
                headers["Last-Event-ID"] = last_id
            with requests.get(
                f"{self.base}/api/jobs/{job_id}/events",
                params={"token": token},
                headers=headers,
                stream=True,
                timeout=30,
            ) as stream:
                assert stream.status_code == 200, stream.text
                assert stream.headers["Content-Type"].startswith("text/event-stream")
                event: dict[str, str] = {}
                for line in stream.iter_lines(decode_unicode=True):
                    if line:
                        field, _, value = line.partition(":")
                        event[field] = value.removeprefix(" ")
                        continue
                    if "event" in event:
                        last_id = event.get("id", last_id)
                        events.append((event["event"], json.loads(event["data"])))
                        if event["event"] == "status" and events[-1][1]["status"] in (
                            "succeeded",
                            "failed",
                            "cancelled",
                        ):
                            return events
                    event = {}
        raise AssertionError(f"job {job_id} did not end in {timeout} s: {events[-5:]}")


def docx_text(data: bytes) -> str:
    document = Document(io.BytesIO(data))
    parts = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        parts.extend(cell.text for row in table.rows for cell in row.cells)
    return "\n".join(parts)


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


# ---------------------------------------------------------------------------------------------
# Issue 10: upload, tailor, watch, download (local engine and Gemini)
# ---------------------------------------------------------------------------------------------

JD_BACKEND = "jd-backend-eng.txt"
REQUIREMENTS = {
    "title": "Senior Backend Engineer",
    "seniority": "senior",
    "requirements": [
        {
            "text": "4+ years of professional Python experience",
            "kind": "experience",
            "keywords": ["Python"],
            "importance": "required",
            "years": 4,
        },
        {
            "text": "Docker and Kubernetes",
            "kind": "skill",
            "keywords": ["Docker", "Kubernetes"],
            "importance": "required",
            "years": None,
        },
        {
            "text": "Redis caching patterns",
            "kind": "skill",
            "keywords": ["Redis"],
            "importance": "required",
            "years": None,
        },
        {
            "text": "event-driven messaging with Kafka",
            "kind": "skill",
            "keywords": ["Kafka"],
            "importance": "required",
            "years": None,
        },
        {
            "text": "asyncio",
            "kind": "skill",
            "keywords": ["asyncio"],
            "importance": "required",
            "years": None,
        },
    ],
    "keywords": ["Python", "Docker", "Kubernetes", "Redis", "Kafka", "asyncio", "PostgreSQL"],
}


def gemini_edits(parsed: dict[str, Any]) -> dict[str, Any]:
    """A model that makes things up: an invented employer and degree in the summary, an
    inflated number in the newest role's first bullet; plus one faithful rewrite."""
    first = parsed["experience"][0]["bullets"][0]
    return {
        "edits": [
            edit(
                "summary",
                "rewrite",
                text="Senior Software Engineer building scalable backend systems in Python "
                "and Go. Previously a staff engineer at Initech. Holds a PhD in Computer "
                "Science.",
                keywords=["Python"],
            ),
            edit(
                "experience",
                "rewrite",
                experience_index=0,
                bullet_index=0,
                text=first.replace("18%", "95%"),
                keywords=["Kafka"],
            ),
            edit("experience", "reorder", experience_index=0, order=[2, 1, 0]),
        ]
    }


def tailor_and_check(user: User, resume_file: str, *, mimikree_answers: bool) -> dict[str, Any]:
    """The tailoring journey; returns the result after checking what the user sees."""
    upload = user.upload_resume(resume_file, fixture(resume_file))
    parsed = upload["parsed"]
    assert [role["employer"] for role in parsed["experience"]] == list(EMPLOYERS), parsed
    job_description = fixture(JD_BACKEND).decode()
    submitted = user.json(
        "POST",
        "/api/jobs",
        202,
        json={
            "type": "resume_tailoring",
            "payload": {
                "resume_id": upload["id"],
                "job_description": job_description,
                "job_title": "Senior Backend Engineer",
                "company": "Platform Co",
            },
        },
    )
    events = user.watch(submitted["job_id"])
    progress = [body for name, body in events if name == "progress"]
    # The stream shows the step under way each time it looks (a fast step may be passed).
    percents = [p["percent"] for p in progress]
    assert len(progress) >= 2 and percents == sorted(percents) and percents[-1] == 100, events
    assert all(p["message"] for p in progress if p["percent"]), progress
    assert events[-1][0] == "status" and events[-1][1]["status"] == "succeeded", events[-1]

    job = user.json("GET", f"/api/jobs/{submitted['job_id']}/status")
    result = job["result"]
    # What the result explains: keywords and the match score, part by part.
    keywords = result["keywords"]
    assert {"Python", "Redis", "Kafka"} <= set(keywords["present"]), keywords
    if mimikree_answers:
        # The user's Mimikree answer is evidence, marked as theirs, and the resume shows it.
        assert "asyncio" in keywords["added_with_evidence"], keywords
        assert any(e["source"] == "mimikree" for e in result["evidence"]), result["evidence"]
    else:
        assert "asyncio" in keywords["missing"], keywords
    score = result["match_score"]
    assert 0 <= score["before"] <= score["after"] <= 100, score
    assert score["breakdown"] and all(
        part["after_explanation"] and part["max"] > 0 for part in score["breakdown"]
    ), score

    # Nothing the resume does not hold: the same roles, education and skills, reordered at most.
    tailored = result["tailored_resume"]

    def roles(resume):
        return [
            (r["employer"], r["title"], r["start_date"], r["end_date"])
            for r in resume["experience"]
        ]

    def skills(resume):
        return sorted(item for group in resume["skills"] for item in group["items"])

    assert roles(tailored) == roles(parsed) and tailored["education"] == parsed["education"]
    assert skills(tailored) == skills(parsed)
    assert tailored["contact"] == parsed["contact"]

    tailored_id = result["tailored_resume_id"]
    listed = user.json("GET", "/api/user/tailored-resumes")
    assert [item["id"] for item in listed["items"]] == [tailored_id], listed
    downloads = {}
    for fmt, kind in (
        ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("pdf", "application/pdf"),
    ):
        response = user.call("GET", f"/api/user/tailored-resumes/{tailored_id}?format={fmt}")
        assert response.headers["Content-Type"].startswith(kind), response.headers
        assert "attachment" in response.headers["Content-Disposition"]
        downloads[fmt] = (docx_text if fmt == "docx" else pdf_text)(response.content)
    for fmt, text in downloads.items():
        flat = " ".join(text.split())
        for name in (*EMPLOYERS, *TITLES, "UC Berkeley", "john.doe@email.com"):
            assert name in flat, (fmt, name)
        for invented in INVENTED:
            assert invented not in flat, (fmt, invented)
        assert ("asyncio" in flat) == mimikree_answers, fmt
    return result


@pytest.mark.parametrize("engine", ["local", "gemini"])
def test_a_new_user_tailors_a_real_resume_and_downloads_docx_and_pdf(deploy, engine):
    tailoring_journey(deploy, engine)


def tailoring_journey(deploy, engine: str, **service_env: str) -> None:
    """The tailoring journey on a service started with `service_env` added."""
    extra: dict[str, str] = {**service_env}
    gemini = None
    if engine == "gemini":
        gemini = GeminiStandIn().start()
        extra |= {
            "GOOGLE_API_KEY": gemini.api_key,
            "GEMINI_MODEL": "gemini-test",
            "GEMINI_BASE_URL": gemini.base_url,
            "GEMINI_TIMEOUT_SECONDS": "10",
        }
    mimikree = MimikreeStandIn().start()
    # With the local engine Mimikree answers; with Gemini it is down: tailoring goes on.
    mimikree.answers = lambda question: (
        "Yes: at Stripe I wrote the fraud pipeline's consumers with asyncio."
        if "asyncio" in question
        else None
    )
    mimikree.mode = "ok" if engine == "local" else "down"
    try:
        service = deploy(
            MIMIKREE_BASE_URL=mimikree.base_url,
            OUTBOUND_ALLOW_LOOPBACK_PORTS=str(mimikree.port),
            **extra,
        )
        user = User(service.base, f"john-{engine}@example.com")
        user.json(
            "PUT",
            "/api/user/credentials/mimikree",
            json={"username": "jane@example.com", "secret": "correct horse"},
        )
        if gemini is not None:
            # The stand-in answers for the resume this user uploads (parsed as the service
            # parses it: the same structure the edits point into).
            parsed_holder: dict[str, Any] = {}

            def answer(body):
                if task_of(body) == "extract_requirements":
                    return REQUIREMENTS
                return gemini_edits(parsed_holder["parsed"])

            gemini.answer = answer
            upload = user.upload_resume("probe.pdf", fixture("resume-two-column.pdf"))
            parsed_holder["parsed"] = upload["parsed"]
            user.call("DELETE", f"/api/user/resumes/{upload['id']}", 204)
        result = tailor_and_check(
            user,
            "resume-two-column.pdf" if engine == "gemini" else "resume-single-column.pdf",
            mimikree_answers=engine == "local",
        )
        assert result["engine"] == engine
        assert result["mimikree"]["status"] == ("ok" if engine == "local" else "unavailable")
        if gemini is not None:
            assert result["engine_calls"] == 2 and len(gemini.requests) == 2
            dropped = " ".join(claim["text"] + claim["claim"] for claim in result["dropped_claims"])
            for claim in ("Initech", "PhD", "95%"):
                assert claim in dropped, (claim, result["dropped_claims"])
            assert "18%" in json.dumps(result["tailored_resume"]["experience"][0])
    finally:
        mimikree.stop()
        if gemini is not None:
            gemini.stop()


# ---------------------------------------------------------------------------------------------
# Issue 11: search several boards, see ranked postings, prepare, review, submit, track
# ---------------------------------------------------------------------------------------------


class RecruiteeSite(RecruiteeStandIn):
    """One Recruitee careers site: the board stand-in's offers (GET, forwarded) and the
    candidates API (POST) on one address, as `https://{company}.recruitee.com` serves both."""

    def __init__(self, board_base: str):
        self.board_base = board_base.split("/{company}")[0]
        super().__init__()

    def _app(self, environ, start_response):
        request = Request(environ)
        if request.method == "GET":
            upstream = requests.get(
                f"{self.board_base}{request.full_path}",
                headers={"User-Agent": request.headers.get("User-Agent", "")},
                timeout=10,
            )
            response = Response(
                upstream.content, status=upstream.status_code, mimetype="application/json"
            )
            return response(environ, start_response)
        return super()._app(environ, start_response)


BACKEND_HTML = (
    "<h2>Senior Backend Engineer</h2><p>Design high-throughput Python services with Kafka "
    "&amp; Redis on AWS.</p><ul><li>4+ years of Python</li><li>Docker and Kubernetes</li>"
    "<li>PostgreSQL</li></ul>"
)
PROFILE = {
    "phone": "+1 415 555 0142",
    "location": "San Francisco, CA",
    "links": [{"label": "GitHub", "url": "https://github.com/johndoe"}],
    "work_authorization": [{"country": "US", "status": "citizen"}],
    "requires_sponsorship": False,
}


def test_a_new_user_searches_boards_applies_after_review_and_tracks_it(deploy, smtp_server):
    mimikree = MimikreeStandIn().start()  # the deployment's account: asked, never required
    with job_boards() as boards:
        site = RecruiteeSite(boards["recruitee"].base_url).start()
        try:
            _search_apply_track(deploy, boards, site, smtp_server, mimikree)
        finally:
            site.stop()
            mimikree.stop()


def _search_apply_track(deploy, boards, site, smtp_server, mimikree):
    boards.add(
        "recruitee",
        Listing(
            key="senior-backend-engineer",
            company="Acme",
            title="Senior Backend Engineer",
            location="Berlin, Germany",
            description_html=BACKEND_HTML,
            slug="acme",
            apply_url=f"{site.base_url}/acme/o/senior-backend-engineer",
        ),
    )
    boards.add(
        "greenhouse",
        Listing(
            key="4001",
            company="Northwind Labs",
            title="Backend Engineer (Python)",
            location="San Francisco, CA",
            description_html=BACKEND_HTML
            + "<p>Apply by sending your resume to jobs@northwind.example.</p>",
            slug="northwindlabs",
        ),
        Listing(
            key="4002",
            company="Northwind Labs",
            title="Office Manager",
            location="San Francisco, CA",
            description_html="<p>Run the office, order supplies, plan events.</p>",
            slug="northwindlabs",
        ),
    )
    # The same Platform Co job on a second board: one posting, named `also_on`.
    boards.add(
        "ashby",
        Listing(
            key="a-4001",
            company="Northwind Labs",
            title="Backend Engineer (Python)",
            location="San Francisco, CA",
            description_html=BACKEND_HTML,
            slug="northwindlabs",
        ),
    )
    boards.add(
        "lever",
        Listing(
            key="lv-1",
            company="Pixel Inc",
            title="Frontend Engineer",
            location="London, United Kingdom",
            description_html="<p>React and TypeScript user interfaces, CSS.</p>",
            slug="pixel",
        ),
    )
    boards.add(
        "remoteok",
        Listing(
            key="ro-1",
            company="Remote Python Co",
            title="Python Developer",
            location="Remote",
            remote=True,
            description_html="<p>Python, Django and PostgreSQL, fully remote.</p>",
        ),
    )
    env = {
        name.upper(): url
        for name, url in boards.settings_overrides().items()
        if name.endswith("_base_url")
    }
    env["RECRUITEE_BASE_URL"] = f"{site.base_url}/{{company}}"
    env["OUTBOUND_ALLOW_LOOPBACK_PORTS"] = ",".join(
        str(port) for port in (*boards.ports, site.port, mimikree.port)
    )
    mimikree_account = next(iter(mimikree.accounts.items()))
    service = deploy(
        **{k.upper(): v for k, v in env.items()},
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_server.port),
        SMTP_USE_TLS="false",
        MIMIKREE_BASE_URL=mimikree.base_url,
        MIMIKREE_EMAIL=mimikree_account[0],
        MIMIKREE_PASSWORD=mimikree_account[1][0],
    )
    user = User(service.base, "john@example.com")
    user.verify_email(smtp_server, "john@example.com")  # nothing is sent for an unverified one
    user.json("PATCH", "/api/user/profile", json=PROFILE)
    resume_id = user.upload_resume("john.pdf", fixture("resume-single-column.pdf"))["id"]

    # Search several boards at once.
    search = user.json(
        "POST",
        "/api/postings/search",
        202,
        json={
            "keywords": ["python", "backend"],
            "sources": ["greenhouse", "ashby", "lever", "recruitee", "remoteok", "remotive"],
            "companies": {
                "greenhouse": ["northwindlabs"],
                "ashby": ["northwindlabs"],
                "lever": ["pixel"],
                "recruitee": ["acme"],
            },
        },
    )
    events = user.watch(search["job_id"])
    assert events[-1][1]["status"] == "succeeded", events[-1]
    result = events[-1][1]["result"]
    statuses = {source["source"]: source["status"] for source in result["sources"]}
    assert statuses == {
        "greenhouse": "ok",
        "ashby": "ok",
        "lever": "ok",
        "recruitee": "ok",
        "remoteok": "ok",
        "remotive": "ok",
    }, result["sources"]
    assert result["resume_id"] == resume_id

    # Ranked postings, best first, each with its reasons.
    postings = user.json("GET", "/api/postings")["items"]
    titles = [p["title"] for p in postings]
    assert "Office Manager" not in titles and "Frontend Engineer" not in titles, titles
    assert titles.count("Backend Engineer (Python)") == 1, titles
    scores = [p["score"] for p in postings]
    assert scores == sorted(scores, reverse=True), scores
    by_title = {p["title"]: p for p in postings}
    acme = user.json("GET", f"/api/postings/{by_title['Senior Backend Engineer']['id']}")
    assert acme["score_breakdown"] and "Kafka" in json.dumps(acme["score_breakdown"]), acme
    assert "<" not in acme["description"] and "&amp;" not in acme["description"]
    assert acme["questions"], acme  # Recruitee's open questions

    # Prepare an application; watch it; review its package.
    started = user.json(
        "POST",
        "/api/applications",
        202,
        json={"posting_id": acme["id"], "resume_id": resume_id},
    )
    application_id = started["application_id"]
    events = user.watch(started["job_id"])
    assert events[-1][1]["status"] == "succeeded", events[-1]
    application = user.json("GET", f"/api/applications/{application_id}")
    assert application["state"] == "ready_for_review", application
    package = application["package"]
    assert package["channel"] == "recruitee", package
    letter = package["cover_letter"]
    letter_text = letter["text"] if isinstance(letter, dict) else letter
    assert "Senior Backend Engineer" in letter_text and "Acme" in letter_text, letter
    for invented in INVENTED:
        assert invented not in letter_text
    tailored = package["tailored_resume"]
    assert tailored["match_score"]["after"] >= tailored["match_score"]["before"], tailored
    assert not site.requests  # nothing is sent before the user says so
    # The work permit question is answered by nobody yet: the user answers it in review.
    answers = {str(a["question_id"]): a for a in package["answers"]}
    assert answers["51"]["answer"] is None, answers
    assert "Do you have a work permit for the EU?" in json.dumps(package["unanswered_required"])

    submitted = user.json(
        "POST",
        f"/api/applications/{application_id}/submit",
        202,
        json={"answers": {"51": True}},
    )
    assert submitted["state"] == "ready_for_review" and submitted["submission_job_id"]
    events = user.watch(submitted["submission_job_id"])
    assert events[-1][1]["status"] == "succeeded", events[-1]

    application = user.json("GET", f"/api/applications/{application_id}")
    assert application["state"] == "submitted", (application, events[-1], site.requests)
    assert [(s["channel"], s["outcome"]) for s in application["submissions"]] == [
        ("recruitee", "sent")
    ]
    # The Recruitee site received exactly one candidate, with what the user reviewed.
    assert len(site.requests) == 1 and len(site.candidates()) == 1, site.requests
    form = dict(site.requests[0]["form"])
    assert form["candidate[name]"] == "John Doe"
    assert form["candidate[email]"] == "john@example.com"
    assert form["candidate[cover_letter]"].strip() == letter_text.strip()
    cv = site.requests[0]["files"]["candidate[cv]"]
    cv_text = " ".join(pdf_text(cv["data"]).split())
    assert all(name in cv_text for name in EMPLOYERS), cv_text[:300]
    group = "candidate[open_question_answers_attributes]"
    assert (form[f"{group}[0][open_question_id]"], form[f"{group}[0][flag]"]) == ("51", "true")
    assert cv["content_type"] == "application/pdf" and cv["data"].startswith(b"%PDF")

    # A second application, to the posting that gives an email address, sent by mail.
    platform = by_title["Backend Engineer (Python)"]
    started = user.json(
        "POST",
        "/api/applications",
        202,
        json={"posting_id": platform["id"], "resume_id": resume_id},
    )
    user.watch(started["job_id"])
    second = user.json("GET", f"/api/applications/{started['application_id']}")
    assert second["state"] == "ready_for_review", second
    assert second["package"]["channel"] == "email", second["package"]
    sent = user.json("POST", f"/api/applications/{second['id']}/submit", 202, json={})
    user.watch(sent["submission_job_id"])
    applications = [m for m in smtp_server.messages if m["To"] != "john@example.com"]
    assert len(applications) == 1, [m["Subject"] for m in smtp_server.messages]
    mail = applications[0]
    assert mail["To"] == "jobs@northwind.example" and mail["Reply-To"] == "john@example.com"
    attachments = [part.get_filename() for part in mail.iter_attachments()]
    assert len(attachments) == 2, attachments

    # Track it: the user hears back, then gets an interview.
    user.json("PATCH", f"/api/applications/{application_id}", json={"state": "responded"})
    user.json("PATCH", f"/api/applications/{application_id}", json={"state": "interview"})
    refused = user.call(
        "PATCH", f"/api/applications/{application_id}", 409, json={"state": "saved"}
    ).json()
    assert refused["error"]["code"] == "invalid_transition"
    tracker = user.json("GET", "/api/applications")["items"]
    assert {(a["id"], a["state"]) for a in tracker} == {
        (application_id, "interview"),
        (second["id"], "submitted"),
    }
    history = user.json("GET", f"/api/applications/{application_id}")["history"]
    assert [change["state"] for change in history] == [
        "saved",
        "preparing",
        "ready_for_review",
        "submitted_unconfirmed",  # the send began
        "submitted",  # and the board confirmed it
        "responded",
        "interview",
    ], history
    # A repeat of the same application is refused.
    again = user.call(
        "POST", "/api/applications", 409, json={"posting_id": acme["id"], "resume_id": resume_id}
    ).json()
    assert again["error"]["code"] == "application_exists"
    assert len(site.candidates()) == 1
