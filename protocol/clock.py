"""The one place the wall clock is read. Pure code takes `now_ms`; adapters take a `Clock`."""

from __future__ import annotations

import time
from collections.abc import Callable

NS_PER_MS = 1_000_000

Clock = Callable[[], int]


def wall_clock_ms() -> int:
    """Unix time in milliseconds, as Epistula timestamps are."""
    return time.time_ns() // NS_PER_MS
