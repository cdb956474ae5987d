"""What the weekly report reads from the hub's own tables: which channel opened an issue (links), which
issues a route created (routing requests), which issues got their first reply in a period (the outbound
log), and how many customer messages each channel brought (the journal).

The per-issue reads take one page of issue keys (indexed by issue key). The two per-week reads filter on
``created_at``: the journal's is indexed (``ix_messages_created_at``, for the console's overview), the
outbound log's is not, so that read takes its table once, which the report does once a week (and
``trackerhub report weekly`` when asked), never per ``/metrics`` scrape.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store.automations import CUSTOMER_CHANNELS
from store.db import links, messages, outbound, route_requests

REPLY_KINDS = "reply:%"  # the outbound log's kind of an engineer's reply to the customer


def opening_channels(engine: Engine, tracker: str, issue_keys: Sequence[str]) -> dict[str, str]:
    """For each of these issues the hub opened, the channel of the message that opened it."""
    query = (
        sa.select(links.c.issue_key, links.c.channel)
        .where(links.c.tracker == tracker, links.c.issue_key.in_(list(issue_keys)))
        .order_by(links.c.id.desc())  # the first link of an issue wins below
    )
    with engine.connect() as conn:
        return {str(key): str(channel) for key, channel in conn.execute(query)}


def routed_targets(engine: Engine, tracker: str, issue_keys: Sequence[str]) -> set[str]:
    """Those of these issues that a route created (the target of a routing request)."""
    query = sa.select(route_requests.c.target_key).where(
        route_requests.c.target_tracker == tracker, route_requests.c.target_key.in_(list(issue_keys))
    )
    with engine.connect() as conn:
        return {str(key) for key in conn.execute(query).scalars()}


def replied_issues(engine: Engine, tracker: str, since: dt.datetime, until: dt.datetime) -> list[str]:
    """The issues of ``tracker`` whose customer got a reply from the team in ``[since, until)``."""
    query = (
        sa.select(messages.c.issue_key)
        .join(outbound, outbound.c.message_id == messages.c.id)
        .where(
            messages.c.tracker == tracker,
            messages.c.issue_key.is_not(None),
            outbound.c.kind.like(REPLY_KINDS),
            outbound.c.status == "sent",
            outbound.c.created_at >= since,
            outbound.c.created_at < until,
        )
        .distinct()
    )
    with engine.connect() as conn:
        return sorted(str(key) for key in conn.execute(query).scalars())


def customer_messages(engine: Engine, since: dt.datetime, until: dt.datetime) -> dict[str, int]:
    """Customer messages journaled in ``[since, until)`` per channel, leaving out the ignored ones
    (auto-replies, bounces, spam)."""
    query = (
        sa.select(messages.c.channel, sa.func.count())
        .where(
            messages.c.channel.in_(CUSTOMER_CHANNELS),
            messages.c.status != "ignored",
            messages.c.created_at >= since,
            messages.c.created_at < until,
        )
        .group_by(messages.c.channel)
    )
    with engine.connect() as conn:
        return {str(channel): int(count) for channel, count in conn.execute(query)}
