"""The documented name of `server.workers.job_handlers`: imported, it is that module."""

import sys

from server.workers import job_handlers

sys.modules[__name__] = job_handlers
