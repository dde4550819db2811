"""The authenticated user's own resources: account and applicant profile, stored credentials,
resumes, projects."""

import io
from functools import wraps

from apiflask import APIBlueprint
from apiflask.scaffold import _annotate
from apiflask.schema_adapters.marshmallow import parser
from flask import request, send_file

from server.core.config import get_settings
from server.rate_limiter import cheap_read
from server.schemas.admin import PageQuery
from server.schemas.applicant import (
    ProfileOut,
    ProfilePatchIn,
    ProjectIn,
    ProjectOut,
    ProjectPageOut,
    ProjectPatchIn,
)
from server.schemas.auth import MessageOut, UserOut
from server.schemas.jobs import JobListQuery, JobPageOut
from server.schemas.user import (
    AccountDeleteIn,
    CredentialIn,
    CredentialListOut,
    CredentialOut,
    EmailChangeIn,
    PasswordChangeIn,
    ResumeDetailOut,
    ResumeIntakeDoc,
    ResumeLinkIn,
    ResumeListOut,
    ResumeUploadIn,
)
from server.security_manager.auth import current_identity, current_user, fresh_login_required
from server.security_manager.uploads import ALLOWED_EXTENSIONS
from server.services import accounts, credentials, jobs, profiles, projects, resumes
from server.services.hot_reads import json_response
from server.web.request_hooks import client_subject

# A download is served as the type detected at upload.
DOWNLOAD_MEDIA_TYPES = sorted({value.split(";")[0] for value in ALLOWED_EXTENSIONS.values()})

bp = APIBlueprint("user", __name__, url_prefix="/api/user", tag="User")


@bp.get("/profile")
@cheap_read
@bp.output(ProfileOut)
@bp.doc(
    operation_id="getProfile",
    summary="The caller's account and applicant profile",
    responses=[200, 401],
)
def profile():
    # Rendered here with the keys and formats of ProfileOut (kept for the documentation).
    return json_response(profiles.get(user_id=current_identity().user_id))


@bp.patch("/profile")
@bp.input(ProfilePatchIn, arg_name="body")
@bp.output(ProfileOut)
@bp.doc(
    operation_id="updateProfile",
    summary="Change the name or the applicant profile (absent fields stay, null clears)",
    description="What applications need beyond the resume: phone, location, links, work "
    "authorisation per country, sponsorship, relocation, salary expectation, notice period "
    "and optional EEO answers (stored encrypted; sent only where a form asks for them).",
    responses=[200, 401, 422],
)
def update_profile(body):
    return profiles.update(user=current_user(), changes=body)


@bp.post("/password")
@fresh_login_required
@bp.input(PasswordChangeIn, arg_name="body")
@bp.output(MessageOut)
@bp.doc(
    operation_id="changePassword",
    summary="Change the password (fresh login); every session ends",
    responses=[200, 401, 403, 422, 429],
)
def change_password(body):
    accounts.change_password(
        user=current_user(),
        current_password=body["current_password"],
        new_password=body["new_password"],
        client_ip=client_subject(),
    )
    return {"message": "Password changed; log in again"}


@bp.post("/email")
@fresh_login_required
@bp.input(EmailChangeIn, arg_name="body")
@bp.output(UserOut)
@bp.doc(
    operation_id="changeEmail",
    summary="Ask to move the account to a new address (fresh login)",
    description="The account moves when the link mailed to the new address is followed "
    "(`POST /api/auth/verify-email/confirm`), which also verifies it; the current address is "
    "told of the request. The answer is the account as it is. An address that has an account "
    "already gets the same answer and nothing changes: its owner is mailed instead.",
    responses=[200, 401, 403, 422, 429],
)
def change_email(body):
    return accounts.change_email(
        user=current_user(),
        new_email=body["new_email"],
        current_password=body["current_password"],
        client_ip=client_subject(),
    )


@bp.post("/delete")
@fresh_login_required
@bp.input(AccountDeleteIn, arg_name="body")
@bp.output(MessageOut)
@bp.doc(
    operation_id="deleteAccount",
    summary="Delete the account with its resumes and credentials (fresh login)",
    responses=[200, 401, 403, 422, 429],
)
def delete_account(body):
    accounts.delete_account(
        user=current_user(),
        current_password=body["current_password"],
        client_ip=client_subject(),
    )
    return {"message": "Account deleted"}


@bp.get("/credentials")
@bp.output(CredentialListOut)
@bp.doc(
    operation_id="listCredentials",
    summary="Services the caller stored credentials for (never the secrets)",
)
def list_credentials():
    return {"items": credentials.get_all(user_id=current_user().id)}


@bp.put("/credentials/<service>")
@bp.input(CredentialIn, arg_name="body")
@bp.output(CredentialOut)
@bp.doc(
    operation_id="putCredential",
    summary="Store or replace a third-party credential, encrypted at rest",
    responses=[200, 401, 422],
)
def put_credential(service, body):
    return credentials.put(
        user_id=current_user().id,
        service=service,
        username=body.get("username"),
        secret=body["secret"],
    )


@bp.delete("/credentials/<service>")
@bp.output({}, status_code=204)
@bp.doc(
    operation_id="deleteCredential",
    summary="Forget a stored credential",
    responses=[204, 401, 404, 422],
)
def delete_credential(service):
    credentials.delete(user_id=current_user().id, service=service)
    return ""


def _resume_intake_body(view):
    """Parse either a multipart upload (`file`) or a JSON link (`url`), and document both."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if request.mimetype == "application/json":
            body = parser.parse(ResumeLinkIn(), request, location="json")
        else:
            body = parser.parse(ResumeUploadIn(), request, location="files")
        return view(*args, body=body, **kwargs)

    _annotate(
        wrapper,
        body=ResumeIntakeDoc(),
        content_type=["multipart/form-data", "application/json"],
        body_example=None,
        body_examples=None,
    )
    return wrapper


@bp.post("/resumes")
@bp.output(ResumeDetailOut, status_code=202)
@bp.doc(
    operation_id="uploadResume",
    summary="Add a resume: upload a file, or give a link; it is then parsed by a job",
    description="Multipart with one field `file` (PDF, DOCX, TXT or MD), or JSON "
    '`{"url": ...}` with a Google Docs link (read through its public export) or a direct '
    "https link to a PDF or DOCX. The file is checked and stored at once (202, "
    "`Location`: the resume), with `parse_status` `pending`; the `resume_parsing` job "
    "(`parse_job_id`) reads it, under a CPU-time limit: poll the resume (or the job's "
    "status) until `parse_status` is `parsed`, or `failed` with `parse_error` (a document "
    "without extractable text, or one over the parser's limits). Counts against the upload "
    "quota (409) and `resume_parses_per_user_per_day` (429) before anything is stored. "
    "503 (with `Retry-After`) while the file store cannot be reached: nothing is stored.",
    responses=[202, 401, 409, 413, 415, 422, 429, 503],
)
@_resume_intake_body
def upload_resume(body):
    if "url" in body:
        resume = resumes.create_from_link(user_id=current_user().id, url=body["url"])
    else:
        upload = body["file"]
        # One byte more than allowed is enough to know it is too large.
        data = upload.stream.read(get_settings().upload_max_bytes + 1)
        resume = resumes.create(
            user_id=current_user().id, filename=upload.filename or "", data=data
        )
    return resume, 202, {"Location": f"/api/user/resumes/{resume.id}"}


@bp.get("/resumes")
@cheap_read
@bp.output(ResumeListOut)
@bp.doc(operation_id="listResumes", summary="The caller's resumes, newest first")
def list_resumes():
    return {"items": resumes.get_all(user_id=current_user().id)}


@bp.get("/resumes/<uuid:resume_id>")
@cheap_read
@bp.output(ResumeDetailOut)
@bp.doc(
    operation_id="getResume",
    summary="One resume's metadata and its structured (parsed) content",
    responses=[200, 401, 404],
)
def get_resume(resume_id):
    return resumes.get(user_id=current_user().id, resume_id=resume_id)


@bp.get("/resumes/<uuid:resume_id>/download")
@bp.doc(
    operation_id="downloadResume",
    summary="Download a resume as an attachment",
    responses={
        200: {
            "description": "The file as uploaded",
            "content": {
                media_type: {"schema": {"type": "string", "format": "binary"}}
                for media_type in DOWNLOAD_MEDIA_TYPES
            },
        },
        401: "Authentication required",
        404: "No such resume",
        503: "The file store cannot be reached; see Retry-After",
    },
)
def download_resume(resume_id):
    download = resumes.get_download(user_id=current_user().id, resume_id=resume_id)
    response = send_file(
        io.BytesIO(download.data),
        as_attachment=True,
        download_name=download.filename,
        max_age=0,
        etag=download.sha256,
        last_modified=download.created_at,
    )
    # Set as stored: the `mimetype` argument would add a second charset to text types.
    response.content_type = download.content_type
    return response


@bp.delete("/resumes/<uuid:resume_id>")
@bp.output({}, status_code=204)
@bp.doc(
    operation_id="deleteResume",
    summary="Delete a resume and its file",
    responses=[204, 401, 404, 503],
)
def delete_resume(resume_id):
    resumes.delete(user_id=current_user().id, resume_id=resume_id)
    return ""


@bp.get("/jobs")
@cheap_read
@bp.input(JobListQuery, location="query", arg_name="query")
@bp.output(JobPageOut)
@bp.doc(
    operation_id="listMyJobs", summary="The caller's jobs, newest first", responses=[200, 401, 422]
)
def list_jobs(query):
    return jobs.get_all(
        user_id=current_identity().user_id,
        page=query["page"],
        per_page=query["per_page"],
        status=query.get("status"),
        job_type=query.get("type"),
    )


@bp.get("/projects")
@cheap_read
@bp.input(PageQuery, location="query", arg_name="query")
@bp.output(ProjectPageOut)
@bp.doc(
    operation_id="listProjects",
    summary="The caller's projects, newest first",
    responses=[200, 401, 422],
)
def list_projects(query):
    return projects.get_all(
        user_id=current_identity().user_id, page=query["page"], per_page=query["per_page"]
    )


@bp.post("/projects")
@bp.input(ProjectIn, arg_name="body")
@bp.output(ProjectOut, status_code=201)
@bp.doc(operation_id="createProject", summary="Add a project", responses=[201, 401, 422])
def create_project(body):
    return projects.create(user_id=current_identity().user_id, fields=body)


@bp.get("/projects/<int:project_id>")
@cheap_read
@bp.output(ProjectOut)
@bp.doc(operation_id="getProject", summary="One project", responses=[200, 401, 404])
def get_project(project_id):
    return projects.get(user_id=current_identity().user_id, project_id=project_id)


@bp.patch("/projects/<int:project_id>")
@bp.input(ProjectPatchIn, arg_name="body")
@bp.output(ProjectOut)
@bp.doc(
    operation_id="updateProject",
    summary="Change a project (absent fields stay)",
    responses=[200, 401, 404, 422],
)
def update_project(project_id, body):
    return projects.update(user_id=current_identity().user_id, project_id=project_id, changes=body)


@bp.delete("/projects/<int:project_id>")
@bp.output({}, status_code=204)
@bp.doc(operation_id="deleteProject", summary="Delete a project", responses=[204, 401, 404])
def delete_project(project_id):
    projects.delete(user_id=current_identity().user_id, project_id=project_id)
    return ""
