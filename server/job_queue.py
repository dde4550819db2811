"""The documented name of `server.jobs.job_queue`: imported, it is that module."""

import sys

from server.jobs import job_queue

sys.modules[__name__] = job_queue
