"""Postings found by the user's searches, and the search itself (a `job_search` job)."""

from apiflask import APIBlueprint
from flask import request

from server.rate_limiter import cheap_read
from server.schemas.jobs import JobSearchPayload, JobSubmittedOut
from server.schemas.postings import PostingDetailOut, PostingListQuery, PostingPageOut
from server.security_manager.auth import current_identity, current_user
from server.services import jobs, postings

bp = APIBlueprint("postings", __name__, url_prefix="/api/postings", tag="Postings")


@bp.post("/search")
@bp.input(JobSearchPayload, arg_name="body")
@bp.output(JobSubmittedOut, status_code=202)
@bp.doc(
    operation_id="searchPostings",
    summary="Search job boards for postings (queues a `job_search` job)",
    description=(
        "The same as `POST /api/jobs` with `type: job_search`: the job fetches the boards, "
        "ranks the postings against the caller's latest resume and stores them "
        "(`GET /api/postings`). Limited per user per day (`job_search_per_user_per_day`); "
        "an `Idempotency-Key` header makes a retried submit return the same job."
    ),
    responses=[202, 401, 409, 422, 429],
)
def search(body):
    submitted = jobs.submit(
        user=current_user(),
        job_type="job_search",
        payload=body,
        idempotency_key=request.headers.get("Idempotency-Key"),
    )
    return submitted, 202, {"Location": submitted["status_url"]}


@bp.get("")
@cheap_read
@bp.input(PostingListQuery, location="query", arg_name="query")
@bp.output(PostingPageOut)
@bp.doc(
    operation_id="listPostings",
    summary="The caller's postings, best score first",
    responses=[200, 401, 422],
)
def list_postings(query):
    return postings.get_all(
        user_id=current_identity().user_id,
        page=query["page"],
        per_page=query["per_page"],
        source=query.get("source"),
        remote=query.get("remote"),
        min_score=query.get("min_score"),
        q=query.get("q"),
    )


@bp.get("/<int:posting_id>")
@cheap_read
@bp.output(PostingDetailOut)
@bp.doc(
    operation_id="getPosting",
    summary="One posting with its description, questions and score breakdown",
    responses=[200, 401, 404],
)
def get_posting(posting_id):
    return postings.get(user_id=current_identity().user_id, posting_id=posting_id)
