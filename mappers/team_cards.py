"""A new issue's card for the team's chat, its buttons, and the presses that come back: pure.

The card says what a coordinator decides on (key, summary, who asked and how); its buttons are Take (a
``callback_query`` whose ``callback_data`` is ``take:<card id>``, looked up in ``store.staff_cards``,
never trusted to name an issue), one button per route offered for the issue (``route:<card id>:<route
id>``: the card looked up, the route checked against the routes offered), Route → (a URL button to the
issue's signed routing page) and Open (the issue in the tracker). Shapes:
https://core.telegram.org/bots/api#inlinekeyboardmarkup and #callbackquery.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mappers.automation_messages import CRITICAL_MARK
from mappers.markup import one_line
from mappers.telegram_commands import is_int as _is_int
from mappers.telegram_commands import person_name

TAKE = re.compile(r"take:(?P<card>[0-9a-f]{20})")
ROUTE = re.compile(r"route:(?P<card>[0-9a-f]{20}):(?P<route>[a-z][a-z0-9_-]*)")
CALLBACK_DATA_LIMIT = 64  # bytes of a button's callback_data (#inlinekeyboardbutton)
ROUTE_BUTTONS = 6  # at most this many route buttons on a card, two a row; the rest are on the routing page
CHANNELS = {"telegram": "Telegram", "email": "e-mail", "form": "web form"}


@dataclass(frozen=True)
class CardFacts:
    """What a card shows."""

    issue_key: str
    summary: str
    requester: str
    channel: str
    priority: str | None = None
    sla: str = ""  # the first response's working time left (mappers.sla.remaining_text), "" for none


@dataclass(frozen=True)
class Press:
    """A button pressed on one of the bot's messages."""

    update_id: int
    query_id: str
    user_id: int
    name: str
    chat_id: int
    message_id: int
    data: str


@dataclass(frozen=True)
class StaffReply:
    """A message in a team chat written as a reply to one of the bot's messages (a card)."""

    update_id: int
    chat_id: int
    user_id: int
    name: str
    message_id: int
    reply_to: int
    text: str

    @property
    def internal(self) -> bool:
        """``!`` first: a note for the team, not an answer to the customer."""
        return self.text.startswith("!")

    @property
    def body(self) -> str:
        return self.text[1:].strip() if self.internal else self.text.strip()


def card_text(facts: CardFacts) -> str:
    """The card's text (plain: the client escapes it for Telegram's HTML)."""
    channel = CHANNELS.get(facts.channel, facts.channel)
    lines = [f"New request {facts.issue_key}: {facts.summary}", f"From {facts.requester} by {channel}"]
    terms = [f"Priority: {facts.priority}"] if facts.priority else []
    terms += [f"first response: {facts.sla}"] if facts.sla else []
    return "\n".join([*lines, " · ".join(terms)] if terms else lines)


FORWARD_MAX = 1500  # characters of a follow-up shown in the team chat; the issue has all of it


def forward_text(issue_key: str, name: str, text: str) -> str:
    """A customer's follow-up as the team chat shows it under the card (plain: the client escapes it)."""
    body = text.strip() or "(no text: see the issue)"
    if len(body) > FORWARD_MAX:
        body = body[:FORWARD_MAX] + "…"
    return f"↩ {issue_key} · {name}: {body}"


def taken_text(text: str, name: str) -> str:
    return f"{text}\n\nTaken by {name}"


def keyboard(
    card_id: str,
    *,
    open_url: str,
    route_url: str | None,
    taken: bool,
    routes: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """The card's buttons: Take while nobody has taken it, a button per route (id, label) offered, two a
    row and at most :data:`ROUTE_BUTTONS`, then Route → (the routing page, when routes exist) and Open."""
    rows: list[list[dict[str, str]]] = []
    if not taken:
        rows.append([{"text": "Take", "callback_data": f"take:{card_id}"}])
    buttons = [
        {"text": f"→ {label}", "callback_data": f"route:{card_id}:{rid}"}
        for rid, label in routes
        if len(f"route:{card_id}:{rid}".encode()) <= CALLBACK_DATA_LIMIT
    ][:ROUTE_BUTTONS]
    rows.extend(buttons[i : i + 2] for i in range(0, len(buttons), 2))
    links = [{"text": "Route →", "url": route_url}] if route_url else []
    links.append({"text": "Open", "url": open_url})
    rows.append(links)
    return {"inline_keyboard": rows}


def taken_card(data: str) -> str | None:
    """The card a Take button names, or None for any other data."""
    found = TAKE.fullmatch(data)
    return found.group("card") if found else None


def routed_card(data: str) -> tuple[str, str] | None:
    """The card and the route a route button names, or None for any other data."""
    found = ROUTE.fullmatch(data)
    return (found.group("card"), found.group("route")) if found else None


def state_text(text: str, taken_name: str | None) -> str:
    """A card's text as the chat shows it now: taken or not."""
    return taken_text(text, taken_name) if taken_name else text


def routed_text(text: str, label: str, target_key: str, target_url: str, by: str | None) -> str:
    """The card once its issue went elsewhere: where, the new key and its link."""
    who = f" by {by}" if by else ""
    return f"{text}\n\nRouted to {label}{who}: {target_key} {target_url}"


def asked_text(label: str, missing: Sequence[str]) -> str:
    return f"{label} needs {', '.join(missing)}: fill in on the routing page."


def issue_card_text(
    key: str,
    summary: str,
    priority: str | None,
    *,
    critical: bool,
    requester: str | None = None,
    channel: str | None = None,
) -> str:
    """A listed issue's card (``/unassigned``, the digest, an alert): critical ones marked."""
    mark = f"{CRITICAL_MARK} " if critical else ""
    lines = [f"{mark}{key}: {one_line(summary, 200)}", f"priority: {priority or '-'}"]
    if requester:
        lines.append(f"From {requester} by {CHANNELS.get(channel or '', channel or '?')}")
    return "\n".join(lines)


def list_header(title: str, total: int, marked: int, shown: int, more_url: str | None) -> str:
    """The line above a list of cards: how many, how many critical, and where the rest are."""
    head = f"{title}: {total} issue(s)" + (f", {marked} critical" if marked else "")
    if total > shown:
        head += f"; the first {shown} below" + (f", all of them: {more_url}" if more_url else "")
    return head


def parse_press(update: object) -> Press | None:
    """The ``callback_query`` of this update, when it is a press on a message the bot can see."""
    if not isinstance(update, dict) or not _is_int(update.get("update_id")):
        return None
    query = update.get("callback_query")
    if not isinstance(query, dict) or not isinstance(query.get("id"), str):
        return None
    sender, message = query.get("from"), query.get("message")
    if not isinstance(sender, dict) or not isinstance(message, dict) or not _is_int(sender.get("id")):
        return None
    chat = message.get("chat")
    if not isinstance(chat, dict) or not _is_int(chat.get("id")) or not _is_int(message.get("message_id")):
        return None
    data = query.get("data")
    return Press(
        update_id=update["update_id"],
        query_id=query["id"],
        user_id=sender["id"],
        name=person_name(sender),
        chat_id=chat["id"],
        message_id=message["message_id"],
        data=data if isinstance(data, str) else "",
    )


def chat_of(update: object) -> int | None:
    """The chat a ``message`` or ``edited_message`` update is in, or None."""
    if not isinstance(update, dict):
        return None
    message = update.get("message") or update.get("edited_message")
    chat = message.get("chat") if isinstance(message, dict) else None
    chat_id = chat.get("id") if isinstance(chat, dict) else None
    return chat_id if _is_int(chat_id) else None


def parse_reply(update: object) -> StaffReply | None:
    """The reply to a bot's message in this update (a new message, with text, from a person)."""
    if not isinstance(update, dict) or not _is_int(update.get("update_id")):
        return None
    message = update.get("message")
    if not isinstance(message, dict) or not isinstance(message.get("text"), str):
        return None
    sender, replied, chat_id = message.get("from"), message.get("reply_to_message"), chat_of(update)
    if not isinstance(sender, dict) or not _is_int(sender.get("id")) or sender.get("is_bot") is True:
        return None
    if not isinstance(replied, dict) or not _is_int(replied.get("message_id")) or chat_id is None:
        return None
    if not _is_int(message.get("message_id")) or not message["text"].strip("! \n\t"):
        return None
    return StaffReply(
        update_id=update["update_id"],
        chat_id=chat_id,
        user_id=sender["id"],
        name=person_name(sender),
        message_id=message["message_id"],
        reply_to=replied["message_id"],
        text=message["text"],
    )
