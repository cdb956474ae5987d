"""A clock the test moves by hand, for code that takes one (never sleep to let time pass)."""

from __future__ import annotations


class ManualClock:
    """``clock()`` answers ``now``; the test sets or advances it."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
