"""Bodies of the job routes, and the payloads of job types."""

from apiflask import Schema
from apiflask.fields import (
    URL,
    UUID,
    Boolean,
    Dict,
    Field,
    Integer,
    List,
    Nested,
    Raw,
    String,
)
from apiflask.validators import Length, OneOf, Range, Regexp
from marshmallow import ValidationError, validates_schema

from server.agent.sources import boards_and_companies, unsearchable_message
from server.core.config import JOB_BOARDS, get_settings
from server.models.job import JobPriority, JobStatus
from server.schemas.admin import MAX_ID, PageMeta, PageQuery
from server.schemas.common import StrictSchema, UtcDateTime

PRIORITY_NAMES = [priority.name for priority in JobPriority]
STATUS_NAMES = [status.value for status in JobStatus]
# The job boards a search may be limited to.
BOARD_NAMES = list(JOB_BOARDS)
_COMPANY_SLUG = Regexp(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$", error="not a company slug")


class UuidString(UUID):
    """A UUID given as a string, kept as its canonical string (payloads are stored as JSON)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return str(super()._deserialize(value, attr, data, **kwargs))


class KeywordsField(Field):
    """One keyword phrase or a list of them; loads as a list."""

    _PHRASE = String(validate=Length(min=1, max=200))

    def __init__(self, **kwargs):
        metadata = {
            "oneOf": [
                {"type": "string", "minLength": 1, "maxLength": 200},
                {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 20,
                    "items": {"type": "string", "minLength": 1, "maxLength": 200},
                },
            ],
            "description": "A phrase or a list of phrases",
        }
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        phrases = [value] if isinstance(value, str) else value
        if not isinstance(phrases, list) or not 1 <= len(phrases) <= 20:
            raise ValidationError("a string or a list of 1 to 20 strings")
        return [self._PHRASE.deserialize(phrase) for phrase in phrases]


def _exactly_one(data: dict, first: str, second: str) -> None:
    """Refuse a payload with both or neither of two alternative fields."""
    given = [name for name in (first, second) if data.get(name) is not None]
    if len(given) != 1:
        raise ValidationError(
            f"give exactly one of {first} and {second}", field_name=second if given else first
        )


class ResumeTailoringPayload(StrictSchema):
    """Tailor one of the caller's resumes to a job description."""

    resume_id = UuidString(required=True)
    job_description = String(required=True, validate=Length(min=1, max=50_000))
    job_title = String(validate=Length(min=1, max=200))
    company = String(validate=Length(min=1, max=200))


CompaniesByBoard = type(
    "CompaniesByBoard",
    (StrictSchema,),
    {
        "__doc__": "Company slugs to search, per job board.",
        **{
            board: List(String(validate=_COMPANY_SLUG), validate=Length(min=1, max=100))
            for board in BOARD_NAMES
        },
    },
)


class JobSearchPayload(StrictSchema):
    """Find postings across job boards and rank them against the caller's resume."""

    keywords = KeywordsField(required=True)
    location = String(validate=Length(min=1, max=200))
    remote = Boolean(truthy={True}, falsy={False})
    sources = List(
        String(validate=OneOf(BOARD_NAMES)),
        validate=Length(min=1, max=len(BOARD_NAMES)),
        metadata={"description": "Boards to search; all of them when absent"},
    )
    companies = Nested(CompaniesByBoard)
    posted_within_days = Integer(strict=True, validate=Range(min=1, max=365))

    @validates_schema
    def _some_board_can_be_searched(self, data, **_kwargs):
        problem = unsearchable_message(*boards_and_companies(data, get_settings()))
        if problem:
            raise ValidationError(problem, field_name="companies")


JOB_DETAILS = ("title", "company", "job_description")


class JobDetailsFields(StrictSchema):
    """What a job URL's page may not say, given by the user: title, company, description."""

    title = String(validate=Length(min=1, max=500), metadata={"description": "The job's title"})
    company = String(validate=Length(min=1, max=255), metadata={"description": "The company"})
    job_description = String(
        validate=Length(min=1, max=50_000), metadata={"description": "The posting's text"}
    )


class JobApplicationPayload(JobDetailsFields):
    """Apply to one posting (by id, or by its URL) with one of the caller's resumes.

    Exactly one of `posting_id` and `job_url`. For a `job_url`, `title`, `company` and
    `job_description` may be given; what is not given is read from the job's page, and an
    application whose title or company neither says waits in `needs_details`.
    """

    posting_id = Integer(strict=True, validate=Range(min=1, max=MAX_ID))
    job_url = URL(schemes={"http", "https"}, validate=Length(max=2048), metadata={"format": "uri"})
    resume_id = UuidString(required=True)
    mode = String(
        load_default="review",
        validate=OneOf(["review", "auto"]),
        metadata={"description": "`review`: prepare for the user to send; `auto`: send"},
    )

    @validates_schema
    def _one_target(self, data, **_kwargs):
        _exactly_one(data, "posting_id", "job_url")
        given = [name for name in JOB_DETAILS if name in data]
        if given and data.get("posting_id") is not None:
            raise ValidationError(
                {name: ["only for a job_url: a posting has its own"] for name in given}
            )


class ProjectAnalysisPayload(StrictSchema):
    """Rank the caller's projects for a job. Exactly one of `job_description` and `posting_id`."""

    job_description = String(validate=Length(min=1, max=50_000))
    posting_id = Integer(strict=True, validate=Range(min=1, max=MAX_ID))
    resume_id = UuidString(
        metadata={
            "description": "The resume whose projects are compared (`on_resume`, `swap`); "
            "the newest parsed resume when absent. One of the caller's resumes (404 otherwise); "
            "one still being parsed is waited for"
        }
    )

    @validates_schema
    def _one_target(self, data, **_kwargs):
        _exactly_one(data, "job_description", "posting_id")


class DiagnosticPayload(StrictSchema):
    """Payload of the admin-only `diagnostic` type."""

    sleep_ms = Integer(strict=True, load_default=0, validate=Range(min=0, max=60_000))
    fail_times = Integer(strict=True, load_default=0, validate=Range(min=0, max=10))


# The job types clients may submit, each with the schema of its payload. The public list of
# types (the `type` enum of `POST /api/jobs` and the OpenAPI document) is this mapping's keys;
# internal types are not listed here, so nobody can submit them.
JOB_PAYLOAD_SCHEMAS: dict[str, type[StrictSchema]] = {
    "resume_tailoring": ResumeTailoringPayload,
    "job_application": JobApplicationPayload,
    "job_search": JobSearchPayload,
    "project_analysis": ProjectAnalysisPayload,
    "diagnostic": DiagnosticPayload,
}
PUBLIC_JOB_TYPES = tuple(JOB_PAYLOAD_SCHEMAS)


def _priority_field() -> String:
    return String(
        load_default="NORMAL",
        validate=OneOf(PRIORITY_NAMES),
        metadata={"description": "Users may choose NORMAL, LOW or BULK; admins any."},
    )


class JobSubmitIn(StrictSchema):
    """A submission; its payload is checked against its type's schema by the service.

    The OpenAPI document shows this body as a union of `JOB_SUBMISSION_SCHEMAS` keyed by `type`.
    """

    type = String(required=True, validate=Length(min=1, max=50))
    payload = Dict(keys=String(), load_default=dict)
    priority = _priority_field()


def _submission_schema(job_type: str, payload_schema: type[StrictSchema]) -> type[StrictSchema]:
    name = "".join(part.title() for part in job_type.split("_")) + "JobIn"
    return type(
        name,
        (StrictSchema,),
        {
            "__doc__": f"A `{job_type}` job. " + (payload_schema.__doc__ or "").split("\n")[0],
            "type": String(required=True, validate=OneOf([job_type])),
            "payload": Nested(payload_schema, load_default=dict),
            "priority": _priority_field(),
        },
    )


# One body schema per public type, for the OpenAPI document's union.
JOB_SUBMISSION_SCHEMAS = {
    job_type: _submission_schema(job_type, schema)
    for job_type, schema in JOB_PAYLOAD_SCHEMAS.items()
}


class JobSubmittedOut(Schema):
    job_id = String(required=True, metadata={"format": "uuid"})
    status = String(required=True, validate=OneOf(STATUS_NAMES))
    status_url = String(required=True)


class ProgressOut(Schema):
    percent = Integer(required=True, validate=Range(min=0, max=100))
    message = String(allow_none=True)


class JobStatusOut(Schema):
    job_id = String(required=True, metadata={"format": "uuid"})
    type = String(required=True, metadata={"description": "The type it was submitted with"})
    status = String(required=True, validate=OneOf(STATUS_NAMES))
    priority = String(required=True, validate=OneOf(PRIORITY_NAMES))
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
    type = String(validate=OneOf(PUBLIC_JOB_TYPES))


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
