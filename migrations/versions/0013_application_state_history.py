"""applications keep the states they went through

Revision ID: 0013
Revises: 0009b
Create Date: 2026-12-01 01:55:00.000000

"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0009b"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    op.add_column(
        "applications",
        sa.Column("state_history", JSON_TYPE, nullable=False, server_default=sa.text("'[]'")),
    )
    # An application made before this revision starts its history at its current state.
    op.execute(
        "UPDATE applications SET state_history = json_build_array(json_build_object("
        "'state', state, 'from', NULL, 'at', to_char(updated_at AT TIME ZONE 'UTC', "
        '\'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"\')))::jsonb'
        if op.get_bind().dialect.name == "postgresql"
        else "UPDATE applications SET state_history = json_array(json_object('state', state, "
        "'from', NULL, 'at', strftime('%Y-%m-%dT%H:%M:%S+00:00', updated_at)))"
    )


def downgrade():
    op.drop_column("applications", "state_history")
