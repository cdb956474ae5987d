"""The people on the other side of the bot: what they write, the deep links they open and the buttons
they press become ``Update`` objects sent to the bot's webhook, as Telegram sends them.

Shapes from https://core.telegram.org/bots/api#update, #message, #callbackquery and #setwebhook (the
``X-Telegram-Bot-Api-Secret-Token`` header carries ``secret_token``; an update kind missing from a
non-empty ``allowed_updates`` is not sent). A deep link ``t.me/<bot>?start=<payload>`` makes the client
send ``/start <payload>`` to the bot once the person presses Start; the payload is 1–64 characters of
``A-Za-z0-9_-`` (https://core.telegram.org/bots/features#deep-linking). A person can press only a
button that is on a message now, so a press of a button that is not there is refused here.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import Any

from sandbox.telegram.keyboards import callback_buttons
from sandbox.telegram.methods import message_json
from sandbox.telegram.state import ApiError, BotState, ChatMessage, Press, remember
from sandbox.webhooks import WebhookSender

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
START_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")


def person(user_id: int, first_name: str | None = None, username: str | None = None) -> dict[str, Any]:
    """A ``User`` who is not a bot."""
    found: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name or f"User {user_id}"}
    if username:
        found["username"] = username
    return found


def write(
    state: BotState, chat_id: int, sender: dict[str, Any], text: str, reply_to: int | None = None
) -> dict[str, Any]:
    """A message ``sender`` writes in ``chat_id`` (a reply to ``reply_to`` there, when given): its update."""
    if not text.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    with state.lock:
        replied = state.messages.get((str(chat_id), reply_to)) if reply_to is not None else None
        if reply_to is not None and replied is None:
            raise ApiError(400, "Bad Request: message to be replied not found")
        message = ChatMessage(
            chat_id, next(state.message_ids), "user", text, int(time.time()), sender, reply_to=reply_to
        )
        remember(state, message)
        body = message_json(message)
        if replied is not None:
            body["reply_to_message"] = message_json(replied)
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            body["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return {"update_id": next(state.update_ids), "message": body}


def start(state: BotState, sender: dict[str, Any], payload: str) -> dict[str, Any]:
    """``sender`` opens ``t.me/<bot>?start=<payload>`` and presses Start: ``/start <payload>`` in their
    private chat with the bot."""
    if not START_PAYLOAD.fullmatch(payload):
        raise ApiError(400, "Bad Request: a start payload is 1-64 characters of A-Z, a-z, 0-9, _ and -")
    return write(state, int(sender["id"]), sender, f"/start {payload}")


def press(
    state: BotState, chat_id: int, message_id: int, sender: dict[str, Any], data: str
) -> dict[str, Any]:
    """``sender`` presses the button with ``data`` on the bot's message: its ``callback_query`` update."""
    with state.lock:
        message = state.messages.get((str(chat_id), message_id))
        if message is None or message.side != "bot":
            raise ApiError(400, "Bad Request: there is no such message from the bot in this chat")
        if not any(button["callback_data"] == data for button in callback_buttons(message.reply_markup)):
            raise ApiError(400, "Bad Request: the message has no button with this callback_data")
        query_id = str(next(state.update_ids) * 1000 + int(sender["id"]) % 1000)
        state.presses[query_id] = Press(query_id, chat_id, message_id, data, sender, time.time())
        query = {
            "id": query_id,
            "from": sender,
            "message": message_json(message),
            "chat_instance": hashlib.sha256(str(chat_id).encode()).hexdigest()[:16],
            "data": data,
        }
        return {"update_id": next(state.update_ids), "callback_query": query}


def deliver(state: BotState, sender: WebhookSender, update: dict[str, Any]) -> bool:
    """Send ``update`` to the webhook the bot set; False when none is set or it does not take the kind."""
    with state.lock:
        url = state.webhook.get("url")
        secret = state.webhook.get("secret_token")
        allowed = state.webhook.get("allowed_updates")
    if isinstance(allowed, str):
        allowed = json.loads(allowed) if allowed else None
    kind = next(key for key in update if key != "update_id")
    if not url or (allowed and kind not in allowed):
        return False
    headers = {"Content-Type": "application/json"}
    if secret:
        headers[SECRET_HEADER] = str(secret)
    body = json.dumps(update, ensure_ascii=False).encode()
    sender.send(kind, str(url), body, headers, str(update["update_id"]))
    return True
