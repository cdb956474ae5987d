"""A SearchQuery as GET /cards requests (connector.kaiten.filters): the documented parameters, and the
checks made on each card, against the query's meaning (hypothesis)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.errors import TrackerRejected
from connector.kaiten.boards import BoardLayout, layout_of
from connector.kaiten.cards import utc_text
from connector.kaiten.filters import CardQuery, card_queries, local_match, matches
from connector.types import SearchQuery
from tests.connector.kaiten.factories import board

BOARD_JSON = {
    10: board(10, "Support desk", [("To do", 1), ("In progress", 2), ("Done", 3)], [("Customers", 1)]),
    20: board(20, "Development", [("Backlog", 1), ("Doing", 2), ("Done", 3)], [("Default", 1)]),
}
BOARDS: dict[int, BoardLayout] = {b: layout_of(j) for b, j in BOARD_JSON.items()}
TAGS = {"vip": 301, "bug": 302, "printer": 303}
CATEGORY = {1: "new", 2: "indeterminate", 3: "done"}


def queries(query: SearchQuery, boards: dict[int, BoardLayout] = BOARDS) -> list[CardQuery]:
    return card_queries(query, boards, TAGS)


def only(query: SearchQuery) -> dict[str, str]:
    [found] = queries(query)
    return dict(found.params)


# -- the documented parameters ------------------------------------------------------------------------------


def test_cards_on_a_board_by_default_and_nothing_else() -> None:
    assert only(SearchQuery()) == {"condition": "1"}


@pytest.mark.parametrize(
    ("query", "states"),
    [
        (SearchQuery(not_done=True), "1,2"),
        (SearchQuery(status_category=("done",)), "3"),
        (SearchQuery(status_category=("new", "indeterminate")), "1,2"),
        (SearchQuery(status_category=("new", "done"), not_done=True), "1"),
    ],
)
def test_status_categories_are_kaitens_states(query: SearchQuery, states: str) -> None:
    assert only(query)["states"] == states


def test_done_and_not_done_match_nothing_without_asking() -> None:
    assert queries(SearchQuery(status_category=("done",), not_done=True)) == []


def test_an_unknown_status_category_is_refused() -> None:
    with pytest.raises(TrackerRejected, match="unknown status categories"):
        queries(SearchQuery(status_category=("closed",)))


def test_raw_parameters_win_and_may_ask_for_archived_cards() -> None:
    params = only(SearchQuery(raw={"condition": 2, "asap": True, "member_ids": [2, 3]}))
    assert params == {"condition": "2", "asap": "true", "member_ids": "2,3"}
    assert "condition" not in only(SearchQuery(raw={"archived": True}))


def test_raw_jql_text_is_refused() -> None:
    with pytest.raises(TrackerRejected, match="dict of GET /cards parameters"):
        queries(SearchQuery(raw="project = SUP"))


def test_one_label_is_a_tag_name_several_are_tag_ids() -> None:
    assert only(SearchQuery(labels=("VIP",)))["tag"] == "VIP"
    assert only(SearchQuery(labels=("bug", "VIP", "nobody-has-this")))["tag_ids"] == "301,302"
    assert queries(SearchQuery(labels=("nope", "neither"))) == []


def test_types_times_and_due_days() -> None:
    moscow = datetime(2026, 1, 31, 15, 0, 0, 123456, tzinfo=timezone(timedelta(hours=3)))
    params = only(
        SearchQuery(
            issue_types=("2", "1"),
            created_after=datetime(2026, 1, 1, 9, 30),  # naive: UTC
            updated_before=moscow,
            due_before=date(2026, 2, 1),
            due_after=date(2026, 1, 15),
        )
    )
    assert params["type_ids"] == "1,2"
    assert params["created_after"] == "2026-01-01T09:30:00.000Z"
    assert params["updated_before"] == "2026-01-31T12:00:00.124Z"  # UTC, rounded up: "before" keeps .123
    assert (params["due_date_before"], params["due_date_after"]) == (
        "2026-02-01T00:00:00.000Z",
        "2026-01-15T23:59:59.999Z",
    )


def test_one_request_per_board() -> None:
    found = queries(SearchQuery(containers=("10", "20", "10")))
    assert [q.params["board_id"] for q in found] == ["10", "20"]


def test_statuses_are_the_boards_columns_by_title_or_id() -> None:
    found = queries(SearchQuery(containers=("10", "20"), statuses=("done", "102")))
    assert [(q.params["board_id"], q.params["column_ids"]) for q in found] == [
        ("10", "102,103"),
        ("20", "203"),
    ]
    # a board with none of the statuses is left out
    assert [
        q.params["board_id"] for q in queries(SearchQuery(containers=("10", "20"), statuses=("Doing",)))
    ] == ["20"]


def test_a_status_no_board_has_is_refused_naming_the_columns() -> None:
    with pytest.raises(TrackerRejected, match="'101 To do', '102 In progress', '103 Done'"):
        queries(SearchQuery(containers=("10",), statuses=("Waiting for customer",)))


def test_without_a_board_column_ids_go_to_kaiten_and_titles_are_checked_on_each_card() -> None:
    assert only(SearchQuery(statuses=("102", "103")))["column_ids"] == "102,103"
    [titled] = queries(SearchQuery(statuses=("In Progress", "203")))
    assert "column_ids" not in titled.params
    assert local_match(card(column_id=102), titled) and local_match(card(board_id=20, column_id=203), titled)
    assert not local_match(card(column_id=101), titled)


def test_no_responsible_is_checked_on_the_cards_members() -> None:
    [unassigned] = queries(SearchQuery(assignee_empty=True))
    assert "responsible_id" not in unassigned.params
    assert local_match(card(members=[member(2, 1)]), unassigned)
    assert not local_match(card(members=[member(2, 1), member(3, 2)]), unassigned)
    [assigned] = queries(SearchQuery(assignee_empty=False))
    assert local_match(card(members=[member(3, 2)]), assigned) and not local_match(card(), assigned)


def test_a_raw_filter_it_cannot_check_on_a_card_read_by_key_is_refused() -> None:
    [wanted] = queries(SearchQuery(keys=("7",), raw={"overdue": True}))
    with pytest.raises(TrackerRejected, match="'overdue' cannot be checked"):
        matches(card(), wanted)


# -- the checks against the query's meaning -------------------------------------------------------------------


def member(user: int, kind: int) -> dict[str, Any]:
    return {"id": user, "user_id": user, "type": kind}


def card(
    board_id: int = 10,
    column_id: int = 101,
    *,
    condition: int = 1,
    type_id: int = 1,
    members: list[dict[str, Any]] | None = None,
    tags: tuple[str, ...] = (),
    created: datetime = datetime(2026, 1, 10, tzinfo=UTC),
    updated: datetime = datetime(2026, 1, 11, tzinfo=UTC),
    due: datetime | None = None,
) -> dict[str, Any]:
    """A card as GET /cards/{id} answers it, in the fields the filters read."""
    column = BOARDS[board_id].column(column_id)
    assert column is not None
    return {
        "id": 7,
        "board_id": board_id,
        "column_id": column_id,
        "column": {"id": column.id, "title": column.title, "type": column.type},
        "state": column.type,
        "condition": condition,
        "type_id": type_id,
        "members": members or [],
        "tags": [{"id": TAGS[t], "name": t} for t in tags],
        "created": utc_text(created),
        "updated": utc_text(updated),
        "due_date": utc_text(due) if due else None,
    }


def meant(c: dict[str, Any], q: SearchQuery) -> bool:
    """What the query means for the card, written from SearchQuery's description, not from the filters."""

    def utc(moment: datetime) -> datetime:
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    created, updated = (datetime.fromisoformat(c[n]) for n in ("created", "updated"))
    due = datetime.fromisoformat(c["due_date"]).date() if c["due_date"] else None
    category = CATEGORY[c["state"]]
    statuses = {s.casefold() for s in q.statuses}
    checks = [
        not q.containers or str(c["board_id"]) in q.containers,
        not statuses or bool({str(c["column_id"]), c["column"]["title"].casefold()} & statuses),
        not q.status_category or category in q.status_category,
        not (q.not_done and category == "done"),
        c["condition"] == 1,
        q.assignee_empty is None or q.assignee_empty != any(m["type"] == 2 for m in c["members"]),
        not q.labels or bool({t["name"] for t in c["tags"]} & {label.casefold() for label in q.labels}),
        not q.issue_types or str(c["type_id"]) in q.issue_types,
        q.created_after is None or created > utc(q.created_after),
        q.created_before is None or created < utc(q.created_before),
        q.updated_after is None or updated > utc(q.updated_after),
        q.updated_before is None or updated < utc(q.updated_before),
        q.due_before is None or (due is not None and due < q.due_before),
        q.due_after is None or (due is not None and due > q.due_after),
    ]
    return all(checks)


moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2026, 3, 1), timezones=st.sampled_from([None, UTC])
)
kaiten_moments = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 3, 1)).map(
    lambda m: m.replace(microsecond=m.microsecond // 1000 * 1000, tzinfo=UTC)  # Kaiten keeps milliseconds
)
COLUMNS = [(b, c.id) for b, layout in BOARDS.items() for c in layout.columns]
STATUSES = sorted(
    {c.title for layout in BOARDS.values() for c in layout.columns} | {str(i) for _, i in COLUMNS}
)


@st.composite
def cards(draw: st.DrawFn) -> dict[str, Any]:
    board_id, column_id = draw(st.sampled_from(COLUMNS))
    users = draw(st.lists(st.integers(2, 5), unique=True, max_size=3))
    responsible = draw(st.sampled_from([None, *users]))
    return card(
        board_id,
        column_id,
        condition=draw(st.sampled_from([1, 2])),
        type_id=draw(st.integers(1, 3)),
        members=[member(u, 2 if u == responsible else 1) for u in users],
        tags=tuple(draw(st.lists(st.sampled_from(sorted(TAGS)), unique=True, max_size=2))),
        created=draw(kaiten_moments),
        updated=draw(kaiten_moments),
        due=draw(st.none() | kaiten_moments),
    )


search_queries = st.builds(
    SearchQuery,
    containers=st.lists(st.sampled_from(["10", "20"]), max_size=2).map(tuple),
    statuses=st.lists(st.sampled_from(STATUSES), max_size=2).map(tuple),
    status_category=st.lists(st.sampled_from(["new", "indeterminate", "done"]), max_size=2).map(tuple),
    not_done=st.booleans(),
    assignee_empty=st.none() | st.booleans(),
    labels=st.lists(st.sampled_from([*TAGS, "unheard-of"]), max_size=2).map(tuple),
    issue_types=st.lists(st.sampled_from(["1", "2", "3"]), max_size=2).map(tuple),
    created_after=st.none() | moments,
    created_before=st.none() | moments,
    updated_after=st.none() | moments,
    updated_before=st.none() | moments,
    due_before=st.none() | st.dates(date(2026, 1, 1), date(2026, 3, 1)),
    due_after=st.none() | st.dates(date(2026, 1, 1), date(2026, 3, 1)),
)


@settings(max_examples=400, deadline=None)
@given(cards(), search_queries)
def test_a_card_matches_the_requests_exactly_when_the_query_means_it(
    c: dict[str, Any], q: SearchQuery
) -> None:
    try:
        found = queries(q)
    except TrackerRejected:
        # only when none of the statuses is a column of the boards searched
        boards = [BOARDS[int(b)] for b in q.containers]
        assert not any(layout.column(s) for layout in boards for s in q.statuses)
        return
    assert all(isinstance(v, str) for wanted in found for v in wanted.params.values())
    assert any(matches(c, wanted) for wanted in found) == meant(c, q)


@settings(max_examples=200, deadline=None)
@given(search_queries)
def test_the_request_never_asks_for_more_than_the_query(q: SearchQuery) -> None:
    try:
        found = queries(q)
    except TrackerRejected:
        return
    for wanted in found:
        states = {int(s) for s in wanted.params.get("states", "1,2,3").split(",")}
        assert not (q.not_done and 3 in states)
        assert wanted.params["condition"] == "1"
        assert ("board_id" in wanted.params) == bool(q.containers)


# Narrow ranges, so a card's time and the query's bound fall on the same millisecond or day often.
near_moments = st.datetimes(
    min_value=datetime(2026, 1, 10, 12, 0, 0), max_value=datetime(2026, 1, 10, 12, 0, 0, 5000)
)


@settings(max_examples=300, deadline=None)
@given(near_moments, near_moments, st.sampled_from(["created_after", "created_before"]), st.booleans())
def test_time_bounds_at_the_millisecond(at: datetime, bound: datetime, part: str, naive: bool) -> None:
    c = card(created=at.replace(microsecond=at.microsecond // 1000 * 1000, tzinfo=UTC))
    q = SearchQuery(**{part: bound if naive else bound.replace(tzinfo=UTC)})
    [wanted] = queries(q)
    assert matches(c, wanted) == meant(c, q)


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=datetime(2026, 1, 9), max_value=datetime(2026, 1, 12)),
    st.dates(date(2026, 1, 9), date(2026, 1, 12)),
    st.sampled_from(["due_before", "due_after"]),
)
def test_due_days_are_whole_days(due: datetime, day: date, part: str) -> None:
    c = card(due=due.replace(microsecond=due.microsecond // 1000 * 1000, tzinfo=UTC))
    q = SearchQuery(**{part: day})
    [wanted] = queries(q)
    assert matches(c, wanted) == meant(c, q)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(COLUMNS),
    st.lists(st.sampled_from(["new", "indeterminate", "done"]), max_size=3).map(tuple),
    st.booleans(),
    st.lists(st.sampled_from(STATUSES), max_size=2).map(tuple),
)
def test_columns_and_their_types(
    place: tuple[int, int], categories: tuple[str, ...], not_done: bool, statuses: tuple[str, ...]
) -> None:
    c = card(*place)
    q = SearchQuery(status_category=categories, not_done=not_done, statuses=statuses)
    assert any(matches(c, wanted) for wanted in queries(q)) == meant(c, q)
