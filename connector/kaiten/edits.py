"""Changing a card: its fields and tags, its responsible member, its column (transitions) and its place
(a move to another board, lane or type). What depends on the card's state (its tags, members, column,
board) is read first, so a repeat sends nothing more; a plain field update is one ``PATCH``, the same
when repeated. None of the writes is retried here (the jobs retry them).

- ``PATCH /cards/{id}`` (developers.kaiten.ru/cards/update-card) sets fields and custom properties
  (``{"id_<n>": value}``, null clears one) and moves: ``board_id``, ``column_id``, ``lane_id``,
  ``type_id``. A card's ``state`` follows its column's type and cannot be set.
- tags: ``POST /cards/{id}/tags {"name"}`` (Kaiten creates a company tag when new), ``DELETE
  /cards/{id}/tags/{tag_id}``; ``GET /cards/{id}`` lists them as ``tags[]`` (a card tag may carry the
  tag's id as ``tag_id``, S2 ``CardTag``; otherwise ``id`` is the tag's).
- members (research/kaiten.md §7): ``POST /cards/{id}/members {"user_id"}`` adds one (type 1),
  ``PATCH /cards/{id}/members/{user_id} {"type": 2}`` makes them responsible, ``{"type": 1}`` a plain
  member again; the responsible is who the hub calls the assignee.

Moving across spaces: ``PATCH /cards/{id}`` takes any ``board_id`` (the docs set no space limit; a
board is a company object that spaces show), so a move to a board in another space is the same single
PATCH and keeps the card and its id; it may change who sees the card and which space's webhook reports
it. Kaiten then answers 403 if the hub's user cannot reach that board, which is ``TrackerRejected``.
So ``move`` never raises ``MoveUnsupported`` for another space, only for another tracker. This rests on
the update-card reference (no live tenant was tried; the look-alike has one space); whether Kaiten
picks a column and lane itself when only ``board_id`` changes is unverified (research/kaiten.md §4),
so a move to another board always names both.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from connector.errors import MoveUnsupported, TrackerRejected
from connector.kaiten.boards import BoardLayout, transitions_of
from connector.kaiten.cached import CachedReads
from connector.kaiten.cards import MEMBER_RESPONSIBLE, member_id
from connector.kaiten.client import CONDITION_ARCHIVED, as_int, card_id_of, to_int
from connector.kaiten.comments import CardComments
from connector.kaiten.fields import CardUpdate, card_update
from connector.types import IssueRef, Target, Transition

log = logging.getLogger(__name__)

MEMBER = 1


class CardEdits(CardComments, CachedReads):
    """The ``Tracker`` protocol's writes to a card, for Kaiten."""

    def update_fields(
        self,
        key: str,
        fields: Mapping[str, Any],
        *,
        add_labels: Sequence[str] = (),
        remove_labels: Sequence[str] = (),
    ) -> None:
        """One ``PATCH`` with the fields (see ``fields.card_update``: card fields, custom properties by
        id or name, select values by id or name; ``responsible_id`` assigns, ``tags`` adds), then the
        tags added and removed that are not so already. The card is read first only when tags or the
        responsible change; a bad field or value is refused before anything is sent."""
        update = card_update(fields, self.catalogue)
        needs_card = update.responsible or update.tags or add_labels or remove_labels
        card = self.get_card(key) if needs_card else {"id": card_id_of(key)}
        self.apply(card, update, add=add_labels, remove=remove_labels)

    def assign(self, key: str, user: str | None) -> None:
        """Make ``user`` (a user id) the card's responsible member, adding them as a member first;
        anyone else responsible becomes a plain member. None leaves the card with no responsible (they
        stay members)."""
        self.set_responsible(self.get_card(key), user)

    def transitions(self, key: str) -> list[Transition]:
        """The columns (and subcolumns) of the card's board, in board order."""
        return transitions_of(self.board(self.get_card(key)["board_id"]))

    def transition(
        self,
        key: str,
        to: str,
        *,
        fields: Mapping[str, Any] | None = None,
        resolution: str | None = None,
        comment: str | None = None,
    ) -> None:
        """Put the card in the column ``to`` (an id or a title, case-insensitive) of its board, with
        ``fields`` in the same ``PATCH``; then add ``comment`` unless the card already has one with this
        text, so a repeat after a lost answer completes what is missing. Already in that column: no
        move. A column the board does not have (after reading the board again) is ``TrackerRejected``
        naming those it has. Kaiten has no resolutions: ``resolution`` is ignored."""
        card = self.get_card(key)
        layout = self.board_having(card["board_id"], lambda board: board.column(to) is not None)
        column = layout.column(to)
        if column is None:
            names = layout.column_names()
            raise TrackerRejected(f"kaiten board {layout.id} has no column {to!r}; it has {names}", 400)
        if resolution is not None:
            log.debug("kaiten.resolution_ignored card=%s resolution=%s", key, resolution)
        update = card_update(fields or {}, self.catalogue)
        moved = {"column_id": column.id} if column.id != to_int(card.get("column_id")) else {}
        self.apply(card, update, placed=moved)
        if comment and all(c.get("text") != comment for c in self.comment_list(key)):
            self.add_comment(key, comment, comment)

    def add_watchers(self, key: str, users: Sequence[str]) -> None:
        """Kaiten's watchers are card members: ``POST /cards/{id}/members {"user_id"}`` for each user
        who is not a member yet (research/kaiten.md §7), so a repeat adds nobody twice."""
        card = self.get_card(key)
        members = {member_id(m) for m in card.get("members") or []}
        for user in users:
            wanted = as_int(user, "watcher user id")
            if wanted not in members:
                self.request("POST", f"/cards/{card_id_of(card['id'])}/members", json={"user_id": wanted})

    def watchers(self, key: str) -> list[str]:
        """The card's members (``type`` 1): Kaiten's watchers; the responsible one (``type`` 2) is the
        card's assignee."""
        card = self.get_card(key)
        plain = [m for m in card.get("members") or [] if to_int(m.get("type")) != MEMBER_RESPONSIBLE]
        return [str(user) for user in map(member_id, plain) if user is not None]

    def archive(self, key: str, *, comment: str | None = None) -> None:
        """Add ``comment`` unless the card has it (first, while the card is still on the board), then
        ``PATCH /cards/{id}`` with ``condition`` 2 unless the card is archived already. Kaiten's card
        ``condition``: 1 on the board, 2 archived (developers.kaiten.ru, "Update card"; see
        /work/shared/research/kaiten.md, "Update / move / archive")."""
        card = self.get_card(key)
        if comment and all(c.get("text") != comment for c in self.comment_list(key)):
            self.add_comment(key, comment, comment)
        if to_int(card.get("condition")) != CONDITION_ARCHIVED:
            self.archive_card(card["id"])

    def move(self, key: str, target: Target, *, fields: Mapping[str, Any] | None = None) -> IssueRef:
        """One ``PATCH`` that puts the card on ``target``'s board, column, lane and card type, with
        ``fields``; the card keeps its id and its link. On another board an unnamed column or lane is
        the board's first; a named one must be that board's (``TrackerRejected`` naming those it has),
        read from the board's cached layout (read again when it lacks them). A target in another tracker
        is ``MoveUnsupported``: the caller copies the card there instead. See the module's note on
        moving across spaces."""
        if target.tracker != self.name:
            raise MoveUnsupported(f"a kaiten card cannot move to tracker {target.tracker!r}; copy it")
        card = self.get_card(key)
        layout = self.board_having(target.container, lambda board: _has_place(board, target))
        update = card_update(fields or {}, self.catalogue)
        placed: dict[str, int] = placement(card, layout, target)
        if target.issue_type is not None and as_int(target.issue_type, "card type id") != card.get("type_id"):
            placed["type_id"] = as_int(target.issue_type, "card type id")
        self.apply(card, update, placed=placed)
        return self.ref(key)

    # -- the steps ---------------------------------------------------------------------------------------

    def apply(
        self,
        card: Mapping[str, Any],
        update: CardUpdate,
        *,
        placed: Mapping[str, int] | None = None,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
    ) -> None:
        """Send a card update: one ``PATCH`` of its body and ``placed`` (when there is something to
        send), then the responsible, then the tags (``update``'s and ``add``) and ``remove``."""
        body = {**update.body, **(placed or {})}
        if body:
            self.update_card(card["id"], **body)
        if update.responsible:
            self.set_responsible(card, update.responsible[0])
        self.relabel(card, [*update.tags, *add], remove)

    def set_responsible(self, card: Mapping[str, Any], user: str | int | None) -> None:
        """``user`` responsible, nobody else (see ``assign``), from the members ``card`` lists."""
        wanted = None if user is None else as_int(user, "responsible user id")
        members = card.get("members") or []
        responsible = [member_id(m) for m in members if to_int(m.get("type")) == MEMBER_RESPONSIBLE]
        path = f"/cards/{card_id_of(card['id'])}/members"
        if wanted is not None and wanted not in {member_id(m) for m in members}:
            self.request("POST", path, json={"user_id": wanted})
        if wanted is not None and wanted not in responsible:
            self.request("PATCH", f"{path}/{wanted}", json={"type": MEMBER_RESPONSIBLE})
        for other in responsible:
            if other is not None and other != wanted:
                self.request("PATCH", f"{path}/{other}", json={"type": MEMBER})

    def relabel(self, card: Mapping[str, Any], add: Sequence[str], remove: Sequence[str]) -> None:
        """Add the tags the card lacks and remove those it has (names compared case-insensitively, as
        Kaiten's tag names are)."""
        present = {
            str(t.get("name")).casefold(): t.get("tag_id", t.get("id")) for t in card.get("tags") or []
        }
        path = f"/cards/{card_id_of(card['id'])}/tags"
        for name in add:
            if name.casefold() not in present:
                tag = self.request("POST", path, json={"name": name}) or {}
                present[name.casefold()] = tag.get("id")
        for name in remove:
            tag_id = present.pop(name.casefold(), None)
            if tag_id is not None:
                self.request("DELETE", f"{path}/{as_int(tag_id, 'tag id')}")


def _has_place(layout: BoardLayout, target: Target) -> bool:
    column_known = target.column is None or layout.column(target.column) is not None
    return column_known and (target.lane is None or layout.lane(target.lane) is not None)


def placement(card: Mapping[str, Any], layout: BoardLayout, target: Target) -> dict[str, int]:
    """``board_id``, ``column_id``, ``lane_id`` that differ from the card's, for a move to ``target``."""
    other_board = layout.id != to_int(card.get("board_id"))
    column = layout.column(target.column) if target.column is not None else None
    if target.column is not None and column is None:
        names = layout.column_names()
        raise TrackerRejected(
            f"kaiten board {layout.id} has no column {target.column!r}; it has {names}", 400
        )
    lane = layout.lane(target.lane) if target.lane is not None else None
    if target.lane is not None and lane is None:
        names = layout.lane_names()
        raise TrackerRejected(f"kaiten board {layout.id} has no lane {target.lane!r}; it has {names}", 400)
    if other_board:
        column, lane = column or layout.first_column, lane or layout.first_lane
        if column is None or lane is None:
            raise TrackerRejected(
                f"kaiten board {layout.id} has no column or no live lane to take a card", 400
            )
    body = {"board_id": layout.id} if other_board else {}
    if column is not None and column.id != to_int(card.get("column_id")):
        body["column_id"] = column.id
    if lane is not None and lane.id != to_int(card.get("lane_id")):
        body["lane_id"] = lane.id
    return body
