"""The routing side of the scheduler's sweep: a request whose lease ran out (queued past its retry
time, or running on a worker that died) gets a new job ``route-<id>``, as the message sweep does for
deliveries. The job's claim (``store.routing.claim``) lets one job at a time hold a request."""

from __future__ import annotations

import datetime as dt
import logging

from jobs.context import Context
from jobs.routing.queue import replace_lost_job
from store import routing as store

log = logging.getLogger(__name__)


def sweep_routes(ctx: Context, now: dt.datetime | None = None) -> int:
    """Re-enqueue every due request whose job is gone; how many were enqueued."""
    enqueued = [rid for rid in store.due_requests(ctx.engine, now) if replace_lost_job(ctx.redis, rid)]
    if enqueued:
        log.info("sweep.routes-enqueued count=%d", len(enqueued))
    return len(enqueued)
