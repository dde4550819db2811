"""Web instances as an operator runs them for rolling restarts: `gunicorn -c gunicorn.conf.py`
on loopback ports, each with its own pid file and log under one folder, started with the
settings saved in that folder. An instance is restarted the way an operator's restart command
does it (SIGTERM, wait until it has exited, start it again):

    python -m tests.web_instances restart FOLDER PORT
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def save_settings(folder: Path, env: dict[str, str]) -> None:
    """The environment every instance under `folder` starts with."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "env.json").write_text(json.dumps(env))


def pid_file(folder: Path, port: int) -> Path:
    return folder / f"web-{port}.pid"


def instance_pid(folder: Path, port: int) -> int | None:
    try:
        return int(pid_file(folder, port).read_text().strip())
    except (OSError, ValueError):
        return None


def running(pid: int) -> bool:
    """Whether `pid` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def start(folder: Path, port: int) -> None:
    """Start the instance on 127.0.0.1:`port` in its own session; it outlives its starter."""
    env = {**json.loads((folder / "env.json").read_text()), "GUNICORN_BIND": f"127.0.0.1:{port}"}
    with open(folder / f"web-{port}.log", "a") as log:
        subprocess.Popen(  # noqa: S603 - fixed argv
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "gunicorn.conf.py",
                "--pid",
                str(pid_file(folder, port)),
                "server:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop(folder: Path, port: int, timeout: float = 90) -> None:
    """SIGTERM (gunicorn's graceful stop) and wait until the instance has exited."""
    pid = instance_pid(folder, port)
    if pid is None or not running(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while running(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            raise RuntimeError(f"the instance on port {port} did not stop within {timeout} s")
        time.sleep(0.05)


def wait_ready(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the instance on port {port} is not ready after {timeout} s")
        time.sleep(0.1)


def restart(folder: Path, port: int) -> None:
    stop(folder, port)
    start(folder, port)


if __name__ == "__main__":
    action, where, port_text = sys.argv[1:4]
    {"restart": restart, "start": start, "stop": stop}[action](Path(where), int(port_text))
