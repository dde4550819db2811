"""The evaluation's figures, printed at the end of the run (`make eval`, and the suite)."""

from __future__ import annotations

import pytest

_FIGURES: list[str] = []


@pytest.fixture(scope="session")
def figures() -> list[str]:
    """Lines to print under "evaluation" when the run ends (one figure per line)."""
    return _FIGURES


def pytest_terminal_summary(terminalreporter):
    if _FIGURES:
        terminalreporter.section("evaluation")
        for line in _FIGURES:
            terminalreporter.write_line(line)
