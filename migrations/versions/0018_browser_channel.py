"""the browser channel: form screenshots, saved answers (0016 widened application states)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 15:00:00.000000

"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    op.create_table(
        "application_screenshots",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "application_id",
            sa.Integer(),
            sa.ForeignKey("applications.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("png", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("application_id", "number", name="uq_screenshot_number"),
    )
    op.create_index(
        "ix_application_screenshots_application_id", "application_screenshots", ["application_id"]
    )
    op.create_table(
        "saved_answers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("label_key", sa.String(length=300), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("answer", JSON_TYPE, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("user_id", "label_key", name="uq_saved_answer_label"),
    )
    op.create_index("ix_saved_answers_user_id", "saved_answers", ["user_id"])


def downgrade():
    op.drop_index("ix_saved_answers_user_id", table_name="saved_answers")
    op.drop_table("saved_answers")
    op.drop_index("ix_application_screenshots_application_id", table_name="application_screenshots")
    op.drop_table("application_screenshots")
