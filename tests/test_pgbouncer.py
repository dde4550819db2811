"""PostgreSQL through PgBouncer in transaction pooling mode (DB_PGBOUNCER)."""

from __future__ import annotations

import threading

import psycopg
import pytest

from tests.conftest import TEST_DATABASE_URL
from tests.helpers import ApiClient
from tests.pgbouncer import pgbouncer
from tests.test_journeys import deploy, tailoring_journey  # noqa: F401 - a fixture


@pytest.fixture
def bouncer():
    with pgbouncer(TEST_DATABASE_URL) as running:
        yield running


def transactions_through(bouncer) -> int:
    """Transactions PgBouncer has carried to the test database (its admin console)."""
    admin = bouncer.url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0]
    with psycopg.connect(f"{admin}/pgbouncer", autocommit=True) as conn:
        cursor = conn.execute("SHOW STATS")
        columns = [column.name for column in cursor.description]
        for row in cursor:
            stats = dict(zip(columns, row, strict=True))
            if stats["database"] == bouncer.target.database:
                return int(stats["total_xact_count"])
    return 0


def test_hot_reads_repeated_on_every_pooled_connection_work_through_pgbouncer(make_app, bouncer):
    # psycopg prepares a statement run five times on a connection; through transaction
    # pooling the next run lands on a server connection that has it already, or lacks it.
    app = make_app(
        database_url=bouncer.url, db_pgbouncer=True, database_direct_url=TEST_DATABASE_URL
    )
    client = ApiClient(app.test_client())
    account = client.create_account()
    job_id = (
        client.post(
            "/api/jobs", json={"type": "job_search", "payload": {}}, headers=account.headers
        )
        .get_json()
        .get("job_id")
    )
    paths = ["/api/user/profile"] + ([f"/api/jobs/{job_id}/status"] if job_id else [])
    answers: list[int] = []

    def read() -> None:
        own = ApiClient(app.test_client())
        for _ in range(25):
            for path in paths:
                answers.append(own.get(path, headers=account.headers).status_code)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers and set(answers) == {200}
    assert transactions_through(bouncer) >= len(answers)


def test_the_tailoring_journey_runs_through_pgbouncer_in_transaction_mode(
    deploy,  # noqa: F811 - the fixture imported above
    bouncer,
):
    tailoring_journey(
        deploy,
        "local",
        DATABASE_URL=bouncer.url,
        DB_PGBOUNCER="true",
        DATABASE_DIRECT_URL=TEST_DATABASE_URL,
    )
    # Every request and job went through PgBouncer: hundreds of transactions.
    assert transactions_through(bouncer) >= 100


@pytest.mark.parametrize("direct", [True, False], ids=["direct-url", "no-direct-url"])
def test_maintenance_vacuums_without_leaving_a_session_setting_on_pooled_connections(
    make_app, bouncer, direct
):
    from server.ops.database_optimizer import maintain

    app = make_app(
        database_url=bouncer.url,
        db_pgbouncer=True,
        database_direct_url=TEST_DATABASE_URL if direct else None,
    )
    with app.app_context():
        report = maintain(app.config["SETTINGS"])
    assert report["vacuum"] == "VACUUM (ANALYZE)"
    # Every server connection PgBouncer hands out still has the pool's statement timeout.
    plain = bouncer.url.replace("postgresql+psycopg://", "postgresql://")
    held = [psycopg.connect(plain, prepare_threshold=None) for _ in range(4)]
    try:
        timeouts = {conn.execute("SHOW statement_timeout").fetchone()[0] for conn in held}
    finally:
        for conn in held:
            conn.close()
    assert timeouts == {"30s"}
