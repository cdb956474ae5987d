"""What every part of the Kaiten tracker shares: the instance's name and its cards' addresses, and what
a company changes rarely, read once and reused for ``schema_ttl`` seconds: its card types and custom
properties (the field catalogue), each board's layout, its tags.

- a card's page is ``<origin>/<card id>``: Kaiten resolves the short form to the card in whatever
  space it lives (used as the card link by several public integrations), so a moved card keeps it;
  the long form ``/space/<space_id>/boards/card/<id>`` needs the space and goes stale on a move.

- ``GET /boards/{id}``: the board with its columns and lanes (``boards.layout_of``);
- ``GET /tags`` (paged, ``limit`` ≤ 100 + ``offset``): the company's tags, ``{id, name, ...}``
  (research/kaiten.md §8); a card in the card list carries only its ``tag_ids``, so their names come
  from here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Unpack

from connector.cache import DEFAULT_TTL, TtlCache
from connector.errors import TrackerRejected, UnknownTarget
from connector.kaiten.boards import BoardLayout, layout_of
from connector.kaiten.client import KaitenClient, KaitenOptions, as_int, card_id_of, to_int
from connector.kaiten.fields import Catalogue, read_catalogue
from connector.types import IssueRef


@dataclass(frozen=True)
class CompanyTags:
    """The company's tags: ids by case-folded name, names by id."""

    by_name: Mapping[str, int]
    by_id: Mapping[int, str]


class CachedReads(KaitenClient):
    """A Kaiten client named ``name`` that keeps the catalogue, board layouts and tags for
    ``schema_ttl`` seconds."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        name: str = "kaiten",
        schema_ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
        **options: Unpack[KaitenOptions],
    ) -> None:
        super().__init__(url, token, **options)
        self.name = name
        self._catalogue: TtlCache[Catalogue] = TtlCache(schema_ttl, clock)
        self._boards: TtlCache[BoardLayout] = TtlCache(schema_ttl, clock)
        self._tags: TtlCache[CompanyTags] = TtlCache(schema_ttl, clock)

    def issue_url(self, key: str) -> str:
        """The card's page (see the module's note)."""
        return f"{self.origin}/{card_id_of(key)}"

    def ref(self, key: str | int) -> IssueRef:
        """The hub's pointer to a card."""
        number = str(card_id_of(key))
        return IssueRef(tracker=self.name, key=number, url=self.issue_url(number), id=number)

    def catalogue(self) -> Catalogue:
        """Card types and custom properties with their select values."""
        return self._catalogue.get("catalogue", lambda: read_catalogue(self))

    def board(self, board_id: str | int, *, fresh: bool = False) -> BoardLayout:
        """A board's columns and lanes (re-read when ``fresh``); ``UnknownTarget`` when Kaiten has no
        such board."""
        number = as_int(board_id, "board id")
        if fresh:
            self._boards.clear()
        return self._boards.get(number, lambda: self._read_board(number))

    def board_having(self, board_id: str | int, found: Callable[[BoardLayout], bool]) -> BoardLayout:
        """The board's layout, read again when the kept one lacks what ``found`` looks for (a column an
        admin added since), so a change on the board is not refused for the cache's sake."""
        layout = self.board(board_id)
        return layout if found(layout) else self.board(board_id, fresh=True)

    def company_tags(self, *, fresh: bool = False) -> CompanyTags:
        """The company's tags (re-read when ``fresh``, e.g. for a tag id not seen before)."""
        if fresh:
            self._tags.clear()
        return self._tags.get("tags", self._read_tags)

    def _read_board(self, number: int) -> BoardLayout:
        try:
            board: dict[str, Any] = self.get_board(number)
        except TrackerRejected as exc:
            if exc.status == 404:
                raise UnknownTarget(f"kaiten board {number} does not exist", "board") from None
            raise
        return layout_of(board)

    def _read_tags(self) -> CompanyTags:
        tags = [(to_int(t.get("id")), str(t.get("name") or "")) for t in self.pages("/tags", {})]
        known = [(i, name) for i, name in tags if i is not None]
        return CompanyTags({name.casefold(): i for i, name in known}, dict(known))
