"""The SLA gauges of ``/metrics``: the open issues' clocks per tracker, metric, priority and state, as the
last scan of the ``sla`` rule counted them (``jobs.automations.sla``), kept in Redis for the web process
to read without asking a tracker. Bounded: a tracker's priorities times two metrics times six states.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError

STATES = ("pending", "running", "warning", "paused", "breached", "met")  # mappers.sla.SlaState
GAUGES_KEY = "hub:sla:gauges:"  # + tracker: a hash "metric\x1fpriority\x1fstate" → clocks, "at" → scan time
GAUGES_TRACKERS = "hub:sla:gauges"  # the trackers that have gauges
GAUGES_TTL = 86_400  # seconds: gauges of a tracker no scan looked at for a day are dropped


@dataclass(frozen=True)
class SlaGauge:
    """Open issues' clocks of one tracker, metric, priority and state, as the last scan counted them."""

    tracker: str
    metric: str
    priority: str
    state: str
    clocks: int


def publish_gauges(
    redis: Redis | None, tracker: str, counts: Mapping[tuple[str, ...], int], now: dt.datetime
) -> None:
    """The clocks a scan of ``tracker`` counted, replacing the previous scan's (every state of a metric
    and priority seen, zeros included, so a series drops to 0 instead of vanishing)."""
    if redis is None:
        return
    seen = {(metric, priority) for _tracker, metric, priority, _state in counts}
    mapping: dict[str, float] = {
        "\x1f".join((metric, priority, state)): counts.get((tracker, metric, priority, state), 0)
        for metric, priority in seen
        for state in STATES
    }
    mapping["at"] = now.timestamp()
    key = GAUGES_KEY + tracker
    try:
        with redis.pipeline() as pipe:
            pipe.delete(key)
            for name, value in mapping.items():
                pipe.hset(key, name, value)
            pipe.expire(key, GAUGES_TTL)
            pipe.sadd(GAUGES_TRACKERS, tracker)
            pipe.execute()
    except RedisError:
        return  # gauges are best effort; the firings are stored already


def read_gauges(redis: Redis) -> tuple[list[SlaGauge], dict[str, float]]:
    """The gauges of every tracker's last scan, and when each scan ran (epoch seconds)."""
    gauges: list[SlaGauge] = []
    scanned: dict[str, float] = {}
    for raw in sorted(redis.smembers(GAUGES_TRACKERS)):
        tracker = raw.decode() if isinstance(raw, bytes) else str(raw)
        values = redis.hgetall(GAUGES_KEY + tracker)
        for field, value in sorted(values.items()):
            name = field.decode() if isinstance(field, bytes) else str(field)
            if name == "at":
                scanned[tracker] = float(value)
                continue
            metric, priority, state = name.split("\x1f")
            gauges.append(SlaGauge(tracker, metric, priority, state, int(float(value))))
    return gauges, scanned
