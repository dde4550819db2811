"""The job queue: PostgreSQL keeps each job's record, Redis dispatches it (Lua scripts), and
the registry of job types says how each may be submitted and which handler runs it."""
