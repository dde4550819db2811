"""Alembic environment: migrations run against the app's own engine and metadata."""

from alembic import context
from flask import current_app

migrate_ext = current_app.extensions["migrate"]
target_metadata = migrate_ext.db.metadata


def run_offline() -> None:
    url = migrate_ext.db.engine.url.render_as_string(hide_password=False)
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    def skip_empty(_context, _revision, directives):
        # `flask db migrate` with no model change writes no empty revision.
        if (
            getattr(context.config.cmd_opts, "autogenerate", False)
            and directives[0].upgrade_ops.is_empty()
        ):
            directives[:] = []

    options = dict(migrate_ext.configure_args)
    options.setdefault("process_revision_directives", skip_empty)
    with migrate_ext.db.engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, **options)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
