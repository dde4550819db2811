"""Benchmarks: `make bench` (or `python -m benchmarks [name ...]`) runs every `bench_*` module.

Each module has `run(args)`, which prints its result lines as it measures them or returns them. Benchmarks use only
127.0.0.1, clean up what they create, and finish in well under two minutes.
"""
