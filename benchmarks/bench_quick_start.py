"""The quick start, timed: a fresh clone's `make run` to the first `/healthz` answer.

The clone is of the repository's committed HEAD, in a temporary folder, run with zero
configuration (the embedded defaults: SQLite in the clone's instance folder) on a free port.
The phases are timed one by one, as `make run` chains them: installing the service's
requirements (`make install-run`), then starting the server (which applies the migrations to
the new database) until `/healthz` answers. The baseline, in the same run, is the same requirements
installed by pip into a new virtual environment, as the quick start did before. Both use the
machine's package caches as they are (an operator's second clone; a first ever install also
downloads the wheels).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEALTH_TIMEOUT_SECONDS = 300


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return time.monotonic() - started


def _until_healthy(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode} before /healthz")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as got:
                if got.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"no /healthz answer in {HEALTH_TIMEOUT_SECONDS} s")


def _environment() -> dict[str, str]:
    """The operator's shell, without the settings a development shell may carry."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "REDIS_", "FLASK_", "VIRTUAL_ENV", "PORT"))
    }


def _quick_start(folder: Path) -> dict[str, float]:
    subprocess.run(["git", "clone", "-q", str(ROOT), str(folder)], check=True)
    env = _environment()
    port = _free_port()
    phases = {"install": _timed(["make", "install-run"], folder, env)}
    started = time.monotonic()
    server = subprocess.Popen(
        [str(folder / ".venv" / "bin" / "python"), "server/api_server.py", "--port", str(port)],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _until_healthy(port, server)
        phases["start"] = time.monotonic() - started
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    return phases


def _pip_install(folder: Path) -> float:
    """The baseline: a virtual environment with pip, the same requirements through pip."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    subprocess.run(
        [
            str(folder / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "-r",
            str(ROOT / "requirements_production.txt"),
        ],
        check=True,
        capture_output=True,
    )
    return time.monotonic() - started


def run(args) -> list[str]:
    scratch = Path(tempfile.mkdtemp(prefix="quick-start-"))
    try:
        phases = _quick_start(scratch / "clone")
        baseline = _pip_install(scratch / "pip-venv")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    total = sum(phases.values())
    return [
        f"quick_start.fresh_clone_to_healthz_seconds {total:.1f} goal<30",
        "quick_start.phases_seconds "
        + " ".join(f"{name}={seconds:.1f}" for name, seconds in phases.items()),
        f"quick_start.install_seconds uv={phases['install']:.1f} pip_baseline={baseline:.1f} "
        f"ratio={baseline / phases['install']:.1f}x",
    ]
