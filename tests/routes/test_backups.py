"""`/api/admin/backups`: queue a backup, list the catalogue, queue a verification."""

from __future__ import annotations

import re

import pytest

from tests.helpers import error_of
from tests.queue_helpers import fetch_job, wait_for


@pytest.fixture
def backup_app(make_app, tmp_path):
    app = make_app(backup_dir=tmp_path / "backups")
    with app.app_context():
        yield app


@pytest.fixture
def admin_client(backup_app):
    from tests.helpers import ApiClient

    client = ApiClient(backup_app.test_client())
    client.admin = client.create_admin(backup_app)
    return client


def finished(job_id: str):
    row = fetch_job(job_id)
    return row if row.status in ("succeeded", "failed") else None


def test_an_admin_creates_lists_and_verifies_a_backup(admin_client, backup_app, run_pool):
    token = admin_client.admin.access_token
    run_pool(backup_app, threads=1)
    created = admin_client.post("/api/admin/backups/create", token=token, json={"type": "database"})
    assert created.status_code == 202, created.get_json()
    body = created.get_json()
    job = wait_for(lambda: finished(body["job_id"]), timeout=60)
    assert job.status == "succeeded", job.error
    status = admin_client.get(body["status_url"], token=token).get_json()
    assert status["result"]["backup_id"] == body["backup_id"]

    listed = admin_client.get("/api/admin/backups", token=token)
    assert listed.status_code == 200
    (entry,) = listed.get_json()["backups"]
    assert entry["id"] == body["backup_id"] and entry["type"] == "database"
    assert entry["storage"] == "local" and len(entry["sha256"]) == 64
    assert entry["size_bytes"] > 0 and entry["verified"] is False and entry["verified_at"] is None
    assert entry["created_at"].endswith("Z")

    verify = admin_client.post(f"/api/admin/backups/{entry['id']}/verify", token=token)
    assert verify.status_code == 202
    job = wait_for(lambda: finished(verify.get_json()["job_id"]), timeout=60)
    assert job.status == "succeeded" and job.result["verified"] is True
    (entry,) = admin_client.get("/api/admin/backups", token=token).get_json()["backups"]
    assert entry["verified"] is True and entry["verified_at"] is not None

    events = admin_client.get(
        "/api/admin/security/events?action=backup_create", token=token
    ).get_json()
    assert [e["actor_user_id"] for e in events["items"]] == [admin_client.admin.id]


def test_an_unknown_backup_type_is_422_and_queues_nothing(admin_client):
    response = admin_client.post(
        "/api/admin/backups/create", token=admin_client.admin.access_token, json={"type": "all"}
    )
    assert response.status_code == 422
    assert "type" in str(error_of(response))
    listed = admin_client.get("/api/admin/backups", token=admin_client.admin.access_token)
    assert listed.get_json() == {"backups": []}


def test_verifying_a_backup_that_does_not_exist_is_404(admin_client):
    response = admin_client.post(
        "/api/admin/backups/20260101T000000Z-database-abcdef/verify",
        token=admin_client.admin.access_token,
    )
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_verifying_an_id_that_is_no_backup_id_is_404(admin_client):
    for backup_id in ("bad%00id", "..%2F..%2Fetc", "%0A", "20260101T000000Z-database-abcdef%0A"):
        response = admin_client.post(
            f"/api/admin/backups/{backup_id}/verify", token=admin_client.admin.access_token
        )
        assert response.status_code == 404, backup_id
        assert error_of(response)["code"] == "not_found"


def test_clients_cannot_submit_backup_jobs_through_the_jobs_api(admin_client):
    response = admin_client.post(
        "/api/jobs",
        token=admin_client.admin.access_token,
        json={"type": "backup_create", "payload": {"type": "database"}},
    )
    assert response.status_code == 422


def test_the_security_audit_flags_a_verified_backup_older_than_26_hours(admin_client, backup_app):
    from datetime import timedelta

    from server import backup_manager
    from server.core.extensions import db
    from server.models import Backup, utcnow

    made = backup_manager.create_backup(backup_type="database")
    backup_manager.verify_backup(backup_id=made["id"])

    def backups_finding():
        report = admin_client.post(
            "/api/admin/security/audit", token=admin_client.admin.access_token
        ).get_json()
        return next(f for f in report["findings"] if f["check"] == "backups")

    fresh = backups_finding()
    assert fresh["severity"] == "info"
    assert re.fullmatch(r"The last verified backup is \d{1,2} s old", fresh["message"]), fresh
    row = db.session.get(Backup, made["id"])
    row.created_at = utcnow() - timedelta(hours=27)
    db.session.commit()
    assert backups_finding()["severity"] == "high"


def test_create_without_a_body_queues_a_database_backup_as_the_seed_runbook_calls_it(
    admin_client,
):
    # The seed's "Create backup": `curl -X POST http://localhost:5000/api/admin/backups/create`
    response = admin_client.post("/api/admin/backups/create", token=admin_client.admin.access_token)
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert "-database-" in body["backup_id"]
    assert fetch_job(body["job_id"]).status == "queued"
