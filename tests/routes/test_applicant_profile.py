"""The applicant profile: what applications need beyond the resume."""

from __future__ import annotations

from cryptography.fernet import Fernet
from sqlalchemy import text

from server.core.extensions import db
from server.security_manager import encryption
from tests.helpers import at_once, error_of

FULL_PROFILE = {
    "name": "Ada Lovelace",
    "phone": "+44 20 7946 0958",
    "location": "London, UK",
    "links": [
        {"label": "LinkedIn", "url": "https://www.linkedin.com/in/ada"},
        {"label": "GitHub", "url": "https://github.com/ada"},
    ],
    "work_authorization": [
        {"country": "GB", "status": "citizen"},
        {"country": "US", "status": "needs_sponsorship"},
    ],
    "requires_sponsorship": False,
    "willing_to_relocate": True,
    "salary_expectation": {"minimum": 90000, "maximum": 110000, "currency": "GBP"},
    "notice_period_days": 30,
    "eeo": {"gender": "female", "veteran_status": "decline_to_answer"},
}


def test_a_new_account_has_an_empty_applicant_profile(client):
    account = client.create_account()
    profile = client.get("/api/user/profile", headers=account.headers).get_json()
    assert profile["email"] == account.email
    assert profile["phone"] is None and profile["links"] == [] and profile["eeo"] is None
    assert profile["unreadable_fields"] == []


def test_the_profile_is_saved_and_read_back(client):
    account = client.create_account()
    response = client.request(
        "PATCH", "/api/user/profile", json=FULL_PROFILE, headers=account.headers
    )
    assert response.status_code == 200, response.get_json()
    profile = client.get("/api/user/profile", headers=account.headers).get_json()
    assert profile["name"] == "Ada Lovelace"
    assert profile["links"][1] == {"label": "GitHub", "url": "https://github.com/ada"}
    assert profile["work_authorization"][1] == {"country": "US", "status": "needs_sponsorship"}
    assert profile["salary_expectation"] == {
        "minimum": 90000,
        "maximum": 110000,
        "currency": "GBP",
        "period": "year",
    }
    assert profile["notice_period_days"] == 30 and profile["willing_to_relocate"] is True
    assert profile["eeo"] == {"gender": "female", "veteran_status": "decline_to_answer"}


def test_absent_fields_stay_and_null_clears_one(client):
    account = client.create_account()
    client.request("PATCH", "/api/user/profile", json=FULL_PROFILE, headers=account.headers)
    response = client.request(
        "PATCH",
        "/api/user/profile",
        json={"phone": None, "location": "Paris"},
        headers=account.headers,
    )
    profile = response.get_json()
    assert profile["phone"] is None and profile["location"] == "Paris"
    assert profile["notice_period_days"] == 30


def test_eeo_answers_are_stored_encrypted(client, app):
    account = client.create_account()
    client.request("PATCH", "/api/user/profile", json=FULL_PROFILE, headers=account.headers)
    stored = db.session.execute(
        text("SELECT eeo_encrypted, details::text FROM applicant_profiles WHERE user_id = :id"),
        {"id": account.id},
    ).one()
    assert "female" not in stored[0] and "female" not in stored[1]


def _eeo_under_a_dropped_key(account) -> None:
    """The account's EEO answers as a rotation left them: under a key ENCRYPTION_KEY lost."""
    dropped = (Fernet.generate_key().decode(),)
    db.session.execute(
        text("UPDATE applicant_profiles SET eeo_encrypted = :token WHERE user_id = :id"),
        {"token": encryption.encrypt('{"gender": "female"}', keys=dropped), "id": account.id},
    )
    db.session.commit()


def test_eeo_answers_under_a_dropped_key_are_named_unreadable_and_the_rest_is_served(client):
    account = client.create_account()
    client.request("PATCH", "/api/user/profile", json=FULL_PROFILE, headers=account.headers)
    _eeo_under_a_dropped_key(account)
    # The first read goes through Flask, the second takes the fast path: both answer alike.
    answers = [client.get("/api/user/profile", headers=account.headers) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].get_json() == answers[1].get_json()
    profile = answers[0].get_json()
    assert profile["eeo"] is None and profile["unreadable_fields"] == ["eeo"]
    assert profile["phone"] == FULL_PROFILE["phone"] and profile["name"] == "Ada Lovelace"
    # Changing another field keeps them as they are, and says so.
    patched = client.request(
        "PATCH", "/api/user/profile", json={"location": "Paris"}, headers=account.headers
    )
    assert patched.status_code == 200, patched.get_json()
    assert patched.get_json()["location"] == "Paris"
    assert patched.get_json()["unreadable_fields"] == ["eeo"]


def test_unreadable_eeo_answers_can_be_cleared_or_replaced(client):
    account = client.create_account()
    client.request("PATCH", "/api/user/profile", json=FULL_PROFILE, headers=account.headers)
    _eeo_under_a_dropped_key(account)
    cleared = client.request(
        "PATCH", "/api/user/profile", json={"eeo": None}, headers=account.headers
    )
    assert cleared.status_code == 200, cleared.get_json()
    assert cleared.get_json()["eeo"] is None and cleared.get_json()["unreadable_fields"] == []
    _eeo_under_a_dropped_key(account)
    replaced = client.request(
        "PATCH", "/api/user/profile", json={"eeo": {"gender": "male"}}, headers=account.headers
    )
    assert replaced.status_code == 200, replaced.get_json()
    profile = client.get("/api/user/profile", headers=account.headers).get_json()
    assert profile["eeo"] == {"gender": "male"} and profile["unreadable_fields"] == []


def test_bad_fields_are_named_and_change_nothing(client):
    account = client.create_account()
    bad = {
        "phone": "call me maybe",
        "salary_expectation": {"minimum": 100, "maximum": 50, "currency": "usd"},
        "work_authorization": [{"country": "USA", "status": "maybe"}],
        "eeo": {"gender": "robot"},
        "notice_period_days": -1,
    }
    response = client.request("PATCH", "/api/user/profile", json=bad, headers=account.headers)
    assert response.status_code == 422
    fields = error_of(response)["details"]["json"]
    assert set(fields) == set(bad)
    unknown = client.request(
        "PATCH", "/api/user/profile", json={"role": "admin"}, headers=account.headers
    )
    assert unknown.status_code == 422
    empty = client.request("PATCH", "/api/user/profile", json={}, headers=account.headers)
    assert empty.status_code == 422
    profile = client.get("/api/user/profile", headers=account.headers).get_json()
    assert profile["phone"] is None and profile["role"] == "user"


def test_each_user_sees_only_their_own_profile(client):
    alice, bob = client.create_account(), client.create_account()
    client.request("PATCH", "/api/user/profile", json=FULL_PROFILE, headers=alice.headers)
    assert client.get("/api/user/profile", headers=bob.headers).get_json()["phone"] is None


def test_changes_made_at_the_same_moment_are_all_kept(app, client):
    account = client.create_account()
    changes = [
        {"phone": "+1 555 0100"},
        {"location": "Paris"},
        {"notice_period_days": 45},
        {"willing_to_relocate": True},
    ]

    codes = at_once(
        len(changes),
        lambda i: (
            app.test_client()
            .patch("/api/user/profile", json=changes[i], headers=account.headers)
            .status_code
        ),
    )

    assert codes == [200] * len(changes)
    profile = client.get("/api/user/profile", headers=account.headers).get_json()
    for change in changes:
        assert profile == {**profile, **change}


def test_text_that_sanitising_would_empty_or_overgrow_is_refused_by_name(client):
    account = client.create_account()
    link = {"label": "GitHub", "url": "https://github.com/ada"}
    refused = {
        "name": {"name": "\u0001<b></b>"},
        "location": {"location": "\u0002"},
        "links.1.label": {"links": [link, {**link, "label": "\u0002"}]},
        "links.0.label": {"links": [{**link, "label": "<" * 20}]},  # "&lt;" x 20: 80 characters
    }
    for field, change in refused.items():
        response = client.request(
            "PATCH", "/api/user/profile", json=change, headers=account.headers
        )
        assert response.status_code == 422, field
        error = error_of(response)
        assert error["message"].startswith(f"{field}:") and field in error["details"]["json"]
    profile = client.get("/api/user/profile", headers=account.headers).get_json()
    assert profile["name"] == "Test User" and profile["location"] is None and profile["links"] == []
    kept = client.request(
        "PATCH",
        "/api/user/profile",
        json={"links": [{**link, "label": "<Git>Hub"}], "location": "Lyon <3"},
        headers=account.headers,
    )
    assert kept.status_code == 200
    assert kept.get_json()["links"][0]["label"] == "Hub"
    assert kept.get_json()["location"] == "Lyon &lt;3"
