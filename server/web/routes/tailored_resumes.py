"""The caller's tailored resumes (made by `resume_tailoring` jobs): list and download."""

import io

from apiflask import APIBlueprint
from flask import send_file

from server.agent import rendering
from server.rate_limiter import cheap_read
from server.schemas.tailored_resumes import (
    TailoredResumeDetailOut,
    TailoredResumeDownloadQuery,
    TailoredResumeListQuery,
    TailoredResumePageOut,
)
from server.security_manager.auth import current_identity
from server.services import tailored_resumes

bp = APIBlueprint("tailored_resumes", __name__, url_prefix="/api/user", tag="User")


@bp.get("/tailored-resumes")
@cheap_read
@bp.input(TailoredResumeListQuery, location="query", arg_name="query")
@bp.output(TailoredResumePageOut)
@bp.doc(
    operation_id="listTailoredResumes",
    summary="The caller's tailored resumes, newest first",
    responses=[200, 401, 422],
)
def list_tailored_resumes(query):
    page = tailored_resumes.get_all(
        user_id=current_identity().user_id, page=query["page"], per_page=query["per_page"]
    )
    return {
        "items": [tailored_resumes.describe(row) for row in page["items"]],
        "meta": page["meta"],
    }


@bp.get("/tailored-resumes/<uuid:tailored_id>")
@cheap_read
@bp.input(TailoredResumeDownloadQuery, location="query", arg_name="query")
@bp.doc(
    operation_id="getTailoredResume",
    summary="One tailored resume: JSON (with what the tailoring found), Markdown, DOCX or PDF",
    responses={
        200: {
            "description": "The tailored resume in the format asked for",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "description": "id, source_resume_id, job_id, job_title, company, "
                        "engine, match_score, created_at, tailored_resume, diff, keywords, "
                        "dropped_claims",
                    }
                },
                "text/markdown": {"schema": {"type": "string"}},
                rendering.MEDIA_TYPES["docx"]: {"schema": {"type": "string", "format": "binary"}},
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            },
        },
        401: "Authentication required",
        404: "No such tailored resume",
        422: "Unknown format or template, or the original DOCX is not available",
    },
)
def get_tailored_resume(tailored_id, query):
    user_id = current_identity().user_id
    if query["format"] == "json":
        row = tailored_resumes.get(user_id=user_id, tailored_id=tailored_id)
        return TailoredResumeDetailOut().dump(tailored_resumes.describe(row, full=True))
    download = tailored_resumes.get_download(
        user_id=user_id,
        tailored_id=tailored_id,
        fmt=query["format"],
        template=query.get("template"),
    )
    # send_file writes the name as HTTP allows (an ASCII `filename` and a UTF-8 `filename*`):
    # a name such as "Łukasz" cannot go into a header as it is.
    response = send_file(
        io.BytesIO(download.data),
        as_attachment=True,
        download_name=download.filename,
        max_age=0,
    )
    response.content_type = download.content_type
    return response
