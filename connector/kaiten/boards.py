"""A Kaiten board's layout: its columns (subcolumns included) and lanes, read from the board's JSON.

- ``GET /boards/{id}`` answers the board with ``columns[]`` and ``lanes[]`` (research/kaiten.md §12;
  the space-board tables in kshvakov's extraction of developers.kaiten.ru): a column has ``id, title,
  sort_order, type`` (1 queue, 2 in progress, 3 done) and ``column_id``, the parent column of a
  subcolumn; ``GET /boards/{board_id}/columns`` nests a column's ``subcolumns[]`` instead
  (developers.kaiten.ru get-list-of-columns). Both forms are read.
- a lane has ``id, title, sort_order`` and ``condition`` (1 live, 2 archived, 3 deleted); only live
  lanes take cards.

Pure: the tracker reads and caches the board; this turns it into columns, lanes and transitions.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from connector.kaiten.client import to_int
from connector.types import DONE, IN_PROGRESS, NEW, Transition

CATEGORY_OF_TYPE = {1: NEW, 2: IN_PROGRESS, 3: DONE}
LANE_LIVE = 1


@dataclass(frozen=True)
class Column:
    """A column or subcolumn (``parent`` is the subcolumn's column)."""

    id: int
    title: str
    type: int
    sort_order: float
    parent: int | None = None

    @property
    def category(self) -> str:
        return CATEGORY_OF_TYPE.get(self.type, NEW)


@dataclass(frozen=True)
class Lane:
    id: int
    title: str
    sort_order: float


@dataclass(frozen=True)
class BoardLayout:
    """A board's columns (each column followed by its subcolumns, by position) and live lanes."""

    id: int
    title: str
    columns: tuple[Column, ...]
    lanes: tuple[Lane, ...]

    def column(self, id_or_title: str | int) -> Column | None:
        """The column with this id, or else the first with this title (case-insensitive)."""
        return _find(self.columns, id_or_title)

    def lane(self, id_or_title: str | int) -> Lane | None:
        """The live lane with this id, or else the first with this title (case-insensitive)."""
        return _find(self.lanes, id_or_title)

    @property
    def first_column(self) -> Column | None:
        """Where a card lands by default: the first column, or its first subcolumn when it has some."""
        top = [c for c in self.columns if c.parent is None]
        if not top:
            return None
        subs = [c for c in self.columns if c.parent == top[0].id]
        return subs[0] if subs else top[0]

    @property
    def first_lane(self) -> Lane | None:
        return self.lanes[0] if self.lanes else None

    def column_names(self) -> list[str]:
        """``["101 To do", ...]``, for an error that says what exists."""
        return [f"{c.id} {c.title}" for c in self.columns]

    def lane_names(self) -> list[str]:
        return [f"{lane.id} {lane.title}" for lane in self.lanes]


def layout_of(board: Mapping[str, Any]) -> BoardLayout:
    """The layout of a board as ``GET /boards/{id}`` answers it."""
    columns = list(_columns(board.get("columns") or [], None))
    ordered = sorted((c for c in columns if c.parent is None), key=lambda c: (c.sort_order, c.id))
    placed: list[Column] = []
    for column in ordered:
        placed.append(column)
        placed += sorted((c for c in columns if c.parent == column.id), key=lambda c: (c.sort_order, c.id))
    placed += [c for c in columns if c not in placed]  # subcolumns of a column the board did not list
    lanes = sorted(
        (
            Lane(int(lane["id"]), str(lane.get("title") or ""), float(lane.get("sort_order") or 0))
            for lane in board.get("lanes") or []
            if to_int(lane.get("id")) is not None and to_int(lane.get("condition")) in (None, LANE_LIVE)
        ),
        key=lambda lane: (lane.sort_order, lane.id),
    )
    return BoardLayout(int(board["id"]), str(board.get("title") or ""), tuple(placed), tuple(lanes))


def transitions_of(layout: BoardLayout) -> list[Transition]:
    """Every column of the board as a transition: id = column id, name = title, category from type."""
    return [Transition(str(c.id), c.title, c.title, c.category) for c in layout.columns]


def _columns(entries: Iterable[Mapping[str, Any]], parent: int | None) -> Iterator[Column]:
    for entry in entries:
        column_id = to_int(entry.get("id"))
        if column_id is None:
            continue
        yield Column(
            id=column_id,
            title=str(entry.get("title") or ""),
            type=to_int(entry.get("type")) or 1,
            sort_order=float(entry.get("sort_order") or 0),
            parent=to_int(entry.get("column_id")) or parent,
        )
        yield from _columns(entry.get("subcolumns") or [], column_id)


def _find(items: Iterable[Any], id_or_title: str | int) -> Any:
    text = str(id_or_title).strip()
    listed = list(items)
    if text.isdigit():
        found = next((i for i in listed if i.id == int(text)), None)
        if found is not None:
            return found
    return next((i for i in listed if i.title.casefold() == text.casefold()), None)
