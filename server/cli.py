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
    @click.option(
        "--password",
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        help="Asked for when not given.",
    )
    def create_admin(email: str, name: str, password: str) -> None:
        """Create an admin account (or promote an existing one)."""
        from server.services import accounts

        try:
            user = accounts.create_admin(
                email=email, password=password, name=name, settings=current_app.config["SETTINGS"]
            )
        except ApiError as exc:
            raise click.ClickException(exc.message) from None
        click.echo(f"admin {user.email} (id {user.id}) is ready")

    @app.cli.command("rotate-encryption-key")
    def rotate_encryption_key() -> None:
        """Re-encrypt stored secrets with the first key of ENCRYPTION_KEY (newest first)."""
        from server.services import credentials

        count = credentials.rotate_all(settings=current_app.config["SETTINGS"])
        click.echo(f"re-encrypted {count} stored secret(s)")

    @app.cli.command("reparse-resumes")
    def reparse_resumes() -> None:
        """Parse stored resumes that have no structure yet or one from an older parser."""
        from server.services import resumes

        done, failed = resumes.reparse_outdated(settings=current_app.config["SETTINGS"])
        click.echo(f"{done} resume(s) parsed, {failed} could not be read")

    @app.cli.command("restore-ip-blocks")
    def restore_ip_blocks() -> None:
        """Put every IP block in force back into Redis (after Redis lost its data)."""
        from server.redis_client import get_redis
        from server.security_manager.ip_blocking import restore_blocks

        click.echo(f"{restore_blocks(get_redis())} block(s) restored")

    @app.cli.command("unblock-ip")
    @click.argument("address")
    def unblock_ip(address: str) -> None:
        """Lift an IP block without HTTP (also when the admin's own address is blocked).

        Marks it lifted in PostgreSQL too, so a restart does not bring it back. An IPv6
        address lifts the block of its /64.
        """
        import redis

        from server.redis_client import get_redis
        from server.security_manager.ip_blocking import unblock_ip as lift

        try:
            subject = lift(get_redis(), ip=address, lifted_by_user_id=None)
        except ApiError as exc:
            raise click.ClickException(f"{address}: {exc.message}") from None
        except redis.RedisError as exc:
            raise click.ClickException(f"Redis cannot be reached ({exc}); nothing lifted") from None
        click.echo(f"block on {subject} lifted")
