"""Durations as the config writes them: 30s, 5m, 4h, 1d."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(value: object) -> int:
    """'90s', '5m', '2h', '1d' (or a whole number of seconds) to seconds; at least 1."""
    expected = f"expected a duration like 30s, 5m, 2h or 1d, got {value!r}"
    if isinstance(value, bool):
        raise ValueError(expected)
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and (match := _DURATION.match(value.strip())):
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ValueError(expected)
    if seconds < 1:
        raise ValueError(f"a duration must be at least 1s, got {value!r}")
    return seconds
