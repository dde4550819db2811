"""`flask --app server backup ...`: make, list, verify and restore backups, apply retention."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import AppGroup

from server import backup_manager
from server.core.config import get_settings

backup_cli = AppGroup("backup", help="Backups: create, list, verify, restore, retention.")


def _echo(value) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


@backup_cli.command("create")
@click.argument(
    "backup_type",
    type=click.Choice(backup_manager.BACKUP_TYPES),
    default=backup_manager.DEFAULT_BACKUP_TYPE,
    required=False,
)
def create_command(backup_type: str) -> None:
    """Make a backup now, in this process (BACKUP_TYPE: database unless named)."""
    try:
        _echo(backup_manager.create_backup(backup_type=backup_type))
    except backup_manager.BackupError as exc:
        raise click.ClickException(str(exc)) from None


@backup_cli.command("list")
def list_command() -> None:
    """Backups in the stores (read from their manifests: works without the database)."""
    settings = get_settings()
    verified = _verified_times()
    for store in backup_manager.stores(settings):
        for backup_id in store.ids():
            manifest = json.loads(store.read_manifest(backup_id))
            when = (verified or {}).get(backup_id)
            click.echo(
                f"{backup_id}  {store.name:<5} {manifest['bytes']:>14,} bytes"
                f"{'  encrypted' if manifest.get('encrypted') else ''}"
                f"{f'  verified {when}' if when else ''}"
            )
    if verified is None:
        click.echo("(the catalogue cannot be read: which backups were verified is not shown)")


def _verified_times() -> dict[str, str] | None:
    """When each verified backup was verified, from the catalogue; None when the database
    cannot be read (the listing itself needs only the stores)."""
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from server.core.extensions import db
    from server.models.backup import Backup
    from server.models.base import isoformat

    try:
        rows = db.session.execute(
            select(Backup.id, Backup.verified_at).where(Backup.verified.is_(True))
        ).all()
    except SQLAlchemyError:
        db.session.rollback()
        return None
    return {row.id: isoformat(row.verified_at) for row in rows}


@backup_cli.command("verify")
@click.argument("backup_id")
def verify_command(backup_id: str) -> None:
    """Restore a backup into a scratch database and compare it with its manifest."""
    result = backup_manager.verify_backup(backup_id=backup_id)
    _echo(result)
    if not result["verified"]:
        raise SystemExit(1)


@backup_cli.command("restore")
@click.argument("backup_id")
@click.option("--target", help="Database to restore into (SQLite: a file path).")
@click.option(
    "--files-to",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to extract the files and logs archives into (<folder>/files, <folder>/logs).",
)
@click.option(
    "--files-into-storage",
    is_flag=True,
    help="Put the user files back into the configured storage (the local folder or the bucket); "
    "files already there with the same bytes are skipped.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Overwrite the live database, a non-empty target, or stored files that differ.",
)
def restore_command(
    backup_id: str,
    target: str | None,
    files_to: Path | None,
    files_into_storage: bool,
    force: bool,
) -> None:
    """Restore a backup (hashes are checked first). The live database needs --force and
    typing its name."""
    settings = get_settings()
    live = backup_manager.live_database_name(settings)
    into_live = target is not None and (target == live or str(Path(target).resolve()) == live)
    if into_live:
        if not force:
            raise click.ClickException(f"{target} is the live database; refusing without --force")
        typed = click.prompt(f"This overwrites the live database. Type its name ({target})")
        if typed != target:
            raise click.ClickException("confirmation did not match; nothing restored")
    try:
        _echo(
            backup_manager.restore_backup(
                backup_id=backup_id,
                target=target,
                files_to=files_to,
                into_storage=files_into_storage,
                force=force,
            )
        )
    except backup_manager.BackupError as exc:
        raise click.ClickException(str(exc)) from None


@backup_cli.command("retention")
@click.option("--dry-run", is_flag=True, help="Only report what would be deleted.")
def retention_command(dry_run: bool) -> None:
    """Delete backups past BACKUP_RETENTION_DAILY/WEEKLY/MONTHLY (local and S3)."""
    _echo(backup_manager.apply_retention(dry_run=dry_run))
