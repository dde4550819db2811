"""The documentation's tables of things the code owns match the code, row for row.

Each table in docs/ that lists a catalogue (the rate limits, the Prometheus metric families, the
scheduled jobs, the alert rules, the job types, the benchmarks) is read back and compared with the catalogue
itself: a row missing, a row too many or a default that changed fails here. The settings table
is checked in tests/test_config.py, the runbook's commands in tests/test_runbook.py.
"""

from __future__ import annotations

import re

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    generate_latest,
)

from benchmarks.__main__ import available
from server.core.config import PROJECT_ROOT, Settings, environment_variable
from server.ops.monitoring import ALERT_RULES
from server.ops.scheduler import SCHEDULED_JOBS
from server.rate_limiter.catalogue import LIMITS, ConcurrencyCap
from server.schemas.jobs import JOB_PAYLOAD_SCHEMAS, PUBLIC_JOB_TYPES

DOCS = PROJECT_ROOT / "docs"
SETTING_VARIABLES = {environment_variable(name) for name in Settings.model_fields}


def table(page: str, header: str) -> list[list[str]]:
    """The body rows (cells, stripped) of the table in docs/<page> whose header row starts
    with `header`."""
    lines = (DOCS / page).read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]])
    assert rows, f"no rows under {header!r} in docs/{page}"
    return rows


def names(cell: str) -> list[str]:
    """The lower-case identifiers written as code in a cell (`a`, `b`)."""
    return re.findall(r"`([a-z][a-z0-9_]*)`", cell)


def variables(cell: str) -> set[str]:
    return set(re.findall(r"`([A-Z][A-Z0-9_]*)`", cell))


def test_the_rate_limits_table_lists_every_limit_with_its_default_and_scope():
    rows = table("rate-limits.md", "| Limit | Default | Counted per |")
    documented = {}
    for name_cell, default, counted_per, _applies_to in rows:
        [name] = names(name_cell)
        assert name not in documented, f"{name} twice"
        documented[name] = (default, counted_per)
    assert sorted(LIMITS.keys() - documented.keys()) == [], "limits missing from the table"
    assert sorted(documented.keys() - LIMITS.keys()) == [], "rows naming no limit"
    for name, limit in LIMITS.items():
        default, counted_per = documented[name]
        if isinstance(limit, ConcurrencyCap):
            expected = f"{limit.limit} at once, lease {limit.lease_seconds:g} s"
        else:
            expected = f"{limit.limit} / {limit.window_seconds:g} s"
        assert default == expected, name
        subject = {"user": "user", "ip": "client IP", "global": "the whole system"}[limit.scope]
        assert counted_per.startswith(subject), name


def exported_families(metrics_text: str) -> set[str]:
    """The family names a Prometheus exposition declares (`# TYPE`), without the `_created`
    series prometheus-client adds beside each counter and histogram."""
    declared = set(re.findall(r"^# TYPE (\S+) ", metrics_text, re.M))
    return {
        name
        for name in declared
        if not (
            name.endswith("_created")
            and {(base := name.removesuffix("_created")), base + "_total"} & declared
        )
    }


def test_the_metrics_table_lists_every_family_the_service_exports(client):
    client.get("/api/user/profile")  # a request counted, so every request family has a series
    response = client.get("/metrics")
    assert response.status_code == 200
    # prometheus-client's own process and runtime families, which the service does not define.
    runtime = CollectorRegistry()
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        runtime.register(collector)
    exported = exported_families(response.get_data(as_text=True)) - exported_families(
        generate_latest(runtime).decode()
    )
    documented = [
        name
        for row in table("monitoring.md", "| Family | Type | Labels |")
        for name in names(row[0])
    ]
    assert len(documented) == len(set(documented)), "a family listed twice"
    assert sorted(exported - set(documented)) == [], "families missing from the table"
    assert sorted(set(documented) - exported) == [], "rows naming no exported family"


def test_the_scheduler_table_lists_every_scheduled_job_and_real_settings():
    rows = table("operations.md", "| Id | Runs | When (setting) |")
    documented = [job_id for row in rows for job_id in names(row[0])]
    assert sorted(documented) == sorted(job.id for job in SCHEDULED_JOBS)
    for _ids, _runs, when in rows:
        assert variables(when) <= SETTING_VARIABLES, when


def test_the_alerts_table_lists_every_rule_and_real_settings():
    rows = table("monitoring.md", "| Rule | Fires when |")
    documented = [rule for row in rows for rule in names(row[0])]
    assert sorted(documented) == sorted(rule.name for rule in ALERT_RULES)
    for _rule, fires_when in rows:
        assert variables(fires_when) <= SETTING_VARIABLES, fires_when


def test_the_job_types_table_lists_every_public_type_and_its_payload_fields():
    rows = table("api.md", "| `type` | `payload` |")
    documented = {names(type_cell)[0]: payload for type_cell, payload in rows}
    assert sorted(documented) == sorted(PUBLIC_JOB_TYPES)
    for job_type, payload in documented.items():
        written = set(re.findall(r"`([a-z_]+)\??`", payload))
        fields = set(JOB_PAYLOAD_SCHEMAS[job_type]().fields)
        assert sorted(fields - written) == [], job_type


def test_the_benchmarks_table_lists_every_benchmark():
    rows = table("benchmarks.md", "| Benchmark | Measures | Figures |")
    assert sorted(names(row[0])[0] for row in rows) == available()
