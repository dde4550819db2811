"""Flask CLI commands: `flask --app server <command>`."""

from __future__ import annotations

import os
import subprocess
import sys

import click
from flask import Flask

from server.core.config import get_settings
from server.core.errors import ApiError


def init_app(app: Flask) -> None:
    """Register the commands."""
    from server.cli.backup_cli import backup_cli
    from server.ops.scheduler import scheduler_cli

    app.cli.add_command(backup_cli)
    app.cli.add_command(scheduler_cli)

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
        """Re-encrypt every encrypted value with the first key of ENCRYPTION_KEY (newest
        first), then check them all; exit 1 while any is left under another key."""
        from server.services import encryption_keys

        outcome = encryption_keys.rotate_all()
        for done, counted in zip(outcome.rotated, outcome.after, strict=True):
            line = (
                f"{done.column}: {done.rotated} re-encrypted, {counted.newest} under the newest key"
            )
            if counted.older:
                line += f", {counted.older} still under an older key"
            if counted.unreadable:
                line += (
                    f", {counted.unreadable} under no key in ENCRYPTION_KEY "
                    f"({', '.join(counted.unreadable_rows)})"
                )
            click.echo(line)
        if outcome.complete:
            click.echo(
                "checked: every encrypted value is under the newest key; the older keys can go"
            )
            return
        older = sum(counted.older for counted in outcome.after)
        unreadable = sum(counted.unreadable for counted in outcome.after)
        reasons = []
        if older:
            reasons.append(
                f"{older} value(s) written while this ran are still under an older key: run it "
                "again once every process has restarted with the new ENCRYPTION_KEY"
            )
        if unreadable:
            reasons.append(
                f"{unreadable} value(s) were written with a key that is not in ENCRYPTION_KEY: put "
                "it back after the newest and run this again (their owners can also clear or "
                "replace them)"
            )
        raise click.ClickException(
            "not done, keep every older key in ENCRYPTION_KEY: " + "; ".join(reasons)
        )

    @app.cli.command("storage-migrate")
    @click.option(
        "--to",
        "target",
        type=click.Choice(["local", "s3"]),
        default=None,
        help="The back end to move files into (default: the configured one).",
    )
    def storage_migrate(target: str | None) -> None:
        """Move every user file into the configured store (STORAGE_S3_BUCKET set: the
        bucket), each checked by SHA-256 before its row points at it; safe to run again, and
        it resumes where a stopped run left off. Exit 1 while any file could not be moved."""
        from server.core.errors import StorageUnavailable
        from server.services import stored_files

        try:
            done = stored_files.migrate(target=target)
        except StorageUnavailable as exc:
            raise click.ClickException(
                f"the store cannot be reached ({exc.message}); what was moved stays moved: "
                "run this again once it answers"
            ) from None
        click.echo(
            f"{done.moved} file(s) moved into {done.target}, {done.already} there already, "
            f"{done.failed_count} not moved"
        )
        for line in done.failed:
            click.echo(f"  {line}")
        if done.failed_count:
            raise click.ClickException(
                "some files were not moved (see above); their rows still point at the old copy"
            )

    @app.cli.command("reparse-resumes")
    def reparse_resumes() -> None:
        """Parse stored resumes that have no structure yet or one from an older parser."""
        from server.services import resumes

        done, failed = resumes.reparse_outdated()
        click.echo(f"{done} resume(s) parsed, {failed} could not be read")

    @app.cli.command("restore-ip-blocks")
    def restore_ip_blocks() -> None:
        """Put every IP block, account lock and token revocation in force back into Redis.

        The first request after Redis lost its data does it too; this does it at once.
        """
        from server.core.redis_client import get_redis
        from server.security_manager import security_cache

        copied = security_cache.rebuild(get_redis())
        if copied is None:
            raise click.ClickException(
                "another process is rebuilding them right now; run this again in a minute"
            )
        click.echo(
            f"{copied['ip_blocks']} block(s) restored, with {copied['account_locks']} account "
            f"lock(s) and {copied['token_revocations']} token revocation(s)"
        )

    @app.cli.command("unblock-ip")
    @click.argument("address")
    def unblock_ip(address: str) -> None:
        """Lift an IP block without HTTP (also when the admin's own address is blocked).

        Marks it lifted in PostgreSQL too, so a restart does not bring it back. An IPv6
        address lifts the block of its /64.
        """
        import redis

        from server.core.redis_client import get_redis
        from server.security_manager.ip_blocking import unblock_ip as lift

        try:
            subject = lift(get_redis(), ip=address, lifted_by_user_id=None)
        except ApiError as exc:
            raise click.ClickException(f"{address}: {exc.message}") from None
        except redis.RedisError as exc:
            raise click.ClickException(f"Redis cannot be reached ({exc}); nothing lifted") from None
        click.echo(f"block on {subject} lifted")

    @app.cli.command("unlock-account")
    @click.argument("email")
    def unlock_account(email: str) -> None:
        """Lift an account's login lock without HTTP (also when the admin's own is locked)."""
        from server.services import accounts

        address = accounts.normalise_email(email)
        if accounts.unlock_email(email=address):
            click.echo(f"{address}: lock lifted")
        else:
            click.echo(f"{address}: was not locked (its failed logins are forgotten)")

    @app.cli.command(
        "redis-cli",
        context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    )
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    @click.pass_context
    def redis_cli(ctx: click.Context, args: tuple[str, ...]) -> None:
        """Run redis-cli against the configured Redis, embedded or not: `redis-cli DEL KEY`.

        Without ARGS, opens redis-cli's prompt. ARGS may start with redis-cli's own options.
        """
        from server.core.redis_client import build_redis, redis_cli_invocation

        # No start-up line: an embedded server this command starts stops when it ends.
        client = build_redis(get_settings(), announce=False)
        argv, extra_env = redis_cli_invocation(client)
        # Passed through so the child finds its locale and PATH; no setting is read here.
        env = {**os.environ, **extra_env}
        if not args:
            ctx.exit(subprocess.call(argv, env=env))  # noqa: S603 - our own argv
        if sys.stdout.isatty():
            argv.append("--no-raw")  # redis-cli's terminal format, though its output is piped
        done = subprocess.run(  # noqa: S603 - the user's own command, no shell
            [*argv, *args], env=env, capture_output=True, check=False
        )
        click.echo(done.stdout, nl=False)
        click.echo(done.stderr, nl=False, err=True)
        ctx.exit(done.returncode)

    @app.cli.group("maintenance")
    def maintenance() -> None:
        """Database maintenance."""

    @maintenance.command("run")
    def maintenance_run() -> None:
        """Delete expired records, then VACUUM (ANALYZE); prints the report as JSON."""
        import json

        from server.ops.database_optimizer import run_daily_maintenance

        click.echo(json.dumps(run_daily_maintenance(), indent=2))

    @app.cli.group("alerts")
    def alerts() -> None:
        """Alert rules."""

    @alerts.command("check")
    def alerts_check() -> None:
        """Check every alert rule now (posts to ALERT_WEBHOOK_URL what starts or stops)."""
        from server.ops.monitoring import run_alert_checks

        for result in run_alert_checks():
            state = "FIRING" if result["firing"] else "ok"
            change = f" ({result['change']})" if result["change"] else ""
            reason = f": {result['reason']}" if result["reason"] else ""
            click.echo(f"{result['rule']}: {state}{change}{reason}")
