"""The evaluation's figures, printed at the end of the run (`make eval`, and the suite).

The lines are kept, and printed, by tests/conftest.py: under pytest-xdist each worker sends its
lines to the process that prints the summary.
"""

from __future__ import annotations

import pytest

from tests.conftest import EVALUATION_FIGURES


@pytest.fixture(scope="session")
def figures() -> list[str]:
    """Lines to print under "evaluation" when the run ends (one figure per line)."""
    return EVALUATION_FIGURES
