"""Run the benchmarks: `python -m benchmarks` (all) or `python -m benchmarks rate_limiter`."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time

import benchmarks

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"


def available() -> list[str]:
    """Names of the benchmark modules in this package (`bench_<name>.py`)."""
    return sorted(
        info.name.removeprefix("bench_")
        for info in pkgutil.iter_modules(benchmarks.__path__)
        if info.name.startswith("bench_")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "names", nargs="*", help=f"benchmarks to run (default: all of {available()})"
    )
    parser.add_argument(
        "--redis-url",
        default=DEFAULT_REDIS_URL,
        help="a scratch Redis database on 127.0.0.1 (default: %(default)s)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per comparison")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one round")
    parser.add_argument(
        "--tailoring-quota-window",
        type=float,
        default=60.0,
        help="tailoring: the quota window of the saturation run, seconds (Gemini's: 60)",
    )
    parser.add_argument(
        "--tailoring-quota-windows",
        type=int,
        default=3,
        help="tailoring: how many quota windows the saturation run measures",
    )
    args = parser.parse_args(argv)
    names = args.names or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; available: {available()}")
    for name in names:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        started = time.monotonic()
        for line in module.run(args) or ():
            print(line, flush=True)
        print(f"{name}.elapsed_seconds {time.monotonic() - started:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
