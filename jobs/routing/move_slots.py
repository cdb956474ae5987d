"""At most a few Jira Cloud bulk moves at once per site. A bulk move is an asynchronous task the site
runs while our job polls it; a bounded number at once keeps a burst of routes from holding every worker
on one site's tasks (the budget, five, is ours, not a documented Atlassian limit)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from jobs.context import Context
from jobs.routing.errors import TrackerDown

MOVES_PER_SITE = 5  # Jira Cloud bulk move tasks at once per site
MOVE_SLOT_SECONDS = 120  # a move slot's hold, should its job die holding it


@contextmanager
def move_slot(
    ctx: Context, tracker: str, wait: float = 60.0, sleep: Callable[[float], None] = time.sleep
) -> Iterator[None]:
    """One of :data:`MOVES_PER_SITE` slots for a native move on ``tracker`` (a Redis sorted set of
    holders by expiry, so a dead holder's slot frees itself); ``TrackerDown`` when none frees in ``wait``."""
    key = f"hub:route-moves:{tracker}"
    token = secrets.token_hex(8)
    deadline = time.monotonic() + wait
    delay = 0.2
    while True:
        now = time.time()
        pipe = ctx.redis.pipeline()
        pipe.zremrangebyscore(key, 0, now)
        pipe.zadd(key, {token: now + MOVE_SLOT_SECONDS})
        pipe.zrank(key, token)
        _, _, rank = pipe.execute()
        if rank is not None and int(rank) < MOVES_PER_SITE:
            break
        ctx.redis.zrem(key, token)
        if time.monotonic() > deadline:
            raise TrackerDown(f"{MOVES_PER_SITE} moves are running on {tracker}; trying again later")
        sleep(delay)
        delay = min(delay * 2, 5.0)
    try:
        yield
    finally:
        ctx.redis.zrem(key, token)
