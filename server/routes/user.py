"""The authenticated user's own resources."""

from apiflask import APIBlueprint

from server.auth import current_user
from server.schemas.auth import UserOut
from server.schemas.jobs import JobListQuery, JobPageOut
from server.services import jobs

bp = APIBlueprint("user", __name__, url_prefix="/api/user", tag="User")


@bp.get("/profile")
@bp.output(UserOut)
@bp.doc(summary="The caller's account", responses=[200, 401])
def profile():
    return current_user()


@bp.get("/jobs")
@bp.input(JobListQuery, location="query", arg_name="query")
@bp.output(JobPageOut)
@bp.doc(summary="The caller's jobs, newest first", responses=[200, 401, 422])
def list_jobs(query):
    return jobs.get_all(
        user=current_user(),
        page=query["page"],
        per_page=query["per_page"],
        status=query.get("status"),
        job_type=query.get("type"),
    )
