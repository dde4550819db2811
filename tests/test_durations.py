"""Durations in messages read as people say them, never shorter than the real wait."""

import pytest

from server.core.durations import duration_text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (0.2, "1 s"),
        (35.518788, "36 s"),
        (60, "1 min"),
        (65, "1 min 5 s"),
        (3599.5, "1 h"),
        (86181, "23 h 57 min"),
        (86400, "24 h"),
        (3 * 86400 + 4 * 3600 - 1, "3 d 4 h"),
    ],
)
def test_a_duration_is_said_in_its_two_largest_units_rounded_up(seconds, text):
    assert duration_text(seconds) == text
