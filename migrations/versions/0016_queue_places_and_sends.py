"""jobs keep their place in line in PostgreSQL and count runs cut short by outages;
applications may be submitted_unconfirmed

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 14:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0016"
down_revision = "0015"
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

    with op.batch_alter_table("applications") as batch:
        batch.alter_column("state", existing_type=sa.String(length=20), type_=sa.String(length=30))
    # An application waiting for review whose send was recorded (the key's format then was
    # `application:<id>:<job id>`) may have been sent: it waits for the user's word.
    op.execute(UNCONFIRMED_POSTGRES if postgres else UNCONFIRMED_SQLITE)


UNCONFIRMED_POSTGRES = """
UPDATE applications SET state = 'submitted_unconfirmed',
    state_history = state_history || jsonb_build_array(jsonb_build_object(
        'state', 'submitted_unconfirmed', 'from', 'ready_for_review',
        'at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')))
WHERE state = 'ready_for_review' AND EXISTS (SELECT 1 FROM side_effects
    WHERE side_effects.key LIKE 'application:' || applications.id || ':%')
"""
UNCONFIRMED_SQLITE = """
UPDATE applications SET state = 'submitted_unconfirmed',
    state_history = json_insert(state_history, '$[#]', json_object(
        'state', 'submitted_unconfirmed', 'from', 'ready_for_review',
        'at', strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')))
WHERE state = 'ready_for_review' AND EXISTS (SELECT 1 FROM side_effects
    WHERE side_effects.key LIKE 'application:' || applications.id || ':%')
"""


def downgrade():
    op.execute(
        "UPDATE applications SET state = 'ready_for_review' WHERE state = 'submitted_unconfirmed'"
    )
    with op.batch_alter_table("applications") as batch:
        batch.alter_column("state", existing_type=sa.String(length=30), type_=sa.String(length=20))
    op.drop_column("jobs", "outage_retries")
    op.drop_column("jobs", "queue_seq")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE jobs_queue_seq")
