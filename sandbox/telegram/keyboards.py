"""``reply_markup`` as the Bot API checks it: an inline keyboard's buttons, each with exactly one action,
``callback_data`` of 1–64 bytes.

Shapes from https://core.telegram.org/bots/api#inlinekeyboardmarkup and #inlinekeyboardbutton ("exactly
one of the optional fields must be used"; "callback_data … 1-64 bytes"); the error descriptions are
the ones the cloud Bot API answers, as bot authors quote them (e.g. "BUTTON_DATA_INVALID" for data over
64 bytes, "text buttons are unallowed in the inline keyboard" for a button without an action).
"""

from __future__ import annotations

import json
from typing import Any

from sandbox.telegram.state import ApiError

CALLBACK_DATA_LIMIT = 64  # bytes
BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
OTHER_MARKUPS = ("keyboard", "remove_keyboard", "force_reply")


def parse_markup(value: object) -> dict[str, Any] | None:
    """The ``reply_markup`` parameter (a JSON string in a form or query, an object in a JSON body),
    checked; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object") from None
    if not isinstance(value, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in value:
        _check_inline(value["inline_keyboard"])
    elif not any(key in value for key in OTHER_MARKUPS):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    return value


def callback_buttons(markup: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The buttons of an inline keyboard that send a ``callback_query`` when pressed."""
    if not markup or "inline_keyboard" not in markup:
        return []
    return [button for row in markup["inline_keyboard"] for button in row if "callback_data" in button]


def _check_inline(rows: object) -> None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiError(400, 'Bad Request: field "inline_keyboard" must be an Array of Arrays')
    for row in rows:
        for button in row:
            _check_button(button)


def _check_button(button: object) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str) or not button["text"]:
        raise ApiError(400, "Bad Request: can't parse inline keyboard button: Text must be non-empty")
    actions = [key for key in BUTTON_ACTIONS if key in button]
    if not actions:
        raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
    if len(actions) > 1:
        raise ApiError(400, "Bad Request: can't parse inline keyboard button: exactly one action is allowed")
    data = button.get("callback_data")
    if "callback_data" in button and (
        not isinstance(data, str) or not 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT
    ):
        raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    url = button.get("url")
    if "url" in button and (not isinstance(url, str) or not url.startswith(("http://", "https://", "tg://"))):
        raise ApiError(400, "Bad Request: BUTTON_URL_INVALID")
