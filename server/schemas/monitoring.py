"""Bodies of the monitoring routes: the system status (the seed runbook's shape)."""

from apiflask import Schema
from apiflask.fields import Boolean, Dict, Float, Integer, List, Nested, Raw, String


class QuotaOut(Schema):
    used = Integer(required=True, allow_none=True, metadata={"description": "Null: Redis down"})
    limit = Integer(required=True)
    remaining = Integer(required=True, allow_none=True)


class RateLimitsStatusOut(Schema):
    gemini_minute = Nested(QuotaOut, required=True)
    gemini_daily = Nested(QuotaOut, required=True)
    degraded = Boolean(required=True, metadata={"description": "The limiter cannot reach Redis"})
    gemini_paused_until = String(allow_none=True)


class JobQueueStatusOut(Schema):
    queue_size = Integer(required=True)
    active_jobs = Integer(required=True)
    priority_breakdown = Dict(
        keys=String(),
        values=Integer(),
        required=True,
        metadata={"description": "Waiting jobs by priority name (priorities with none omitted)"},
    )
    oldest_waiting_seconds = Float(allow_none=True)
    throughput_last_minute = Integer()


class ConnectionPoolOut(Schema):
    utilization_percent = Float(
        required=True, metadata={"description": "In use / (size + overflow)"}
    )
    pool_class = String()
    size = Integer(allow_none=True)
    checked_out = Integer(allow_none=True)
    checked_in = Integer(allow_none=True)
    overflow = Integer(allow_none=True)
    max_overflow = Integer(allow_none=True)
    max_connections = Integer(allow_none=True)


class SlowQueryOut(Schema):
    sql = String(
        required=True, metadata={"description": "Normalised: literals and parameters as ?"}
    )
    duration_ms = Float(required=True)
    at = Float(required=True, metadata={"description": "Epoch seconds"})
    request_id = String(allow_none=True)
    job_id = String(allow_none=True)


class DatabaseStatusOut(Schema):
    connection_pool = Nested(ConnectionPoolOut, required=True)
    slow_queries = List(Nested(SlowQueryOut), required=True)
    slow_query_threshold_ms = Float()
    pg_stat_statements = Dict(keys=String(), values=Raw())
    healthy = Boolean()
    dialect = String()


class SecurityStatusOut(Schema):
    blocked_ips_count = Integer(required=True)
    recent_events_count = Integer(required=True)
    recent_events_window_hours = Integer()


class BackupsStatusOut(Schema):
    total_backups = Integer(required=True)
    latest_backups = Dict(
        keys=String(),
        values=String(),
        required=True,
        metadata={"description": "Newest backup time by type (`database`, `files`, `logs`)"},
    )
    newest_verified_age_seconds = Float(allow_none=True)


class WorkerPoolOut(Schema):
    name = String()
    threads = Integer(allow_none=True)
    busy = Integer(allow_none=True)


class WorkersStatusOut(Schema):
    alive = Integer(
        required=True,
        metadata={"description": "Worker pools heard from within JOB_QUEUE_LEASE_SECONDS"},
    )
    threads = Integer()
    busy = Integer()
    pools = List(Nested(WorkerPoolOut))


class SchedulerStatusOut(Schema):
    leader = String(allow_none=True)
    source = String(allow_none=True)


class RedisStatusOut(Schema):
    healthy = Boolean(required=True)
    limiter_degraded = Boolean()


class SystemStatusOut(Schema):
    timestamp = String(required=True)
    rate_limits = Nested(RateLimitsStatusOut, required=True)
    job_queue = Nested(JobQueueStatusOut, required=True)
    database = Nested(DatabaseStatusOut, required=True)
    security = Nested(SecurityStatusOut, required=True)
    backups = Nested(BackupsStatusOut, required=True)
    workers = Nested(WorkersStatusOut)
    scheduler = Nested(SchedulerStatusOut)
    redis = Nested(RedisStatusOut)
    version = String()
    uptime_seconds = Float()
    host = String()
    errors = Dict(
        keys=String(),
        values=String(),
        metadata={"description": "Parts that could not be read, and why"},
    )
