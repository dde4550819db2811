"""One JSON error shape for every error, and bad input that changes nothing."""

import pytest
from sqlalchemy import func, select

from server.models import User
from tests.helpers import error_of

JSON = {"Content-Type": "application/json"}


def user_count(app):
    session = app.extensions["sqlalchemy"].session
    return session.scalar(select(func.count()).select_from(User))


def test_unknown_path_is_json_404(client):
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    assert response.headers["X-Request-ID"] == error_of(response)["request_id"]


@pytest.mark.parametrize("path", ["/api/auth//login", "/api//auth/login", "/api/user//profile"])
def test_a_doubled_slash_is_a_404_never_a_redirect_to_the_host_header(client, path):
    response = client.post(path, json={}, headers={"Host": "attacker.example"})
    assert response.status_code == 404
    assert "Location" not in response.headers
    assert error_of(response)["code"] == "not_found"


def test_wrong_method_is_json_405(client):
    response = client.delete("/healthz")
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


def test_oversized_body_is_json_413(make_app):
    app = make_app(max_content_length=2048)
    response = app.test_client().post(
        "/api/auth/register", data=b"x" * 5000, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_unexpected_exception_is_500_without_trace(make_app):
    app = make_app()

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    boom._auth = "public"
    response = app.test_client().get("/boom", headers={"X-Request-ID": "trace-me-123"})
    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "internal_error"
    assert error["request_id"] == "trace-me-123"
    assert b"Traceback" not in response.data and b"secret internals" not in response.data
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": "long enough password", "name": "A"}, "email"),
        ({"email": "a@example.com", "password": "long enough password"}, "name"),
        ({"email": "a@example.com", "name": "A"}, "password"),
        (
            {
                "email": "a@example.com",
                "password": "long enough password",
                "name": "A",
                "role": "admin",
            },
            "role",
        ),
        ({"email": "a@example.com", "password": "long enough password", "name": "x" * 201}, "name"),
        ({"email": "a@example.com", "password": "long enough password", "name": "   "}, "name"),
        ({"email": 5, "password": "long enough password", "name": "A"}, "email"),
    ],
)
def test_bad_registration_names_the_field_and_writes_nothing(client, app, body, field):
    response = client.post("/api/auth/register", json=body)
    assert response.status_code in (400, 422)
    assert field in error_of(response)["message"]
    assert user_count(app) == 0


def test_non_json_body_is_a_clear_4xx(client, app):
    response = client.post(
        "/api/auth/register", data="email=a", headers={"Content-Type": "text/plain"}
    )
    assert 400 <= response.status_code < 500
    error_of(response)
    assert user_count(app) == 0


def test_malformed_json_says_where_it_breaks(client, app):
    response = client.post("/api/auth/register", data='{\n  "email": ,', headers=JSON)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "malformed_json"
    assert "line 2, column 12" in error["message"]
    assert error["details"] == {"line": 2, "column": 12}
    assert user_count(app) == 0


REGISTRATION = '{{"email": {email}, "password": "long enough password", "name": {name}}}'


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (REGISTRATION.format(email='"a@example.com"', name="[" * 100_000), "nested more than"),
        (
            REGISTRATION.format(email='"a@example.com"', name="[" * 33 + "]" * 33),
            "nested more than 32 levels",
        ),
        (REGISTRATION.format(email='"a@example.com"', name="1" * 5000), "number is too large"),
        (REGISTRATION.format(email='"a@example.com"', name='"\\ud800"'), "lone UTF-16 surrogate"),
        (REGISTRATION.format(email='"\\udc00a@example.com"', name='"A"'), "lone UTF-16 surrogate"),
    ],
    ids=["100000-deep", "33-deep", "5000-digit-number", "surrogate-in-name", "surrogate-in-email"],
)
def test_hostile_json_is_a_400_saying_why_and_writes_nothing(client, app, body, reason):
    response = client.post("/api/auth/register", data=body, headers=JSON)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "malformed_json" and reason in error["message"]
    assert user_count(app) == 0


def test_a_lone_surrogate_in_a_credential_secret_is_a_400_and_stores_nothing(client):
    account = client.create_account()
    response = client.put(
        "/api/user/credentials/lever",
        token=account.access_token,
        data='{"secret": "abc\\ud800"}',
        headers=JSON,
    )
    assert response.status_code == 400
    assert "lone UTF-16 surrogate" in error_of(response)["message"]
    listed = client.get("/api/user/credentials", token=account.access_token)
    assert listed.get_json()["items"] == []


def test_a_surrogate_pair_is_a_character_like_any_other(client):
    body = REGISTRATION.format(email='"emoji@example.com"', name='"Ada \\ud83d\\ude00"')
    response = client.post("/api/auth/register", data=body, headers=JSON)
    assert response.status_code == 201
    assert response.get_json()["name"] == "Ada \U0001f600"


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_declared_json_is_a_415_saying_json_is_expected(
    client, app, content_type
):
    headers = {"Content-Type": content_type} if content_type else {}
    body = '{"email": "a@example.com", "password": "long enough password", "name": "A"}'
    response = client.post("/api/auth/register", data=body, headers=headers)
    assert response.status_code == 415
    error = error_of(response)
    assert error["code"] == "unsupported_media_type"
    assert "JSON" in error["message"] and "Content-Type: application/json" in error["message"]
    assert user_count(app) == 0


def test_a_request_without_body_or_content_type_is_told_json_is_expected(client):
    response = client.post("/api/auth/login")
    assert response.status_code == 415
    assert "Content-Type: application/json" in error_of(response)["message"]


@pytest.mark.parametrize(
    "body",
    [{}, {"email": "a@example.com"}, {"email": "a@example.com", "password": "p", "extra": 1}],
)
def test_bad_login_input_is_422(client, body):
    response = client.post("/api/auth/login", json=body)
    assert response.status_code == 422
    error_of(response)


def test_bad_logout_input_revokes_nothing(client):
    account = client.create_account()
    response = client.post(
        "/api/auth/logout", token=account.access_token, json={"refresh_token": "junk"}
    )
    assert response.status_code == 422
    assert "refresh_token" in error_of(response)["message"]
    assert client.get("/api/user/profile", token=account.access_token).status_code == 200


@pytest.mark.parametrize("query", ["page=0", "per_page=1000", "role=root", "unknown=1", "page=abc"])
def test_bad_admin_query_is_422(client, app, query):
    admin = client.create_admin(app)
    response = client.get(f"/api/admin/users?{query}", token=admin.access_token)
    assert response.status_code == 422
    error_of(response)


# Python's int() reads all of these; the document's `type: integer` reads none of them.
NOT_DECIMAL_INTEGERS = ["1_0", "%201", "1%20", "1%0A", "%D9%A1", "%EF%BC%91", "1.0"]


@pytest.mark.parametrize("value", NOT_DECIMAL_INTEGERS)
@pytest.mark.parametrize(
    "query",
    [
        "/api/admin/users?page=",
        "/api/admin/users?per_page=",
        "/api/user/jobs?page=",
        "/api/admin/security/events?actor_user_id=",
    ],
)
def test_an_integer_query_parameter_takes_ascii_digits_only(client, app, query, value):
    admin = client.create_admin(app)
    response = client.get(query + value, token=admin.access_token)
    assert response.status_code == 422, response.get_json()
    assert error_of(response)["code"] == "validation_error"


@pytest.mark.parametrize("value", ["%D9%A2", "%EF%BC%92"])  # Arabic-Indic and fullwidth 2
def test_an_integer_in_the_path_takes_ascii_digits_only(client, app, value):
    admin = client.create_admin(app)
    other = client.create_account()
    assert other.id == 2  # the digit in the path reads as this id to Python's int()
    response = client.post(f"/api/admin/users/{value}/disable", token=admin.access_token)
    assert response.status_code == 404
    assert client.get("/api/user/profile", token=other.access_token).status_code == 200


@pytest.mark.parametrize(
    "value",
    ["2020-01-01", "2020-01-01T00:00:00", "20200101T000000Z", "2020-W01", "2020-01-01%2000:00:00Z"],
)
def test_a_date_time_query_parameter_takes_rfc_3339_with_its_offset(client, app, value):
    admin = client.create_admin(app)
    for name in ("since", "until"):
        response = client.get(
            f"/api/admin/security/events?{name}={value}", token=admin.access_token
        )
        assert response.status_code == 422, (name, response.get_json())
    for valid in ("2020-01-01T00:00:00Z", "2020-01-01T00:00:00.5%2B01:00", "2020-01-01t00:00:00z"):
        response = client.get(f"/api/admin/security/events?since={valid}", token=admin.access_token)
        assert response.status_code == 200, (valid, response.get_json())


def test_an_integer_in_a_json_body_is_a_json_number_not_a_string(client, app):
    admin = client.create_admin(app)
    response = client.post(
        "/api/admin/security/ip-blocks",
        json={"ip": "203.0.113.9", "reason": "probe", "ttl_seconds": "600"},
        token=admin.access_token,
    )
    assert response.status_code == 422
    assert "ttl_seconds" in error_of(response)["details"]["json"]
    listed = client.get("/api/admin/security/ip-blocks", token=admin.access_token).get_json()
    assert listed["items"] == []


def test_request_id_is_echoed_or_generated(client):
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert generated.headers["X-Request-ID"] != "bad id with spaces"
    assert len(generated.headers["X-Request-ID"]) == 32


def test_redis_down_on_a_route_that_needs_it_is_503_not_500(client, app, make_app):
    admin = client.create_admin(app)
    down = make_app(redis_url="redis://127.0.0.1:1/0").test_client()
    response = down.delete(
        "/api/admin/security/ip-blocks/203.0.113.9",
        headers={"Authorization": f"Bearer {admin.access_token}"},
    )
    assert response.status_code == 503
    error = error_of(response)
    assert error["code"] == "unavailable" and error["details"]["dependency"] == "redis"
    assert response.headers["Retry-After"] == "5"


def test_logout_with_an_expired_refresh_token_still_ends_the_session(client, app):
    from datetime import timedelta

    from flask_jwt_extended import create_refresh_token

    account = client.create_account()
    user = app.extensions["sqlalchemy"].session.get(User, account.id)
    expired_refresh = create_refresh_token(identity=user, expires_delta=timedelta(seconds=-5))
    response = client.post(
        "/api/auth/logout", token=account.access_token, json={"refresh_token": expired_refresh}
    )
    assert response.status_code == 200
    assert client.get("/api/user/profile", token=account.access_token).status_code == 401


def test_every_404_has_the_code_not_found_and_names_the_resource(client, app):
    account = client.create_account()
    admin = client.create_admin(app)
    missing = "00000000-0000-4000-8000-000000000000"
    cases = {
        "job": client.get(f"/api/jobs/{missing}/status", token=account.access_token),
        "resume": client.get(f"/api/user/resumes/{missing}", token=account.access_token),
        "credential": client.delete("/api/user/credentials/lever", token=account.access_token),
        "user": client.post("/api/admin/users/999999/disable", token=admin.access_token),
        "ip_block": client.delete(
            "/api/admin/security/ip-blocks/203.0.113.9", token=admin.access_token
        ),
        "rate_limit": client.post(
            "/api/admin/rate-limits/reset",
            token=admin.access_token,
            json={"limit": "no_such_limit", "subject": "global"},
        ),
    }
    for resource, response in cases.items():
        assert response.status_code == 404, (resource, response.get_json())
        error = error_of(response)
        assert error["code"] == "not_found", resource
        assert error["details"]["resource"] == resource
    assert error_of(client.get("/no/such/thing"))["code"] == "not_found"
