"""Bot commands that are talk with the bot, not a customer's request: ``/start``, and the team's
``/unassigned`` and ``/my``.

Telegram sends ``/start`` when a person first opens the bot and presses Start, and ``/start <payload>``
when they open a ``t.me/<bot>?start=<payload>`` link (https://core.telegram.org/bots/features#deep-linking:
the payload is 1–64 characters of ``A-Za-z0-9_-``); in a group the command may name the bot,
``/start@<bot>``. Neither is something the customer asked, so neither becomes an issue: the first gets
the bot's greeting, the second links a member of the team (``store.staff``).

``/unassigned`` and ``/my`` (also ``/my@<bot>``, as a group sends a command meant for one bot) are the
team's, in any chat: whoever sends them, they are never a customer's request (``jobs.team_commands``
answers a member of the team, and refuses anyone else).

Anything else that is not clearly such a command in a private chat is left to ``mappers.telegram``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

START = re.compile(r"/start(?:@[A-Za-z0-9_]{1,64})?(?:[ \t]+(?P<payload>\S+))?[ \t]*", re.ASCII)
STAFF = re.compile(r"/(?P<name>unassigned|my)(?:@[A-Za-z0-9_]{1,64})?(?:[ \t]+.*)?", re.ASCII | re.DOTALL)
PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)


@dataclass(frozen=True)
class StartCommand:
    """``/start [payload]`` a person sent the bot in their private chat."""

    update_id: int
    chat_id: int
    user_id: int
    name: str
    username: str | None
    language: str | None
    payload: str | None  # None: a plain /start; a malformed payload is kept to be refused


def start_command(update: object) -> StartCommand | None:
    """The ``/start`` in this update, or None when it is anything else."""
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        return None
    message = update.get("message")
    if not isinstance(message, dict) or not isinstance(message.get("text"), str):
        return None
    chat, sender = message.get("chat"), message.get("from")
    if not isinstance(chat, dict) or chat.get("type") != "private" or not isinstance(sender, dict):
        return None
    chat_id, user_id = chat.get("id"), sender.get("id")
    if not isinstance(chat_id, int) or not isinstance(user_id, int) or sender.get("is_bot") is True:
        return None
    if isinstance(chat_id, bool) or isinstance(user_id, bool):
        return None
    found = START.fullmatch(message["text"].strip())
    if found is None:
        return None
    return StartCommand(
        update_id=update["update_id"],
        chat_id=chat_id,
        user_id=user_id,
        name=person_name(sender),
        username=_text(sender.get("username")),
        language=_text(sender.get("language_code")),
        payload=found.group("payload"),
    )


@dataclass(frozen=True)
class StaffCommand:
    """``/unassigned`` or ``/my`` someone sent in a chat with the bot."""

    update_id: int
    chat_id: int
    private: bool
    user_id: int
    name: str
    command: str  # "unassigned" | "my"


def staff_command(update: object) -> StaffCommand | None:
    """The team's command in this update (a new message from a person), or None."""
    if not isinstance(update, dict) or not is_int(update.get("update_id")):
        return None
    message = update.get("message")
    if not isinstance(message, dict) or not isinstance(message.get("text"), str):
        return None
    chat, sender = message.get("chat"), message.get("from")
    if not isinstance(chat, dict) or not isinstance(sender, dict) or sender.get("is_bot") is True:
        return None
    if not is_int(chat.get("id")) or not is_int(sender.get("id")):
        return None
    found = STAFF.fullmatch(message["text"].strip())
    if found is None:
        return None
    return StaffCommand(
        update_id=update["update_id"],
        chat_id=chat["id"],
        private=chat.get("type") == "private",
        user_id=sender["id"],
        name=person_name(sender),
        command=found.group("name"),
    )


def valid_payload(payload: str) -> bool:
    return PAYLOAD.fullmatch(payload) is not None


def person_name(sender: Mapping[str, object]) -> str:
    """A Telegram user's name as the team reads it: first and last name, else ``Telegram user <id>``."""
    parts = [_text(sender.get("first_name")), _text(sender.get("last_name"))]
    return " ".join(part for part in parts if part)[:255] or f"Telegram user {sender.get('id')}"


def is_int(value: object) -> bool:
    """An integer that is not a bool (JSON's ids)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
