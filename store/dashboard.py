"""What the console's dashboard counts, aggregated by the database over a time window: journal rows per
hour and channel, delivery latency per hour (as a histogram the page reads the median and p95 from),
dead letters per day, and CSAT per day.

Every query reads a range of an index on time (the journal's ``ix_messages_created_at``, the ratings'
``ix_ratings_rated_at``) and groups in SQL, so a page reads one row per bucket, never the journal's
rows. Buckets are UTC hours (``YYYY-MM-DD HH``) and days (``YYYY-MM-DD``), written by the database:
SQLite's ``strftime`` and PostgreSQL's ``to_char`` give the same text.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store.db import messages, ratings
from store.journal import DELIVERED, FAILED

HOUR, DAY = "hour", "day"
# the latency histogram's upper edges, seconds (the last bucket is everything slower)
LATENCY_EDGES: tuple[float, ...] = (
    1, 2, 3, 5, 7, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400,
)  # fmt: skip
SLACK = 0.001  # seconds: SQLite's julianday() difference of a 5 s wait can come out as 5.0000001


@dataclass(frozen=True)
class Latency:
    """Delivery latency of one hour's delivered messages: how many, and the median and p95 in seconds
    (each the upper edge of the histogram bucket it falls in; None past the last edge)."""

    count: int
    median: float | None
    p95: float | None


def bucket(column: Any, dialect: str, size: str) -> Any:
    """The UTC hour or day of a timestamp column as text (``YYYY-MM-DD HH`` or ``YYYY-MM-DD``)."""
    if dialect == "postgresql":
        pattern = "YYYY-MM-DD HH24" if size == HOUR else "YYYY-MM-DD"
        return sa.func.to_char(sa.func.timezone("UTC", column), pattern)
    return sa.func.strftime("%Y-%m-%d %H" if size == HOUR else "%Y-%m-%d", column)


def seconds_between(start: Any, end: Any, dialect: str) -> Any:
    """``end - start`` in seconds, as the database computes it."""
    if dialect == "postgresql":
        return sa.extract("epoch", end - start)
    return (sa.func.julianday(end) - sa.func.julianday(start)) * 86400.0


def messages_per_hour(engine: Engine, since: dt.datetime, until: dt.datetime) -> dict[tuple[str, str], int]:
    """Journal rows received in ``[since, until)``, per (UTC hour, channel)."""
    query = traffic_query(engine.dialect.name, since, until)
    with engine.connect() as conn:
        return {(str(h), str(channel)): int(count) for h, channel, count in conn.execute(query)}


def latency_per_hour(engine: Engine, since: dt.datetime, until: dt.datetime) -> dict[str, Latency]:
    """For each UTC hour of ``[since, until)``, how long its received messages took to be delivered (the
    row's last update, which delivering it is, minus its arrival). The database counts them into
    :data:`LATENCY_EDGES` buckets; the median and p95 are read from those counts."""
    query = latency_query(engine.dialect.name, since, until)
    histograms: dict[str, list[int]] = {}
    with engine.connect() as conn:
        for h, index, count in conn.execute(query):
            histograms.setdefault(str(h), [0] * (len(LATENCY_EDGES) + 1))[int(index)] += int(count)
    return {h: latency_of(counts) for h, counts in histograms.items()}


def latency_of(counts: Sequence[int]) -> Latency:
    """The count, median and p95 of a histogram over :data:`LATENCY_EDGES` (one count per bucket)."""
    total = sum(counts)
    return Latency(total, quantile(counts, total, 0.5), quantile(counts, total, 0.95))


def quantile(counts: Sequence[int], total: int, q: float) -> float | None:
    """The upper edge of the bucket holding the ``q`` quantile (nearest rank); None past the last edge."""
    if total == 0:
        return None
    rank = max(1, math.ceil(round(q * total, 6)))  # nearest rank: ceil(q * total)
    seen = 0
    for index, count in enumerate(counts):
        seen += count
        if seen >= rank:
            return LATENCY_EDGES[index] if index < len(LATENCY_EDGES) else None
    return None


def dead_letters_per_day(engine: Engine, since: dt.datetime, until: dt.datetime) -> dict[str, int]:
    """Dead letters (failed rows) per UTC day they were received, for rows received in ``[since, until)``."""
    query = dead_letters_query(engine.dialect.name, since, until)
    with engine.connect() as conn:
        return {str(d): int(count) for d, count in conn.execute(query)}


def traffic_query(dialect: str, since: dt.datetime, until: dt.datetime) -> sa.Select[Any]:
    hour = bucket(messages.c.created_at, dialect, HOUR)
    return (
        sa.select(hour, messages.c.channel, sa.func.count())
        .where(*_received(since, until))
        .group_by(hour, messages.c.channel)
    )


def latency_query(dialect: str, since: dt.datetime, until: dt.datetime) -> sa.Select[Any]:
    hour = bucket(messages.c.created_at, dialect, HOUR)
    took = seconds_between(messages.c.created_at, messages.c.updated_at, dialect)
    slot = sa.case(
        *((took <= edge + SLACK, index) for index, edge in enumerate(LATENCY_EDGES)), else_=len(LATENCY_EDGES)
    )
    return (
        sa.select(hour, slot, sa.func.count())
        .where(*_received(since, until), _status(DELIVERED))
        .group_by(hour, slot)
    )


def dead_letters_query(dialect: str, since: dt.datetime, until: dt.datetime) -> sa.Select[Any]:
    day = bucket(messages.c.created_at, dialect, DAY)
    failed = _status(FAILED)
    return sa.select(day, sa.func.count()).where(*_received(since, until), failed).group_by(day)


def _received(since: dt.datetime, until: dt.datetime) -> tuple[Any, ...]:
    """The journal rows received in ``[since, until)``: a range of ``ix_messages_created_at``."""
    return (messages.c.created_at >= since, messages.c.created_at < until)


def _status(status: str) -> Any:
    """The journal rows in ``status``, as a condition no index serves (``status || ''``): SQLite, which
    keeps no statistics here, would otherwise read it by ix_messages_status_next, every row of that
    status the journal holds, instead of the window's range of ix_messages_created_at."""
    return messages.c.status.concat("") == status


def dead_letters_now(engine: Engine) -> int:
    """How many dead letters the journal holds (a range of ix_messages_status_next, not a table scan)."""
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).where(messages.c.status == FAILED)).scalar() or 0)


def csat_per_day(engine: Engine, since: dt.datetime, until: dt.datetime) -> dict[str, tuple[int, float]]:
    """Ratings given in ``[since, until)`` per UTC day: how many, and their average score (1–5)."""
    day = bucket(ratings.c.rated_at, engine.dialect.name, DAY)
    query = (
        sa.select(day, sa.func.count(), sa.func.avg(ratings.c.score))
        .where(ratings.c.score.is_not(None), ratings.c.rated_at >= since, ratings.c.rated_at < until)
        .group_by(day)
    )
    with engine.connect() as conn:
        return {str(d): (int(count), float(average)) for d, count, average in conn.execute(query)}
