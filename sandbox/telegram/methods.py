"""The Bot API methods the hub calls, answered as the cloud Bot API does, and Telegram's check of
``parse_mode=HTML`` text."""

from __future__ import annotations

import hashlib
import html
import json
import re
import time
from typing import Any

from flask import request

from sandbox.telegram.keyboards import parse_markup
from sandbox.telegram.state import ApiError, BotState, ChatMessage, remember

CLOUD_DOWNLOAD_LIMIT = 20 * 1024 * 1024
MESSAGE_LIMIT = 4096
UPLOAD_LIMIT = 50 * 1024 * 1024  # what the cloud Bot API takes from a bot
PHOTO_LIMIT = 10 * 1024 * 1024  # sendPhoto's
SANDBOX_BOT = {
    "id": 7000000001,
    "is_bot": True,
    "first_name": "trackerhub sandbox",
    "username": "trackerhub_sandbox_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
_HTML_TAG = re.compile(
    r"</?(b|strong|i|em|u|ins|s|strike|del|span|tg-spoiler|a|tg-emoji|code|pre|blockquote)"
    r"(\s[^<>]*)?>",
    re.IGNORECASE,
)
_HTML_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d{1,7}|#x[0-9a-fA-F]{1,6});")


def _send_message(state: BotState, params: dict[str, Any]) -> dict[str, Any]:
    chat_id = chat_id_of(params)
    text = params.get("text")
    rendered = checked_text(text, params.get("parse_mode"))
    markup = parse_markup(params.get("reply_markup"))
    with state.lock:
        if str(chat_id) in state.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        message_id = next(state.message_ids)
        state.sent.append(
            {
                "chat_id": chat_id,
                "text": text,
                "parse_mode": params.get("parse_mode"),
                "message_thread_id": params.get("message_thread_id"),
                "reply_parameters": params.get("reply_parameters"),
                "reply_to_message_id": params.get("reply_to_message_id"),
                "reply_markup": markup,
                "message_id": message_id,
            }
        )
        message = ChatMessage(
            chat_id, message_id, "bot", rendered, int(time.time()), SANDBOX_BOT, markup, _reply_to(params)
        )
        remember(state, message)
    answer = message_json(message)
    if params.get("message_thread_id") is not None:
        answer["message_thread_id"] = params["message_thread_id"]
    return answer


def checked_text(text: object, parse_mode: object) -> str:
    """What the reader sees of a message's ``text``; the Bot API's 400 for an empty, broken or long one."""
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    rendered = _render_html(text) if str(parse_mode).upper() == "HTML" else text
    if not rendered.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if _utf16_len(rendered) > MESSAGE_LIMIT:
        raise ApiError(400, "Bad Request: message is too long")
    return rendered


def _reply_to(params: dict[str, Any]) -> int | None:
    """The message a sent one replies to: ``reply_parameters.message_id`` or the older
    ``reply_to_message_id`` (https://core.telegram.org/bots/api#replyparameters)."""
    given = params.get("reply_parameters")
    if isinstance(given, str):
        given = json.loads(given) if given else None
    found = given.get("message_id") if isinstance(given, dict) else params.get("reply_to_message_id")
    return int(found) if isinstance(found, int | str) and str(found).isdigit() else None


def message_json(message: ChatMessage) -> dict[str, Any]:
    """A ``Message`` object as the Bot API returns and sends it."""
    chat_id = message.chat_id
    chat_type = "private" if isinstance(chat_id, int) and chat_id > 0 else "supergroup"
    found: dict[str, Any] = {
        "message_id": message.message_id,
        "from": message.sender,
        "chat": {"id": chat_id, "type": chat_type},
        "date": message.date,
        "text": message.text,
    }
    if message.reply_markup is not None:
        found["reply_markup"] = message.reply_markup
    if message.edited:
        found["edit_date"] = int(time.time())
    return found


def _get_file(state: BotState, params: dict[str, Any]) -> dict[str, Any]:
    file_id = params.get("file_id")
    if not isinstance(file_id, str) or not file_id:
        raise ApiError(400, "Bad Request: file_id is required")
    with state.lock:
        stored = state.files.get(file_id)
    if stored is None:
        raise ApiError(400, "Bad Request: invalid file_id")
    if stored.size > CLOUD_DOWNLOAD_LIMIT:
        raise ApiError(400, "Bad Request: file is too big")
    return {
        "file_id": stored.file_id,
        "file_unique_id": hashlib.sha256(stored.file_id.encode()).hexdigest()[:16],
        "file_size": stored.size,
        "file_path": stored.file_path,
    }


def _get_me(state: BotState, params: dict[str, Any]) -> dict[str, Any]:
    return dict(SANDBOX_BOT)


def _set_webhook(state: BotState, params: dict[str, Any]) -> bool:
    if "url" not in params:
        raise ApiError(400, "Bad Request: url is required")
    with state.lock:
        state.webhook.clear()
        state.webhook.update(params)
    return True


def _delete_webhook(state: BotState, params: dict[str, Any]) -> bool:
    with state.lock:
        state.webhook.clear()
    return True


def _get_webhook_info(state: BotState, params: dict[str, Any]) -> dict[str, Any]:
    with state.lock:
        url = str(state.webhook.get("url", ""))
        allowed = state.webhook.get("allowed_updates")
    info: dict[str, Any] = {"url": url, "has_custom_certificate": False, "pending_update_count": 0}
    if allowed is not None:
        info["allowed_updates"] = allowed
    return info


def _send_document(state: BotState, params: dict[str, Any]) -> dict[str, Any]:
    """``sendDocument`` with a multipart ``document`` (https://core.telegram.org/bots/api#senddocument)."""
    return _send_upload(state, params, "document", UPLOAD_LIMIT)


def _send_photo(state: BotState, params: dict[str, Any]) -> dict[str, Any]:
    """``sendPhoto`` with a multipart ``photo`` (https://core.telegram.org/bots/api#sendphoto): at most
    10 MB, a PNG, JPEG, GIF or WebP image whose width and height are at most 10000 together and at most
    20 times one another; the caption at most 1024 characters. The size is read from the image's header
    (a PNG's IHDR), as far as the look-alike checks it."""
    photo = request.files.get("photo")
    content = photo.read() if photo is not None else b""
    if photo is not None:
        photo.seek(0)
    size = png_size(content)
    if photo is not None and size is None:
        raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
    if size is not None and (sum(size) > 10000 or max(size) > 20 * min(size)):
        raise ApiError(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
    if len(str(params.get("caption") or "")) > 1024:
        raise ApiError(400, "Bad Request: message caption is too long")
    return _send_upload(state, params, "photo", PHOTO_LIMIT, size)


def png_size(content: bytes) -> tuple[int, int] | None:
    """A PNG's width and height (its IHDR chunk); None for anything else."""
    if len(content) < 24 or content[:8] != b"\x89PNG\r\n\x1a\n" or content[12:16] != b"IHDR":
        return None
    width, height = int.from_bytes(content[16:20], "big"), int.from_bytes(content[20:24], "big")
    return (width, height) if width and height else None


def _send_upload(
    state: BotState, params: dict[str, Any], part: str, limit: int, size: tuple[int, int] | None = None
) -> dict[str, Any]:
    chat_id = chat_id_of(params)
    upload = request.files.get(part)
    if upload is None:
        raise ApiError(400, f"Bad Request: there is no {part} in the request")
    content = upload.read()
    if len(content) > limit:
        raise ApiError(413, "Request Entity Too Large")
    with state.lock:
        if str(chat_id) in state.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        message_id = next(state.message_ids)
        sent: dict[str, Any] = {
            "chat_id": chat_id,
            part: upload.filename,
            "size": len(content),
            "caption": params.get("caption"),
            "message_thread_id": params.get("message_thread_id"),
            "message_id": message_id,
        }
        if size is not None:
            sent["width"], sent["height"] = size
        state.sent.append(sent)
    return {"message_id": message_id, "from": SANDBOX_BOT, "chat": {"id": chat_id}, "date": int(time.time())}


METHODS = {
    "sendmessage": _send_message,
    "senddocument": _send_document,
    "sendphoto": _send_photo,
    "getfile": _get_file,
    "getme": _get_me,
    "setwebhook": _set_webhook,
    "deletewebhook": _delete_webhook,
    "getwebhookinfo": _get_webhook_info,
}


def call_params() -> dict[str, Any]:
    """Call parameters from the query string, a form or a JSON body, as the Bot API accepts."""
    params: dict[str, Any] = dict(request.args.items())
    params.update(request.form.items())
    body = request.get_json(silent=True)
    if isinstance(body, dict):
        params.update(body)
    return params


def chat_id_of(params: dict[str, Any]) -> int | str:
    chat_id = params.get("chat_id")
    if isinstance(chat_id, int) and not isinstance(chat_id, bool):
        return chat_id
    if isinstance(chat_id, str) and re.fullmatch(r"-?\d+", chat_id):
        return int(chat_id)
    if isinstance(chat_id, str) and chat_id.startswith("@"):
        return chat_id
    raise ApiError(400, "Bad Request: chat not found")


def _render_html(text: str) -> str:
    """What the reader sees of ``parse_mode=HTML`` text; "can't parse entities" for broken markup."""
    rendered: list[str] = []
    position = 0
    while position < len(text):
        ch = text[position]
        if ch == "<":
            match = _HTML_TAG.match(text, position)
            if match is None:
                raise ApiError(400, f"Bad Request: can't parse entities: unsupported start tag at {position}")
            position = match.end()
        elif ch == "&":
            match = _HTML_ENTITY.match(text, position)
            if match is None:
                raise ApiError(400, f"Bad Request: can't parse entities: bad entity at {position}")
            rendered.append(html.unescape(match.group(0)))
            position = match.end()
        elif ch == ">":
            raise ApiError(400, f"Bad Request: can't parse entities: unexpected '>' at {position}")
        else:
            rendered.append(ch)
            position += 1
    return "".join(rendered)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2
