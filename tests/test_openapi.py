"""The OpenAPI document as a client generator and the docs page read it."""

from __future__ import annotations

import re

import pytest

from server.schemas.jobs import PRIORITY_NAMES, PUBLIC_JOB_TYPES, STATUS_NAMES
from server.workers import job_handlers
from tests.helpers import make_pdf

# Generated clients name their functions after these: changing one breaks every client.
OPERATION_IDS = {
    ("GET", "/api/admin/backups"): "adminListBackups",
    ("POST", "/api/admin/backups/create"): "adminCreateBackup",
    ("POST", "/api/admin/backups/{backup_id}/verify"): "adminVerifyBackup",
    ("GET", "/api/admin/job-queue/stats"): "adminGetJobQueueStats",
    ("POST", "/api/admin/rate-limits/reset"): "adminResetRateLimit",
    ("GET", "/api/admin/rate-limits/{subject}"): "adminGetRateLimitUsage",
    ("POST", "/api/admin/security/audit"): "adminRunSecurityAudit",
    ("GET", "/api/admin/security/events"): "adminListSecurityEvents",
    ("GET", "/api/admin/security/ip-blocks"): "adminListIpBlocks",
    ("POST", "/api/admin/security/ip-blocks"): "adminCreateIpBlock",
    ("DELETE", "/api/admin/security/ip-blocks/{ip}"): "adminDeleteIpBlock",
    ("GET", "/api/admin/users"): "adminListUsers",
    ("POST", "/api/admin/users/{user_id}/disable"): "adminDisableUser",
    ("POST", "/api/admin/users/{user_id}/enable"): "adminEnableUser",
    ("POST", "/api/admin/users/{user_id}/unlock"): "adminUnlockUser",
    ("POST", "/api/auth/login"): "login",
    ("POST", "/api/auth/logout"): "logout",
    ("POST", "/api/auth/password-reset/confirm"): "confirmPasswordReset",
    ("POST", "/api/auth/password-reset/request"): "requestPasswordReset",
    ("POST", "/api/auth/refresh"): "refreshTokens",
    ("POST", "/api/auth/register"): "register",
    ("POST", "/api/auth/verify-email/confirm"): "confirmEmailVerification",
    ("POST", "/api/auth/verify-email/request"): "requestEmailVerification",
    ("POST", "/api/jobs"): "submitJob",
    ("POST", "/api/jobs/{job_id}/cancel"): "cancelJob",
    ("GET", "/api/jobs/{job_id}/events"): "streamJobEvents",
    ("POST", "/api/jobs/{job_id}/events-token"): "createJobEventsToken",
    ("GET", "/api/jobs/{job_id}/status"): "getJobStatus",
    ("GET", "/api/user/credentials"): "listCredentials",
    ("DELETE", "/api/user/credentials/{service}"): "deleteCredential",
    ("PUT", "/api/user/credentials/{service}"): "putCredential",
    ("POST", "/api/user/delete"): "deleteAccount",
    ("POST", "/api/user/email"): "changeEmail",
    ("GET", "/api/user/jobs"): "listMyJobs",
    ("POST", "/api/user/password"): "changePassword",
    ("GET", "/api/user/profile"): "getProfile",
    ("GET", "/api/user/resumes"): "listResumes",
    ("POST", "/api/user/resumes"): "uploadResume",
    ("DELETE", "/api/user/resumes/{resume_id}"): "deleteResume",
    ("GET", "/api/user/resumes/{resume_id}"): "getResume",
    ("GET", "/api/user/resumes/{resume_id}/download"): "downloadResume",
    ("GET", "/api/postings"): "listPostings",
    ("GET", "/api/postings/{posting_id}"): "getPosting",
    ("POST", "/api/postings/search"): "searchPostings",
    ("GET", "/api/user/tailored-resumes"): "listTailoredResumes",
    ("GET", "/api/user/tailored-resumes/{tailored_id}"): "getTailoredResume",
    ("GET", "/healthz"): "getLiveness",
    ("GET", "/readyz"): "getReadiness",
    ("GET", "/api/admin/system-status"): "adminGetSystemStatus",
    ("GET", "/metrics"): "getMetrics",
    ("PATCH", "/api/user/profile"): "updateProfile",
    ("GET", "/api/user/projects"): "listProjects",
    ("POST", "/api/user/projects"): "createProject",
    ("GET", "/api/user/projects/{project_id}"): "getProject",
    ("PATCH", "/api/user/projects/{project_id}"): "updateProject",
    ("DELETE", "/api/user/projects/{project_id}"): "deleteProject",
    ("POST", "/api/projects/analyze"): "analyzeProjects",
    ("GET", "/api/applications"): "listApplications",
    ("POST", "/api/applications"): "startApplication",
    ("GET", "/api/applications/{application_id}"): "getApplication",
    ("PATCH", "/api/applications/{application_id}"): "updateApplication",
    ("POST", "/api/applications/{application_id}/submit"): "submitApplication",
    ("GET", "/api/applications/{application_id}/screenshots/{number}"): "getApplicationScreenshot",
}


@pytest.fixture
def spec(client):
    return client.get("/api/openapi.json").get_json()


def operations(spec):
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield method.upper(), path, operation


def resolve(spec, schema):
    return spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]


def test_the_server_url_is_the_configured_one_whatever_host_a_request_names(make_app):
    app = make_app(public_base_url="https://api.jobs.example")
    client = app.test_client()
    # The document is built once and cached: the first request must not choose its URL.
    first = client.get("/api/openapi.json", headers={"Host": "attacker.example"})
    assert first.get_json()["servers"] == [{"url": "https://api.jobs.example"}]
    assert b"attacker.example" not in first.data
    later = client.get("/api/openapi.json", headers={"Host": "other.example"})
    assert later.get_json()["servers"] == [{"url": "https://api.jobs.example"}]


def test_every_operation_has_its_own_stable_operation_id(spec):
    found = {(method, path): op.get("operationId") for method, path, op in operations(spec)}
    assert found == OPERATION_IDS
    assert len(set(found.values())) == len(found)


def test_a_job_submission_is_a_union_keyed_by_type_with_one_payload_schema_each(spec, client):
    job_handlers.register_handler("internal_echo")(lambda job: job.payload)
    try:
        spec = client.get("/api/openapi.json").get_json()
    finally:
        job_handlers.unregister_handler("internal_echo")
    body = spec["paths"]["/api/jobs"]["post"]["requestBody"]
    union = resolve(spec, body["content"]["application/json"]["schema"])
    mapping = union["discriminator"]["mapping"]
    assert union["discriminator"]["propertyName"] == "type"
    assert set(mapping) == set(PUBLIC_JOB_TYPES) == set(job_handlers.KNOWN_JOB_TYPES)
    assert sorted(ref["$ref"] for ref in union["oneOf"]) == sorted(mapping.values())
    payload_schemas = set()
    for job_type, ref in mapping.items():
        variant = resolve(spec, {"$ref": ref})
        assert variant["properties"]["type"]["enum"] == [job_type]
        assert resolve(spec, variant["properties"]["priority"])["enum"] == PRIORITY_NAMES
        assert variant["additionalProperties"] is False and "type" in variant["required"]
        payload = resolve(spec, variant["properties"]["payload"])
        assert payload["additionalProperties"] is False
        payload_schemas.add(variant["properties"]["payload"]["$ref"])
    assert len(payload_schemas) == len(PUBLIC_JOB_TYPES)
    search = spec["components"]["schemas"]["JobSearchPayload"]
    assert search["required"] == ["keywords"]
    assert "greenhouse" in search["properties"]["sources"]["items"]["enum"]
    tailoring = spec["components"]["schemas"]["ResumeTailoringPayload"]
    assert tailoring["properties"]["job_description"]["maxLength"] == 50_000


def test_closed_sets_are_enums_and_shared_ones_are_named_once(spec):
    schemas = spec["components"]["schemas"]

    def enum_of(schema):
        return (resolve(spec, schema) if "$ref" in schema else schema)["enum"]

    status = schemas["JobStatusOut"]["properties"]
    assert status["status"] == {"$ref": "#/components/schemas/JobStatus"}
    assert enum_of(status["status"]) == STATUS_NAMES
    assert enum_of(status["priority"]) == PRIORITY_NAMES
    assert enum_of(schemas["JobSubmittedOut"]["properties"]["status"]) == STATUS_NAMES
    assert enum_of(schemas["UserOut"]["properties"]["role"]) == ["user", "admin"]
    assert enum_of(schemas["TokensOut"]["properties"]["token_type"]) == ["Bearer"]
    assert "application/pdf" in enum_of(schemas["ResumeOut"]["properties"]["content_type"])
    assert enum_of(schemas["RateLimitUsage"]["properties"]["scope"]) == ["user", "ip", "global"]
    (service,) = spec["paths"]["/api/user/credentials/{service}"]["put"]["parameters"]
    assert enum_of(service["schema"]) == enum_of(schemas["CredentialOut"]["properties"]["service"])
    assert "mimikree" in enum_of(service["schema"])
    filters = {p["name"]: p for p in spec["paths"]["/api/user/jobs"]["get"]["parameters"]}
    assert enum_of(filters["status"]["schema"]) == STATUS_NAMES
    assert enum_of(filters["type"]["schema"]) == list(PUBLIC_JOB_TYPES)
    # No copy of a shared set is left inline.
    text = str(spec["paths"]) + str({k: v for k, v in schemas.items() if k != "JobStatus"})
    assert str(STATUS_NAMES) not in text


def test_bodies_that_must_be_sent_are_marked_required(spec):
    for method, path, operation in operations(spec):
        body = operation.get("requestBody")
        if body is None:
            continue
        needs_fields = any(
            resolve(spec, media["schema"]).get("required")
            or "oneOf" in resolve(spec, media["schema"])
            for media in body["content"].values()
        )
        assert body.get("required", False) is needs_fields, (method, path)
    assert spec["paths"]["/api/auth/register"]["post"]["requestBody"]["required"] is True
    assert "required" not in spec["paths"]["/api/auth/logout"]["post"]["requestBody"]
    # A resume is a file (multipart) or a link (JSON): each media type has its own schema.
    intake = spec["paths"]["/api/user/resumes"]["post"]["requestBody"]["content"]
    assert resolve(spec, intake["multipart/form-data"]["schema"])["required"] == ["file"]
    assert resolve(spec, intake["application/json"]["schema"])["required"] == ["url"]


def test_response_headers_and_the_idempotency_key_are_documented(spec):
    headers = spec["components"]["headers"]
    for method, path, operation in operations(spec):
        for status, response in operation["responses"].items():
            named = response.get("headers", {})
            assert "X-Request-ID" in named, (method, path, status)
            if status in ("429", "503"):
                assert "Retry-After" in named, (method, path, status)
            if path.startswith("/api/"):
                assert {"RateLimit", "RateLimit-Policy", "X-RateLimit-Remaining"} <= set(named)
    for name in ("Location", "Content-Disposition", "Retry-After", "RateLimit", "X-Request-ID"):
        assert headers[name]["description"]
    submit = spec["paths"]["/api/jobs"]["post"]
    assert "Location" in submit["responses"]["202"]["headers"]
    (key,) = [p for p in submit["parameters"] if p["name"] == "Idempotency-Key"]
    assert key["in"] == "header" and key["schema"]["maxLength"] == 255
    download = spec["paths"]["/api/user/resumes/{resume_id}/download"]["get"]
    assert "Content-Disposition" in download["responses"]["200"]["headers"]


def test_refresh_takes_a_refresh_token_and_public_routes_take_none(spec):
    schemes = spec["components"]["securitySchemes"]
    assert set(schemes) == {"BearerAuth", "RefreshToken", "JobEventsToken"}
    assert spec["paths"]["/api/auth/refresh"]["post"]["security"] == [{"RefreshToken": []}]
    # A browser's EventSource cannot send a header: the stream also takes a job-scoped token.
    assert spec["paths"]["/api/jobs/{job_id}/events"]["get"]["security"] == [
        {"BearerAuth": []},
        {"JobEventsToken": []},
    ]
    assert spec["paths"]["/api/auth/logout"]["post"]["security"] == [{"BearerAuth": []}]
    for path in ("/api/auth/login", "/api/auth/register", "/healthz"):
        for operation in spec["paths"][path].values():
            assert operation["security"] == [], path


def test_uuid_ids_say_so(spec):
    schemas = spec["components"]["schemas"]
    assert schemas["JobStatusOut"]["properties"]["job_id"]["format"] == "uuid"
    assert schemas["JobSubmittedOut"]["properties"]["job_id"]["format"] == "uuid"
    assert schemas["ResumeOut"]["properties"]["id"]["format"] == "uuid"
    for path in ("/api/jobs/{job_id}/status", "/api/user/resumes/{resume_id}/download"):
        (parameter,) = spec["paths"][path]["get"]["parameters"]
        assert parameter["schema"] == {"type": "string", "format": "uuid"}


def test_a_new_passwords_minimum_length_is_the_servers(make_app):
    spec = make_app(password_min_length=15).test_client().get("/api/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    assert schemas["RegisterIn"]["properties"]["password"]["minLength"] == 15
    assert schemas["PasswordChangeIn"]["properties"]["new_password"]["minLength"] == 15
    assert schemas["PasswordResetConfirmIn"]["properties"]["new_password"]["minLength"] == 15
    # Logging in with a password set under an older, shorter policy still works.
    assert schemas["LoginIn"]["properties"]["password"]["minLength"] == 1


def test_each_schema_class_is_one_component(spec):
    names = set(spec["components"]["schemas"])
    copies = [n for n in names if (m := re.fullmatch(r"(.+?)\d+", n)) and m.group(1) in names]
    assert copies == []
    user_ref = spec["components"]["schemas"]["TokensOut"]["properties"]["user"]["$ref"]
    assert user_ref == "#/components/schemas/UserOut"
    # The profile is the account (the same fields as UserOut) with the applicant's details.
    profile = spec["paths"]["/api/user/profile"]["get"]["responses"]["200"]
    profile_ref = profile["content"]["application/json"]["schema"]["$ref"]
    profile_schema = resolve(spec, {"$ref": profile_ref})
    assert set(resolve(spec, {"$ref": user_ref})["properties"]) < set(profile_schema["properties"])


def test_a_download_is_declared_with_the_media_type_it_is_served_with(client, spec):
    download = spec["paths"]["/api/user/resumes/{resume_id}/download"]["get"]
    declared = set(download["responses"]["200"]["content"])
    assert "application/octet-stream" not in declared
    account = client.create_account()
    resume = client.upload(account.access_token, "cv.pdf", make_pdf()).get_json()
    response = client.get(f"/api/user/resumes/{resume['id']}/download", headers=account.headers)
    assert response.status_code == 200 and response.mimetype in declared
    assert response.headers["Content-Disposition"].startswith("attachment")


def test_a_browser_client_may_send_and_read_every_documented_header(make_app):
    app = make_app(cors_origins=("https://app.example.com",))
    client = app.test_client()
    declared = set(client.get("/api/openapi.json").get_json()["components"]["headers"])
    preflight = client.options(
        "/api/jobs",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Idempotency-Key",
        },
    )
    allowed = {h.strip() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"Authorization", "Content-Type", "Idempotency-Key"} <= allowed
    exposed = {h.strip() for h in preflight.headers["Access-Control-Expose-Headers"].split(",")}
    assert declared <= exposed
