"""Queued work: submit, inspect and cancel jobs.

Job ids are uuid4 strings: the `uuid` converter turns anything else into a 404 before a view
runs.
"""

import json

from apiflask import APIBlueprint
from flask import Response, request, stream_with_context

from server.auth import current_user
from server.schemas.jobs import JobStatusOut, JobSubmitIn, JobSubmittedOut
from server.services import jobs

bp = APIBlueprint("jobs", __name__, url_prefix="/api/jobs", tag="Jobs")


@bp.post("")
@bp.input(JobSubmitIn, arg_name="body")
@bp.output(JobSubmittedOut, status_code=202)
@bp.doc(
    summary="Queue a job",
    description=(
        "`priority` is a name: users may choose NORMAL, LOW or BULK, admins any. "
        "An `Idempotency-Key` header makes a retried submit return the same job; the same key "
        "with a different body is a 409."
    ),
    responses=[202, 401, 403, 409, 422],
)
def submit(body):
    submitted = jobs.submit(
        user=current_user(),
        job_type=body["type"],
        payload=body["payload"],
        priority=body["priority"],
        idempotency_key=request.headers.get("Idempotency-Key"),
    )
    return submitted, 202, {"Location": submitted["status_url"]}


@bp.get("/<uuid:job_id>/status")
@bp.output(JobStatusOut)
@bp.doc(summary="A job's status, progress and result", responses=[200, 401, 404])
def status(job_id):
    return jobs.get_status(user=current_user(), job_id=str(job_id))


@bp.post("/<uuid:job_id>/cancel")
@bp.output(JobStatusOut)
@bp.doc(
    summary="Cancel a job",
    description="A waiting job is cancelled at once; a running one stops at its next check.",
    responses=[200, 401, 404, 409],
)
def cancel(job_id):
    return jobs.cancel(user=current_user(), job_id=str(job_id))


@bp.get("/<uuid:job_id>/events")
@bp.doc(
    summary="Server-Sent Events: `status` and `progress` until the job finishes",
    responses={200: {"description": "text/event-stream", "content": {"text/event-stream": {}}}},
)
def events(job_id):
    stream = jobs.watch(user=current_user(), job_id=str(job_id))

    def render():
        for event, data in stream:
            yield f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"

    return Response(
        stream_with_context(render()),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
