"""The load test (benchmarks/load/, `make load`) in the registry: `python -m benchmarks load`.

Runs it with its defaults (100 users for 60 s, then wrk for 15 s) on the Redis database
`--redis-url` names; `python -m benchmarks.load --help` for its own options.
"""

from __future__ import annotations

import shutil


def run(args) -> list[str]:
    from benchmarks.load.__main__ import measure, parse_args

    if shutil.which("wrk") is None:
        return ["load.skipped wrk is not installed (apt-get install wrk)"]
    return measure(parse_args(["--redis-url", args.redis_url]))
