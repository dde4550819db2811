"""token revocations

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 22:30:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "token_revocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("identifier", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_token_revocations")),
        sa.UniqueConstraint("kind", "identifier", name=op.f("uq_token_revocations_kind")),
    )
    with op.batch_alter_table("token_revocations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_token_revocations_expires_at"), ["expires_at"], unique=False
        )


def downgrade():
    with op.batch_alter_table("token_revocations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_token_revocations_expires_at"))

    op.drop_table("token_revocations")
