"""BOLA matrix: for every non-admin route with an object id, user B on user A's object gets
404 and A's object is unchanged.

The routes come from the URL map, so a new route with an id cannot be forgotten: an id
argument without a factory in OBJECT_FACTORIES fails `test_every_id_route_has_a_factory`.
To cover a new resource, register a factory that creates the object for a user and a
snapshot that reads it back as that user.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from server.core.extensions import db
from server.models import SecurityEvent
from server.security_manager.auth import auth_mode
from tests.helpers import Account, ApiClient, make_pdf
from tests.routes.test_access_control import all_routes, scratch_app


@dataclass(frozen=True)
class ObjectFactory:
    create: Callable[[ApiClient, Account], str]
    snapshot: Callable[[ApiClient, Account, str], Any]


def _create_resume(client: ApiClient, owner: Account) -> str:
    response = client.upload(owner.access_token, "a.pdf", make_pdf("owner A"))
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def _snapshot_resume(client: ApiClient, owner: Account, resume_id: str):
    meta = client.get(f"/api/user/resumes/{resume_id}", token=owner.access_token)
    data = client.get(f"/api/user/resumes/{resume_id}/download", token=owner.access_token)
    return meta.status_code, meta.get_json(), data.status_code, data.data


def _create_job(client: ApiClient, owner: Account) -> str:
    # No job type open to plain users has a handler yet, so the job is recorded directly.
    from server.jobs import job_queue

    return job_queue.submit_job(
        user_id=owner.id, job_type="diagnostic", payload={"sleep_ms": 0, "fail_times": 0}
    )


def _snapshot_job(client: ApiClient, owner: Account, job_id: str):
    status = client.get(f"/api/jobs/{job_id}/status", token=owner.access_token)
    return status.status_code, status.get_json()


def _create_project(client: ApiClient, owner: Account) -> str:
    response = client.post("/api/user/projects", json={"name": "A's"}, token=owner.access_token)
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def _snapshot_project(client: ApiClient, owner: Account, project_id: str):
    response = client.get(f"/api/user/projects/{project_id}", token=owner.access_token)
    return response.status_code, response.get_json()


def _create_application(client: ApiClient, owner: Account) -> str:
    # Recorded through the service that `POST /api/applications` calls (the preparing job is
    # queued; no worker runs here, so the application stays as recorded).
    from server.models import User
    from server.services import applications

    resume_id = _create_resume(client, owner)
    started = applications.start(
        user=db.session.get(User, owner.id),
        payload={"job_url": "https://jobs.example/1", "resume_id": resume_id, "mode": "review"},
    )
    return str(started["application_id"])


def _snapshot_application(client: ApiClient, owner: Account, application_id: str):
    response = client.get(f"/api/applications/{application_id}", token=owner.access_token)
    return response.status_code, response.get_json()


def _create_posting(client: ApiClient, owner: Account) -> str:
    # Stored by the search's own store, as a finished search leaves it.
    from server.agent.posting_search import Candidate
    from server.agent.sources.base import NormalizedPosting
    from server.services import postings

    posting = NormalizedPosting("lever", "owner-a", "Acme", "Python Engineer", "Berlin")
    ids = postings.store(
        user_id=owner.id, job_id="manual", candidates=[Candidate(posting, "k" * 64)]
    )
    return str(ids[("lever", "owner-a")])


def _snapshot_posting(client: ApiClient, owner: Account, posting_id: str):
    response = client.get(f"/api/postings/{posting_id}", token=owner.access_token)
    return response.status_code, response.get_json()


def _create_tailored_resume(client: ApiClient, owner: Account) -> str:
    # Made by the pipeline on the local engine and stored by the service the job uses.
    from server.agent.engines.local import LocalEngine
    from server.agent.resume_parsing import parse_resume_text
    from server.agent.tailoring import tailor
    from server.services import tailored_resumes

    resume = parse_resume_text("Ada Lovelace\nSKILLS\nPython, SQL")
    result = tailor(LocalEngine(), resume=resume, job_description="Requirements: SQL; Python.")
    row = tailored_resumes.create(user_id=owner.id, source_resume_id=None, result=result)
    return str(row.id)


def _snapshot_tailored_resume(client: ApiClient, owner: Account, tailored_id: str):
    one = client.get(f"/api/user/tailored-resumes/{tailored_id}", token=owner.access_token)
    return one.status_code, one.get_json()


OBJECT_FACTORIES: dict[str, ObjectFactory] = {
    "resume_id": ObjectFactory(create=_create_resume, snapshot=_snapshot_resume),
    "job_id": ObjectFactory(create=_create_job, snapshot=_snapshot_job),
    "project_id": ObjectFactory(create=_create_project, snapshot=_snapshot_project),
    "application_id": ObjectFactory(create=_create_application, snapshot=_snapshot_application),
    "posting_id": ObjectFactory(create=_create_posting, snapshot=_snapshot_posting),
    "tailored_id": ObjectFactory(
        create=_create_tailored_resume, snapshot=_snapshot_tailored_resume
    ),
}
# Bodies for id routes that validate a body before they look the object up.
VALID_BODIES: dict[tuple[str, str], Any] = {
    ("/api/user/projects/<int:project_id>", "PATCH"): {"name": "B's"},
    ("/api/applications/<int:application_id>", "PATCH"): {"state": "withdrawn"},
    ("/api/applications/<int:application_id>/submit", "POST"): {"channel": "manual"},
}


def id_routes():
    """(rule, method, id argument) for every non-admin route that takes an object id."""
    app = scratch_app()
    found = []
    for rule, method in all_routes(app):
        if auth_mode(app, rule.endpoint) in ("public", "admin"):
            continue
        for argument in sorted(rule.arguments):
            if argument.endswith("_id"):
                found.append((rule.rule, method, argument))
    return found


ID_ROUTES = id_routes()


def test_every_id_route_has_a_factory():
    missing = {arg for _rule, _method, arg in ID_ROUTES if arg not in OBJECT_FACTORIES}
    assert not missing, f"add a BOLA factory for {sorted(missing)} in tests/routes/test_bola.py"
    assert ID_ROUTES, "the matrix found no id routes; is the URL map walk broken?"


@pytest.mark.parametrize(("rule", "method", "argument"), ID_ROUTES)
def test_another_users_object_is_404_and_unchanged(client, rule, method, argument):
    factory = OBJECT_FACTORIES[argument]
    alice, bob = client.create_account(), client.create_account()
    object_id = factory.create(client, alice)
    before = factory.snapshot(client, alice, object_id)
    path = rule.replace(f"<uuid:{argument}>", object_id)
    path = path.replace(f"<int:{argument}>", object_id).replace(f"<{argument}>", object_id)
    path = re.sub(r"<int:\w+>", "1", path)  # the route's other arguments (a screenshot's number)
    body = VALID_BODIES.get((rule, method), {})
    kwargs: dict[str, Any] = {"json": body} if method in ("POST", "PUT", "PATCH") else {}
    response = client.request(method, path, token=bob.access_token, **kwargs)
    assert response.status_code == 404, (method, path, response.get_json())
    assert factory.snapshot(client, alice, object_id) == before
    # The probe is on the audit trail, attributed to the prober.
    probes = db.session.scalars(
        select(SecurityEvent).where(
            SecurityEvent.action == "authorization_failure",
            SecurityEvent.object_id == str(object_id),
        )
    ).all()
    assert [event.actor_user_id for event in probes] == [bob.id], (method, path)
