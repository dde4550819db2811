"""Bodies and queries of the posting routes."""

from apiflask import Schema
from apiflask.fields import Boolean, Dict, Integer, List, Nested, Raw, String
from apiflask.validators import Length, OneOf, Range

from server.schemas.admin import PageMeta, PageQuery
from server.schemas.common import TextInteger, UtcDateTime
from server.schemas.jobs import BOARD_NAMES


class PostingListQuery(PageQuery):
    source = String(validate=OneOf(BOARD_NAMES))
    remote = Boolean(truthy={"true"}, falsy={"false"}, metadata={"description": "`true`/`false`"})
    min_score = TextInteger(validate=Range(min=0, max=100))
    q = String(
        validate=Length(min=1, max=200),
        metadata={"description": "Words in the title, company or location (case-insensitive)"},
    )


class SalaryOut(Schema):
    min = Integer(allow_none=True)
    max = Integer(allow_none=True)
    currency = String(allow_none=True)


class QuestionOut(Schema):
    id = String(required=True)
    label = String(required=True)
    type = String(
        required=True,
        validate=OneOf(["text", "textarea", "file", "select", "multi_select", "boolean", "date"]),
    )
    required = Boolean(required=True)
    options = List(String(), required=True)


class PostingOut(Schema):
    id = Integer(required=True)
    source = String(required=True, validate=OneOf(BOARD_NAMES))
    external_id = String(required=True, metadata={"description": "The board's id"})
    company = String(required=True)
    title = String(required=True)
    location = String(allow_none=True)
    remote = Boolean(required=True)
    employment_type = String(
        allow_none=True,
        validate=OneOf(["full_time", "part_time", "contract", "internship", "temporary"]),
    )
    salary = Nested(SalaryOut, required=True)
    posted_at = UtcDateTime(allow_none=True)
    apply_url = String(allow_none=True)
    score = Integer(required=True, validate=Range(min=0, max=100))
    score_breakdown = Dict(
        keys=String(),
        values=Raw(),
        required=True,
        metadata={
            "description": "Per part (skills, title, seniority, location, recency): "
            "`weight`, `points` and what was compared"
        },
    )
    also_on = List(
        Dict(keys=String(), values=Raw()),
        required=True,
        metadata={"description": "Other boards listing the same job"},
    )
    fetched_at = UtcDateTime(required=True)


class PostingDetailOut(PostingOut):
    description = String(required=True, metadata={"description": "Plain text"})
    questions = List(Nested(QuestionOut), required=True)
    search_job_id = String(allow_none=True, metadata={"format": "uuid"})


class PostingPageOut(Schema):
    items = List(Nested(PostingOut), required=True)
    meta = Nested(PageMeta, required=True)
