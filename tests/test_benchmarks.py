"""The benchmarks keep to the scratch databases they are given."""

import argparse
import logging

import pytest

from benchmarks import bench_job_queue
from tests.conftest import TEST_REDIS_URL

# Loggers the benchmarks quieten for their own runs.
QUIETENED = ("server", "security", "google_genai")


@pytest.fixture(autouse=True)
def _logging_as_it_was():
    """A benchmark run in the suite's process quietens logging for its figures' sake (levels,
    `logging.disable`); the tests after it must log as before."""
    levels = {name: logging.getLogger(name).level for name in QUIETENED}
    disabled = logging.root.manager.disable
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    logging.disable(disabled)


def test_the_queue_benchmark_uses_only_the_redis_database_it_is_given(app, monkeypatch):
    used = {"app": [], "connections": []}

    def build_app(_scratch, redis_url):
        used["app"].append(redis_url)
        return app

    def measure(_app, conn):
        used["connections"].append(conn.connection_pool.connection_kwargs["db"])

    monkeypatch.setattr(bench_job_queue, "_ensure_database", lambda: None)
    monkeypatch.setattr(bench_job_queue, "_build_app", build_app)
    measurements = (
        "bench_end_to_end",
        "bench_claim_latency",
        "bench_high_behind_bulk",
        "bench_pickup_latency",
    )
    for name in measurements:
        monkeypatch.setattr(bench_job_queue, name, measure)

    bench_job_queue.run(argparse.Namespace(redis_url=TEST_REDIS_URL, rounds=1, seconds=0.1))

    chosen = int(TEST_REDIS_URL.rsplit("/", 1)[1])
    assert used == {"app": [TEST_REDIS_URL], "connections": [chosen] * len(measurements)}


def test_the_search_benchmark_reports_its_figures_for_every_board(make_app, monkeypatch):
    from benchmarks import bench_job_search

    built = []

    def build_app(_scratch, redis_url, overrides):
        built.append((redis_url, overrides["job_search_max_workers"]))
        return make_app(**overrides)  # the test database, pointed at the stand-ins

    monkeypatch.setattr(bench_job_search, "_ensure_database", lambda: None)
    monkeypatch.setattr(bench_job_search, "_build_app", build_app)
    monkeypatch.setattr(bench_job_search, "POSTINGS_PER_BOARD", 4)
    monkeypatch.setattr(bench_job_search, "LATENCY_MS", 0)

    lines = bench_job_search.run(argparse.Namespace(redis_url=TEST_REDIS_URL, rounds=1))

    assert built == [(TEST_REDIS_URL, 9), (TEST_REDIS_URL, 1)]
    assert lines[1] == "job_search.postings found 36 unique 36 stored 36"
    figures = dict(line.split(" ", 2)[:2] for line in lines)
    assert float(figures["job_search.wall_seconds"]) > 0
    assert float(figures["job_search.postings_scored_per_second"].replace(",", "")) > 0


@pytest.mark.soak  # a benchmark run
def test_the_tailoring_benchmark_measures_against_the_quota_it_is_told(
    settings, monkeypatch, capsys
):
    """A quick run (a 2 s quota window): every figure is printed, and no call went over."""
    from benchmarks import bench_tailoring

    monkeypatch.setattr(bench_tailoring, "DATABASE_URL", settings.database_url)
    bench_tailoring.run(
        argparse.Namespace(
            redis_url=TEST_REDIS_URL,
            rounds=1,
            seconds=0.1,
            tailoring_quota_window=2.0,
            tailoring_quota_windows=1,
        )
    )
    lines = {
        line.split()[0]: dict(part.split("=", 1) for part in line.split()[1:])
        for line in capsys.readouterr().out.splitlines()
    }
    assert float(lines["tailoring.local_per_minute"]["queue"]) > 0
    calls = lines["tailoring.gemini_calls_per_tailoring"]
    assert (float(calls["first"]), float(calls["repeat"])) == (2.0, 0.0)
    saturation = lines["tailoring.quota_saturation"]
    assert saturation["calls_over_quota"] == "0"
    assert int(saturation["calls"]) <= int(saturation["capacity"]) == 8


@pytest.mark.soak  # a benchmark run
def test_the_fair_share_benchmark_measures_the_flooded_wait_in_windows(settings, monkeypatch):
    """A quick run (a 2 s quota window): both figures, and no call went over the quota."""
    from benchmarks import bench_fair_share

    monkeypatch.setattr(bench_fair_share, "DATABASE_URL", settings.database_url)
    lines = bench_fair_share.run(
        argparse.Namespace(redis_url=TEST_REDIS_URL, tailoring_quota_window=2.0)
    )
    figures = {
        line.split()[0]: dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)
        for line in lines
    }
    wait = figures["fair_share.tailoring_wait_seconds"]
    assert float(wait["flooded"]) > float(wait["alone"]) > 0
    flood = figures["fair_share.flood_windows"]
    assert (flood["calls"], flood["upstream_429s"]) == ("29", "0")


def test_the_monitoring_benchmark_prints_its_ratio(redis_conn):
    from benchmarks import bench_monitoring

    lines = bench_monitoring.run(
        argparse.Namespace(redis_url=TEST_REDIS_URL, rounds=1, seconds=0.05)
    )
    assert [line.split()[0] for line in lines] == [
        "monitoring.endpoint_rps",
        "monitoring.endpoint_rps_control",
        "monitoring.instrument_cost_us",
    ]
    ratio = float(lines[0].split("ratio=")[1].split()[0])
    assert ratio > 0
    assert redis_conn.keys("jobq:{default}:*") == []


@pytest.mark.soak  # a benchmark run
def test_the_backup_benchmark_measures_a_tiny_database_of_its_own(settings):
    import re

    from sqlalchemy import create_engine, inspect

    from benchmarks import bench_backup

    lines = bench_backup.run(argparse.Namespace(redis_url=TEST_REDIS_URL, backup_size_mb=0.2))

    figures = {line.split()[0]: float(line.split()[1]) for line in lines}
    assert set(figures) == {
        "backup.database_mb",
        "backup.dump_mb",
        "backup.backup_mb_per_s",
        "backup.restore_mb_per_s",
        "backup.backup_seconds",
        "backup.restore_seconds",
    }
    assert all(value > 0 for value in figures.values())
    assert re.search(r"ratio [0-9.]+\)$", lines[2])
    # Its rows went to its own scratch database, not to the one under test.
    engine = create_engine(settings.database_url)
    assert "bench_rows" not in inspect(engine).get_table_names()
    engine.dispose()


def test_the_keyword_extractor_benchmark_scores_ours_at_the_evaluations_figures():
    from benchmarks import bench_keyword_extractors
    from tests.eval.test_keywords import MIN_PRECISION, MIN_RECALL

    lines = bench_keyword_extractors.run(argparse.Namespace())
    assert lines[0].startswith("keyword_extractors.corpus descriptions=")
    ours = next(line for line in lines if line.startswith("keyword_extractors.ours "))
    figures = dict(part.split("=", 1) for part in ours.split()[1:3])
    assert float(figures["recall"].rstrip("%")) >= 100 * MIN_RECALL
    assert float(figures["precision"].rstrip("%")) >= 100 * MIN_PRECISION
