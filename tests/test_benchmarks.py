"""The benchmarks keep to the scratch databases they are given."""

import argparse

from benchmarks import bench_job_queue
from tests.conftest import TEST_REDIS_URL


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
