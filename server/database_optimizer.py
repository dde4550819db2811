"""The documented name of `server.ops.database_optimizer`: imported, it is that module."""

import sys

from server.ops import database_optimizer

sys.modules[__name__] = database_optimizer
