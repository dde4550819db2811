"""`python -m server.worker`: runs `server.workers.worker`; imported, this name is that module."""

import runpy
import sys

if __name__ == "__main__":
    runpy.run_module("server.workers.worker", run_name="__main__", alter_sys=True)
else:
    from server.workers import worker

    sys.modules[__name__] = worker
