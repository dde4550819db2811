"""Bodies of the job routes, and the payloads of job types."""

from apiflask import Schema
from apiflask.fields import Boolean, Dict, Integer, List, Nested, Raw, String
from apiflask.validators import Length, OneOf, Range

from server.models.job import JobPriority, JobStatus
from server.schemas.admin import PageMeta, PageQuery
from server.schemas.common import StrictSchema, UtcDateTime

PRIORITY_NAMES = [priority.name for priority in JobPriority]
STATUS_NAMES = [status.value for status in JobStatus]


class DiagnosticPayload(StrictSchema):
    """Payload of the admin-only `diagnostic` type."""

    sleep_ms = Integer(strict=True, load_default=0, validate=Range(min=0, max=60_000))
    fail_times = Integer(strict=True, load_default=0, validate=Range(min=0, max=10))


class JobSubmitIn(StrictSchema):
    type = String(required=True, validate=Length(min=1, max=50))
    payload = Dict(keys=String(), load_default=dict)
    priority = String(
        load_default="NORMAL",
        validate=OneOf(PRIORITY_NAMES),
        metadata={"description": "Users may choose NORMAL, LOW or BULK; admins any."},
    )


class JobSubmittedOut(Schema):
    job_id = String(required=True)
    status = String(required=True)
    status_url = String(required=True)


class ProgressOut(Schema):
    percent = Integer(required=True)
    message = String(allow_none=True)


class JobStatusOut(Schema):
    job_id = String(required=True)
    type = String(required=True)
    status = String(required=True)
    priority = String(required=True)
    progress = Nested(ProgressOut, required=True)
    result = Raw(allow_none=True, metadata={"description": "The handler's JSON result"})
    error = String(allow_none=True)
    attempts = Integer(required=True)
    cancel_requested = Boolean(required=True)
    created_at = UtcDateTime(required=True)
    started_at = UtcDateTime(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)
    run_after = UtcDateTime(allow_none=True)
    queue_position = Integer(
        allow_none=True, metadata={"description": "1 = next to run; only while queued"}
    )


class EventsTokenOut(Schema):
    token = String(required=True, metadata={"description": "Pass as `?token=` to the stream"})
    expires_in = Integer(required=True, metadata={"description": "Seconds the token is valid"})


class EventsQuery(StrictSchema):
    token = String(
        validate=Length(min=1, max=2000),
        metadata={"description": "A token from `POST /api/jobs/{job_id}/events-token`"},
    )
    last_event_id = String(
        validate=Length(min=1, max=200),
        metadata={"description": "Resume after this event (the `Last-Event-ID` header wins)"},
    )


class JobListQuery(PageQuery):
    status = String(validate=OneOf(STATUS_NAMES))
    type = String(validate=Length(min=1, max=50))


class JobPageOut(Schema):
    items = List(Nested(JobStatusOut), required=True)
    meta = Nested(PageMeta, required=True)


class QueueStatsOut(Schema):
    queue_size = Integer(required=True)
    queued = Integer(required=True)
    scheduled = Integer(required=True)
    active_jobs = Integer(required=True)
    by_status = Dict(keys=String(), values=Integer())
    by_priority = Dict(keys=String(), values=Integer())
    by_type = Dict(keys=String(), values=Dict(keys=String(), values=Integer()))
    oldest_waiting_seconds = Raw(allow_none=True)
    throughput_last_minute = Integer(required=True)
    degraded = Boolean(
        required=True,
        metadata={"description": "Redis is unreachable: `redis` is null, the rest is PostgreSQL's"},
    )
    redis = Dict(keys=String(), values=Integer(), allow_none=True)
