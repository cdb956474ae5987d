"""The console's dashboard, its home page (``/admin/``, ``routes.admin.auth.home``): charts of messages
per hour by channel, delivery latency (median and p95 per hour), the queues now, dead letters per day,
the open issues' SLA clocks and CSAT per day, each also as a table of its numbers.

The journal and ratings are counted by the database over the window (``store.dashboard``), the queues
read from Redis, and the SLA clocks are those the last scan of the ``sla`` automation rule published
(``jobs.automations.sla_gauges``, as ``/metrics`` shows them): the page never asks a tracker.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from flask import g, request
from flask.typing import ResponseReturnValue
from redis import Redis
from sqlalchemy.engine import Engine

from jobs.automations.sla_gauges import read_gauges
from jobs.clock import utcnow
from jobs.queues import queue_lengths
from routes.admin.charts import Chart, Series, bar_chart, rows
from routes.admin.console import page
from routes.admin.messages import CHANNELS
from routes.admin.texts import UI
from routes.state import hub
from store import dashboard

WINDOWS = {"24h": dt.timedelta(hours=24), "7d": dt.timedelta(days=7)}
DAYS = 14  # the per-day charts' span
# the SLA gauges' states (mappers.sla.SlaState) as the dashboard groups them for open issues
SLA_GROUPS = {  # group → (the states in it, its colour)
    "within": (("pending", "running", "paused", "met"), "#2a9d3a"),
    "at_risk": (("warning",), "#e07b00"),
    "breached": (("breached",), "#b00020"),
}


def dashboard_page() -> ResponseReturnValue:
    """The dashboard over the window asked for (``?window=24h`` or ``7d``)."""
    window = request.args.get("window", "24h")
    if window not in WINDOWS:
        window = "24h"
    state = hub()
    charts = overview(state.engine, state.redis, utcnow(), WINDOWS[window], UI[g.lang])
    return page(
        "dashboard.html",
        charts=[(chart, bar_chart(chart), rows(chart)) for chart in charts],
        window=window,
        windows=tuple(WINDOWS),
    )


def overview(
    engine: Engine, redis: Redis | None, now: dt.datetime, span: dt.timedelta, ui: Mapping[str, Any]
) -> list[Chart]:
    """The dashboard's charts as of ``now``: the hourly ones over ``span``, the daily ones over
    :data:`DAYS` days."""
    words = ui["dash"]
    end = now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    hours = hour_labels(end - span, end)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    days = day_labels(today - dt.timedelta(days=DAYS - 1), DAYS)
    day_start = today - dt.timedelta(days=DAYS - 1)
    day_end = today + dt.timedelta(days=1)
    return [
        traffic_chart(dashboard.messages_per_hour(engine, end - span, end), hours, words),
        latency_chart(dashboard.latency_per_hour(engine, end - span, end), hours, words),
        queue_chart(queue_lengths(redis), dashboard.dead_letters_now(engine), words),
        dead_letter_chart(dashboard.dead_letters_per_day(engine, day_start, day_end), days, words),
        sla_chart(_sla_clocks(redis), words),
        csat_chart(dashboard.csat_per_day(engine, day_start, day_end), days, words),
    ]


def hour_labels(since: dt.datetime, until: dt.datetime) -> list[str]:
    """The UTC hours from ``since`` up to ``until`` as the database writes them (``YYYY-MM-DD HH``)."""
    count = int((until - since).total_seconds() // 3600)
    return [f"{since + dt.timedelta(hours=n):%Y-%m-%d %H}" for n in range(count)]


def day_labels(first: dt.datetime, count: int) -> list[str]:
    return [f"{first + dt.timedelta(days=n):%Y-%m-%d}" for n in range(count)]


def traffic_chart(counts: Mapping[tuple[str, str], int], hours: list[str], words: Mapping[str, str]) -> Chart:
    """Messages per hour, a stack per hour, one colour per channel (customers' channels, then trackers')."""
    seen = {channel for _hour, channel in counts}
    channels = [c for c in CHANNELS if c in seen] + sorted(seen - set(CHANNELS))
    series = tuple(
        Series(channel, tuple(float(counts.get((hour, channel), 0)) for hour in hours))
        for channel in channels
    )
    return Chart(words["traffic"], tuple(_hour(h) for h in hours), series, stacked=True, empty=words["empty"])


def latency_chart(
    latencies: Mapping[str, dashboard.Latency], hours: list[str], words: Mapping[str, str]
) -> Chart:
    """Delivery latency per hour: the median and p95 side by side, in seconds; the count in the table."""
    found = [latencies.get(hour) for hour in hours]
    return Chart(
        words["latency"],
        tuple(_hour(h) for h in hours),
        (
            Series(words["median"], tuple(one.median if one else None for one in found)),
            Series("p95", tuple(one.p95 if one else None for one in found)),
        ),
        unit="s",
        empty=words["empty"],
        extra=(Series(words["delivered"], tuple(float(one.count) if one else 0.0 for one in found)),),
    )


def queue_chart(lengths: Mapping[str, int], dead_letters: int, words: Mapping[str, str]) -> Chart:
    """Jobs waiting in each RQ queue now, and the dead letters (-1: Redis did not answer)."""
    labels = (*lengths, words["dead_letters"])
    values = (*(float(n) if n >= 0 else None for n in lengths.values()), float(dead_letters))
    return Chart(words["queues"], labels, (Series(words["now"], values),), empty=words["all_clear"])


def dead_letter_chart(counts: Mapping[str, int], days: list[str], words: Mapping[str, str]) -> Chart:
    values = tuple(float(counts.get(day, 0)) for day in days)
    return Chart(
        words["dead_per_day"],
        tuple(days),
        (Series(words["dead_letters"], values),),
        empty=words["all_clear"],
    )


def sla_chart(clocks: Mapping[tuple[str, str], int], words: Mapping[str, str]) -> Chart:
    """Open issues' SLA clocks per metric: within the target, at risk, breached (the last scan's)."""
    metrics = sorted({metric for metric, _state in clocks})
    series = tuple(
        Series(
            words[group],
            tuple(float(sum(clocks.get((metric, s), 0) for s in states)) for metric in metrics),
            colour,
        )
        for group, (states, colour) in SLA_GROUPS.items()
    )
    return Chart(words["sla"], tuple(metrics), series, stacked=True, empty=words["no_sla"])


def csat_chart(per_day: Mapping[str, tuple[int, float]], days: list[str], words: Mapping[str, str]) -> Chart:
    """The average rating (1–5) per day; how many ratings in the table."""
    found = [per_day.get(day) for day in days]
    return Chart(
        words["csat"],
        tuple(days),
        (Series(words["average"], tuple(round(one[1], 2) if one else None for one in found)),),
        empty=words["no_ratings"],
        extra=(Series(words["ratings"], tuple(float(one[0]) if one else 0.0 for one in found)),),
    )


def _sla_clocks(redis: Redis | None) -> dict[tuple[str, str], int]:
    """The last SLA scan's clocks per (metric, state), summed over trackers and priorities."""
    if redis is None:
        return {}
    gauges, _scanned = read_gauges(redis)
    clocks: dict[tuple[str, str], int] = {}
    for gauge in gauges:
        clocks[(gauge.metric, gauge.state)] = clocks.get((gauge.metric, gauge.state), 0) + gauge.clocks
    return clocks


def _hour(label: str) -> str:
    """``YYYY-MM-DD HH`` as a chart writes it: ``MM-DD HH:00``."""
    return f"{label[5:10]} {label[11:13]}:00"
