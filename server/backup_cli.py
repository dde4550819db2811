"""The documented name of `server.cli.backup_cli`: imported, it is that module."""

import sys

from server.cli import backup_cli

sys.modules[__name__] = backup_cli
