"""applications to a job URL keep the posting's description

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 09:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("applications", sa.Column("job_description", sa.Text(), nullable=True))


def downgrade():
    op.drop_column("applications", "job_description")
