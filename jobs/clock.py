"""The automations' clock: now, in UTC, plus the fault suite's offset (``HUB_TEST_CLOCK_OFFSET``).

In-process tests pass their own ``now``; the fault suite's processes read the offset from their
environment, so "three hours later" is a restart with the offset moved, never a sleep.
"""

from __future__ import annotations

import datetime as dt
import functools
import time

from config.settings import get_settings


@functools.cache
def clock_offset() -> float:
    """The offset this process runs with (0 outside the fault suite)."""
    return get_settings().HUB_TEST_CLOCK_OFFSET


def utcnow() -> dt.datetime:
    """Timezone-aware now, as the automations see it."""
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=clock_offset())


def epoch() -> float:
    """Epoch seconds, as the automations see them (the periodic jobs' clock)."""
    return time.time() + clock_offset()
