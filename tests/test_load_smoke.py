"""A short run of the load test (`make load`): both phases run and report, with no errors."""

import re
import subprocess
import sys

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL
from tests.nginx_helpers import ROOT

# A load run: `make test-soak` runs it (CI too), `make test` does not.
pytestmark = pytest.mark.soak


def figures(line: str) -> dict[str, str]:
    return dict(re.findall(r"(\w+)=([\w.<-]+)", line))


def test_the_load_test_drives_the_scaled_service_and_reports_its_figures():
    url = make_url(TEST_DATABASE_URL)
    scratch = url.set(database=f"{url.database}_load").render_as_string(hide_password=False)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.load",
            "--users",
            "12",
            "--spawn-rate",
            "12",
            "--seconds",
            "10",
            "--raw-seconds",
            "3",
            "--connections",
            "20",
            "--operators",
            "2",
            "--database-url",
            scratch,
            "--redis-url",
            TEST_REDIS_URL,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    lines = {line.split(" ", 1)[0]: line for line in done.stdout.splitlines()}
    journeys = figures(lines["load.journeys"])
    # Sized for a busy 2-core machine: the figures matter in `make load`, not here.
    assert int(journeys["requests"]) > 30 and journeys["errors"] == "0", done.stdout
    for route in ("POST /api/auth/register", "POST /api/user/resumes", "GET /api/user/profile"):
        assert route in done.stdout, done.stdout
    raw = figures(lines["load.status_raw"])
    assert int(raw["requests"]) > 100 and raw["errors"] == "0", done.stdout
    assert float(raw["p99_ms"]) > 0
    assert "load.seed_expected" in lines and "load.versus_seed" in lines
