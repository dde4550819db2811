"""Indexes for the queries the service runs.

Each index serves a query named beside it; an index that became the prefix of a wider one is
dropped (a `status` index inside `(status, priority, created_at)`, and so on).

Revision ID: 0011
Revises: 0010
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# (name, table, columns, what needs it)
INDEXES = (
    (
        "ix_jobs_status_priority_created_at",
        "jobs",
        ["status", "priority", "created_at"],
        "waiting jobs by priority in line order: reconciler, queue stats, running-job scans",
    ),
    (
        "ix_jobs_user_id_status_created_at",
        "jobs",
        ["user_id", "status", "created_at"],
        "a user's jobs filtered by status, newest first; a user's open jobs",
    ),
    (
        "ix_jobs_user_id_job_type_created_at",
        "jobs",
        ["user_id", "job_type", "created_at"],
        "a user's jobs filtered by type, newest first",
    ),
    ("ix_jobs_finished_at", "jobs", ["finished_at"], "throughput; retention of finished jobs"),
    (
        "ix_security_events_action_created_at",
        "security_events",
        ["action", "created_at"],
        "events of a kind in a period (audit trend), filtered pages",
    ),
    (
        "ix_one_time_tokens_user_id_purpose",
        "one_time_tokens",
        ["user_id", "purpose"],
        "voiding a user's older tokens of a purpose",
    ),
    ("ix_one_time_tokens_expires_at", "one_time_tokens", ["expires_at"], "expired-token cleanup"),
    (
        "ix_ip_blocks_expires_at",
        "ip_blocks",
        ["expires_at"],
        "blocks in force; old blocks' cleanup",
    ),
    (
        "ix_resumes_user_id_created_at",
        "resumes",
        ["user_id", "created_at"],
        "a user's resumes, newest first",
    ),
    ("ix_users_role", "users", ["role"], "accounts by role (admin list, stale-admin audit)"),
    (
        "ix_side_effects_created_at",
        "side_effects",
        ["created_at"],
        "retention of side-effect records",
    ),
)

# Replaced by a wider index above whose first column they are.
REPLACED = (
    ("ix_jobs_status", "jobs", ["status"]),
    ("ix_security_events_action", "security_events", ["action"]),
    ("ix_one_time_tokens_user_id", "one_time_tokens", ["user_id"]),
    ("ix_resumes_user_id", "resumes", ["user_id"]),
)


def upgrade():
    for name, table, columns, _why in INDEXES:
        op.create_index(name, table, columns, unique=False)
    for name, table, _columns in REPLACED:
        op.drop_index(name, table_name=table)


def downgrade():
    for name, table, columns in REPLACED:
        op.create_index(name, table, columns, unique=False)
    for name, table, _columns, _why in reversed(INDEXES):
        op.drop_index(name, table_name=table)
