"""The weekly report's figures as ``/metrics`` gauges: kept in Redis by the report job when it runs (every
Monday), read by the web process per scrape without a tracker search or a journal scan.

The report's figures are a week's: counting them per scrape would search the trackers and read the
journal and the outbound log over a week each time, so ``/metrics`` shows the last report's, with the
week's start (``trackerhub_report_week_start_timestamp_seconds``) to tell which week they are. Labels
are bounded: channels, teams, the two SLA metrics, and the team's assignees.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

from redis import Redis
from redis.exceptions import RedisError

if TYPE_CHECKING:
    from mappers.weekly_report import Durations, WeekFigures

REPORT_KEY = "hub:report:weekly"
REPORT_TTL = 15 * 86_400  # seconds: a report job that stopped running drops its gauges after two weeks

Series = tuple[str, str, list[tuple[dict[str, str], float]]]  # name, help, (labels, value) samples


def report_series(figures: WeekFigures, reported_at: dt.datetime) -> list[Series]:
    """The gauges of one week's figures."""

    def by(label: str, counts: dict[str, int]) -> list[tuple[dict[str, str], float]]:
        return [({label: name}, float(count)) for name, count in counts.items()]

    def quantiles(durations: Durations) -> list[tuple[dict[str, str], float]]:
        pairs = (("0.5", durations.median), ("0.9", durations.p90))
        return [({"quantile": q}, value.total_seconds()) for q, value in pairs if value is not None]

    people = sorted({*figures.assigned, *figures.resolved_by})
    per_person = [({"assignee": p, "kind": "created"}, float(figures.assigned.get(p, 0))) for p in people]
    per_person += [
        ({"assignee": p, "kind": "resolved"}, float(figures.resolved_by.get(p, 0))) for p in people
    ]
    met = [({"metric": m}, s.share) for m, s in figures.sla.items() if s.share is not None]
    csat: list[tuple[dict[str, str], float]] = (
        [({}, figures.csat.average)] if figures.csat.average is not None else []
    )
    week = "of the last weekly report's week"
    return [
        (
            "week_start_timestamp_seconds",
            "Start of the week the report covers.",
            [({}, figures.since.timestamp())],
        ),
        (
            "reported_timestamp_seconds",
            "When the weekly report was computed.",
            [({}, reported_at.timestamp())],
        ),
        ("new_issues", f"Issues created by channel, {week}.", by("channel", figures.new_by_channel)),
        ("new_issues_by_team", f"Issues created by team, {week}.", by("team", figures.new_by_team)),
        (
            "customer_messages",
            f"Customer messages by channel, {week}.",
            by("channel", figures.messages_by_channel),
        ),
        (
            "first_response_seconds",
            f"First response time quantiles, {week}.",
            quantiles(figures.first_response),
        ),
        ("resolution_seconds", f"Resolution time quantiles, {week}.", quantiles(figures.resolution)),
        ("sla_met_ratio", f"Share of stopped SLA clocks met, {week}.", met),
        ("csat_average", f"Average CSAT rating, {week}.", csat),
        ("csat_ratings", f"CSAT ratings given, {week}.", [({}, float(figures.csat.count))]),
        ("assignee_issues", f"Issues per assignee created or resolved, {week}.", per_person),
    ]


def publish_report(redis: Redis | None, figures: WeekFigures, reported_at: dt.datetime) -> None:
    """Keep the week's gauges for ``/metrics`` (best effort: the report is posted regardless)."""
    if redis is None:
        return
    try:
        redis.set(REPORT_KEY, json.dumps(report_series(figures, reported_at)), ex=REPORT_TTL)
    except RedisError:
        return


def read_report(redis: Redis) -> list[Series]:
    """The last report's gauges; none before the first report."""
    raw = redis.get(REPORT_KEY)
    if raw is None:
        return []
    return [
        (name, text, [(dict(labels), float(value)) for labels, value in samples])
        for name, text, samples in json.loads(raw)
    ]
