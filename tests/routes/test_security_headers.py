"""Security headers on every response (errors included) and CORS from an allowlist."""

import pytest

from tests.helpers import ApiClient

EXPECTED = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


def assert_security_headers(response):
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (name, response.status_code)


@pytest.mark.parametrize("path", ["/healthz", "/no/such/page", "/api/user/profile"])
def test_headers_on_success_404_and_401(client, path):
    assert_security_headers(client.get(path))


def test_headers_on_a_500(make_app):
    app = make_app()

    @app.get("/explode")
    def explode():
        raise RuntimeError("boom")

    explode._auth = "public"
    response = app.test_client().get("/explode")
    assert response.status_code == 500
    assert_security_headers(response)


def test_authenticated_responses_are_not_cached(client):
    account = client.create_account()
    response = client.get("/api/user/profile", token=account.access_token)
    assert response.headers["Cache-Control"] == "no-store"
    assert_security_headers(response)


def test_cors_echoes_only_allowlisted_origins(make_app):
    app = make_app(cors_origins=("https://app.example.com",))
    client = ApiClient(app.test_client())
    good = client.get("/api/user/profile", headers={"Origin": "https://app.example.com"})
    assert good.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Origin" in good.headers["Vary"]
    assert "X-Request-ID" in good.headers["Access-Control-Expose-Headers"]
    evil = client.get("/api/user/profile", headers={"Origin": "https://evil.test"})
    assert "Access-Control-Allow-Origin" not in evil.headers


def test_cors_preflight_for_an_allowed_origin(make_app):
    app = make_app(cors_origins=("https://app.example.com",))
    response = app.test_client().options(
        "/api/user/profile",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    assert "GET" in response.headers["Access-Control-Allow-Methods"]
