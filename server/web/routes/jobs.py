"""Queued work: submit, inspect and cancel jobs.

Job ids are uuid4 strings: the `uuid` converter turns anything else into a 404 before a view
runs.
"""

import json
import threading

from apiflask import APIBlueprint
from flask import Response, current_app, g, request, stream_with_context

from server.core.config import get_settings
from server.jobs import job_queue
from server.rate_limiter import cheap_read
from server.schemas.jobs import (
    EventsQuery,
    EventsTokenOut,
    JobStatusOut,
    JobSubmitIn,
    JobSubmittedOut,
)
from server.security_manager.auth import current_identity, current_user, scoped_token_accepted
from server.security_manager.scoped_tokens import JOB_EVENTS
from server.services import jobs
from server.services.hot_reads import json_response
from server.web.request_gate import prefetch_rank, prefetched_rank

bp = APIBlueprint("jobs", __name__, url_prefix="/api/jobs", tag="Jobs")

RECONNECT_MILLISECONDS = 3000  # the `retry:` an event stream suggests to its client
_SLOTS_KEY = "job_event_streams"
_WATCHER_KEY = "job_events_watcher"
_slots_lock = threading.Lock()


@bp.post("")
@bp.input(JobSubmitIn, arg_name="body")
@bp.output(JobSubmittedOut, status_code=202)
@bp.doc(
    operation_id="submitJob",
    summary="Queue a job",
    description=(
        "`priority` is a name: users may choose NORMAL, LOW or BULK, admins any. "
        "An `Idempotency-Key` header makes a retried submit return the same job; the same key "
        "with a different body is a 409. A `resume_tailoring` job counts against "
        "`resume_tailoring_per_user_per_day` when submitted (429 beyond it), a "
        "`job_application` job against `application_preparations_per_user_per_day`, a "
        "`project_analysis` job against `project_analysis_per_user_per_day`, a `job_search` "
        "job against `job_search_per_user_per_day`."
    ),
    responses=[202, 401, 403, 409, 422, 429],
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
@cheap_read
@prefetch_rank(lambda args: (job_queue.queue_key(), str(args["job_id"])))
@bp.output(JobStatusOut)
@bp.doc(
    operation_id="getJobStatus",
    summary="A job's status, progress and result",
    responses=[200, 401, 404],
)
def status(job_id):
    # Rendered here with the keys and formats of JobStatusOut (kept for the documentation).
    # The place in line was read by the request gate, in its round trip.
    return json_response(
        jobs.get_status(
            user_id=current_identity().user_id, job_id=str(job_id), known_rank=prefetched_rank()
        )
    )


@bp.post("/<uuid:job_id>/cancel")
@bp.output(JobStatusOut)
@bp.doc(
    operation_id="cancelJob",
    summary="Cancel a job",
    description="A waiting job is cancelled at once; a running one stops at its next check.",
    responses=[200, 401, 404, 409],
)
def cancel(job_id):
    return jobs.cancel(user=current_user(), job_id=str(job_id))


@bp.post("/<uuid:job_id>/events-token")
@cheap_read
@bp.output(EventsTokenOut)
@bp.doc(
    operation_id="createJobEventsToken",
    summary="A short-lived token that opens this job's event stream",
    description=(
        "For clients that cannot send an `Authorization` header (a browser's `EventSource`): "
        "pass it as `GET /api/jobs/{job_id}/events?token=...`. It opens this job's stream "
        "only, for this user only, for `expires_in` seconds; ending the session ends it too."
    ),
    responses=[200, 401, 404],
)
def events_token(job_id):
    return jobs.create_events_token(
        user=current_user(),
        job_id=str(job_id),
        family=g.jwt.get("family"),
    )


@bp.get("/<uuid:job_id>/events")
@cheap_read
@scoped_token_accepted(JOB_EVENTS, "job_id")
@bp.input(EventsQuery, location="query", arg_name="query")
@bp.doc(
    operation_id="streamJobEvents",
    summary="Server-Sent Events: `status` and `progress` until the job finishes",
    description=(
        "Authenticated by the `Authorization` header, or by `?token=` from "
        "`POST /api/jobs/{job_id}/events-token` (an access token is never accepted there). "
        "Every event has an `id:`; reconnecting with the `Last-Event-ID` header (or "
        "`?last_event_id=`) sends only what changed since that event. A reconnect after the "
        "last event of a finished job answers 204, which tells `EventSource` to stop. "
        "A stream lasts at most `JOB_EVENTS_MAX_SECONDS` (then a `timeout` event; the client "
        "reconnects after the `retry:` delay) and carries a `: keep-alive` comment every "
        f"{jobs.EVENTS_KEEPALIVE_SECONDS:.0f} s. Streams are capped per server process "
        "(`JOB_EVENTS_MAX_STREAMS`, 503 when full) and per user (429); both come with "
        "`Retry-After`."
    ),
    responses={
        200: {"description": "text/event-stream", "content": {"text/event-stream": {}}},
        204: {"description": "The job has finished and the client has every event"},
        400: {"description": "`Last-Event-ID` is not an id this stream sent"},
        401: {"description": "No valid access token or job events token"},
        404: {"description": "No such job"},
        429: {"description": "This user has too many streams open"},
        503: {"description": "This server has too many streams open"},
    },
)
def events(job_id, query):
    watched = jobs.watch(
        user=current_user(),
        job_id=str(job_id),
        slots=_stream_slots(),
        watcher=_job_watcher(),
        max_seconds=get_settings().job_events_max_seconds,
        last_event_id=request.headers.get("Last-Event-ID") or query.get("last_event_id"),
    )
    if watched is None:
        return Response(status=204, headers={"Cache-Control": "no-store"})
    stream, release = watched

    def render():
        try:
            yield f"retry: {RECONNECT_MILLISECONDS}\n\n"
            for event, data, event_id in stream:
                if data is None:
                    yield ": keep-alive\n\n"
                else:
                    body = json.dumps(data, default=str)
                    yield f"id: {event_id}\nevent: {event}\ndata: {body}\n\n"
        finally:
            stream.close()

    response = Response(
        stream_with_context(render()),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
    response.call_on_close(release)  # also when the body was never read
    return response


def _stream_slots() -> jobs.EventStreamSlots:
    slots = current_app.extensions.get(_SLOTS_KEY)
    if slots is None:
        settings = get_settings()
        with _slots_lock:
            slots = current_app.extensions.setdefault(
                _SLOTS_KEY,
                jobs.EventStreamSlots(
                    total=settings.job_events_max_streams,
                    per_user=settings.job_events_max_streams_per_user,
                ),
            )
    return slots


def _job_watcher() -> jobs.JobWatcher:
    watcher = current_app.extensions.get(_WATCHER_KEY)
    if watcher is None:
        with _slots_lock:
            watcher = current_app.extensions.setdefault(
                _WATCHER_KEY, jobs.JobWatcher(current_app._get_current_object())
            )
    return watcher
