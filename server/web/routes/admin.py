"""Operator endpoints; every view here is admin-only."""

from apiflask import APIBlueprint
from flask import request

from server.ops import monitoring
from server.schemas.admin import (
    AuditOut,
    EventPageOut,
    EventQuery,
    IpBlockIn,
    IpBlockListOut,
    IpBlockOut,
    RateLimitResetIn,
    RateLimitResetOut,
    RateLimitUsageOut,
    UserListQuery,
    UserPageOut,
)
from server.schemas.auth import UserOut
from server.schemas.backups import BackupCreateIn, BackupJobOut, BackupListOut
from server.schemas.jobs import QueueStatsOut
from server.schemas.monitoring import SystemStatusOut
from server.security_manager.auth import admin_required, current_user
from server.services import accounts, backups, jobs, rate_limits, security

bp = APIBlueprint("admin", __name__, url_prefix="/api/admin", tag="Admin")


@bp.get("/users")
@admin_required
@bp.input(UserListQuery, location="query", arg_name="query")
@bp.output(UserPageOut)
@bp.doc(
    operation_id="adminListUsers",
    summary="List accounts, newest first",
    responses=[200, 401, 403, 422],
)
def list_users(query):
    return accounts.get_all_users(
        page=query["page"], per_page=query["per_page"], role=query.get("role")
    )


@bp.post("/users/<int:user_id>/disable")
@admin_required
@bp.output(UserOut)
@bp.doc(
    operation_id="adminDisableUser",
    summary="Disable an account and end its sessions",
    responses=[200, 401, 403, 404, 422],
)
def disable_user(user_id):
    return accounts.set_active(user_id=user_id, active=False, admin=current_user())


@bp.post("/users/<int:user_id>/enable")
@admin_required
@bp.output(UserOut)
@bp.doc(
    operation_id="adminEnableUser",
    summary="Enable a disabled account",
    responses=[200, 401, 403, 404],
)
def enable_user(user_id):
    return accounts.set_active(user_id=user_id, active=True, admin=current_user())


@bp.post("/users/<int:user_id>/unlock")
@admin_required
@bp.output(UserOut)
@bp.doc(
    operation_id="adminUnlockUser", summary="Lift a login lockout", responses=[200, 401, 403, 404]
)
def unlock_user(user_id):
    return accounts.unlock(user_id=user_id)


@bp.get("/security/events")
@admin_required
@bp.input(EventQuery, location="query", arg_name="query")
@bp.output(EventPageOut)
@bp.doc(
    operation_id="adminListSecurityEvents",
    summary="The security audit trail, newest first",
    responses=[200, 401, 403, 422],
)
def list_security_events(query):
    return security.get_events(**query)


@bp.get("/security/ip-blocks")
@admin_required
@bp.output(IpBlockListOut)
@bp.doc(operation_id="adminListIpBlocks", summary="Blocks in force", responses=[200, 401, 403])
def list_ip_blocks():
    return {"items": security.get_active_blocks()}


@bp.post("/security/ip-blocks")
@admin_required
@bp.input(IpBlockIn, arg_name="body")
@bp.output(IpBlockOut, status_code=201)
@bp.doc(
    operation_id="adminCreateIpBlock",
    summary="Block an address for a while",
    description="An IPv6 address blocks its /64. Loopback, allowlisted addresses and the "
    "caller's own address are refused with 409 saying why.",
    responses=[201, 401, 403, 409, 422],
)
def create_ip_block(body):
    return security.block_ip(
        ip=body["ip"],
        reason=body["reason"],
        ttl_seconds=body["ttl_seconds"],
        admin=current_user(),
        caller_ip=request.remote_addr,
    )


@bp.delete("/security/ip-blocks/<ip>")
@admin_required
@bp.output({}, status_code=204)
@bp.doc(
    operation_id="adminDeleteIpBlock",
    summary="Lift a block now",
    responses=[204, 401, 403, 404, 422],
)
def delete_ip_block(ip):
    security.unblock_ip(ip=ip, admin=current_user())
    return ""


@bp.post("/security/audit")
@admin_required
@bp.output(AuditOut)
@bp.doc(
    operation_id="adminRunSecurityAudit",
    summary="Run the security checks and report findings",
    responses=[200, 401, 403],
)
def run_audit():
    from flask import current_app

    return security.run_audit(debug=current_app.debug)


@bp.post("/rate-limits/reset")
@admin_required
@bp.input(RateLimitResetIn, arg_name="body")
@bp.output(RateLimitResetOut)
@bp.doc(
    operation_id="adminResetRateLimit",
    summary="Reset one limit for one subject (deletes its Redis key)",
    responses=[200, 401, 403, 404, 422, 503],
)
def reset_rate_limit(body):
    return rate_limits.reset(limit=body["limit"], subject=body["subject"])


@bp.get("/rate-limits/<subject>")
@admin_required
@bp.output(RateLimitUsageOut)
@bp.doc(
    operation_id="adminGetRateLimitUsage",
    summary="Usage of the limits and caps that apply to a user id, an IP or `global`",
    description="A user id shows the per-user limits, an IP address the per-address ones (an "
    "IPv6 address counts as its /64), `global` the shared ones. 404 for a user id no account "
    "has, 422 for anything else.",
    responses=[200, 401, 403, 404, 422, 503],
)
def rate_limit_usage(subject):
    return rate_limits.get_usage(subject=subject)


@bp.get("/job-queue/stats")
@admin_required
@bp.output(QueueStatsOut)
@bp.doc(
    operation_id="adminGetJobQueueStats",
    summary="Queue size, active jobs, breakdowns, oldest wait, throughput",
    responses=[200, 401, 403],
)
def job_queue_stats():
    return jobs.queue_stats()


@bp.get("/system-status")
@admin_required
@bp.output(SystemStatusOut)
@bp.doc(
    operation_id="adminGetSystemStatus",
    summary="Quotas, queue, database pool and slow queries, security, backups, workers",
    description="Read live. A part that cannot be read (Redis or the database down) keeps its "
    "keys with empty figures and is named in `errors`.",
    responses=[200, 401, 403],
)
def system_status():
    return monitoring.system_status()


@bp.get("/backups")
@admin_required
@bp.output(BackupListOut)
@bp.doc(
    operation_id="adminListBackups",
    summary="The backup catalogue, newest first",
    responses=[200, 401, 403],
)
def list_backups():
    return backups.get_all()


@bp.post("/backups/create")
@admin_required
@bp.input(BackupCreateIn, arg_name="body")
@bp.output(BackupJobOut, status_code=202)
@bp.doc(
    operation_id="adminCreateBackup",
    summary="Queue a backup (database, files, logs or full); it runs as a job",
    responses=[202, 401, 403, 422],
)
def create_backup(body):
    return backups.create(backup_type=body["type"], admin=current_user())


@bp.post("/backups/<backup_id>/verify")
@admin_required
@bp.output(BackupJobOut, status_code=202)
@bp.doc(
    operation_id="adminVerifyBackup",
    summary="Queue a restore test of a backup into a scratch database",
    responses=[202, 401, 403, 404],
)
def verify_backup(backup_id):
    return backups.verify(backup_id=backup_id, admin=current_user())
