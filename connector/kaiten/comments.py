"""A card's comments: ``/cards/{card_id}/comments``.

- ``POST`` ``{"text"}`` (markdown by default); ``PATCH /{comment_id}`` ``{"text"}`` (the author only);
  there is no single-comment GET, so one is read from the card's list (research/kaiten.md §5).
- ``GET`` lists them unpaged: ``{id, text, card_id, author_id, author: {id, full_name, ...}, internal,
  created, updated, ...}`` (the docs' response, as typed by 2chevskii/kaiten-client
  ``src/generated/rest/cards.ts`` ``CardCommentsRetrieveCardCommentsResponse``). ``internal`` marks a
  comment the Service Desk requester does not see.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.dates import parse_datetime
from connector.errors import TrackerRejected
from connector.kaiten.client import KaitenClient, card_id_of
from connector.types import Comment


class CardComments(KaitenClient):
    """The ``Tracker`` protocol's comment operations for Kaiten."""

    def add_comment(self, key: str, body: str, marker: str) -> str:
        """Add a markdown comment (its text carries ``marker``); return the comment id."""
        comment = self.request("POST", f"/cards/{card_id_of(key)}/comments", json={"text": body})
        return str(comment["id"])

    def add_internal_comment(self, key: str, body: str, marker: str) -> str:
        """A comment for the team: Kaiten comments are only visible to the team unless sent to a
        Service Desk requester, so a plain comment is internal."""
        return self.add_comment(key, body, marker)

    def comments(self, key: str) -> list[Comment]:
        """The card's comments, oldest first, with their authors, dates and visibility."""
        found = [comment_of(c) for c in self.comment_list(key)]
        return sorted(found, key=lambda c: (c.created is None, c.created or 0, _number(c.id)))

    def get_comment(self, key: str, comment_id: str) -> Comment:
        """One comment, read from the card's comment list (Kaiten has no single-comment GET)."""
        for comment in self.comment_list(key):
            if str(comment.get("id")) == str(comment_id):
                return comment_of(comment)
        raise TrackerRejected(f"card {key} has no comment {comment_id}", 404)

    def find_comment(self, key: str, marker: str) -> str | None:
        """The id of the card's comment containing ``marker`` (the list endpoint is not paged)."""
        for comment in self.comment_list(key):
            if marker in str(comment.get("text") or ""):
                return str(comment["id"])
        return None

    def update_comment(self, key: str, comment_id: str, body: str) -> None:
        """``PATCH /cards/{id}/comments/{comment_id}`` with the new text (only its author may)."""
        self.request("PATCH", f"/cards/{card_id_of(key)}/comments/{comment_id}", json={"text": body})

    def comment_list(self, key: str) -> list[dict[str, Any]]:
        """The card's comments as Kaiten answers them."""
        return list(self.request("GET", f"/cards/{card_id_of(key)}/comments") or [])


def comment_of(comment: Mapping[str, Any]) -> Comment:
    """A comment in the hub's terms; ``public`` is None when Kaiten does not say ``internal``."""
    author = comment.get("author") or {}
    internal = comment.get("internal")
    return Comment(
        id=str(comment["id"]),
        body=str(comment.get("text") or ""),
        author=str(comment.get("author_id") or author.get("id") or ""),
        author_name=str(author.get("full_name") or ""),
        public=None if internal is None else not bool(internal),
        created=parse_datetime(comment.get("created")),
    )


def _number(text: str) -> int:
    return int(text) if text.isdigit() else 0
