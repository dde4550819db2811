"""Applications: prepare one (a `job_application` job), track it, submit it."""

from apiflask import APIBlueprint
from flask import Response

from server.rate_limiter import cheap_read
from server.schemas.applications import (
    ApplicationDetailOut,
    ApplicationListQuery,
    ApplicationPageOut,
    ApplicationPatchIn,
    ApplicationStartedOut,
    ApplicationSubmitIn,
)
from server.schemas.jobs import JobApplicationPayload
from server.security_manager.auth import current_identity, current_user
from server.services import applications

bp = APIBlueprint("applications", __name__, url_prefix="/api/applications", tag="Applications")


@bp.post("")
@bp.input(JobApplicationPayload, arg_name="body")
@bp.output(ApplicationStartedOut, status_code=202)
@bp.doc(
    operation_id="startApplication",
    summary="Prepare an application to a posting (queues a `job_application` job)",
    description="The same job as `POST /api/jobs` with type `job_application`, plus the new "
    "application's id. The job writes a cover letter, answers the posting's screening "
    "questions from the profile and resume (unknown answers stay empty for you) and stops at "
    "`ready_for_review`; in `auto` mode it sends at once when every required answer is known. "
    "A second application for the same posting is a 409. Counts against "
    "`application_preparations_per_user_per_day` when queued (429 beyond it).",
    responses=[202, 401, 404, 409, 422, 429],
)
def start(body):
    started = applications.start(user=current_user(), payload=body)
    return started, 202, {"Location": started["status_url"]}


@bp.get("")
@cheap_read
@bp.input(ApplicationListQuery, location="query", arg_name="query")
@bp.output(ApplicationPageOut)
@bp.doc(
    operation_id="listApplications",
    summary="The caller's applications, newest first (the tracker)",
    responses=[200, 401, 422],
)
def list_applications(query):
    return applications.get_all(
        user_id=current_identity().user_id,
        page=query["page"],
        per_page=query["per_page"],
        state=query.get("state"),
    )


@bp.get("/<int:application_id>")
@cheap_read
@bp.output(ApplicationDetailOut)
@bp.doc(
    operation_id="getApplication",
    summary="One application with its package and every submission attempt",
    responses=[200, 401, 404],
)
def get_application(application_id):
    return applications.get(user_id=current_identity().user_id, application_id=application_id)


@bp.patch("/<int:application_id>")
@bp.input(ApplicationPatchIn, arg_name="body")
@bp.output(ApplicationDetailOut)
@bp.doc(
    operation_id="updateApplication",
    summary="Move the application along the tracker, keep notes, or answer its questions",
    description="`state` may only take one of the application's `next_states` (409 "
    "otherwise). `answers` and `apply_email` change only while it waits for review. "
    "`title`, `company` and `job_description` are for a `job_url` application in "
    "`needs_details` (or `failed`): giving the last missing one queues its preparation. An "
    "application `submitted_unconfirmed` (a send whose outcome is unknown) waits for your "
    "word: `submitted` if it arrived, `ready_for_review` if it did not (it may then be sent "
    "again); 409 `submission_in_progress` while a job is still sending it.",
    responses=[200, 401, 404, 409, 422],
)
def update_application(application_id, body):
    return applications.update(
        user_id=current_identity().user_id, application_id=application_id, changes=body
    )


@bp.post("/<int:application_id>/submit")
@bp.input(ApplicationSubmitIn, arg_name="body")
@bp.output(ApplicationDetailOut, status_code=202)
@bp.doc(
    operation_id="submitApplication",
    summary="Send a reviewed application (202, queued), or mark it applied elsewhere (200)",
    description="Channels: `recruitee` (the board's candidates API), `email` (to the "
    "posting's address or `email`, the tailored resume and the cover letter attached) and "
    "`manual` (you applied on the posting's page). Sending needs a verified email address "
    "(403 `email_unverified`), spends one `job_applications_per_user_per_day` and counts "
    "against the per-company cap, and a typed `email` against the cap of its domain (429 at "
    "either); a required question without an answer is a 422. At most one send per "
    "application and channel: one that may have been sent already (`submitted_unconfirmed`) "
    "is a 409 until you say whether it arrived.",
    responses=[200, 202, 401, 403, 404, 409, 422, 429],
)
def submit_application(application_id, body):
    result = applications.submit(
        user_id=current_identity().user_id,
        application_id=application_id,
        channel=body.get("channel"),
        email=body.get("email"),
        answers=body.get("answers"),
    )
    return result, 200 if result["state"] == "submitted" else 202


@bp.get("/<int:application_id>/screenshots/<int:number>")
@cheap_read
@bp.doc(
    operation_id="getApplicationScreenshot",
    summary="A full-page screenshot the browser channel took of the application's form",
    description="Numbered from 1 as `package.browser.screenshots` lists them: each page of "
    "the form as filled (review mode stops there), and the ATS's confirmation after Submit.",
    responses={
        200: {
            "description": "The screenshot",
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
        },
        401: "Authentication required",
        404: "No such application or screenshot",
    },
)
def get_screenshot(application_id, number):
    png = applications.screenshot(
        user_id=current_identity().user_id, application_id=application_id, number=number
    )
    return Response(png, mimetype="image/png", headers={"Cache-Control": "private, no-store"})
