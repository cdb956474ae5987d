"""Kaiten's outgoing ("external") webhooks, sent as Kaiten sends them to the URL the look-alike starts with.

Kaiten posts a space's events to that space's one webhook URL, unsigned (the receiver keeps a secret in
the URL), as JSON ``{"event": "<model>:<action>", "data": {...}}``:

- ``card:add``: the card with its nested objects (owner, type, files, checklists, external links);
- ``card:update``: ``{"old": <the card before, without nested objects>, "changes": <the fields that
  changed, with updated and version>}``; archiving (``condition`` 2) and deleting (``condition`` 3)
  are card updates too, there is no ``card:remove``; so is a checklist item added, checked or removed,
  which changes the card's ``goals_total`` / ``goals_done`` (sandbox/kaiten/checklists.py);
- ``comment:add`` and ``comment:remove``: the comment (``id``, ``card_id``, ``text``, ``author_id``,
  ``internal``...); ``comment:update``: ``old`` and ``changes`` (``updated``, ``text``);
- ``card_member:add`` (the user with ``card_id`` and ``type``), ``card_member:update`` (only when a
  member is made responsible: ``old``/``changes`` of ``{card_id, user_id, type}``) and
  ``card_member:remove`` (``{card_id, user_id}``);

each with ``data.author`` = ``{id, full_name, username, email}`` of whoever made the change (the
token's user, or the one ``X-Sandbox-User`` names), sent after the change is committed.

Sources: https://developers.kaiten.ru/external-webhooks (the envelope, the event list) and the types
generated from that page's per-event examples in 2chevskii/kaiten-client
``src/generated/webhook-events.ts`` @ 3c544411 (field names per event); ``shared/research/kaiten.md``
§11. Kaiten documents no delivery policy, so the look-alike delivers as its Jira does
(``sandbox.webhooks``: one thread, two retries). Tags, files, checklists themselves (created or
renamed), external links, blockers, boards and time logs send nothing here (checklists and external
links are not among Kaiten's webhook events), and a card's tags or members changing is no
``card:update``.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Any

from sandbox.kaiten.catalogue import USERS, by_id
from sandbox.kaiten.context import acting_user, kaiten_state
from sandbox.kaiten.render import card_json, comment_json, user_json

WEBHOOK_TIMEOUT_S = 5.0
WEBHOOK_BACKOFF_S = (0.5, 1.0)  # pauses before the 2nd and 3rd try
ALWAYS_CHANGED = ("updated", "version")  # what a card:update's changes carry even when equal

Data = dict[str, Any]


def send(event: str, data: Data) -> None:
    """Queue ``event`` to the webhook URL, if the look-alike has one."""
    state = kaiten_state()
    if state.webhook_url is None:
        return
    body = json.dumps({"event": event, "data": {**data, "author": author_json()}}, ensure_ascii=False)
    headers = {"Content-Type": "application/json", "User-Agent": "Kaiten webhooks (trackerhub sandbox)"}
    state.webhooks.send(event, state.webhook_url, body.encode(), headers, str(uuid.uuid4()))


def author_json() -> Data:
    user = by_id(USERS, acting_user())
    assert user is not None  # acting_user() is always a seeded user
    return {"id": user.id, "full_name": user.full_name, "username": user.username, "email": user.email}


# cards


def card_before(conn: sqlite3.Connection, card_id: int) -> Data:
    """A card as ``card:update`` shows it in ``old``: without nested objects (deleted ones too)."""
    row = conn.execute("SELECT * FROM card WHERE id = ?", (card_id,)).fetchone()
    doc = card_json(row, conn, full=False)
    doc.pop("path_data", None)
    return doc


def card_added(conn: sqlite3.Connection, card_id: int) -> None:
    row = conn.execute("SELECT * FROM card WHERE id = ?", (card_id,)).fetchone()
    send("card:add", card_json(row, conn))


def card_updated(conn: sqlite3.Connection, old: Data) -> None:
    new = card_before(conn, old["id"])
    changes = {k: v for k, v in new.items() if k in ALWAYS_CHANGED or old.get(k) != v}
    send("card:update", {"old": old, "changes": changes})


# comments


def _comment(row: sqlite3.Row) -> Data:
    doc = comment_json(row)
    doc.pop("author", None)  # the event's author says who acted
    return doc


def comment_added(row: sqlite3.Row) -> None:
    send("comment:add", _comment(row))


def comment_updated(old: sqlite3.Row, new: sqlite3.Row) -> None:
    changes = {"updated": new["updated"], "text": new["text"]}
    send("comment:update", {"old": _comment(old), "changes": changes})


def comment_removed(row: sqlite3.Row) -> None:
    send("comment:remove", _comment(row))


# members


def member_added(card_id: int, user_id: int, kind: int) -> None:
    user = by_id(USERS, user_id)
    if user is not None:
        send("card_member:add", {**user_json(user), "type": kind, "card_id": card_id})


def member_made_responsible(card_id: int, user_id: int, old_kind: int) -> None:
    old = {"card_id": card_id, "user_id": user_id, "type": old_kind}
    send("card_member:update", {"old": old, "changes": {**old, "type": 2}})


def member_removed(card_id: int, user_id: int) -> None:
    send("card_member:remove", {"card_id": card_id, "user_id": user_id})
