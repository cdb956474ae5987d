"""At most five native moves at once per tracker instance (Jira Cloud queues bulk tasks per site): a
sixth waits for a slot, and gives up as "tracker down" (the request retries later) when none frees."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from jobs.context import Context
from jobs.routing.errors import TrackerDown
from jobs.routing.move_slots import MOVES_PER_SITE, move_slot


def test_a_sixth_move_waits_and_gets_a_slot_once_one_frees(ctx: Context) -> None:
    movers = [ExitStack() for _ in range(MOVES_PER_SITE)]
    for mover in movers:
        mover.enter_context(move_slot(ctx, "jira"))
    waited: list[float] = []
    with pytest.raises(TrackerDown), move_slot(ctx, "jira", wait=0.0, sleep=waited.append):
        pass
    with move_slot(ctx, "other-site", wait=0.0):
        pass  # another site has its own slots

    movers[0].close()  # one move finishes
    slept: list[float] = []
    with move_slot(ctx, "jira", wait=0.0, sleep=slept.append):
        assert slept == []  # its slot was free at once
    for mover in movers[1:]:
        mover.close()


def test_a_slot_frees_itself_when_its_holder_died(ctx: Context) -> None:
    for n in range(MOVES_PER_SITE):  # holders whose hold ran out (their jobs were killed)
        ctx.redis.zadd("hub:route-moves:jira", {f"dead-{n}": 1.0})
    with move_slot(ctx, "jira", wait=0.0):
        pass
