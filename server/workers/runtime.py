"""Background services started by the entry points (never by `create_app`): the worker pool
and the scheduler candidate. They live with the pool (`server.workers.worker`), whose own entry point
starts them too; the web entry points import them from here."""

from server.workers.worker import start_background_services, stop_background_services

__all__ = ["start_background_services", "stop_background_services"]
