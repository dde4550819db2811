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
