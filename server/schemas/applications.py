"""Bodies of the application routes."""

from apiflask import Schema
from apiflask.fields import UUID, Boolean, Dict, Email, Integer, List, Nested, Raw, String
from apiflask.validators import Length, OneOf
from marshmallow import ValidationError, validates_schema

from server.models.application import ApplicationState, SubmissionChannel
from server.schemas.admin import PageMeta, PageQuery
from server.schemas.common import DroppedClaimOut, StrictSchema, UtcDateTime
from server.schemas.jobs import JobDetailsFields, JobSubmittedOut

STATES = [state.value for state in ApplicationState]
CHANNELS = [channel.value for channel in SubmissionChannel]
OUTCOMES = ["sent", "failed", "marked", "retrying", "unknown"]
_ANSWER_DOC = {
    "description": "Text, yes/no (boolean) or a list of chosen options",
    "oneOf": [
        {"type": "string", "maxLength": 5000},
        {"type": "boolean"},
        {"type": "array", "items": {"type": "string", "maxLength": 500}, "maxItems": 50},
    ],
}


def _check_answers(answers: dict) -> None:
    errors = {}
    for question_id, value in answers.items():
        if isinstance(value, bool) or (isinstance(value, str) and 0 < len(value) <= 5000):
            continue
        if (
            isinstance(value, list)
            and 0 < len(value) <= 50
            and all(isinstance(v, str) and 0 < len(v) <= 500 for v in value)
        ):
            continue
        errors[question_id] = ["an answer is text, a boolean or a list of options"]
    if errors:
        raise ValidationError({"answers": errors})


def _answers_field() -> Dict:
    return Dict(
        keys=String(validate=Length(min=1, max=100)),
        values=Raw(metadata=_ANSWER_DOC),
        validate=Length(max=200),
        metadata={"description": "Answers to the posting's questions, by question id"},
    )


class ApplicationListQuery(PageQuery):
    state = String(validate=OneOf(STATES))


class ApplicationPatchIn(JobDetailsFields):
    """Track the application, keep notes, complete its package before sending, or give a job
    URL's title, company and description (while it waits in `needs_details`, or failed)."""

    state = String(
        validate=OneOf(STATES),
        metadata={"description": "Only the moves listed in the application's `next_states`"},
    )
    notes = String(allow_none=True, validate=Length(max=5000))
    answers = _answers_field()
    apply_email = Email(allow_none=True, validate=Length(max=320))

    @validates_schema
    def _something(self, data, **_kwargs):
        if not data:
            raise ValidationError("give at least one field to change")
        _check_answers(data.get("answers") or {})


class ApplicationSubmitIn(StrictSchema):
    """How to send: the package's channel by default; `manual` marks it applied elsewhere."""

    channel = String(validate=OneOf(CHANNELS))
    email = Email(
        validate=Length(max=320),
        metadata={"description": "Where to send it (the email channel), if not the posting's"},
    )
    answers = _answers_field()

    @validates_schema
    def _answers(self, data, **_kwargs):
        _check_answers(data.get("answers") or {})


class ApplicationStartedOut(JobSubmittedOut):
    application_id = Integer(required=True)


class AnswerOut(Schema):
    question_id = String(required=True)
    label = String(required=True)
    type = String(required=True)
    required = Boolean(required=True)
    options = List(String(), required=True)
    answer = Raw(allow_none=True, metadata=_ANSWER_DOC)
    source = String(
        allow_none=True,
        metadata={
            "description": "Where the answer came from (profile field, resume, user, or "
            "`engine`: written by the engine and verified, always reviewed before sending)"
        },
    )


class PackageOut(Schema):
    """What is sent: empty until the application is prepared."""

    cover_letter = String()
    cover_letter_keywords = List(String())
    unsupported_terms = List(
        String(),
        metadata={
            "description": "Skills the engine wrote that the resume does not show (left out)"
        },
    )
    dropped_claims = List(
        Nested(DroppedClaimOut),
        metadata={
            "description": "Claims the verifier left out of the letter and of the engine's "
            "answers (section `cover_letter` or `answers[<question_id>]`)"
        },
    )
    missing_details = List(
        String(),
        metadata={
            "description": "What the posting does not say and a letter needs (`company`, "
            "`title`): no letter is written without them"
        },
    )
    engine = String()
    model = String()
    answers = List(Nested(AnswerOut))
    unanswered_required = List(String())
    tailored_resume = Dict(allow_none=True)
    tailoring_skipped = String(
        allow_none=True,
        metadata={"description": "Why the resume is sent untailored (a daily limit reached)"},
    )
    resume = Dict()
    channel = String(validate=OneOf(CHANNELS))
    recruitee_url = String(allow_none=True)
    apply_email = String(allow_none=True)
    apply_url = String(allow_none=True)
    auto_submit = Dict()
    browser = Dict(
        allow_none=True,
        metadata={
            "description": "The browser channel: the form's ATS and URL, `status`, every field "
            "with the value filled and its source (`fields`), `screenshots` "
            "(GET /api/applications/<id>/screenshots/<n>), `reason` when it stopped"
        },
    )
    handoff = Dict(
        metadata={
            "description": "In `needs_human`: why, the form's URL, the prepared answers and "
            "the files, to apply by hand"
        }
    )


class SubmissionOut(Schema):
    channel = String(required=True, validate=OneOf(CHANNELS))
    outcome = String(required=True, validate=OneOf(OUTCOMES))
    detail = Dict(required=True)
    job_id = String(allow_none=True)
    created_at = UtcDateTime(required=True)


class ApplicationOut(Schema):
    id = Integer(required=True)
    posting_id = Integer(allow_none=True)
    job_url = String(allow_none=True)
    resume_id = UUID(allow_none=True)
    company = String(allow_none=True)
    title = String(allow_none=True)
    mode = String(required=True, validate=OneOf(["review", "auto"]))
    state = String(required=True, validate=OneOf(STATES))
    next_states = List(String(validate=OneOf(STATES)), required=True)
    channel = String(allow_none=True, validate=OneOf(CHANNELS))
    apply_email = String(allow_none=True)
    job_id = String(allow_none=True)
    submission_job_id = String(allow_none=True)
    error = String(allow_none=True)
    notes = String(allow_none=True)
    missing_details = List(
        String(validate=OneOf(["title", "company"])),
        required=True,
        metadata={
            "description": "In `needs_details`: what the job's page did not say; give it with "
            "PATCH and the application is prepared"
        },
    )
    created_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)
    submitted_at = UtcDateTime(allow_none=True)


class StateChangeOut(Schema):
    state = String(required=True, validate=OneOf(STATES))
    from_ = String(
        data_key="from", allow_none=True, validate=OneOf(STATES), metadata={"title": "from"}
    )
    at = UtcDateTime(required=True)


class ApplicationDetailOut(ApplicationOut):
    job_description = String(
        allow_none=True, metadata={"description": "A job URL's posting text (given or read)"}
    )
    package = Nested(PackageOut, required=True)
    submissions = List(Nested(SubmissionOut), required=True)
    history = List(
        Nested(StateChangeOut),
        required=True,
        metadata={"description": "every state the application went through, oldest first"},
    )


class ApplicationPageOut(Schema):
    items = List(Nested(ApplicationOut), required=True)
    meta = Nested(PageMeta, required=True)
