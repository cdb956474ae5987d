"""Searching cards: a ``SearchQuery`` as ``GET /cards`` requests (``filters``), paged lazily.

The card list pages with ``limit`` (at most 100) and ``offset``; ``broken_api=false`` keeps user-type
properties as ids; ``additional_card_fields=description`` is asked only when the caller wants the
description (the list leaves it out otherwise, research/kaiten.md §4). A list item carries its
``members`` and ``column`` but only the ``tag_ids`` of its tags, whose names come from the company's
tags (read once per ``schema_ttl``). Offset paging sees the list as it is when each page is read: a
card that leaves the result meanwhile can shift a later one past the page boundary, which the next
scan finds; a card is never reported twice by one search.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from connector.errors import TrackerRejected
from connector.kaiten.cached import CachedReads
from connector.kaiten.cards import card_state
from connector.kaiten.client import PAGE, to_int
from connector.kaiten.filters import CardQuery, board_ids, card_keys, card_queries, local_match, matches
from connector.types import IssueState, SearchQuery

DESCRIPTION = "description"


class CardSearch(CachedReads):
    """The ``Tracker`` protocol's search, for Kaiten."""

    def search(
        self, query: SearchQuery, *, fields: Sequence[str] = (), page_size: int = PAGE
    ) -> Iterator[IssueState]:
        """The cards matching ``query``, a page of ``page_size`` (at most 100) at a time, each with the
        card fields and ``id_<n>`` properties in ``fields``. With ``keys``, those cards are read one by
        one (the list has no id filter) and every condition is checked on them."""
        boards = {b: self.board(b) for b in board_ids(query)} if query.statuses else {}
        if boards and not any(layout.column(s) for layout in boards.values() for s in query.statuses):
            boards = {b: self.board(b, fresh=True) for b in boards}  # a column added since?
        tags = self.company_tags().by_name if len(query.labels) > 1 else {}
        queries = card_queries(query, boards, tags)
        if query.keys:
            return self._by_key(card_keys(query), queries, fields)
        return self._listed(queries, fields, page_size)

    def _listed(
        self, queries: list[CardQuery], fields: Sequence[str], page_size: int
    ) -> Iterator[IssueState]:
        seen: set[int] = set()
        extra = {"additional_card_fields": DESCRIPTION} if DESCRIPTION in fields else {}
        for wanted in queries:
            params = {**wanted.params, **extra, "broken_api": "false"}
            for card in self.pages("/cards", params, page_size):
                number = to_int(card.get("id"))
                if number is None or number in seen or not local_match(card, wanted):
                    continue
                seen.add(number)
                yield self._state(card, fields)

    def _by_key(
        self, keys: list[int], queries: list[CardQuery], fields: Sequence[str]
    ) -> Iterator[IssueState]:
        for key in keys:
            try:
                card = self.get_card(key)
            except TrackerRejected as exc:
                if exc.status == 404:
                    continue
                raise
            if any(matches(card, wanted) for wanted in queries):
                yield self._state(card, fields)

    def _state(self, card: Mapping[str, Any], fields: Sequence[str]) -> IssueState:
        """The card as an ``IssueState``, its tags named from the company's when it lists only ids."""
        if "tags" not in card and card.get("tag_ids"):
            card = {**card, "tags": self._named_tags(card["tag_ids"])}
        return card_state(card, self.ref(card["id"]), fields)

    def _named_tags(self, ids: Sequence[Any]) -> list[dict[str, Any]]:
        numbers = [n for n in (to_int(i) for i in ids) if n is not None]
        names = self.company_tags().by_id
        if any(n not in names for n in numbers):
            names = self.company_tags(fresh=True).by_id
        return [{"id": n, "name": names[n]} for n in numbers if n in names]
