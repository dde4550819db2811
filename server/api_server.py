"""`python server/api_server.py`: runs `server.web.api_server`; imported, this name is that module."""

import runpy
import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: the project root is importable, this folder is not (its
    # packages would hide modules of the same name).
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

if __name__ == "__main__":
    runpy.run_module("server.web.api_server", run_name="__main__", alter_sys=True)
else:
    from server.web import api_server

    sys.modules[__name__] = api_server
