"""The authenticated user's own resources: account, stored credentials, resumes."""

from apiflask import APIBlueprint
from flask import send_file

from server.auth import current_identity, current_user, fresh_login_required
from server.rate_limiter import cheap_read
from server.request_hooks import client_subject
from server.routes import app_settings
from server.schemas.auth import MessageOut, UserOut
from server.schemas.jobs import JobListQuery, JobPageOut
from server.schemas.user import (
    AccountDeleteIn,
    CredentialIn,
    CredentialListOut,
    CredentialOut,
    EmailChangeIn,
    PasswordChangeIn,
    ResumeListOut,
    ResumeOut,
    ResumeUploadIn,
)
from server.services import accounts, credentials, jobs, resumes

bp = APIBlueprint("user", __name__, url_prefix="/api/user", tag="User")


@bp.get("/profile")
@cheap_read
@bp.output(UserOut)
@bp.doc(summary="The caller's account", responses=[200, 401])
def profile():
    return current_user()


@bp.post("/password")
@fresh_login_required
@bp.input(PasswordChangeIn, arg_name="body")
@bp.output(MessageOut)
@bp.doc(
    summary="Change the password (fresh login); every session ends",
    responses=[200, 401, 403, 422, 429],
)
def change_password(body):
    accounts.change_password(
        user=current_user(),
        current_password=body["current_password"],
        new_password=body["new_password"],
        settings=app_settings(),
        client_ip=client_subject(),
    )
    return {"message": "Password changed; log in again"}


@bp.post("/email")
@fresh_login_required
@bp.input(EmailChangeIn, arg_name="body")
@bp.output(UserOut)
@bp.doc(
    summary="Change the email address (fresh login); the new one must be verified",
    responses=[200, 401, 403, 409, 422, 429],
)
def change_email(body):
    return accounts.change_email(
        user=current_user(),
        new_email=body["new_email"],
        current_password=body["current_password"],
        settings=app_settings(),
        client_ip=client_subject(),
    )


@bp.post("/delete")
@fresh_login_required
@bp.input(AccountDeleteIn, arg_name="body")
@bp.output(MessageOut)
@bp.doc(
    summary="Delete the account with its resumes and credentials (fresh login)",
    responses=[200, 401, 403, 422, 429],
)
def delete_account(body):
    accounts.delete_account(
        user=current_user(),
        current_password=body["current_password"],
        settings=app_settings(),
        client_ip=client_subject(),
    )
    return {"message": "Account deleted"}


@bp.get("/credentials")
@bp.output(CredentialListOut)
@bp.doc(summary="Services the caller stored credentials for (never the secrets)")
def list_credentials():
    return {"items": credentials.get_all(user_id=current_user().id)}


@bp.put("/credentials/<service>")
@bp.input(CredentialIn, arg_name="body")
@bp.output(CredentialOut)
@bp.doc(
    summary="Store or replace a third-party credential, encrypted at rest",
    responses=[200, 401, 422],
)
def put_credential(service, body):
    return credentials.put(
        user_id=current_user().id,
        service=service,
        username=body.get("username"),
        secret=body["secret"],
        settings=app_settings(),
    )


@bp.delete("/credentials/<service>")
@bp.output({}, status_code=204)
@bp.doc(summary="Forget a stored credential", responses=[204, 401, 404, 422])
def delete_credential(service):
    credentials.delete(user_id=current_user().id, service=service)
    return ""


@bp.post("/resumes")
@bp.input(ResumeUploadIn, location="files", arg_name="body")
@bp.output(ResumeOut, status_code=201)
@bp.doc(
    summary="Upload a resume (PDF, DOCX, TXT or MD), multipart field `file`",
    responses=[201, 401, 409, 413, 415, 422],
)
def upload_resume(body):
    settings = app_settings()
    upload = body["file"]
    # One byte more than allowed is enough to know it is too large.
    data = upload.stream.read(settings.upload_max_bytes + 1)
    return resumes.create(
        user_id=current_user().id,
        filename=upload.filename or "",
        data=data,
        settings=settings,
    )


@bp.get("/resumes")
@cheap_read
@bp.output(ResumeListOut)
@bp.doc(summary="The caller's resumes, newest first")
def list_resumes():
    return {"items": resumes.get_all(user_id=current_user().id)}


@bp.get("/resumes/<uuid:resume_id>")
@cheap_read
@bp.output(ResumeOut)
@bp.doc(summary="One resume's metadata", responses=[200, 401, 404])
def get_resume(resume_id):
    return resumes.get(user_id=current_user().id, resume_id=resume_id)


@bp.get("/resumes/<uuid:resume_id>/download")
@bp.doc(
    summary="Download a resume as an attachment",
    responses={
        200: {
            "description": "The file as uploaded",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        },
        401: "Authentication required",
        404: "No such resume",
    },
)
def download_resume(resume_id):
    download = resumes.get_download(
        user_id=current_user().id, resume_id=resume_id, settings=app_settings()
    )
    response = send_file(
        download.path, as_attachment=True, download_name=download.filename, max_age=0
    )
    # Set as stored: the `mimetype` argument would add a second charset to text types.
    response.content_type = download.content_type
    return response


@bp.delete("/resumes/<uuid:resume_id>")
@bp.output({}, status_code=204)
@bp.doc(summary="Delete a resume and its file", responses=[204, 401, 404])
def delete_resume(resume_id):
    resumes.delete(user_id=current_user().id, resume_id=resume_id, settings=app_settings())
    return ""


@bp.get("/jobs")
@cheap_read
@bp.input(JobListQuery, location="query", arg_name="query")
@bp.output(JobPageOut)
@bp.doc(summary="The caller's jobs, newest first", responses=[200, 401, 422])
def list_jobs(query):
    return jobs.get_all(
        user_id=current_identity().user_id,
        page=query["page"],
        per_page=query["per_page"],
        status=query.get("status"),
        job_type=query.get("type"),
    )
