"""Operator endpoints; every view here is admin-only."""

from apiflask import APIBlueprint

from server.auth import admin_required
from server.schemas.admin import UserListQuery, UserPageOut
from server.schemas.jobs import QueueStatsOut
from server.services import accounts, jobs

bp = APIBlueprint("admin", __name__, url_prefix="/api/admin", tag="Admin")


@bp.get("/users")
@admin_required
@bp.input(UserListQuery, location="query", arg_name="query")
@bp.output(UserPageOut)
@bp.doc(summary="List accounts, newest first", responses=[200, 401, 403, 422])
def list_users(query):
    return accounts.get_all_users(
        page=query["page"], per_page=query["per_page"], role=query.get("role")
    )


@bp.get("/job-queue/stats")
@admin_required
@bp.output(QueueStatsOut)
@bp.doc(
    summary="Queue size, active jobs, breakdowns, oldest wait, throughput",
    responses=[200, 401, 403],
)
def job_queue_stats():
    return jobs.queue_stats()
