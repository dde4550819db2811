"""Operator endpoints; every view here is admin-only."""

from apiflask import APIBlueprint

from server import rate_limiter
from server.auth import admin_required
from server.schemas.admin import (
    RateLimitResetIn,
    RateLimitResetOut,
    RateLimitUsageOut,
    UserListQuery,
    UserPageOut,
)
from server.services import accounts

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


@bp.post("/rate-limits/reset")
@admin_required
@bp.input(RateLimitResetIn, arg_name="body")
@bp.output(RateLimitResetOut)
@bp.doc(
    summary="Reset one limit for one subject (deletes its Redis key)",
    responses=[200, 401, 403, 404, 422, 503],
)
def reset_rate_limit(body):
    return rate_limiter.reset(limit=body["limit"], subject=body["subject"])


@bp.get("/rate-limits/<subject>")
@admin_required
@bp.output(RateLimitUsageOut)
@bp.doc(
    summary="Usage of every limit and cap by a user id, an IP or `global`",
    responses=[200, 401, 403, 503],
)
def rate_limit_usage(subject):
    limits = rate_limiter.usage(subject)
    return {"subject": subject, "degraded": rate_limiter.degraded(), "limits": limits}
