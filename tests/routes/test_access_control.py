"""Deny by default: every route needs a token unless public; admin routes need the role."""

import re
import tempfile
from pathlib import Path

import pytest

from server import create_app
from server.core.config import Settings
from server.security_manager.auth import auth_mode
from tests.helpers import error_of

_ARG = re.compile(r"<(?:([a-z]+):)?([a-zA-Z_]+)>")
_SAMPLE_BY_CONVERTER = {"uuid": "00000000-0000-4000-8000-000000000000"}


def all_routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule, method


def concrete(path: str) -> str:
    """The rule with a value its converters accept in place of every argument."""
    return _ARG.sub(lambda m: _SAMPLE_BY_CONVERTER.get(m.group(1) or "", "1"), path)


def scratch_app():
    """An app built only to read its URL map (at collection, before any database exists)."""
    scratch = Path(tempfile.mkdtemp(prefix="routes-"))
    settings = Settings(
        env="testing",
        instance_dir=scratch,
        log_dir=scratch,
        log_to_stdout=False,
        jwt_secret_key="k" * 40,
        encryption_key="e" * 44,
        database_url=f"sqlite:///{scratch / 'unused.db'}",
    )
    return create_app(settings)


def route_ids():
    """Every (path, method, protection) of the app, read from its URL map at collection."""
    app = scratch_app()
    return [(rule.rule, method, auth_mode(app, rule.endpoint)) for rule, method in all_routes(app)]


ROUTES = route_ids()
PUBLIC = {
    "/healthz",
    "/readyz",
    "/api/openapi.json",
    "/api/docs",
    "/api/docs/oauth2-redirect",
    "/api/docs/assets/<name>",
    "/api/auth/register",
    "/api/auth/login",
    "/api/auth/verify-email/confirm",
    "/api/auth/password-reset/request",
    "/api/auth/password-reset/confirm",
    "/static/<path:filename>",
    "/verify-email",  # the pages the mail links open
    "/reset-password",
    "/metrics",  # its view admits configured networks, or an admin's token
}


# Pinned by hand, not read from the routes' markers: a route that loses `@admin_required`
# must fail here instead of silently becoming a route every user may call.
ADMIN_ROUTES = {
    ("GET", "/api/admin/backups"),
    ("POST", "/api/admin/backups/create"),
    ("POST", "/api/admin/backups/<backup_id>/verify"),
    ("GET", "/api/admin/job-queue/stats"),
    ("GET", "/api/admin/rate-limits/<subject>"),
    ("POST", "/api/admin/rate-limits/reset"),
    ("POST", "/api/admin/security/audit"),
    ("GET", "/api/admin/security/events"),
    ("GET", "/api/admin/security/ip-blocks"),
    ("POST", "/api/admin/security/ip-blocks"),
    ("DELETE", "/api/admin/security/ip-blocks/<ip>"),
    ("GET", "/api/admin/users"),
    ("POST", "/api/admin/users/<int:user_id>/disable"),
    ("POST", "/api/admin/users/<int:user_id>/enable"),
    ("POST", "/api/admin/users/<int:user_id>/unlock"),
    ("GET", "/api/admin/system-status"),
}


def test_the_admin_routes_are_exactly_the_pinned_list():
    admin = {(method, path) for path, method, mode in ROUTES if mode == "admin"}
    assert admin == ADMIN_ROUTES
    under_admin_prefix = {(m, p) for p, m, _mode in ROUTES if p.startswith("/api/admin/")}
    assert under_admin_prefix == ADMIN_ROUTES


def test_only_the_expected_routes_are_public():
    public = {path for path, _method, mode in ROUTES if mode == "public"}
    assert public <= PUBLIC


@pytest.mark.parametrize(("path", "method", "mode"), [r for r in ROUTES if r[2] != "public"])
def test_route_without_token_is_401(client, path, method, mode):
    response = client.request(method, concrete(path), json={})
    assert response.status_code == 401, (path, method)
    assert error_of(response)["code"] == "unauthorized"


@pytest.mark.parametrize(("method", "path"), sorted(ADMIN_ROUTES))
def test_user_on_admin_route_is_403(client, path, method):
    account = client.create_account()
    response = client.request(method, concrete(path), token=account.access_token, json={})
    assert response.status_code == 403, (path, method)


def test_admin_reaches_admin_routes(client, app):
    admin = client.create_admin(app)
    response = client.get("/api/admin/users", token=admin.access_token)
    assert response.status_code == 200
    assert response.get_json()["meta"]["total"] == 1


def test_openapi_lists_every_route(client, app):
    spec = client.get("/api/openapi.json").get_json()
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    skipped = {
        "/api/openapi.json",
        "/api/docs",
        "/api/docs/oauth2-redirect",
        "/api/docs/assets/<name>",
        "/static/<path:filename>",
        "/verify-email",  # HTML pages for people, not API operations
        "/reset-password",
    }
    for rule, method in all_routes(app):
        if rule.rule in skipped:
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-zA-Z_]+)>", r"{\1}", rule.rule)
        assert (path, method) in documented, (path, method)
    assert spec["components"]["securitySchemes"]["BearerAuth"]["scheme"] == "bearer"
    assert spec["paths"]["/api/user/profile"]["get"]["security"] == [{"BearerAuth": []}]
    assert spec["paths"]["/api/auth/login"]["post"]["security"] == []


def test_interactive_docs_are_served(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert b"swagger" in response.data.lower()


def test_the_docs_page_loads_only_files_this_server_serves(client):
    page = client.get("/api/docs")
    assert "https:" not in page.headers["Content-Security-Policy"]
    html = page.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(url.startswith("/api/docs/assets/") for url in assets), assets
    kinds = {".js": "javascript", ".css": "text/css", ".png": "image/png"}
    for url in assets:
        response = client.get(url)
        assert response.status_code == 200, url
        assert kinds[url[url.rindex(".") :]] in response.headers["Content-Type"], url
        assert len(response.data) > 0
    assert b"SwaggerUIBundle" in client.get("/api/docs/assets/swagger-ui-bundle.js").data


def test_only_swagger_ui_files_are_served_as_docs_assets(client):
    for name in ("LICENSE", "..%2f..%2fconfig.py", "oauth2-redirect.html"):
        response = client.get(f"/api/docs/assets/{name}")
        assert response.status_code == 404, name
        assert error_of(response)["code"] == "not_found"
