"""Flask CLI commands: `flask --app server <command>`."""

from __future__ import annotations

import click
from flask import Flask, current_app

from server.errors import ApiError


def init_app(app: Flask) -> None:
    """Register the commands."""

    @app.cli.command("create-admin")
    @click.argument("email")
    @click.option("--name", default="Administrator", show_default=True)
    @click.option("--password", help="Asked for when needed and not given.")
    @click.option(
        "--reset-password",
        is_flag=True,
        help="For an existing account: also set a new password and end its sessions.",
    )
    def create_admin(email: str, name: str, password: str | None, reset_password: bool) -> None:
        """Create an admin account, or promote an existing one (its password stays)."""
        from server.services import accounts

        needs_password = reset_password or accounts.get_user_by_email(email=email) is None
        if needs_password and password is None:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        try:
            outcome = accounts.create_admin(
                email=email,
                name=name,
                password=password if needs_password else None,
                reset_password=reset_password,
                settings=current_app.config["SETTINGS"],
            )
        except ApiError as exc:
            raise click.ClickException(exc.message) from None
        user = outcome.user
        if outcome.created:
            click.echo(f"created admin {user.email} (id {user.id})")
            return
        did = "promoted to admin" if outcome.promoted else "already an admin"
        if outcome.password_reset:
            did += "; password reset and every session ended"
        else:
            did += "; password and sessions unchanged"
            if password is not None:
                did += " (--password ignored without --reset-password)"
        click.echo(f"{user.email} (id {user.id}): {did}")

    @app.cli.command("rotate-encryption-key")
    def rotate_encryption_key() -> None:
        """Re-encrypt stored secrets with the first key of ENCRYPTION_KEY (newest first)."""
        from server.services import credentials

        count = credentials.rotate_all(settings=current_app.config["SETTINGS"])
        click.echo(f"re-encrypted {count} stored secret(s)")

    @app.cli.command("restore-ip-blocks")
    def restore_ip_blocks() -> None:
        """Put every IP block in force back into Redis (after Redis lost its data)."""
        from server.redis_client import get_redis
        from server.security_manager.ip_blocking import restore_blocks

        click.echo(f"{restore_blocks(get_redis())} block(s) restored")
