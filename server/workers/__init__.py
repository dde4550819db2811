"""The worker pool and the handlers it runs, one per job type; `runtime` starts the pool and
the scheduler beside a web process."""
