"""Local stand-ins for the nine job boards, each serving its board's JSON shape and quirks.

One threaded `http.server` per board on 127.0.0.1 (an ephemeral port each). Listings are
board-independent (`Listing`); each stand-in renders them as its board does:

- Greenhouse: the whole board in one answer, `content` HTML-escaped once more, questions in
  each job's detail (`?questions=true`).
- Lever: a JSON array paged with `skip`/`limit`, `createdAt` in milliseconds, and a 429 with
  `Retry-After` on the first request of each site.
- Ashby, Workable, Recruitee: the whole board in one answer (Recruitee with `open_questions`).
- SmartRecruiters: `limit` (at most 100) and `offset` pages with `totalFound`, a short last page,
  descriptions only in each posting's detail.
- RemoteOK: an array whose first element is `{last_updated, legal}` metadata; 403 without a
  User-Agent of our own.
- Remotive: `"00-warning"`, `"0-legal-notice"` and `"job-count"` beside `jobs`; `search=`.
- Arbeitnow: 100 a page, `links.next` carrying a rotating `search=` term.

A board's `mode` makes it misbehave: `garbage` answers HTML with status 200, `error` answers
500, `redirect` answers 302 to `redirect_to`; `stop()` closes its port (connection refused).
"""

from __future__ import annotations

import html
import json
import random
import re
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

BOARDS = (
    "greenhouse",
    "lever",
    "ashby",
    "recruitee",
    "workable",
    "smartrecruiters",
    "remoteok",
    "remotive",
    "arbeitnow",
)
COMPANY_BOARDS = BOARDS[:6]
USER_AGENT_PREFIX = "JobApplicationAgent/"


@dataclass
class Listing:
    """A job as a company posts it, before any board's shape."""

    key: str
    company: str
    title: str
    location: str = "Berlin, Germany"
    remote: bool = False
    description_html: str = "<p>Build things.</p>"
    posted_at: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(days=2))
    salary: tuple[int, int, str] | None = None
    apply_url: str | None = None
    employment: str = "Full-time"
    slug: str = "acme"  # the company's slug on company boards
    questions: list[dict[str, Any]] = field(default_factory=list)


class StandIn:
    """One board's server; subclasses render its routes."""

    name = ""

    def __init__(self) -> None:
        self.listings: list[Listing] = []
        self.mode = "ok"
        self.redirect_to = ""
        self.latency_seconds = 0.0  # added before each answer, as a network round trip would
        self.requests: list[tuple[str, dict[str, str], str]] = []  # path, query, User-Agent
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                stand_in._serve(self)

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self.running = True

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Close the port: the board is down (connection refused)."""
        if self.running:
            self.server.shutdown()
            self.server.server_close()
            self.running = False

    def count(self, prefix: str = "") -> int:
        with self._lock:
            return sum(1 for path, _q, _ua in self.requests if path.startswith(prefix))

    def of(self, slug: str | None = None) -> list[Listing]:
        return [item for item in self.listings if slug is None or item.slug == slug]

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        with self._lock:
            self.requests.append((parts.path, query, handler.headers.get("User-Agent", "")))
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        if self.mode == "garbage":
            status, headers, body = 200, {}, "<html><body>Service temporarily busy</body></html>"
            headers["Content-Type"] = "text/html"
        elif self.mode == "error":
            status, headers, body = 500, {}, {"error": "internal error"}
        elif self.mode == "redirect":
            status, headers, body = 302, {"Location": self.redirect_to}, ""
        else:
            status, headers, body = self.route(parts.path, query, handler)
        data = body if isinstance(body, str) else json.dumps(body)
        raw = data.encode()
        handler.send_response(status)
        handler.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        handler.send_header("Content-Length", str(len(raw)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(raw)

    def route(self, path: str, query: dict[str, str], handler) -> tuple[int, dict, Any]:
        raise NotImplementedError


def _not_found(message: str = "Not found") -> tuple[int, dict, Any]:
    return 404, {}, {"status": 404, "error": message}


def _iso(moment: datetime) -> str:
    return moment.isoformat()


class Greenhouse(StandIn):
    name = "greenhouse"

    def route(self, path, query, handler):
        parts = path.strip("/").split("/")
        if parts[:2] != ["v1", "boards"] or len(parts) < 4 or parts[3] != "jobs":
            return _not_found()
        listings = self.of(parts[2])
        if not listings:
            return _not_found("Job board not found")
        if len(parts) == 5:
            job = next((item for item in listings if item.key == parts[4]), None)
            if job is None:
                return _not_found("Job not found")
            body = self._job(job, content=True)
            body["questions"] = job.questions or [
                {
                    "required": True,
                    "label": "First Name",
                    "fields": [{"name": "first_name", "type": "input_text", "values": []}],
                },
                {
                    "required": False,
                    "label": "Will you now or in the future require sponsorship?",
                    "fields": [
                        {
                            "name": "question_4001",
                            "type": "multi_value_single_select",
                            "values": [{"label": "Yes", "value": 1}, {"label": "No", "value": 0}],
                        }
                    ],
                },
            ]
            return 200, {}, body
        jobs = [self._job(item, content=query.get("content") == "true") for item in listings]
        return 200, {}, {"jobs": jobs, "meta": {"total": len(jobs)}}

    def _job(self, item: Listing, *, content: bool) -> dict[str, Any]:
        job = {
            "id": int(item.key) if item.key.isdigit() else zlib.crc32(item.key.encode()),
            "internal_job_id": 7_000_000 + len(item.key),
            "title": item.title,
            "company_name": item.company,
            "updated_at": item.posted_at.astimezone(UTC).isoformat().replace("+00:00", "-00:00"),
            "first_published": _iso(item.posted_at),
            "requisition_id": f"REQ-{item.key}",
            "location": {"name": "Remote" if item.remote else item.location},
            "absolute_url": item.apply_url or f"https://boards.example/{item.slug}/{item.key}",
            "metadata": None,
            "data_compliance": [{"type": "gdpr", "requires_consent": False}],
        }
        if content:
            job["content"] = html.escape(item.description_html)
            job["departments"] = [{"id": 1, "name": "Engineering", "child_ids": []}]
            job["offices"] = [{"id": 2, "name": item.location, "location": item.location}]
        return job


class Lever(StandIn):
    name = "lever"

    def __init__(self) -> None:
        super().__init__()
        self.throttle_first = True
        self._throttled: set[str] = set()

    def route(self, path, query, handler):
        parts = path.strip("/").split("/")
        if parts[:2] != ["v0", "postings"] or len(parts) != 3:
            return _not_found()
        site = parts[2]
        if self.throttle_first and site not in self._throttled:
            self._throttled.add(site)
            return 429, {"Retry-After": "1"}, {"ok": False, "error": "Too many requests"}
        listings = self.of(site)
        if not listings:
            return 404, {}, {"ok": False, "error": "Document not found"}
        skip = int(query.get("skip", 0))
        limit = int(query.get("limit", 100))
        return 200, {}, [self._posting(item) for item in listings[skip : skip + limit]]

    def _posting(self, item: Listing) -> dict[str, Any]:
        posting = {
            "id": f"{item.key}-lever-0000-0000-000000000000",
            "text": item.title,
            "categories": {
                "location": item.location,
                "commitment": item.employment,
                "team": "Platform",
                "department": "Engineering",
                "allLocations": [item.location],
            },
            "country": "DE",
            "description": "<div>About the role</div>",
            "descriptionPlain": "About the role\n",
            "lists": [{"text": "What you will do", "content": item.description_html}],
            "additional": "<div>We are an equal opportunity employer.</div>",
            "additionalPlain": "We are an equal opportunity employer.",
            "hostedUrl": item.apply_url or f"https://jobs.example/{item.slug}/{item.key}",
            "applyUrl": (item.apply_url or f"https://jobs.example/{item.slug}/{item.key}")
            + "/apply",
            "workplaceType": "remote" if item.remote else "onsite",
            "createdAt": int(item.posted_at.timestamp() * 1000),
        }
        if item.salary:
            low, high, currency = item.salary
            posting["salaryRange"] = {
                "currency": currency,
                "interval": "per-year-salary",
                "min": low,
                "max": high,
            }
        return posting


class Ashby(StandIn):
    name = "ashby"

    def route(self, path, query, handler):
        prefix = "/posting-api/job-board/"
        if not path.startswith(prefix):
            return _not_found()
        listings = self.of(path[len(prefix) :])
        if not listings:
            return _not_found()
        jobs = []
        for item in listings:
            job = {
                "id": f"ashby-{item.key}",
                "title": item.title,
                "location": item.location,
                "secondaryLocations": [],
                "department": "Engineering",
                "team": "Platform",
                "isListed": True,
                "isRemote": item.remote,
                "workplaceType": "Remote" if item.remote else "OnSite",
                "employmentType": item.employment.replace("-", "").title().replace(" ", ""),
                "descriptionHtml": item.description_html,
                "descriptionPlain": html.unescape(re.sub(r"<[^>]+>", "\n", item.description_html)),
                "publishedAt": _iso(item.posted_at),
                "jobUrl": item.apply_url or f"https://jobs.ashby.example/{item.slug}/{item.key}",
                "applyUrl": (item.apply_url or f"https://jobs.ashby.example/{item.slug}/{item.key}")
                + "/application",
            }
            if item.salary and query.get("includeCompensation") == "true":
                low, high, currency = item.salary
                job["compensation"] = {
                    "compensationTierSummary": f"{low} - {high} {currency}",
                    "summaryComponents": [
                        {
                            "compensationType": "Salary",
                            "interval": "1 YEAR",
                            "currencyCode": currency,
                            "minValue": low,
                            "maxValue": high,
                        }
                    ],
                }
            jobs.append(job)
        return 200, {}, {"apiVersion": "1", "jobs": jobs}


class Recruitee(StandIn):
    """Served under `/{company}` (the real board uses a subdomain per company)."""

    name = "recruitee"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{{company}}"

    def route(self, path, query, handler):
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[1:] != ["api", "offers"]:
            return _not_found()
        listings = self.of(parts[0])
        if not listings:
            return _not_found()
        offers = []
        for number, item in enumerate(listings):
            city, _, country = item.location.partition(", ")
            offer = {
                "id": 900_000 + number,
                "slug": item.key,
                "title": item.title,
                "company_name": item.company,
                "description": item.description_html,
                "requirements": "<ul><li>Team spirit</li></ul>",
                "careers_url": item.apply_url
                or f"https://{item.slug}.recruitee.example/o/{item.key}",
                "careers_apply_url": (
                    item.apply_url or f"https://{item.slug}.recruitee.example/o/{item.key}"
                )
                + "/c/new",
                "city": city,
                "country": country,
                "location": item.location,
                "remote": item.remote,
                "employment_type_code": item.employment.lower().replace("-", ""),
                "published_at": item.posted_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                "open_questions": item.questions
                or [
                    {
                        "id": 51,
                        "kind": "boolean",
                        "required": True,
                        "body": "Do you have a work permit for the EU?",
                        "open_question_options": [],
                    },
                    {
                        "id": 52,
                        "kind": "single_choice",
                        "required": False,
                        "body": "Notice period",
                        "open_question_options": [
                            {"id": 1, "body": "Immediately"},
                            {"id": 2, "body": "1 month"},
                        ],
                    },
                ],
            }
            if item.salary:
                low, high, currency = item.salary
                offer["salary"] = {"min": low, "max": high, "currency": currency, "period": "year"}
            offers.append(offer)
        return 200, {}, {"offers": offers}


class Workable(StandIn):
    name = "workable"

    def route(self, path, query, handler):
        prefix = "/api/v1/widget/accounts/"
        if not path.startswith(prefix):
            return _not_found()
        slug = path[len(prefix) :]
        listings = self.of(slug)
        if not listings:
            return _not_found()
        jobs = []
        for item in listings:
            city, _, country = item.location.partition(", ")
            job = {
                "title": item.title,
                "shortcode": f"W{item.key}".upper()[:10],
                "code": "",
                "employment_type": item.employment,
                "telecommuting": item.remote,
                "department": "Engineering",
                "url": item.apply_url or f"https://apply.workable.example/{slug}/j/{item.key}/",
                "shortlink": f"https://apply.workable.example/j/{item.key}",
                "application_url": (
                    item.apply_url or f"https://apply.workable.example/{slug}/j/{item.key}/"
                )
                + "apply",
                "published_on": item.posted_at.date().isoformat(),
                "created_at": item.posted_at.date().isoformat(),
                "country": country,
                "city": city,
                "state": "",
            }
            if query.get("details") == "true":
                job["description"] = item.description_html
            jobs.append(job)
        return 200, {}, {"name": listings[0].company, "description": "<p>Hi</p>", "jobs": jobs}


class SmartRecruiters(StandIn):
    name = "smartrecruiters"

    def route(self, path, query, handler):
        parts = path.strip("/").split("/")
        if parts[:2] != ["v1", "companies"] or len(parts) < 4 or parts[3] != "postings":
            return _not_found()
        listings = self.of(parts[2])
        if not listings:
            return 200, {}, {"offset": 0, "limit": 10, "totalFound": 0, "content": []}
        if len(parts) == 5:
            item = next((i for i in listings if self._id(i) == parts[4]), None)
            if item is None:
                return _not_found()
            return (
                200,
                {},
                {
                    "id": self._id(item),
                    "name": item.title,
                    "applyUrl": item.apply_url or f"https://jobs.sr.example/{item.slug}/{item.key}",
                    "jobAd": {
                        "sections": {
                            "companyDescription": {"title": "Company", "text": "<p>We build.</p>"},
                            "jobDescription": {"title": "Job", "text": item.description_html},
                            "qualifications": {"title": "You", "text": "<ul><li>Care</li></ul>"},
                        }
                    },
                },
            )
        limit = min(100, int(query.get("limit", 10)))
        offset = int(query.get("offset", 0))
        page = listings[offset : offset + limit]
        content = []
        for item in page:
            city, _, country = item.location.partition(", ")
            content.append(
                {
                    "id": self._id(item),
                    "name": item.title,
                    "uuid": f"uuid-{item.key}",
                    "refNumber": f"REF{item.key}",
                    "company": {"identifier": item.slug, "name": item.company},
                    "releasedDate": item.posted_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    "location": {
                        "city": city,
                        "country": country.lower()[:2],
                        "remote": item.remote,
                        "fullLocation": item.location,
                    },
                    "typeOfEmployment": {"id": "permanent", "label": item.employment},
                    "ref": f"{self.base_url}/v1/companies/{item.slug}/postings/{self._id(item)}",
                }
            )
        return (
            200,
            {},
            {"offset": offset, "limit": limit, "totalFound": len(listings), "content": content},
        )

    @staticmethod
    def _id(item: Listing) -> str:
        return f"7440{item.key}"


class RemoteOK(StandIn):
    name = "remoteok"

    def route(self, path, query, handler):
        if path != "/api":
            return _not_found()
        agent = handler.headers.get("User-Agent", "")
        if not agent.startswith(USER_AGENT_PREFIX):
            return 403, {}, {"error": "send a User-Agent that names your app"}
        body: list[dict[str, Any]] = [
            {
                "last_updated": int(datetime.now(UTC).timestamp()),
                "legal": "API Terms of Service: please link back to the job and mention us.",
            }
        ]
        for item in self.listings:
            job = {
                "slug": item.key,
                "id": item.key,
                "epoch": int(item.posted_at.timestamp()),
                "date": _iso(item.posted_at),
                "company": item.company,
                "company_logo": "",
                "position": item.title,
                "tags": ["dev", "backend"],
                "description": item.description_html,
                "location": item.location if not item.remote else "Worldwide",
                "apply_url": item.apply_url or f"https://remoteok.example/l/{item.key}",
                "url": f"https://remoteok.example/remote-jobs/{item.key}",
            }
            if item.salary:
                job["salary_min"], job["salary_max"] = item.salary[0], item.salary[1]
            else:
                job["salary_min"], job["salary_max"] = 0, 0
            body.append(job)
        return 200, {}, body


class Remotive(StandIn):
    name = "remotive"

    def route(self, path, query, handler):
        if path != "/api/remote-jobs":
            return _not_found()
        words = query.get("search", "").lower().split()
        listings = [
            item
            for item in self.listings
            if all(w in f"{item.title} {item.description_html}".lower() for w in words)
        ]
        jobs = []
        for number, item in enumerate(listings):
            salary = ""
            if item.salary:
                salary = f"${item.salary[0] // 1000}k - ${item.salary[1] // 1000}k"
            jobs.append(
                {
                    "id": 1_500_000 + number,
                    "url": item.apply_url or f"https://remotive.example/remote-jobs/{item.key}",
                    "title": item.title,
                    "company_name": item.company,
                    "company_logo": "",
                    "category": "Software Development",
                    "tags": ["python"],
                    "job_type": item.employment.lower().replace("-", "_"),
                    "publication_date": item.posted_at.strftime("%Y-%m-%dT%H:%M:%S"),
                    "candidate_required_location": item.location
                    if not item.remote
                    else "Worldwide",
                    "salary": salary,
                    "description": item.description_html,
                }
            )
        return (
            200,
            {},
            {
                "00-warning": "Remotive's API is for personal use; jobs are delayed by 24 hours.",
                "0-legal-notice": "Do not re-post Remotive jobs on third-party job boards.",
                "job-count": len(jobs),
                "total-job-count": len(self.listings),
                "jobs": jobs,
            },
        )


class Arbeitnow(StandIn):
    name = "arbeitnow"
    PAGE = 100

    def route(self, path, query, handler):
        if path != "/api/job-board-api":
            return _not_found()
        page = int(query.get("page", 1))
        start = (page - 1) * self.PAGE
        chunk = self.listings[start : start + self.PAGE]
        last = max(1, -(-len(self.listings) // self.PAGE))
        term = random.choice(["python", "java", "marketing"])  # noqa: S311 - a quirk, not a secret
        data = [
            {
                "slug": item.key,
                "company_name": item.company,
                "title": item.title,
                "description": item.description_html,
                "remote": item.remote,
                "url": item.apply_url or f"https://www.arbeitnow.example/jobs/{item.key}",
                "tags": ["IT"],
                "job_types": [item.employment.lower()],
                "location": item.location,
                "created_at": int(item.posted_at.timestamp()),
            }
            for item in chunk
        ]
        base = f"{self.base_url}/api/job-board-api"
        return (
            200,
            {},
            {
                "data": data,
                "links": {
                    "first": f"{base}?page=1",
                    "last": None,
                    "prev": f"{base}?page={page - 1}" if page > 1 else None,
                    "next": f"{base}?page={page + 1}&search={term}" if page < last else None,
                },
                "meta": {"current_page": page, "from": start + 1, "per_page": self.PAGE},
            },
        )


STAND_IN_CLASSES: dict[str, type[StandIn]] = {
    cls.name: cls
    for cls in (
        Greenhouse,
        Lever,
        Ashby,
        Recruitee,
        Workable,
        SmartRecruiters,
        RemoteOK,
        Remotive,
        Arbeitnow,
    )
}


class JobBoards:
    """All nine stand-ins, and the settings that point the sources at them."""

    def __init__(self) -> None:
        self.boards: dict[str, StandIn] = {name: cls() for name, cls in STAND_IN_CLASSES.items()}

    def __getitem__(self, name: str) -> StandIn:
        return self.boards[name]

    def add(self, board: str, *listings: Listing) -> None:
        self.boards[board].listings.extend(listings)

    def settings_overrides(self) -> dict[str, Any]:
        """`<board>_base_url` for each board (a closed port stays closed: the board is down),
        and the boards' ports as the only loopback ports outbound requests may reach."""
        return {
            **{f"{name}_base_url": board.base_url for name, board in self.boards.items()},
            "outbound_allow_loopback_ports": self.ports,
        }

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(board.port for board in self.boards.values())

    def companies(self) -> dict[str, list[str]]:
        """The company slugs each company board serves."""
        return {
            name: sorted({item.slug for item in self.boards[name].listings})
            for name in COMPANY_BOARDS
            if self.boards[name].listings
        }

    def stop(self) -> None:
        for board in self.boards.values():
            board.stop()


@contextmanager
def job_boards() -> Iterator[JobBoards]:
    """The nine stand-ins, running for the block."""
    boards = JobBoards()
    try:
        yield boards
    finally:
        boards.stop()


_TITLES = (
    "Backend Engineer",
    "Senior Python Developer",
    "Data Engineer",
    "Frontend Engineer",
    "Site Reliability Engineer",
    "Junior Software Engineer",
    "Staff Platform Engineer",
    "Machine Learning Engineer",
)
_SKILLS = (
    "Python",
    "Django",
    "PostgreSQL",
    "Redis",
    "Kubernetes",
    "AWS",
    "React",
    "TypeScript",
    "Go",
    "Kafka",
    "Docker",
    "Terraform",
    "GraphQL",
    "Flask",
)
_PLACES = ("Berlin, Germany", "London, United Kingdom", "New York, United States", "Remote")


def generated_listings(board: str, count: int, *, seed: int = 7) -> list[Listing]:
    """`count` varied engineering listings for one board (distinct across boards)."""
    rng = random.Random(f"{seed}:{board}")
    now = datetime.now(UTC)
    listings = []
    for number in range(count):
        skills = rng.sample(_SKILLS, 5)
        place = rng.choice(_PLACES)
        paragraphs = "".join(
            f"<p>You will work with {a} &amp; {b} to build reliable services &mdash; "
            f"owning design, code review and on-call for {board} team {number}.</p>"
            for a, b in zip(skills, skills[1:], strict=False)
        )
        description = (
            f"<h2>About the role</h2>{paragraphs}<h3>Requirements</h3><ul>"
            + "".join(f"<li>3+ years with {skill}</li>" for skill in skills)
            + "</ul>"
        )
        listings.append(
            Listing(
                key=f"{BOARDS.index(board) + 1}{number:05d}",
                company=f"{board.title()} Company {number % 7}",
                title=f"{rng.choice(_TITLES)} {number}",
                location=place,
                remote=place == "Remote",
                description_html=description,
                posted_at=now - timedelta(days=rng.randint(0, 90), hours=rng.randint(0, 23)),
                salary=(90_000, 130_000, "USD") if number % 3 == 0 else None,
                slug=f"company{number % 2}",
            )
        )
    return listings
