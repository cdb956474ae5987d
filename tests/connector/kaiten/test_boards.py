"""A board's layout from Kaiten's JSON (connector.kaiten.boards): columns with subcolumns in both of the
documented forms, live lanes, the defaults a move uses, and the transitions a card has."""

from __future__ import annotations

from connector.kaiten.boards import layout_of, transitions_of
from connector.types import Transition

# GET /boards/{id}: subcolumns listed flat, with ``column_id`` naming their column (kshvakov's
# extraction of the board tables), out of order, and an archived lane.
FLAT = {
    "id": 30,
    "title": "Triage",
    "columns": [
        {"id": 303, "title": "Done", "type": 3, "sort_order": 3, "column_id": None},
        {"id": 312, "title": "Waiting for customer", "type": 2, "sort_order": 2, "column_id": 302},
        {"id": 301, "title": "Queue", "type": 1, "sort_order": 1, "column_id": None},
        {"id": 302, "title": "Working", "type": 2, "sort_order": 2, "column_id": None},
        {"id": 311, "title": "Investigating", "type": 2, "sort_order": 1, "column_id": 302},
    ],
    "lanes": [
        {"id": 392, "title": "Old", "sort_order": 0, "condition": 2},
        {"id": 391, "title": "Default", "sort_order": 1, "condition": 1},
    ],
}
# GET /boards/{board_id}/columns: a column's subcolumns nested as ``subcolumns[]``
# (developers.kaiten.ru get-list-of-columns).
NESTED = {
    "id": 30,
    "title": "Triage",
    "columns": [
        {"id": 301, "title": "Queue", "type": 1, "sort_order": 1},
        {
            "id": 302,
            "title": "Working",
            "type": 2,
            "sort_order": 2,
            "subcolumns": [
                {"id": 311, "title": "Investigating", "type": 2, "sort_order": 1},
                {"id": 312, "title": "Waiting for customer", "type": 2, "sort_order": 2},
            ],
        },
        {"id": 303, "title": "Done", "type": 3, "sort_order": 3},
    ],
    "lanes": [{"id": 391, "title": "Default", "sort_order": 1, "condition": 1}],
}


def test_both_forms_give_the_columns_in_board_order_with_their_subcolumns() -> None:
    for board in (FLAT, NESTED):
        layout = layout_of(board)
        assert [(c.id, c.parent) for c in layout.columns] == [
            (301, None),
            (302, None),
            (311, 302),
            (312, 302),
            (303, None),
        ]
        assert [lane.id for lane in layout.lanes] == [391]


def test_columns_and_lanes_by_id_or_title() -> None:
    layout = layout_of(FLAT)
    assert layout.column("312") == layout.column("waiting FOR customer") == layout.columns[3]
    assert layout.column("Nope") is None and layout.column("999") is None
    assert layout.lane("391") == layout.lane("default") and layout.lane("Old") is None  # archived


def test_a_card_lands_in_the_first_column_or_its_first_subcolumn() -> None:
    assert layout_of(FLAT).first_column is not None and layout_of(FLAT).first_column.id == 301
    working_first = {**NESTED, "columns": NESTED["columns"][1:]}
    first = layout_of(working_first).first_column
    assert first is not None and first.id == 311
    assert layout_of({"id": 1, "columns": [], "lanes": []}).first_lane is None


def test_every_column_is_a_transition_with_the_category_of_its_type() -> None:
    assert transitions_of(layout_of(NESTED)) == [
        Transition("301", "Queue", "Queue", "new"),
        Transition("302", "Working", "Working", "indeterminate"),
        Transition("311", "Investigating", "Investigating", "indeterminate"),
        Transition("312", "Waiting for customer", "Waiting for customer", "indeterminate"),
        Transition("303", "Done", "Done", "done"),
    ]
