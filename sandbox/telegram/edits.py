"""The Bot API methods a bot uses after a button press: ``answerCallbackQuery``, ``editMessageText`` and
``editMessageReplyMarkup``, answered as the cloud Bot API does.

Shapes from https://core.telegram.org/bots/api#answercallbackquery and #updating-messages. The cloud's
behaviour that matters to a bot, as bot authors report it: a query answered twice or too late fails with
"query is too old and response timeout expired or query ID is invalid" (the window is not documented;
``BotState.answer_window`` is this stand-in's choice); an answer text over 200 characters fails with
MESSAGE_TOO_LONG; an edit that changes nothing fails with "message is not modified"; only the bot's own
messages can be edited.
"""

from __future__ import annotations

import time
from typing import Any

from sandbox.telegram.keyboards import parse_markup
from sandbox.telegram.methods import chat_id_of, checked_text, message_json
from sandbox.telegram.state import ApiError, BotState, ChatMessage

ANSWER_TEXT_LIMIT = 200
TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


def answer_callback_query(state: BotState, params: dict[str, Any]) -> bool:
    """Record the answer to a press: once, within the state's ``answer_window`` seconds of it."""
    text = params.get("text")
    if text is not None and len(str(text)) > ANSWER_TEXT_LIMIT:
        raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
    with state.lock:
        press = state.presses.get(str(params.get("callback_query_id") or ""))
        if press is None or press.answer is not None or time.time() - press.at > state.answer_window:
            raise ApiError(400, TOO_OLD)
        press.answer = {
            "text": text,
            "show_alert": str(params.get("show_alert")).lower() == "true",
            "url": params.get("url"),
        }
    return True


def edit_message_text(state: BotState, params: dict[str, Any]) -> dict[str, Any]:
    """New text (and keyboard, when given) for one of the bot's messages."""
    text = checked_text(params.get("text"), params.get("parse_mode"))
    markup = parse_markup(params.get("reply_markup"))
    with state.lock:
        message = _editable(state, params)
        if message.text == text and message.reply_markup == markup:
            raise ApiError(400, NOT_MODIFIED)
        message.text, message.reply_markup, message.edited = text, markup, True
        return message_json(message)


def edit_message_reply_markup(state: BotState, params: dict[str, Any]) -> dict[str, Any]:
    """A new keyboard (or none) for one of the bot's messages."""
    markup = parse_markup(params.get("reply_markup"))
    with state.lock:
        message = _editable(state, params)
        if message.reply_markup == markup:
            raise ApiError(400, NOT_MODIFIED)
        message.reply_markup = markup
        return message_json(message)


def _editable(state: BotState, params: dict[str, Any]) -> ChatMessage:
    """The message ``chat_id`` + ``message_id`` name (caller holds the lock)."""
    if params.get("inline_message_id"):
        raise ApiError(400, "Bad Request: MESSAGE_ID_INVALID")  # the stand-in has no inline mode
    chat_id = chat_id_of(params)
    try:
        message_id = int(params.get("message_id") or 0)
    except (TypeError, ValueError):
        raise ApiError(400, "Bad Request: message identifier is not specified") from None
    message = state.messages.get((str(chat_id), message_id))
    if message is None:
        raise ApiError(400, "Bad Request: message to edit not found")
    if message.side != "bot":
        raise ApiError(400, "Bad Request: message can't be edited")
    return message


EDIT_METHODS = {
    "answercallbackquery": answer_callback_query,
    "editmessagetext": edit_message_text,
    "editmessagereplymarkup": edit_message_reply_markup,
}
