"""tailored_resumes: resumes tailored to a job, with what the tailoring found

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 00:40:00.000000

"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    op.create_table(
        "tailored_resumes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("source_resume_id", sa.Uuid(), nullable=True),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("job_title", sa.String(length=200), nullable=True),
        sa.Column("company", sa.String(length=200), nullable=True),
        sa.Column("structure", JSON_TYPE, nullable=False),
        sa.Column("result_meta", JSON_TYPE, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_tailored_resumes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_resume_id"],
            ["resumes.id"],
            name=op.f("fk_tailored_resumes_source_resume_id_resumes"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tailored_resumes")),
        sa.UniqueConstraint("job_id", name=op.f("uq_tailored_resumes_job_id")),
    )
    with op.batch_alter_table("tailored_resumes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tailored_resumes_user_id_created_at", ["user_id", "created_at"], unique=False
        )


def downgrade():
    with op.batch_alter_table("tailored_resumes", schema=None) as batch_op:
        batch_op.drop_index("ix_tailored_resumes_user_id_created_at")
    op.drop_table("tailored_resumes")
