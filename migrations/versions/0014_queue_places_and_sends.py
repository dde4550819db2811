"""jobs keep their place in line in PostgreSQL, and count runs cut short by outages

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 14:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# Above any number the Redis-side counter could have reached: jobs recorded from now on queue
# behind those Redis holds already.
SEQUENCE_START = 2**32


def upgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(f"CREATE SEQUENCE jobs_queue_seq START WITH {SEQUENCE_START}")
    op.add_column("jobs", sa.Column("queue_seq", sa.BigInteger(), nullable=True))
    op.add_column(
        "jobs",
        sa.Column("outage_retries", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    if postgres:
        # Jobs waiting now keep their order (by when they were recorded), ahead of new ones.
        op.execute(
            "UPDATE jobs SET queue_seq = ordered.place FROM ("
            "SELECT id, row_number() OVER (ORDER BY created_at, id) AS place FROM jobs"
            " WHERE status IN ('queued', 'scheduled', 'running')) AS ordered"
            " WHERE jobs.id = ordered.id"
        )


def downgrade():
    op.drop_column("jobs", "outage_retries")
    op.drop_column("jobs", "queue_seq")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE jobs_queue_seq")
