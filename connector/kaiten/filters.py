"""A tracker-neutral ``SearchQuery`` as Kaiten card-list requests (``GET /cards``), and the checks the
list cannot make, made on each card it returns. Pure.

``GET /cards`` filters (S2 ``get_cards``; research/kaiten.md §4 "Search / list"): ``board_id``,
``column_ids`` (comma-separated), ``states`` (1 queued, 2 in progress, 3 done: the type of the card's
column), ``condition`` (1 on a board, 2 archived), ``tag`` (a name), ``tag_ids``, ``type_ids``,
``created_`` / ``updated_`` / ``due_date_`` ``before`` / ``after`` (ISO 8601), paged by ``limit`` ≤ 100
and ``offset``. How the query's parts map onto them:

- ``containers``: one request per board, since the list takes one ``board_id``;
- ``statuses``: column ids; a title is looked up among each board's columns (a board that has none of
  them is skipped; a status no board has is refused, naming the columns). With no board to look titles
  up on, ids still go to ``column_ids`` and titles are compared with each card's column title;
- ``status_category`` → ``states``; ``not_done`` → ``states`` 1, 2;
- ``condition`` 1 (cards on a board) unless ``raw`` sets ``condition`` or ``archived``;
- ``labels``: one → ``tag``; several → ``tag_ids`` (a card with any of them), the ids from the
  company's tags; a label no tag has matches nothing;
- ``issue_types`` → ``type_ids`` (card type ids);
- times in UTC (a naive ``datetime`` is taken as UTC), written as Kaiten writes them, to the
  millisecond: a "before" bound rounded up, an "after" bound cut, so the part Kaiten does not keep
  cannot change the answer;
- ``due_before`` / ``due_after`` (dates): strictly before / after that day, UTC;
- ``assignees`` → ``responsible_ids`` (user ids);
- ``assignee_empty``: Kaiten filters by ``responsible_id(s)`` but not by "no responsible", so it is
  checked on each card's ``members`` (the card list carries them: ``CardsRetrieveCardListResponse`` in
  2chevskii/kaiten-client ``src/generated/rest/cards.ts``, typed from the docs);
- ``status_since_before``: the list has no filter on when a card last moved, so each card's
  ``last_moved_at`` (a list item carries it) is compared; ``field_dates``: each card's date property
  (``id_N``) or ``due_date``, by calendar day;
- ``keys``: the list has no card id filter, so the tracker reads those cards one by one and checks
  every condition on them (``matches``);
- ``raw``: a dict of ``GET /cards`` parameters, merged last (it wins).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from connector.dates import parse_datetime
from connector.errors import TrackerRejected
from connector.kaiten.boards import BoardLayout
from connector.kaiten.cards import MEMBER_RESPONSIBLE, STATE_CATEGORIES, member_id, utc_text
from connector.kaiten.client import as_int, to_int
from connector.types import STATUS_CATEGORIES, DateRange, SearchQuery

STATE_OF_CATEGORY = {category: state for state, category in STATE_CATEGORIES.items()}
CONDITION_LIVE = 1
# SearchQuery's times, named as GET /cards names them
TIME_PARAMS = ("created_after", "created_before", "updated_after", "updated_before")


@dataclass(frozen=True)
class CardQuery:
    """One ``GET /cards`` request's filters, and what is checked on each card it returns:
    ``responsible`` (True: it must have a responsible member; False: none), ``statuses`` (column ids
    or case-folded titles; the card's column must be one of them), ``moved_before`` (the card's
    ``last_moved_at`` at or before it) and ``dates`` (date properties within ranges)."""

    params: Mapping[str, str]
    responsible: bool | None = None
    statuses: frozenset[str] = frozenset()
    moved_before: datetime | None = None
    dates: tuple[DateRange, ...] = ()


def card_queries(
    query: SearchQuery, boards: Mapping[int, BoardLayout], tags: Mapping[str, int]
) -> list[CardQuery]:
    """The requests that together find ``query``'s cards; none when nothing can match.

    ``boards`` holds the layout of each board in ``query.containers`` (see ``board_ids``), ``tags`` the
    company's tag ids by case-folded name (needed only for several labels).
    """
    common = _common_params(query, tags)
    if common is None:
        return []
    return [
        replace(found, moved_before=query.status_since_before, dates=query.field_dates)
        for found in _card_queries(query, boards, common)
    ]


def _card_queries(
    query: SearchQuery, boards: Mapping[int, BoardLayout], common: dict[str, str]
) -> list[CardQuery]:
    responsible = None if query.assignee_empty is None else not query.assignee_empty
    ids = board_ids(query)
    if not ids:
        statuses = frozenset(s.strip().casefold() for s in query.statuses)
        params = dict(common)
        if statuses and all(s.isdigit() for s in statuses):
            params["column_ids"] = _joined({int(s) for s in statuses})
            statuses = frozenset()
        return [CardQuery(_merged(params, query), responsible, statuses)]
    found: list[CardQuery] = []
    for board_id in ids:
        params = {**common, "board_id": str(board_id)}
        if query.statuses:
            columns = _status_columns(boards[board_id], query.statuses)
            if not columns:
                continue
            params["column_ids"] = _joined(columns)
        found.append(CardQuery(_merged(params, query), responsible))
    if query.statuses and not found:
        names = [name for board_id in ids for name in boards[board_id].column_names()]
        raise TrackerRejected(f"no column is named {list(query.statuses)}; the boards have {names}", 400)
    return found


def board_ids(query: SearchQuery) -> list[int]:
    """The boards ``query.containers`` names (ids), in order, once each."""
    ids = [as_int(c, "board id") for c in query.containers]
    return list(dict.fromkeys(ids))


def card_keys(query: SearchQuery) -> list[int]:
    """The card ids ``query.keys`` names, in order, once each."""
    return list(dict.fromkeys(as_int(k, "card id") for k in query.keys))


def local_match(card: Mapping[str, Any], wanted: CardQuery) -> bool:
    """What the card list cannot filter: the responsible member, a column named by its title, when the
    card last moved, date properties."""
    if wanted.responsible is not None and (_responsible(card) is not None) != wanted.responsible:
        return False
    if wanted.moved_before is not None and not _time("last_moved_at", after=False)(
        card, utc_text(wanted.moved_before, round_up=True)
    ):
        return False
    if not all(_in_range(card, window) for window in wanted.dates):
        return False
    if wanted.statuses:
        return bool(_column_names(card) & wanted.statuses)
    return True


def matches(card: Mapping[str, Any], wanted: CardQuery) -> bool:
    """Every condition of ``wanted`` checked on a card read by itself (``GET /cards/{id}``).

    A ``raw`` parameter this cannot check is refused rather than ignored.
    """
    for name, value in wanted.params.items():
        check = CHECKS.get(name)
        if check is None:
            raise TrackerRejected(f"kaiten filter {name!r} cannot be checked on cards found by key", 400)
        if not check(card, value):
            return False
    return local_match(card, wanted)


def day_start(day: date) -> str:
    return f"{day.isoformat()}T00:00:00.000Z"


def day_end(day: date) -> str:
    return f"{day.isoformat()}T23:59:59.999Z"


# -- building ---------------------------------------------------------------------------------------------


def _common_params(query: SearchQuery, tags: Mapping[str, int]) -> dict[str, str] | None:
    """The filters every request of the query shares; None when nothing can match."""
    params: dict[str, str] = {}
    states = _states(query)
    if not states:
        return None
    if states != {1, 2, 3}:
        params["states"] = _joined(states)
    raw = _raw(query)
    if "condition" not in raw and "archived" not in raw:
        params["condition"] = str(CONDITION_LIVE)
    if len(query.labels) == 1:
        params["tag"] = query.labels[0]
    elif query.labels:
        ids = sorted({tags[label.casefold()] for label in query.labels if label.casefold() in tags})
        if not ids:
            return None
        params["tag_ids"] = _joined(ids)
    if query.assignees:
        params["responsible_ids"] = _joined({as_int(user, "user id") for user in query.assignees})
    if query.issue_types:
        params["type_ids"] = _joined(sorted({as_int(t, "card type id") for t in query.issue_types}))
    for name in TIME_PARAMS:
        moment = getattr(query, name)
        if moment is not None:
            params[name] = utc_text(moment, round_up=name.endswith("_before"))
    if query.due_before is not None:
        params["due_date_before"] = day_start(query.due_before)
    if query.due_after is not None:
        params["due_date_after"] = day_end(query.due_after)
    return params


def _states(query: SearchQuery) -> set[int]:
    unknown = [c for c in query.status_category if c not in STATUS_CATEGORIES]
    if unknown:
        raise TrackerRejected(
            f"unknown status categories {unknown}; there are {list(STATUS_CATEGORIES)}", 400
        )
    states = {STATE_OF_CATEGORY[c] for c in query.status_category} or {1, 2, 3}
    if query.not_done:
        states.discard(STATE_OF_CATEGORY["done"])
    return states


def _raw(query: SearchQuery) -> dict[str, str]:
    if query.raw is None:
        return {}
    if not isinstance(query.raw, dict):
        raise TrackerRejected("a raw Kaiten filter is a dict of GET /cards parameters, not text", 400)
    return {str(k): _param(v) for k, v in query.raw.items()}


def _merged(params: dict[str, str], query: SearchQuery) -> dict[str, str]:
    return {**params, **_raw(query)}


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(str(v) for v in value)
    return str(value)


def _status_columns(layout: BoardLayout, statuses: Sequence[str]) -> list[int]:
    found = (layout.column(s) for s in statuses)
    return sorted({c.id for c in found if c is not None})


def _joined(numbers: Sequence[int] | set[int] | frozenset[int]) -> str:
    return ",".join(str(n) for n in sorted(numbers))


# -- checking a card --------------------------------------------------------------------------------------


def _responsible(card: Mapping[str, Any]) -> int | None:
    for member in card.get("members") or []:
        if to_int(member.get("type")) == MEMBER_RESPONSIBLE:
            return member_id(member)
    return None


def _column_names(card: Mapping[str, Any]) -> set[str]:
    """The card's column (and subcolumn) as ids and case-folded titles, from wherever the card says."""
    path = card.get("path_data") or {}
    names = {str(card.get("column_id"))}
    for column in (card.get("column"), path.get("column"), path.get("subcolumn")):
        if isinstance(column, Mapping):
            names |= {str(column.get("id")), str(column.get("title") or "").casefold()}
    return names - {"", "None"}


def _state(card: Mapping[str, Any]) -> int | None:
    return to_int(card.get("state")) or to_int((card.get("column") or {}).get("type"))


def _tag_ids(card: Mapping[str, Any]) -> set[int]:
    ids = {to_int(t.get("tag_id", t.get("id"))) for t in card.get("tags") or []}
    ids |= {to_int(t) for t in card.get("tag_ids") or []}
    return {i for i in ids if i is not None}


def _tag_names(card: Mapping[str, Any]) -> set[str]:
    return {str(t.get("name")).casefold() for t in card.get("tags") or []}


def _ids(value: str) -> set[int]:
    return {n for n in (to_int(part) for part in value.split(",")) if n is not None}


def _same(name: str) -> Callable[[Mapping[str, Any], str], bool]:
    return lambda card, value: str(card.get(name)) == value


def _one_of(name: str) -> Callable[[Mapping[str, Any], str], bool]:
    return lambda card, value: to_int(card.get(name)) in _ids(value)


def _time(name: str, after: bool) -> Callable[[Mapping[str, Any], str], bool]:
    def check(card: Mapping[str, Any], value: str) -> bool:
        have, bound = parse_datetime(card.get(name)), parse_datetime(value)
        if have is None or bound is None:
            return False
        have = have if have.tzinfo else have.replace(tzinfo=UTC)
        bound = bound if bound.tzinfo else bound.replace(tzinfo=UTC)
        return have > bound if after else have < bound

    return check


def _in_range(card: Mapping[str, Any], window: DateRange) -> bool:
    """Whether the card's date property (``id_N``) or field (``due_date``) lies in ``window``."""
    value = (card.get("properties") or {}).get(window.field, card.get(window.field))
    if isinstance(value, Mapping):
        value = value.get("date")
    try:
        day = date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return False
    if day is None:
        return False
    low, high = window.on_or_after or day, window.on_or_before or day
    return low <= day <= high


def _archived(card: Mapping[str, Any], value: str) -> bool:
    return (to_int(card.get("condition")) == 2) == (value == "true")


CHECKS: dict[str, Callable[[Mapping[str, Any], str], bool]] = {
    "board_id": _same("board_id"),
    "column_id": _same("column_id"),
    "lane_id": _same("lane_id"),
    "type_id": _same("type_id"),
    "space_id": _same("space_id"),
    "external_id": _same("external_id"),
    "condition": _same("condition"),
    "archived": _archived,
    "column_ids": _one_of("column_id"),
    "type_ids": _one_of("type_id"),
    "states": lambda card, value: _state(card) in _ids(value),
    "tag": lambda card, value: (
        value.casefold() in {str(t.get("name")).casefold() for t in card.get("tags") or []}
    ),
    "tag_ids": lambda card, value: bool(_tag_ids(card) & _ids(value)),
    "responsible_ids": lambda card, value: _responsible(card) in _ids(value),
    "created_after": _time("created", after=True),
    "created_before": _time("created", after=False),
    "updated_after": _time("updated", after=True),
    "updated_before": _time("updated", after=False),
    "due_date_after": _time("due_date", after=True),
    "due_date_before": _time("due_date", after=False),
}
