"""Fakes for connector tests: time that passes only when the code under test sleeps."""

from __future__ import annotations


class FakeClock:
    """A clock (call it) that moves only when ``sleep`` is called; ``slept`` records each sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
