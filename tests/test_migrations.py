"""Alembic: the migrations build the schema from empty and agree with the models."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect

from server import create_app
from server.core.extensions import db


def test_postgres_schema_matches_models(app, migrated_database):
    engine = create_engine(migrated_database)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    engine.dispose()
    assert diff == []


def test_sqlite_upgrade_from_empty_matches_models_and_downgrades(settings, tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    app = create_app(settings.replace(database_url=url))
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), db.metadata) == []
            assert "users" in inspect(conn).get_table_names()
        downgrade(revision="base")
        with db.engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()
