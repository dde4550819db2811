"""user files in the file store: where each resume's file is, screenshots out of the database

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 18:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    # Files written before the store are plain files under instance/uploads/<user id>/.
    op.add_column(
        "resumes",
        sa.Column("storage", sa.String(length=8), nullable=False, server_default="legacy"),
    )
    with op.batch_alter_table("application_screenshots") as batch:
        batch.alter_column("png", existing_type=sa.LargeBinary(), nullable=True)
        batch.add_column(sa.Column("storage", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("storage_key", sa.String(length=200), nullable=True))


def downgrade():
    # Screenshots whose image is only in the file store are dropped: the column was required.
    op.execute("DELETE FROM application_screenshots WHERE png IS NULL")
    with op.batch_alter_table("application_screenshots") as batch:
        batch.drop_column("storage_key")
        batch.drop_column("storage")
        batch.alter_column("png", existing_type=sa.LargeBinary(), nullable=False)
    op.drop_column("resumes", "storage")
