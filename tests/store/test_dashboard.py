"""The dashboard's aggregations, on SQLite and PostgreSQL: journal rows per hour and channel, delivery
latency per hour (median and p95 from the database's histogram), dead letters per day and CSAT per day;
each counted over its window only, and the journal's by an index on the arrival time."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store import dashboard, journal, ratings
from store.db import messages
from tests.store.test_ratings import survey

T0 = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
_ids = itertools.count(1)


def received(
    engine: Engine,
    channel: str,
    at: dt.datetime,
    *,
    status: str = journal.QUEUED,
    took: dt.timedelta | None = None,
) -> str:
    """A journal row of ``channel`` received at ``at`` (delivered ``took`` later when given)."""
    n = next(_ids)
    entry = journal.NewEntry(channel, f"ext-{n}", f"conv-{n}", "new", "{}", status=status)
    message_id, _ = journal.record(engine, entry)
    values = {"created_at": at, "updated_at": at + took if took else at}
    with engine.begin() as conn:
        conn.execute(messages.update().where(messages.c.id == message_id).values(**values))
    return message_id


def test_messages_are_counted_per_hour_and_channel_within_the_window(engine: Engine) -> None:
    for minute in (1, 20, 59):
        received(engine, "email", T0 + dt.timedelta(minutes=minute))
    for minute in (5, 30):
        received(engine, "telegram", T0 + dt.timedelta(minutes=minute))
    received(engine, "email", T0 + dt.timedelta(hours=1, minutes=2))
    received(engine, "email", T0 - dt.timedelta(minutes=1))  # before the window
    received(engine, "email", T0 + dt.timedelta(hours=2))  # at its end: not in it

    counts = dashboard.messages_per_hour(engine, T0, T0 + dt.timedelta(hours=2))

    assert counts == {
        ("2026-12-07 09", "email"): 3,
        ("2026-12-07 09", "telegram"): 2,
        ("2026-12-07 10", "email"): 1,
    }


def test_delivery_latency_per_hour_gives_the_median_and_p95_of_the_delivered_rows(engine: Engine) -> None:
    for seconds in (1, 2, 2, 5, 10, 10, 30, 60, 60, 300):
        received(engine, "email", T0, status=journal.DELIVERED, took=dt.timedelta(seconds=seconds))
    received(engine, "email", T0, status=journal.FAILED, took=dt.timedelta(hours=5))  # not delivered
    received(engine, "email", T0 + dt.timedelta(hours=1), status=journal.DELIVERED, took=dt.timedelta(days=3))

    latency = dashboard.latency_per_hour(engine, T0, T0 + dt.timedelta(hours=2))

    assert latency["2026-12-07 09"] == dashboard.Latency(count=10, median=10, p95=300)
    assert latency["2026-12-07 10"] == dashboard.Latency(count=1, median=None, p95=None)  # past a day


def test_the_median_and_p95_are_the_edges_of_the_buckets_holding_those_ranks() -> None:
    counts = [0] * (len(dashboard.LATENCY_EDGES) + 1)
    counts[0], counts[3] = 19, 1  # nineteen within 1 s, one within 5 s
    assert dashboard.latency_of(counts) == dashboard.Latency(20, 1, 1)
    counts[0] = 18  # now the 19th of 19 is the slow one: p95's rank
    assert dashboard.latency_of(counts) == dashboard.Latency(19, 1, 5)
    assert dashboard.latency_of([0] * len(counts)) == dashboard.Latency(0, None, None)


def test_dead_letters_are_counted_per_day_received(engine: Engine) -> None:
    received(engine, "email", T0, status=journal.FAILED)
    received(engine, "telegram", T0 + dt.timedelta(hours=3), status=journal.FAILED)
    received(engine, "email", T0 + dt.timedelta(days=1), status=journal.FAILED)
    received(engine, "email", T0 + dt.timedelta(days=1), status=journal.DELIVERED)
    received(engine, "email", T0 - dt.timedelta(days=30), status=journal.FAILED)  # before the window

    counts = dashboard.dead_letters_per_day(engine, T0 - dt.timedelta(days=1), T0 + dt.timedelta(days=2))

    assert counts == {"2026-12-07": 2, "2026-12-08": 1}
    assert dashboard.dead_letters_now(engine) == 4  # every one the journal holds, the old one too


def test_csat_gives_each_days_count_and_average(engine: Engine) -> None:
    for key, score, at in (("DEV-1", 5, T0), ("DEV-2", 2, T0), ("DEV-3", 4, T0 + dt.timedelta(days=1))):
        added, _ = ratings.add(engine, survey(key))
        ratings.rate(engine, added.id, score, at)
    ratings.add(engine, survey("DEV-4"))  # asked, not rated

    per_day = dashboard.csat_per_day(engine, T0 - dt.timedelta(days=1), T0 + dt.timedelta(days=2))

    assert per_day == {"2026-12-07": (2, 3.5), "2026-12-08": (1, 4.0)}


@pytest.mark.parametrize(
    "query", [dashboard.traffic_query, dashboard.latency_query, dashboard.dead_letters_query]
)
def test_the_journal_is_read_over_the_window_by_its_arrival_index(engine: Engine, query: Any) -> None:
    """The dashboard's journal queries do not scan the table: each plan reads ix_messages_created_at."""
    select = query(engine.dialect.name, T0, T0 + dt.timedelta(hours=1))
    with engine.connect() as conn:
        compiled = select.compile(conn, compile_kwargs={"literal_binds": True})
        if engine.dialect.name == "sqlite":
            plan = " ".join(str(row[-1]) for row in conn.execute(sa.text(f"EXPLAIN QUERY PLAN {compiled}")))
        else:
            conn.execute(sa.text("SET enable_seqscan = off"))  # an empty table would be scanned otherwise
            plan = " ".join(str(row[0]) for row in conn.execute(sa.text(f"EXPLAIN {compiled}")))
    assert "ix_messages_created_at" in plan, plan
