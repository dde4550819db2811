"""resumes: the structured (parsed) resume

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 23:00:00.000000

"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    with op.batch_alter_table("resumes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parsed", JSON_TYPE, nullable=True))


def downgrade():
    with op.batch_alter_table("resumes", schema=None) as batch_op:
        batch_op.drop_column("parsed")
