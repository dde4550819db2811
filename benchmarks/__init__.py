"""Benchmarks: `make bench` (or `python -m benchmarks [name ...]`) runs every `bench_*` module.

Each module has `run(args) -> list[str]` returning result lines. Benchmarks use only
127.0.0.1, clean up what they create, and finish in well under two minutes.
"""
