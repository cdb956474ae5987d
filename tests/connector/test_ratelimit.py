"""The Redis limiter shared by all workers: real Redis, counts of grants per window from grant times."""

from __future__ import annotations

import threading

import pytest
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from connector.errors import TrackerUnavailable
from connector.ratelimit import LocalRateLimiter, RedisRateLimiter, limiter_key
from tests.connector.fakes import FakeClock


def _max_in_window(stamps: list[float], width: float) -> int:
    """The most grants in any half-open window ``[t, t + width)`` (windows starting at a grant suffice)."""
    ordered = sorted(stamps)
    return max(sum(1 for s in ordered if t <= s < t + width - 1e-9) for t in ordered)


def _hammer(limiter: RedisRateLimiter, until: float, clock: Redis, out: list[float]) -> None:
    while True:
        granted, wait, now = limiter.try_acquire()
        if now >= until:
            return
        if granted:
            out.append(now)
        else:
            threading.Event().wait(min(wait, 0.05))


def test_two_limiters_on_one_key_stay_under_the_rate(redis_url: str) -> None:
    key = limiter_key("kaiten", "some-token")
    first = RedisRateLimiter(Redis.from_url(redis_url), key, rate=5, burst=5)
    second = RedisRateLimiter(Redis.from_url(redis_url), key, rate=5, burst=5)
    clock = Redis.from_url(redis_url)
    seconds, micros = clock.time()
    until = seconds + micros / 1e6 + 2.05
    grants: list[list[float]] = [[], [], [], []]
    threads = [
        threading.Thread(target=_hammer, args=(limiter, until, clock, grants[i]))
        for i, limiter in enumerate((first, second, first, second))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    stamps = [s for part in grants for s in part]
    assert _max_in_window(stamps, 1.0) <= 5
    assert _max_in_window(stamps, 2.0) <= 10
    assert len(stamps) >= 9  # the budget is used, not just withheld
    assert grants[0] + grants[2] and grants[1] + grants[3]  # both instances got some


def test_burst_below_rate_spaces_requests(redis_url: str) -> None:
    limiter = RedisRateLimiter(Redis.from_url(redis_url), "t:spacing", rate=5, burst=1)
    stamps = [limiter.acquire(timeout=2) for _ in range(4)]
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert all(gap >= 0.19 for gap in gaps)  # 1/rate apart, measured on Redis's clock


def test_acquire_gives_up_with_retry_after(redis_url: str) -> None:
    limiter = RedisRateLimiter(Redis.from_url(redis_url), "t:exhausted", rate=2, burst=2)
    limiter.acquire()
    limiter.acquire()
    with pytest.raises(TrackerUnavailable) as caught:
        limiter.acquire(timeout=0.01)
    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 1.01


def test_key_hides_the_token(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    key = limiter_key("kaiten", "secret-token-value")
    assert "secret-token-value" not in key
    RedisRateLimiter(client, key).acquire()
    assert all(b"secret-token-value" not in k for k in client.keys("*"))
    assert limiter_key("kaiten", "a") != limiter_key("kaiten", "b")


def test_redis_down_is_unavailable() -> None:
    client = Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    limiter = RedisRateLimiter(client, "t:down")
    with pytest.raises(TrackerUnavailable):
        limiter.acquire(timeout=0.1)


def test_local_limiter_keeps_every_window_under_the_rate() -> None:
    clock = FakeClock()
    limiter = LocalRateLimiter(rate=5, period=1.2, clock=clock, sleep=clock.sleep)
    grants = [limiter.acquire() for _ in range(17)]
    assert grants[:5] == [1000.0] * 5  # the first five at once, as Kaiten allows
    assert _max_in_window(grants, 1.2) == 5
    assert grants[-1] - grants[0] >= 3 * 1.2  # 17 grants need four windows


def test_local_limiter_gives_up_past_its_timeout_with_retry_after() -> None:
    clock = FakeClock()
    limiter = LocalRateLimiter(rate=2, period=10.0, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.acquire()
    with pytest.raises(TrackerUnavailable) as caught:
        limiter.acquire(timeout=1.0)
    assert caught.value.retry_after == pytest.approx(10.0)
    assert clock.slept == []  # it did not wait for a turn it could not get in time


def test_local_limiter_started_full_waits_one_period_first() -> None:
    """A command run right after another one cannot see that one's requests: it waits a window first."""
    clock = FakeClock()
    limiter = LocalRateLimiter(rate=5, period=1.2, start_full=True, clock=clock, sleep=clock.sleep)
    assert limiter.acquire() == pytest.approx(1001.2)
    assert [limiter.acquire() for _ in range(4)] == [pytest.approx(1001.2)] * 4
