"""Tailored resumes as clients see them, and the download's query."""

from apiflask import Schema
from apiflask.fields import UUID, Dict, List, Nested, String
from apiflask.validators import OneOf

from server.agent import rendering
from server.schemas.admin import PageMeta, PageQuery
from server.schemas.common import DroppedClaimOut, StrictSchema, UtcDateTime

DOWNLOAD_FORMATS = ("json", *rendering.FORMATS)
ORIGINAL = "original"
DOWNLOAD_TEMPLATES = (ORIGINAL, *rendering.TEMPLATES)


class TailoredResumeOut(Schema):
    id = UUID(required=True)
    source_resume_id = UUID(allow_none=True, required=True)
    job_id = String(allow_none=True, required=True)
    job_title = String(allow_none=True, required=True)
    company = String(allow_none=True, required=True)
    engine = String(allow_none=True, required=True, validate=OneOf(["gemini", "local"]))
    match_score = Dict(
        allow_none=True,
        required=True,
        metadata={"description": "`{before, after, breakdown}`: 0-100, with its parts"},
    )
    created_at = UtcDateTime(required=True)


class TailoredResumeDetailOut(TailoredResumeOut):
    tailored_resume = Dict(
        required=True,
        metadata={"description": "The tailored resume: the same structure as a parsed resume"},
    )
    diff = List(
        Dict(),
        required=True,
        metadata={"description": "Each change: section, action, before, after, keywords, reason"},
    )
    keywords = Dict(
        required=True,
        metadata={"description": "`{present, added_with_evidence, missing}`: the job's keywords"},
    )
    dropped_claims = List(
        Nested(DroppedClaimOut),
        required=True,
        metadata={"description": "What verification removed: section, text, claim, kind, reason"},
    )


class TailoredResumePageOut(Schema):
    items = List(Nested(TailoredResumeOut), required=True)
    meta = Nested(PageMeta, required=True)


class TailoredResumeListQuery(PageQuery):
    """Pages of the caller's tailored resumes, newest first."""


class TailoredResumeDownloadQuery(StrictSchema):
    format = String(
        load_default="json",
        validate=OneOf(list(DOWNLOAD_FORMATS)),
        metadata={"description": "json (the resume and what the tailoring found), md, docx or pdf"},
    )
    template = String(
        validate=OneOf(list(DOWNLOAD_TEMPLATES)),
        metadata={
            "description": "The look of a md, docx or pdf download: `original` (the user's own "
            "DOCX with the changed text replaced; docx only), `classic` (one column, dates "
            "right-aligned on the role line) or `compact`. Absent: `original` for a docx "
            "download of a resume tailored from a DOCX, else `classic`."
        },
    )
