"""resumes are parsed by a job: their parse status, error and job

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 15:00:00.000000

"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    with op.batch_alter_table("resumes") as batch:
        batch.add_column(
            sa.Column("parse_status", sa.String(16), nullable=False, server_default="parsed")
        )
        batch.add_column(sa.Column("parse_error", JSON_TYPE, nullable=True))
        batch.add_column(sa.Column("parse_job_id", sa.String(36), nullable=True))
    # A resume stored before parsing existed has no structure yet: `reparse-resumes` makes it.
    op.execute("UPDATE resumes SET parse_status = 'pending' WHERE parsed IS NULL")


def downgrade():
    with op.batch_alter_table("resumes") as batch:
        batch.drop_column("parse_job_id")
        batch.drop_column("parse_error")
        batch.drop_column("parse_status")
