"""Benchmarks: `python -m benchmarks` runs every `bench_*.py`; `python -m benchmarks NAME` one."""
