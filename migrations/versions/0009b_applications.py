"""applications and their submissions

Revision ID: 0009b
Revises: 0009
Create Date: 2026-12-01 00:50:00.000000

"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = "0009b"
down_revision = "0009"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    op.create_table(
        "applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("posting_id", sa.Integer(), nullable=True),
        sa.Column("job_url", sa.String(length=2048), nullable=True),
        sa.Column("target_key", sa.String(length=100), nullable=False),
        sa.Column("resume_id", sa.Uuid(), nullable=True),
        sa.Column("company", sa.String(length=255), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column("apply_email", sa.String(length=320), nullable=True),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("submission_job_id", sa.String(length=36), nullable=True),
        sa.Column("package", JSON_TYPE, nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["posting_id"],
            ["postings.id"],
            name=op.f("fk_applications_posting_id_postings"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["resume_id"],
            ["resumes.id"],
            name=op.f("fk_applications_resume_id_resumes"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_applications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
        sa.UniqueConstraint("user_id", "target_key", name="uq_applications_user_id_target_key"),
    )
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.create_index("ix_applications_user_id_created_at", ["user_id", "created_at"])
        batch_op.create_index(batch_op.f("ix_applications_posting_id"), ["posting_id"])
    op.create_table(
        "application_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("company", sa.String(length=255), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("detail", JSON_TYPE, nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_application_submissions_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_application_submissions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_submissions")),
    )
    with op.batch_alter_table("application_submissions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_application_submissions_application_id"), ["application_id"]
        )
        batch_op.create_index(batch_op.f("ix_application_submissions_user_id"), ["user_id"])


def downgrade():
    with op.batch_alter_table("application_submissions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_application_submissions_user_id"))
        batch_op.drop_index(batch_op.f("ix_application_submissions_application_id"))
    op.drop_table("application_submissions")
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_applications_posting_id"))
        batch_op.drop_index("ix_applications_user_id_created_at")
    op.drop_table("applications")
