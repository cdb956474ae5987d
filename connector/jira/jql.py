"""A tracker-neutral ``SearchQuery`` as JQL: every value a quoted, escaped string, so no value a rule or
a customer chose can change the query's meaning.

JQL string literals (Atlassian, "Advanced searching": reserved characters and words must be quoted;
inside a quoted string ``\\"`` and ``\\\\`` escape a quote and a backslash, and ``\\n``, ``\\r``,
``\\t`` and ``\\uXXXX`` are the other escapes Jira's lexer knows) are written by :func:`quote`.

Dates: JQL reads absolute dates in the searching user's time zone with minute precision
(``"yyyy-MM-dd HH:mm"``), so a datetime is converted to ``tz`` (the zone of the hub's Jira user, UTC
unless configured) and cut to the minute; bounds are inclusive. Status categories are searched by their
names ("To Do", "In Progress", "Done"), which Jira does not let anyone rename.

"In its status since X or earlier" (``status_since_before``) is ``created <= X AND NOT status CHANGED
AFTER X``: the CHANGED operator with its AFTER predicate (Atlassian, "JQL operators": CHANGED takes
AFTER, BEFORE, BY, DURING, ON, FROM, TO; the Cloud OpenAPI spec's ``FieldChangedClause`` gives
``status CHANGED AFTER startOfMonth(-1M)``), NOT applying to any clause. A date field is searched by
``cf[N]`` or its quoted name, by calendar day.

Jira Cloud's ``/search/jql`` "requires a bounded query", one with a search restriction (Cloud OpenAPI
spec, ``SearchAndReconcileRequestBean.jql``: ``order by key desc`` is unbounded), and answers 400
"Unbounded JQL queries are not allowed here" otherwise (raycast/extensions#21425): a query with no
condition gets ``created <= now()`` there, the bound others use for "everything" (n0v1c3/vira#88).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, tzinfo

from connector.types import DONE, IN_PROGRESS, NEW, DateRange, SearchQuery

CATEGORY_NAMES = {NEW: "To Do", IN_PROGRESS: "In Progress", DONE: "Done"}
DEFAULT_ORDER = "created ASC, key ASC"  # stable paging: oldest first, ties by key
UNBOUNDED_GUARD = "created <= now()"
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ORDER_BY = re.compile(r"order\s+by\b", re.IGNORECASE)
_CUSTOM_ID = re.compile(r"customfield_(\d+)")


def quote(value: str) -> str:
    """``value`` as a JQL string literal: double-quoted, quotes, backslashes and control characters
    escaped."""
    out = []
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def to_jql(query: SearchQuery, *, tz: tzinfo = UTC, bounded: bool = False) -> str:
    """The JQL for ``query``: its parts ANDed, a raw JQL part in parentheses, then ``ORDER BY`` (the raw
    part's own, else oldest first). ``bounded`` adds a condition when there is none (Jira Cloud).

    ``raw`` must be JQL text here; a dict (a Kaiten filter) raises ``ValueError``.
    """
    clauses = list(_clauses(query, tz))
    order = DEFAULT_ORDER
    if query.raw is not None:
        if not isinstance(query.raw, str):
            raise ValueError("a Jira search takes raw JQL text, not a filter mapping")
        raw_where, raw_order = split_order_by(query.raw)
        if raw_where.strip():
            clauses.append(f"({raw_where.strip()})")
        order = raw_order or order
    if not clauses and bounded:
        clauses.append(UNBOUNDED_GUARD)
    return " AND ".join(clauses) + f" ORDER BY {order}" if clauses else f"ORDER BY {order}"


def _clauses(query: SearchQuery, tz: tzinfo) -> Iterable[str]:
    yield from _membership("project", query.containers)
    yield from _membership("status", query.statuses)
    categories = [CATEGORY_NAMES.get(c, c) for c in query.status_category]
    yield from _membership("statusCategory", categories)
    if query.not_done:
        yield f"statusCategory != {quote(CATEGORY_NAMES[DONE])}"
    if query.assignee_empty is not None:
        yield "assignee is EMPTY" if query.assignee_empty else "assignee is not EMPTY"
    yield from _membership("assignee", query.assignees)
    yield from _membership("labels", query.labels)
    yield from _membership("issuetype", query.issue_types)
    yield from _membership("key", query.keys)
    bounds = (
        ("created", ">=", query.created_after),
        ("created", "<=", query.created_before),
        ("updated", ">=", query.updated_after),
        ("updated", "<=", query.updated_before),
    )
    for field, op, moment in bounds:
        if moment is not None:
            yield f"{field} {op} {quote(_minute(moment, tz))}"
    for op, day in ((">=", query.due_after), ("<=", query.due_before)):
        if day is not None:
            yield f"duedate {op} {quote(_day(day))}"
    if query.status_since_before is not None:
        bound = quote(_minute(query.status_since_before, tz))
        yield f"created <= {bound}"
        yield f"NOT status CHANGED AFTER {bound}"
    for window in query.field_dates:
        yield from _date_range(window)


def _date_range(window: DateRange) -> Iterable[str]:
    """A date field between two days: ``cf[10030] >= "2027-01-01" AND cf[10030] <= "2027-01-31"``."""
    name = field_reference(window.field)
    bounds = ((">=", window.on_or_after), ("<=", window.on_or_before))
    given = [f"{name} {op} {quote(_day(day))}" for op, day in bounds if day is not None]
    yield from given or [f"{name} is not EMPTY"]


def field_reference(field: str) -> str:
    """A field as JQL names it: ``cf[10030]`` for ``customfield_10030``, a system id as it is, a name
    quoted (``"Contract end"``)."""
    custom = _CUSTOM_ID.fullmatch(field)
    if custom:
        return f"cf[{custom.group(1)}]"
    return field if re.fullmatch(r"[A-Za-z]+", field) else quote(field)


def _membership(field: str, values: Iterable[str]) -> Iterable[str]:
    """``field in ("a", "b")``: any of the values (nothing when there are none)."""
    items = list(dict.fromkeys(values))
    if items:
        yield f"{field} in ({', '.join(quote(v) for v in items)})"


def _minute(moment: datetime, tz: tzinfo) -> str:
    local = moment.astimezone(tz) if moment.tzinfo is not None else moment
    return local.strftime("%Y-%m-%d %H:%M")


def _day(day: date) -> str:
    return (day.date() if isinstance(day, datetime) else day).isoformat()


def split_order_by(jql: str) -> tuple[str, str]:
    """``jql`` cut at its top-level ``ORDER BY``: (the condition, the order list, "" if none). A quoted
    "order by" is text, not the clause."""
    depth, i = 0, 0
    while i < len(jql):
        ch = jql[i]
        if ch in "\"'":
            i = _string_end(jql, i)
            continue
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0 and _ORDER_BY.match(jql, i) and (i == 0 or not _word_char(jql[i - 1])):
            match = _ORDER_BY.match(jql, i)
            assert match is not None
            return jql[:i], jql[match.end() :].strip()
        i += 1
    return jql, ""


def _string_end(jql: str, start: int) -> int:
    """The index just past the quoted string starting at ``start`` (the end of the text if unclosed)."""
    i = start + 1
    while i < len(jql):
        if jql[i] == "\\":
            i += 2
            continue
        if jql[i] == jql[start]:
            return i + 1
        i += 1
    return len(jql)


def _word_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_."
