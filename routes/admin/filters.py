"""The console's filter forms, read from a request's arguments into the stores' queries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from store.audit import AuditQuery
from store.automations import FiringQuery
from store.message_search import MessageQuery
from store.route_audit import RouteLogQuery

PAGE_SIZE = 100


class BadFilter(ValueError):
    """A filter value the page cannot use (a date not written YYYY-MM-DD)."""


def day(value: str | None) -> dt.datetime | None:
    """The start (UTC) of a day written YYYY-MM-DD; None when empty; :class:`BadFilter` otherwise."""
    if not value or not value.strip():
        return None
    try:
        return dt.datetime.combine(dt.date.fromisoformat(value.strip()), dt.time(), tzinfo=dt.UTC)
    except ValueError:
        raise BadFilter(value) from None


def day_after(value: str | None) -> dt.datetime | None:
    """The end of the day written YYYY-MM-DD ("to" includes that day)."""
    start = day(value)
    return start + dt.timedelta(days=1) if start else None


def message_query(args: Mapping[str, str], *, status: str | None = None) -> MessageQuery:
    """The journal search the Messages or Dead letters form asks for (``status`` fixed by the page)."""
    return MessageQuery(
        channel=args.get("channel", "").strip(),
        status=status if status is not None else args.get("status", "").strip(),
        sender=args.get("sender", "").strip(),
        issue_key=args.get("issue", "").strip(),
        reason=args.get("reason", "").strip(),
        since=day(args.get("since")),
        until=day_after(args.get("until")),
    )


def audit_query(args: Mapping[str, str]) -> AuditQuery:
    """The audit search the Audit form asks for."""
    return AuditQuery(
        text=args.get("q", "").strip(),
        action=args.get("action", "").strip(),
        since=day(args.get("since")),
        until=day_after(args.get("until")),
    )


def route_log_query(args: Mapping[str, str]) -> RouteLogQuery:
    """The routing-audit search the Routing log form asks for."""
    return RouteLogQuery(
        actor=args.get("actor", "").strip(),
        issue=args.get("issue", "").strip(),
        result=args.get("outcome", "").strip(),
        since=day(args.get("since")),
        until=day_after(args.get("until")),
    )


def firing_query(args: Mapping[str, str]) -> FiringQuery:
    """The firings search the Automations form asks for."""
    return FiringQuery(
        rule=args.get("rule", "").strip(),
        issue=args.get("issue", "").strip(),
        outcome=args.get("outcome", "").strip(),
        since=day(args.get("since")),
        until=day_after(args.get("until")),
    )


def page_number(args: Mapping[str, str]) -> int:
    """The page asked for (0 is the newest), a bad value read as 0."""
    value = args.get("page", "0")
    return int(value) if value.isdigit() and int(value) < 10_000 else 0
