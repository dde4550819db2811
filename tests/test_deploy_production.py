"""deploy_production.py, run as an operator runs it: a subprocess on a fresh database."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from dotenv import dotenv_values
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

from server.core.config import weak_secret_reason
from server.models import ApplicantProfile, Role, User, UserCredential
from server.security_manager import encryption
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL
from tests.nginx_helpers import ROOT, render_nginx_conf
from tests.pgbouncer import pgbouncer
from tests.sentinel_set import sentinel_set

ADMIN_EMAIL = "ops@example.com"
ADMIN_PASSWORD = "quartz lantern orbit 4417 meadow"
# Nothing listens on port 1: steps that need the database fail at once, touching nothing.
UNREACHABLE_DATABASE = "postgresql://root@127.0.0.1:1/job_agent"


@pytest.fixture
def fresh_database():
    """A database name nobody uses yet; dropped after the test."""
    url = make_url(TEST_DATABASE_URL)
    name = f"{url.database}_deploy_{secrets.token_hex(4)}"
    yield url.set(database=name).render_as_string(hide_password=False)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def production_env(tmp_path, database_url: str, **overrides: str) -> dict[str, str]:
    values = {
        "FLASK_ENV": "production",
        "DATABASE_URL": database_url,
        "REDIS_URL": TEST_REDIS_URL,
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "PASSWORD_PEPPER": secrets.token_urlsafe(32),
        "SMTP_HOST": "127.0.0.1",
        "TRUSTED_PROXY_COUNT": "1",
        "PUBLIC_BASE_URL": "https://jobs.example.com",
        "GOOGLE_API_KEY": "stand-in-key-not-used-here",
        "INSTANCE_DIR": str(tmp_path / "instance"),
        "LOG_DIR": str(tmp_path / "logs"),
        "LOG_TO_STDOUT": "false",
        "BCRYPT_ROUNDS": "4",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        # No Chromium here: the browser step's own test starts one, the others skip it.
        "BROWSER_EXECUTABLE": str(tmp_path / "no-chromium"),
    }
    values.update(overrides)
    return values


def write_env(path, values: dict[str, str]) -> None:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    path.chmod(0o600)


def deploy(tmp_path, env_file, *args: str, extra_env: dict | None = None):
    """Run the script with a bare process environment: only `env_file` configures it."""
    nginx_site = render_nginx_conf(tmp_path / "nginx", app_port=5000)
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    env.update(extra_env or {})
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "deploy_production.py"),
            "--env-file",
            str(env_file),
            "--nginx-conf",
            str(nginx_site.conf),
            "--non-interactive",
            *args,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    return done.returncode, done.stdout + done.stderr


def database_exists(url: str) -> bool:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"))
    with admin.connect() as conn:
        found = conn.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}
        )
    admin.dispose()
    return bool(found)


def test_prepare_then_check_is_ready_and_changes_nothing(tmp_path, fresh_database):
    env_file = tmp_path / ".env"
    write_env(env_file, production_env(tmp_path, fresh_database))

    # Report only: not ready, and nothing is created.
    code, output = deploy(tmp_path, env_file, "--check")
    assert code == 1, output
    assert "does not exist" in output and "createdb" in output
    assert not database_exists(fresh_database)
    assert not (tmp_path / "logs").exists() and not (tmp_path / "instance").exists()
    assert "NOT READY" in output

    # Prepare: database, schema, folders, first admin.
    code, output = deploy(
        tmp_path, env_file, "--admin-email", ADMIN_EMAIL, "--admin-password", ADMIN_PASSWORD
    )
    assert code == 0, output
    for change in ("created database", "migrated from", f"created admin {ADMIN_EMAIL}"):
        assert change in output, output
    assert "READY" in output and "[17/17] Security audit" in output
    assert stat.S_IMODE((tmp_path / "instance" / "backups").stat().st_mode) == 0o700
    # Backups, scheduler and metrics are checked too.
    assert re.search(r"ok +pg_dump \d+\S* \(\S+\) for PostgreSQL \d+", output), output
    assert re.search(r"ok +pg_restore \d+\S* \(\S+\) for PostgreSQL \d+", output), output
    assert "database_backup: cron[" in output and "next run" in output
    assert f"add up their metrics in {tmp_path / 'metrics'}" in output
    assert not (tmp_path / "metrics").exists()  # gunicorn.conf.py makes it at start

    # The deployment is ready, and stays so: --check twice, and prepare again, change nothing.
    for args in (("--check",), ("--check",), ()):
        code, output = deploy(tmp_path, env_file, *args)
        assert code == 0, output
        assert "changed:" not in output and "FAILED" not in output, output
        assert "1 admin account(s) exist" in output

    # --check creates nothing, not even the log folder the app would open its files in.
    shutil.rmtree(tmp_path / "logs")
    code, output = deploy(tmp_path, env_file, "--check")
    assert code == 1 and f"log folder {tmp_path / 'logs'} does not exist" in output
    assert not (tmp_path / "logs").exists()

    engine = create_engine(fresh_database)
    with engine.connect() as conn:
        admins = conn.execute(select(User.email).where(User.role == Role.ADMIN.value)).all()
    engine.dispose()
    assert [row.email for row in admins] == [ADMIN_EMAIL]


def test_check_starts_chromium_headless_and_names_a_missing_one(tmp_path):
    env_file = tmp_path / ".env"
    write_env(
        env_file,
        production_env(tmp_path, UNREACHABLE_DATABASE, BROWSER_EXECUTABLE="/usr/bin/chromium"),
    )
    code, output = deploy(tmp_path, env_file, "--check")
    assert code == 1, output  # the database is unreachable
    assert re.search(r"ok +Chromium \d[\d.]* .*starts headless in [\d.]+ s", output), output

    write_env(env_file, production_env(tmp_path, UNREACHABLE_DATABASE))
    code, output = deploy(tmp_path, env_file, "--check")
    assert "starts headless" not in output
    assert f"browser channel unavailable: no Chromium at {tmp_path / 'no-chromium'}" in output
    assert "applications use the other channels" in output


def test_a_weak_secret_is_named_and_the_deployment_is_not_ready(tmp_path):
    env_file = tmp_path / ".env"
    write_env(
        env_file,
        production_env(
            tmp_path,
            UNREACHABLE_DATABASE,
            JWT_SECRET_KEY="changeme",
            ENCRYPTION_KEY="short-key",
        ),
    )
    code, output = deploy(tmp_path, env_file, "--check")
    assert code == 1
    assert "JWT_SECRET_KEY is a known placeholder" in output
    assert "ENCRYPTION_KEY is too short (9 characters; at least 32 required)" in output
    # The other steps still report what they find.
    assert "cannot connect to postgresql" in output and "[17/17] Security audit" in output
    assert "NOT READY" in output


def test_the_test_only_loopback_allowance_is_refused_and_named(tmp_path):
    env_file = tmp_path / ".env"
    write_env(
        env_file,
        production_env(tmp_path, UNREACHABLE_DATABASE, OUTBOUND_ALLOW_LOOPBACK_PORTS="8080"),
    )
    code, output = deploy(tmp_path, env_file, "--check")
    assert code == 1
    assert "OUTBOUND_ALLOW_LOOPBACK_PORTS" in output and "NOT READY" in output


def test_an_admin_password_the_policy_refuses_is_named(tmp_path, fresh_database):
    env_file = tmp_path / ".env"
    write_env(env_file, production_env(tmp_path, fresh_database))
    code, output = deploy(
        tmp_path,
        env_file,
        extra_env={"DEPLOY_ADMIN_EMAIL": ADMIN_EMAIL, "DEPLOY_ADMIN_PASSWORD": "password1234"},
    )
    assert code == 1
    assert f"cannot create the admin {ADMIN_EMAIL}" in output
    assert "choose a longer, less guessable password" in output


def test_generate_secrets_fills_a_missing_key_and_keeps_the_existing_one(tmp_path):
    env_file = tmp_path / ".env"
    existing_key = Fernet.generate_key().decode()
    values = production_env(tmp_path, UNREACHABLE_DATABASE, ENCRYPTION_KEY=existing_key)
    values["JWT_SECRET_KEY"] = ""
    write_env(env_file, values)
    env_file.chmod(0o644)

    # With --check nothing is written.
    code, output = deploy(tmp_path, env_file, "--check", "--generate-secrets")
    assert code == 1 and "JWT_SECRET_KEY is missing" in output
    assert dotenv_values(env_file)["JWT_SECRET_KEY"] == ""

    code, output = deploy(tmp_path, env_file, "--generate-secrets")
    assert "wrote strong JWT_SECRET_KEY into" in output, output
    written = dotenv_values(env_file)
    assert weak_secret_reason(written["JWT_SECRET_KEY"]) is None
    assert written["ENCRYPTION_KEY"] == existing_key
    assert {k: v for k, v in written.items() if k != "JWT_SECRET_KEY"} == {
        k: v for k, v in values.items() if k != "JWT_SECRET_KEY"
    }
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600

    # Run again: the generated key stays.
    code, output = deploy(tmp_path, env_file, "--generate-secrets")
    assert "wrote strong" not in output
    assert dotenv_values(env_file)["JWT_SECRET_KEY"] == written["JWT_SECRET_KEY"]


def test_missing_packages_stop_the_run_with_the_install_command(tmp_path):
    # -S: no site-packages, as on a machine where nothing was installed yet.
    done = subprocess.run(
        [sys.executable, "-S", str(ROOT / "deploy_production.py"), "--check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "missing packages: Flask, APIFlask" in done.stdout
    assert "-m pip install -r" in done.stdout and "requirements_production.txt" in done.stdout
    assert "waitress" not in done.stdout or sys.platform == "win32"
    assert "[stopped] the remaining steps need step 2" in done.stdout


def test_backup_tools_metrics_folder_and_scheduler_problems_are_named(tmp_path, fresh_database):
    env_file = tmp_path / ".env"
    write_env(env_file, production_env(tmp_path, fresh_database))
    code, output = deploy(
        tmp_path, env_file, "--admin-email", ADMIN_EMAIL, "--admin-password", ADMIN_PASSWORD
    )
    assert code == 0, output

    # An old pg_dump and no pg_restore where BACKUP_PG_BIN_DIR points; a metrics folder that
    # cannot be made; the scheduler switched off here.
    tools = tmp_path / "pg-9.6"
    tools.mkdir()
    (tools / "pg_dump").write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
    (tools / "pg_dump").chmod(0o755)
    (tmp_path / "a-file").write_text("")
    write_env(
        env_file,
        production_env(
            tmp_path,
            fresh_database,
            BACKUP_PG_BIN_DIR=str(tools),
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "a-file" / "metrics"),
            SCHEDULER_ENABLED="false",
        ),
    )
    before = sorted(p.name for p in tmp_path.iterdir())
    code, output = deploy(tmp_path, env_file, "--check")
    assert code == 1, output
    assert re.search(rf"{tools}/pg_dump is PostgreSQL 9's; the server is \d+", output), output
    assert f"pg_restore at {tools}/pg_restore cannot run" in output
    assert "apt-get install postgresql-client-" in output and "BACKUP_PG_BIN_DIR" in output
    assert f"PROMETHEUS_MULTIPROC_DIR {tmp_path / 'a-file' / 'metrics'} cannot be created" in output
    assert "SCHEDULER_ENABLED is false" in output and "NOT READY: 3 problem(s)" in output
    assert sorted(p.name for p in tmp_path.iterdir()) == before

    # A bad cron expression is named by the settings step.
    write_env(env_file, production_env(tmp_path, fresh_database, BACKUP_DATABASE_CRON="0 25 * * *"))
    code, output = deploy(tmp_path, env_file, "--check")
    assert code == 1 and "BACKUP_DATABASE_CRON" in output, output


def test_check_names_encrypted_values_under_a_key_not_in_encryption_key(tmp_path, fresh_database):
    env_file = tmp_path / ".env"
    values = production_env(tmp_path, fresh_database)
    write_env(env_file, values)
    code, output = deploy(
        tmp_path, env_file, "--admin-email", ADMIN_EMAIL, "--admin-password", ADMIN_PASSWORD
    )
    assert code == 0, output
    assert "0 encrypted value(s) in 2 column(s), all under the newest key" in output

    # A credential under the key about to become the older one; EEO answers under a key that
    # was dropped before they were rotated.
    old, new = values["ENCRYPTION_KEY"], Fernet.generate_key().decode()
    lost = Fernet.generate_key().decode()
    engine = create_engine(fresh_database)
    with engine.begin() as conn:
        admin_id = conn.scalar(select(User.id))
        conn.execute(
            insert(UserCredential).values(
                user_id=admin_id,
                service="mimikree",
                secret_encrypted=encryption.encrypt("pw", keys=(old,)),
            )
        )
        conn.execute(
            insert(ApplicantProfile).values(
                user_id=admin_id,
                details={},
                eeo_encrypted=encryption.encrypt("{}", keys=(lost,)),
            )
        )
    engine.dispose()
    write_env(env_file, {**values, "ENCRYPTION_KEY": f"{new},{old}"})
    code, output = deploy(tmp_path, env_file, "--check")
    assert code == 1, output
    assert (
        "1 value(s) of applicant_profiles.eeo_encrypted are under a key that is not in "
        f"ENCRYPTION_KEY (user_id {admin_id}): they cannot be read"
    ) in output
    assert (
        "1 value(s) of user_credentials.secret_encrypted are still under an older key of "
        "ENCRYPTION_KEY"
    ) in output
    assert "NOT READY: 1 problem(s)" in output


def test_check_writes_reads_and_deletes_a_probe_object_in_the_files_bucket(tmp_path, settings):
    import argparse

    from moto.server import ThreadedMotoServer

    import deploy_production
    from tests.storage_helpers import BUCKET, object_keys, reset_and_create_bucket

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        reset_and_create_bucket(endpoint)
        bucket = {
            "STORAGE_S3_BUCKET": BUCKET,
            "STORAGE_S3_ENDPOINT_URL": endpoint,
            "STORAGE_S3_REGION": "us-east-1",
            "STORAGE_S3_ACCESS_KEY_ID": "testing",
            "STORAGE_S3_SECRET_ACCESS_KEY": "testing",
        }
        env_file = tmp_path / ".env"
        write_env(env_file, production_env(tmp_path, UNREACHABLE_DATABASE, **bucket))
        code, output = deploy(tmp_path, env_file, "--check")
        assert f"s3://{BUCKET}/files/: a probe object written, read back and deleted" in output
        assert object_keys(endpoint) == []  # the probe is gone

        # No bucket by that name (the step itself, in this process): named, with what to check.
        report = deploy_production.Report()
        context = deploy_production.Context(
            args=argparse.Namespace(check=True),
            report=report,
            settings=settings.replace(
                storage_s3_bucket="no-such-one",
                storage_s3_endpoint_url=endpoint,
                storage_s3_region="us-east-1",
                storage_s3_access_key_id="testing",
                storage_s3_secret_access_key="testing",
            ),
        )
        deploy_production.step_storage(context)
        [failure] = report.failures
        assert "s3://no-such-one/files/: the probe object could not be written" in failure
        assert "NoSuchBucket" in failure and "STORAGE_S3_ENDPOINT_URL" in failure
    finally:
        server.stop()


def test_check_names_the_sentinel_primary_pgbouncers_mode_and_a_lost_quorum(tmp_path, app):
    from server.services import accounts

    accounts.create_admin(email=ADMIN_EMAIL, password=ADMIN_PASSWORD, name="Ops")
    env_file = tmp_path / ".env"
    values = production_env(tmp_path, TEST_DATABASE_URL)
    folders = (("logs", 0o750), ("instance/uploads", 0o750), ("instance/backups", 0o700))
    for folder, mode in (*folders, ("instance", 0o750)):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder).chmod(mode)
    (tmp_path / "redis").mkdir()
    with sentinel_set(tmp_path / "redis") as redis_set, pgbouncer(TEST_DATABASE_URL) as bouncer:
        values.pop("REDIS_URL")
        values.update(
            DATABASE_URL=bouncer.url,
            DB_PGBOUNCER="true",
            DATABASE_DIRECT_URL=TEST_DATABASE_URL,
            REDIS_SENTINELS=redis_set.sentinels,
        )
        write_env(env_file, values)
        code, output = deploy(tmp_path, env_file, "--check")
        assert code == 0, output
        assert "Sentinel: 3 of 3 sentinels answer, quorum 2 reachable" in output
        primary = redis_set.primary_port()
        assert f"primary of 'mymaster' is 127.0.0.1:{primary}, 1 healthy replica(s)" in output
        assert re.search(r"PgBouncer [\d.]+, pool_mode transaction", output), output
        assert "the service prepares none" in output
        assert "statement_timeout through PgBouncer: 30000 ms" in output

        # Two of the three sentinels gone: no failover could be authorised.
        redis_set.stop_sentinels(2)
        code, output = deploy(tmp_path, env_file, "--check")
        assert code == 1, output
        assert "the quorum of 'mymaster' cannot be reached" in output
        assert "NOT READY" in output
