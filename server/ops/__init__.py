"""Operations beside the request path: system status and alerts, the scheduled jobs, and the
database engine with its daily upkeep."""
