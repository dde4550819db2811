"""Projects: create, list (paginated), read, change, delete; owner only."""

from __future__ import annotations

from tests.helpers import error_of

PROJECT = {
    "name": "Order service",
    "description": "A REST API for orders",
    "technologies": ["Python", "PostgreSQL"],
    "url": "https://github.com/ada/orders",
    "start_date": "2023-01",
    "end_date": "2024-06",
    "highlights": ["Cut p99 latency by 40%"],
}


def test_a_project_is_created_read_changed_and_deleted(client):
    account = client.create_account()
    created = client.post("/api/user/projects", json=PROJECT, headers=account.headers)
    assert created.status_code == 201, created.get_json()
    project = created.get_json()
    assert {k: project[k] for k in PROJECT} == PROJECT
    path = f"/api/user/projects/{project['id']}"
    assert client.get(path, headers=account.headers).get_json()["name"] == "Order service"
    changed = client.request("PATCH", path, json={"end_date": None}, headers=account.headers)
    assert changed.status_code == 200 and changed.get_json()["end_date"] is None
    assert changed.get_json()["technologies"] == ["Python", "PostgreSQL"]
    assert client.delete(path, headers=account.headers).status_code == 204
    assert client.get(path, headers=account.headers).status_code == 404


def test_projects_are_listed_newest_first_a_page_at_a_time(client):
    account = client.create_account()
    for index in range(3):
        client.post("/api/user/projects", json={"name": f"P{index}"}, headers=account.headers)
    page = client.get("/api/user/projects?per_page=2", headers=account.headers).get_json()
    assert [p["name"] for p in page["items"]] == ["P2", "P1"]
    assert page["meta"] == {"page": 1, "per_page": 2, "total": 3}
    second = client.get("/api/user/projects?per_page=2&page=2", headers=account.headers)
    assert [p["name"] for p in second.get_json()["items"]] == ["P0"]


def test_bad_projects_are_refused_with_the_fields_named(client):
    account = client.create_account()
    bad = {"name": "", "url": "ftp://x", "start_date": "2024-13", "technologies": "Python"}
    response = client.post("/api/user/projects", json=bad, headers=account.headers)
    assert response.status_code == 422
    assert set(error_of(response)["details"]["json"]) == set(bad)
    backwards = {"name": "X", "start_date": "2024-05", "end_date": "2023"}
    response = client.post("/api/user/projects", json=backwards, headers=account.headers)
    assert response.status_code == 422 and "end_date" in error_of(response)["message"]
    project = client.post(
        "/api/user/projects", json={"name": "Y", "start_date": "2024"}, headers=account.headers
    ).get_json()
    response = client.request(
        "PATCH",
        f"/api/user/projects/{project['id']}",
        json={"end_date": "2020"},
        headers=account.headers,
    )
    assert response.status_code == 422
    assert (
        client.get("/api/user/projects", headers=account.headers).get_json()["meta"]["total"] == 1
    )
    assert (
        client.get(f"/api/user/projects/{project['id']}", headers=account.headers).get_json()[
            "end_date"
        ]
        is None
    )


def test_another_users_project_is_not_found(client):
    alice, bob = client.create_account(), client.create_account()
    project = client.post("/api/user/projects", json=PROJECT, headers=alice.headers).get_json()
    path = f"/api/user/projects/{project['id']}"
    assert client.get(path, headers=bob.headers).status_code == 404
    assert (
        client.request("PATCH", path, json={"name": "mine"}, headers=bob.headers).status_code == 404
    )
    assert client.delete(path, headers=bob.headers).status_code == 404
    assert client.get("/api/user/projects", headers=bob.headers).get_json()["items"] == []
    assert client.get(path, headers=alice.headers).get_json()["name"] == "Order service"


def test_a_nul_character_inside_a_list_is_refused_not_stored(client):
    account = client.create_account()
    bad = {"name": "X", "technologies": ["Python", "Post\u0000gres"]}
    response = client.post("/api/user/projects", json=bad, headers=account.headers)
    assert response.status_code == 422
    assert error_of(response)["details"]["json"]["technologies"] == [
        "must not contain NUL characters"
    ]
    job = {"type": "job_search", "payload": {"keywords": ["py\u0000thon"]}}
    response = client.post("/api/jobs", json=job, headers=account.headers)
    assert response.status_code == 422 and "NUL" in error_of(response)["message"]
    assert client.get("/api/user/projects", headers=account.headers).get_json()["items"] == []


def test_a_name_or_item_that_sanitising_would_empty_is_refused_by_name(client):
    account = client.create_account()
    for body, field in (
        ({"name": "<b></b>\u0001"}, "name"),
        ({"name": "Queue Lab", "technologies": ["Redis", "\u0002"]}, "technologies.1"),
        ({"name": "Queue Lab", "highlights": ["<i></i>"]}, "highlights.0"),
    ):
        response = client.post("/api/user/projects", json=body, headers=account.headers)
        assert response.status_code == 422, body
        assert field in error_of(response)["details"]["json"]
    listed = client.get("/api/user/projects", headers=account.headers).get_json()
    assert listed["meta"]["total"] == 0
    created = client.post(
        "/api/user/projects", json={"name": "Queue Lab"}, headers=account.headers
    ).get_json()
    renamed = client.request(
        "PATCH",
        f"/api/user/projects/{created['id']}",
        json={"name": "\u0003"},
        headers=account.headers,
    )
    assert renamed.status_code == 422 and "name" in error_of(renamed)["details"]["json"]
    kept = client.get(f"/api/user/projects/{created['id']}", headers=account.headers)
    assert kept.get_json()["name"] == "Queue Lab"
