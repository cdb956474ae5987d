"""A SearchQuery as JQL: every value quoted so nothing a rule or a customer wrote can change the query.

The JQL is read back with the Jira look-alike's lexer and parser (``sandbox.jira.jql``, written to
Jira's grammar: its escapes and reserved characters), so "the same value comes back" is checked
against a reader, not against the writer's own idea of quoting.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.jira.jql import quote, split_order_by, to_jql
from connector.types import DateRange, SearchQuery
from sandbox.jira.jql import BoolNode, Clause, parse_jql, tokenize

# Any text, including quotes, backslashes, control characters, JQL keywords and reserved characters.
text = st.text(min_size=1, max_size=40)
MSK = timezone(timedelta(hours=3))


@given(text)
def test_a_quoted_value_reads_back_as_the_same_string(value: str) -> None:
    tokens = tokenize(quote(value))
    assert [(t.kind, t.text) for t in tokens[:-1]] == [("string", value)]


def clauses(jql: str) -> list[Clause]:
    where = parse_jql(jql).where
    assert where is not None
    if isinstance(where, Clause):
        return [where]
    assert isinstance(where, BoolNode) and where.op == "and"
    return [c for c in where.children if isinstance(c, Clause)]


@given(
    containers=st.lists(text, max_size=3),
    labels=st.lists(text, max_size=3),
    statuses=st.lists(text, max_size=3),
    keys=st.lists(text, max_size=2),
)
def test_no_value_can_add_a_condition(
    containers: list[str], labels: list[str], statuses: list[str], keys: list[str]
) -> None:
    query = SearchQuery(
        containers=tuple(containers), labels=tuple(labels), statuses=tuple(statuses), keys=tuple(keys)
    )
    parsed = parse_jql(to_jql(query, bounded=True))
    found = {c.field: [v.text for v in c.values] for c in clauses(to_jql(query, bounded=True))}
    expected = {
        name: list(dict.fromkeys(values))
        for name, values in (("project", containers), ("labels", labels), ("status", statuses), ("key", keys))
        if values
    }
    assert found == (expected or {"created": ["now"]})
    assert parsed.order == (("created", False), ("key", False))


def test_every_part_of_a_query_becomes_its_clause() -> None:
    query = SearchQuery(
        containers=("SUP", "HW"),
        statuses=("Waiting for customer",),
        status_category=("new", "indeterminate"),
        not_done=True,
        assignee_empty=True,
        labels=("vip",),
        issue_types=("Task",),
        created_after=datetime(2026, 1, 1, 9, 30, 59, tzinfo=UTC),
        created_before=datetime(2026, 2, 1, tzinfo=UTC),
        updated_after=datetime(2026, 1, 5, tzinfo=UTC),
        updated_before=datetime(2026, 1, 6, tzinfo=UTC),
        due_after=date(2026, 3, 1),
        due_before=date(2026, 3, 31),
        keys=("SUP-1",),
        raw="priority = High",
    )
    assert to_jql(query) == (
        'project in ("SUP", "HW") AND status in ("Waiting for customer")'
        ' AND statusCategory in ("To Do", "In Progress") AND statusCategory != "Done"'
        ' AND assignee is EMPTY AND labels in ("vip") AND issuetype in ("Task") AND key in ("SUP-1")'
        ' AND created >= "2026-01-01 09:30" AND created <= "2026-02-01 00:00"'
        ' AND updated >= "2026-01-05 00:00" AND updated <= "2026-01-06 00:00"'
        ' AND duedate >= "2026-03-01" AND duedate <= "2026-03-31"'
        " AND (priority = High) ORDER BY created ASC, key ASC"
    )
    parse_jql(to_jql(query))  # and Jira's grammar reads it


def test_dates_are_written_in_the_jira_user_s_time_zone() -> None:
    query = SearchQuery(created_after=datetime(2026, 1, 1, 21, 0, tzinfo=UTC), assignee_empty=False)
    assert to_jql(query, tz=MSK) == (
        'assignee is not EMPTY AND created >= "2026-01-02 00:00" ORDER BY created ASC, key ASC'
    )


def test_raw_jql_is_anded_in_parentheses_and_keeps_its_order() -> None:
    query = SearchQuery(
        containers=("SUP",), raw='labels = a OR summary ~ "order by x" order  by priority DESC'
    )
    assert to_jql(query) == (
        'project in ("SUP") AND (labels = a OR summary ~ "order by x") ORDER BY priority DESC'
    )
    assert to_jql(SearchQuery(raw="ORDER BY updated DESC")) == "ORDER BY updated DESC"


@pytest.mark.parametrize(
    ("jql", "where", "order"),
    [
        ("a = 1 ORDER BY b", "a = 1 ", "b"),
        ('a = "x ORDER BY y"', 'a = "x ORDER BY y"', ""),
        ("(a = 1 OR b = 2) order by c DESC, d", "(a = 1 OR b = 2) ", "c DESC, d"),
        ("summary ~ 'it\\'s order by' AND x = 1", "summary ~ 'it\\'s order by' AND x = 1", ""),
        ("reorder by = 1", "reorder by = 1", ""),
    ],
)
def test_order_by_is_found_only_at_the_top_level(jql: str, where: str, order: str) -> None:
    assert split_order_by(jql) == (where, order)


def test_cloud_gets_a_bound_only_when_there_is_no_condition() -> None:
    assert to_jql(SearchQuery(), bounded=True) == "created <= now() ORDER BY created ASC, key ASC"
    assert to_jql(SearchQuery()) == "ORDER BY created ASC, key ASC"
    assert to_jql(SearchQuery(labels=("x",)), bounded=True).startswith('labels in ("x") ORDER BY')


def test_a_kaiten_filter_is_not_jql() -> None:
    with pytest.raises(ValueError, match="raw JQL"):
        to_jql(SearchQuery(raw={"board_id": 1}))


def test_a_status_since_bound_and_date_ranges_read_back_as_jira_writes_them() -> None:
    query = SearchQuery(
        status_since_before=datetime(2027, 4, 12, 7, 0, 30, tzinfo=UTC),
        field_dates=(
            DateRange("customfield_10030", date(2027, 1, 1), date(2027, 1, 31)),
            DateRange("Contract end", on_or_before=date(2027, 2, 1)),
            DateRange("duedate"),
        ),
    )
    jql = to_jql(query, tz=MSK)
    assert jql == (
        'created <= "2027-04-12 10:00" AND NOT status CHANGED AFTER "2027-04-12 10:00"'
        ' AND cf[10030] >= "2027-01-01" AND cf[10030] <= "2027-01-31"'
        ' AND "Contract end" <= "2027-02-01" AND duedate is not EMPTY ORDER BY created ASC, key ASC'
    )
    where = parse_jql(jql).where
    assert isinstance(where, BoolNode)
    changed = where.children[1]
    assert isinstance(changed, BoolNode) and changed.op == "not"
    inner = changed.children[0]
    assert isinstance(inner, Clause) and (inner.field, inner.op) == ("status", "changed")
    assert [(name, value.text) for name, value in inner.predicates] == [("after", "2027-04-12 10:00")]
