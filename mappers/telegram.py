"""Parse a Telegram Bot API ``Update`` into an :class:`InboundMessage`. Pure: no I/O.

Shapes follow the Bot API reference (https://core.telegram.org/bots/api, checked against 10.1):
``Update`` (#update) carries ``update_id`` and at most one event field; the hub handles ``message``
and ``edited_message`` (#message) and raises :class:`UnsupportedEvent` for every other kind.
Media are ``PhotoSize`` arrays (#photosize, ascending sizes), ``Document`` (#document), ``Voice``,
``Audio``, ``Video``, ``VideoNote``, ``Animation`` and ``Sticker``; files are referenced by
``file_id`` only, and the worker fetches them with ``getFile`` (#getfile).

Decisions worth knowing:

- ``external_id`` is ``tg:<update_id>``. Telegram retries an unacknowledged update with the same
  ``update_id`` and keeps updates for at most 24 hours, so this is a sound dedupe key inside that
  window. After a week without updates the next ``update_id`` is chosen *randomly* (#update), so an
  old journal row could in principle collide with a new update: dedupe lookups should be limited to
  the last day or so, or the key extended with ``chat_id``/``message_id`` (both are in ``telegram``).
  An edit arrives as a new update, so it gets its own ``external_id`` and ``kind=EDIT``.
- The thread is ``message_thread_id`` only when ``is_topic_message`` is true: forum topics and, since
  Bot API 9.3, topics in private chats. In a plain supergroup ``message_thread_id`` names a reply
  chain, and in a forum's General topic a reply also carries one without ``is_topic_message``;
  neither is a conversation of its own. ``reply_to_message`` is not read at all: inside a topic it is
  the topic's ``forum_topic_created`` service message, not something the customer answered.
- Messages from bots are ignored, except ``@GroupAnonymousBot`` writing for an anonymous group
  admin (it comes with ``sender_chat``): that is a person, named after the chat.
  Automatic forwards from a linked channel (``is_automatic_forward``) are ignored.
- A message with nothing the hub can file (no text, caption, media, contact, venue or location) is a
  service message or a kind the hub does not use (poll, dice, story...): ``UnsupportedEvent``.
- Customer text is returned as sent; escaping belongs to the tracker mappers.
"""

from __future__ import annotations

import math
import mimetypes
import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mappers.errors import AnomalousPayload, UnsupportedEvent
from mappers.models import Attachment, Channel, InboundMessage, MessageKind, Sender, TelegramMeta

HANDLED_UPDATE_KINDS = frozenset({"message", "edited_message"})
IGNORED_UPDATE_KINDS = frozenset(
    {
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "guest_message",
        "message_reaction",
        "message_reaction_count",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
        "managed_bot",
    }
)

GROUP_ANONYMOUS_BOT_ID = 1087968824  # "@GroupAnonymousBot", the fake sender of anonymous admins

# Message fields that describe the envelope, not the content (used to name service messages).
_ENVELOPE_FIELDS = frozenset(
    {
        "message_id",
        "message_thread_id",
        "direct_messages_topic",
        "from",
        "sender_chat",
        "sender_boost_count",
        "sender_business_bot",
        "sender_tag",
        "date",
        "business_connection_id",
        "chat",
        "forward_origin",
        "forward_from",
        "forward_from_chat",
        "forward_from_message_id",
        "forward_signature",
        "forward_sender_name",
        "forward_date",
        "is_topic_message",
        "is_automatic_forward",
        "reply_to_message",
        "external_reply",
        "quote",
        "reply_to_story",
        "via_bot",
        "edit_date",
        "has_protected_content",
        "is_from_offline",
        "media_group_id",
        "author_signature",
        "entities",
        "caption_entities",
        "link_preview_options",
        "show_caption_above_media",
        "has_media_spoiler",
        "reply_markup",
        "effect_id",
    }
)
_MIME = re.compile(r"^[\w.+-]+/[\w.+-]+$")
_MAX_KIND_LEN = 64
# The Bot API's integers fit in 64 bits (ids in 52); a bigger one is not Telegram's and would not fit
# the journal's BIGINT columns.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_MAX_FILENAME_LEN = 200

JsonObject = Mapping[str, Any]


def parse_update(update: object, *, received_at: datetime, bot_id: int | None = None) -> InboundMessage:
    """Turn one webhook body (already JSON-decoded) into an :class:`InboundMessage`.

    ``bot_id`` is the bot whose webhook received the update (an update does not name its bot); rules
    can match it.

    Raises :class:`AnomalousPayload` when ``update`` is not a Telegram Update or a field we read has
    the wrong type, and :class:`UnsupportedEvent` for real updates the hub does not use.
    """
    data = _as_object(update, "update")
    update_id = _need_int(data, "update_id", "update")
    kind = _pick_kind(data)
    message = _as_object(data[kind], kind)
    return _parse_message(message, kind=kind, update_id=update_id, received_at=received_at, bot_id=bot_id)


def _pick_kind(update: JsonObject) -> str:
    """The update's event field: one we handle, or raise."""
    kinds = [key for key in update if key != "update_id"]
    handled = [key for key in kinds if key in HANDLED_UPDATE_KINDS]
    if len(handled) > 1:
        raise AnomalousPayload("update carries more than one message", {"update": ", ".join(handled)})
    if handled:
        return handled[0]
    if kinds:
        raise UnsupportedEvent(_clip(sorted(kinds)[0]))
    raise AnomalousPayload("update carries no event", {"update": "only update_id"})


def _parse_message(
    message: JsonObject, *, kind: str, update_id: int, received_at: datetime, bot_id: int | None
) -> InboundMessage:
    chat = _need_object(message, "chat", kind)
    chat_id = _need_int(chat, "id", f"{kind}.chat")
    chat_type = _opt_str(chat, "type", f"{kind}.chat") or "private"
    message_id = _need_int(message, "message_id", kind)
    sender = _read_sender(message, kind)
    if _opt_bool(message, "is_automatic_forward", kind):
        raise UnsupportedEvent(f"{kind}.automatic_forward")
    thread_id = _read_thread(message, kind)
    edit_date = _opt_int(message, "edit_date", kind)
    text, attachments = _read_content(message, kind)
    if not text and not attachments:
        raise UnsupportedEvent(_service_kind(message, kind))
    return InboundMessage(
        channel=Channel.TELEGRAM,
        external_id=f"tg:{update_id}",
        conversation_key=f"tg:{chat_id}:{thread_id or 0}",
        kind=MessageKind.EDIT if kind == "edited_message" else MessageKind.NEW,
        sender=sender,
        subject="",
        text=text,
        attachments=attachments,
        received_at=received_at,
        telegram=TelegramMeta(
            chat_id=chat_id,
            message_id=message_id,
            thread_id=thread_id,
            chat_type=chat_type,
            edit_date=edit_date,
            bot_id=bot_id,
        ),
    )


def _read_sender(message: JsonObject, kind: str) -> Sender:
    """Who wrote: ``from``, or ``sender_chat`` when a person writes on behalf of a chat."""
    user = _opt_object(message, "from", kind)
    on_behalf = _opt_object(message, "sender_chat", kind)
    is_bot = False
    user_id: int | None = None
    if user is not None:
        user_id = _need_int(user, "id", f"{kind}.from")
        is_bot = _opt_bool(user, "is_bot", f"{kind}.from") or False
    if on_behalf is not None:
        _need_int(on_behalf, "id", f"{kind}.sender_chat")
        if is_bot and user_id != GROUP_ANONYMOUS_BOT_ID:
            raise UnsupportedEvent(f"{kind}.from_bot")
        return Sender(
            name=_opt_str(on_behalf, "title", f"{kind}.sender_chat") or "",
            telegram_username=_opt_str(on_behalf, "username", f"{kind}.sender_chat"),
        )
    if user is None:
        return Sender()
    if is_bot:
        raise UnsupportedEvent(f"{kind}.from_bot")
    where = f"{kind}.from"
    names = (_opt_str(user, "first_name", where), _opt_str(user, "last_name", where))
    return Sender(
        name=" ".join(part.strip() for part in names if part and part.strip()),
        telegram_user_id=user_id,
        telegram_username=_opt_str(user, "username", where),
        language=_opt_str(user, "language_code", where),
    )


def _read_thread(message: JsonObject, kind: str) -> int | None:
    """The forum (or private-chat) topic id; reply chains outside topics are not threads."""
    thread_id = _opt_int(message, "message_thread_id", kind)
    return thread_id if _opt_bool(message, "is_topic_message", kind) else None


def _read_content(message: JsonObject, kind: str) -> tuple[str, list[Attachment]]:
    """The message's text (text or caption, then contact/venue/location lines) and files."""
    body = _opt_str(message, "text", kind) or _opt_str(message, "caption", kind) or ""
    attachments: list[Attachment] = []
    placeholders: list[str] = []
    for attachment, placeholder in _read_media(message, kind):
        attachments.append(attachment)
        placeholders.append(placeholder)
    lines = [body] if body else placeholders
    lines += _read_shared(message, kind)
    return "\n".join(lines), attachments


def _read_media(message: JsonObject, kind: str) -> list[tuple[Attachment, str]]:
    """Every file in the message, each with a placeholder line for caption-less messages."""
    message_id = _need_int(message, "message_id", kind)
    found: list[tuple[Attachment, str]] = []
    if _has(message, "photo"):
        found.append(_read_photo(message["photo"], message_id, f"{kind}.photo"))
    # An animation also fills ``document`` for backward compatibility: file it once.
    if _has(message, "document") and not _has(message, "animation"):
        doc = _need_object(message, "document", kind)
        found.append(_read_file(doc, "document", message_id, f"{kind}.document"))
    for field in ("animation", "audio", "video", "video_note", "voice", "sticker"):
        if _has(message, field):
            media = _need_object(message, field, kind)
            found.append(_read_file(media, field, message_id, f"{kind}.{field}"))
    return found


def _read_photo(sizes: object, message_id: int, where: str) -> tuple[Attachment, str]:
    """The largest ``PhotoSize`` of the array, as a JPEG (the Bot API re-encodes photos)."""
    if not isinstance(sizes, list) or not sizes:
        raise AnomalousPayload(
            f"not a Telegram update: {where} is not a list of sizes", {where: "a non-empty array"}
        )
    best: tuple[int, int, JsonObject] | None = None
    for item in sizes:
        size = _as_object(item, where)
        area = (_opt_int(size, "width", where) or 0) * (_opt_int(size, "height", where) or 0)
        rank = (area, _opt_int(size, "file_size", where) or 0, size)
        if best is None or rank[:2] >= best[:2]:
            best = rank
    assert best is not None
    photo = best[2]
    stem = _file_stem(photo, "photo", message_id, where)
    attachment = Attachment(
        filename=f"{stem}.jpg",
        content_type="image/jpeg",
        size=_opt_int(photo, "file_size", where),
        telegram_file_id=_need_file_id(photo, where),
    )
    return attachment, "[photo]"


# kind -> (default content type, default extension, placeholder)
_FILE_DEFAULTS: dict[str, tuple[str, str, str]] = {
    "document": ("application/octet-stream", "", "[file]"),
    "animation": ("video/mp4", ".mp4", "[animation]"),
    "audio": ("audio/mpeg", ".mp3", "[audio]"),
    "video": ("video/mp4", ".mp4", "[video]"),
    "video_note": ("video/mp4", ".mp4", "[video message]"),
    "voice": ("audio/ogg", ".ogg", "[voice message]"),
    "sticker": ("image/webp", ".webp", "[sticker]"),
}


def _read_file(media: JsonObject, kind: str, message_id: int, where: str) -> tuple[Attachment, str]:
    """A Document-like object: ``file_id``, ``file_name?``, ``mime_type?``, ``file_size?``."""
    file_id = _need_file_id(media, where)
    content_type, extension, placeholder = _FILE_DEFAULTS[kind]
    if kind == "sticker":
        content_type, extension = _sticker_format(media, where)
        emoji = _opt_str(media, "emoji", where)
        placeholder = f"[sticker {emoji}]" if emoji else placeholder
    given_name = _opt_str(media, "file_name", where)
    mime = _opt_str(media, "mime_type", where)
    if mime and _MIME.match(mime) and mime.lower() != content_type:
        content_type = mime.lower()
        extension = mimetypes.guess_extension(content_type) or extension
    elif given_name:
        content_type = mimetypes.guess_type(given_name)[0] or content_type
    filename = _safe_filename(given_name) if given_name else ""
    if not filename:
        filename = _file_stem(media, kind, message_id, where) + extension
    if kind == "document" and given_name:
        placeholder = f"[file {filename}]"
    attachment = Attachment(
        filename=filename,
        content_type=content_type,
        size=_opt_int(media, "file_size", where),
        telegram_file_id=file_id,
    )
    return attachment, placeholder


def _sticker_format(sticker: JsonObject, where: str) -> tuple[str, str]:
    """Animated stickers are TGS (gzipped Lottie), video stickers WEBM, the rest WEBP."""
    if _opt_bool(sticker, "is_animated", where):
        return "application/x-tgsticker", ".tgs"
    if _opt_bool(sticker, "is_video", where):
        return "video/webm", ".webm"
    return "image/webp", ".webp"


def _read_shared(message: JsonObject, kind: str) -> list[str]:
    """Text lines for a shared contact, venue or location."""
    lines: list[str] = []
    if _has(message, "contact"):
        contact = _need_object(message, "contact", kind)
        where = f"{kind}.contact"
        names = (_opt_str(contact, "first_name", where), _opt_str(contact, "last_name", where))
        name = " ".join(part for part in names if part)
        phone = _opt_str(contact, "phone_number", where) or ""
        user_id = _opt_int(contact, "user_id", where)
        line = "Contact: " + ", ".join(part for part in (name, phone) if part)
        lines.append(line + (f" (tg:{user_id})" if user_id is not None else ""))
    if _has(message, "venue"):
        venue = _need_object(message, "venue", kind)
        where = f"{kind}.venue"
        parts = (_opt_str(venue, "title", where), _opt_str(venue, "address", where))
        lines.append("Venue: " + ", ".join(part for part in parts if part))
        if not _has(message, "location") and _has(venue, "location"):
            lines.append(_location_line(_need_object(venue, "location", where), f"{where}.location"))
    if _has(message, "location"):
        lines.append(_location_line(_need_object(message, "location", kind), f"{kind}.location"))
    return lines


def _location_line(location: JsonObject, where: str) -> str:
    latitude = _need_number(location, "latitude", where)
    longitude = _need_number(location, "longitude", where)
    return f"Location: {latitude}, {longitude}"


def _service_kind(message: JsonObject, kind: str) -> str:
    """Name an update with nothing to file after its first non-envelope field."""
    extra = sorted(key for key in message if key not in _ENVELOPE_FIELDS and key not in ("text", "caption"))
    return _clip(f"{kind}.{extra[0]}" if extra else f"{kind}.empty")


def _file_stem(media: JsonObject, kind: str, message_id: int, where: str) -> str:
    """``<kind>-<file_unique_id>``, or ``<kind>-<message_id>`` when the unique id is unusable."""
    unique = _safe_filename(_opt_str(media, "file_unique_id", where) or "")
    return f"{kind}-{unique or message_id}"


def _safe_filename(name: str) -> str:
    """A bare file name: no directories, no control characters, bounded length; "" if none left."""
    base = re.split(r"[/\\]", name)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    if base in ("", ".", ".."):
        return ""
    if len(base) <= _MAX_FILENAME_LEN:
        return base
    stem, dot, ext = base.rpartition(".")
    if not (dot and stem and len(ext) <= 16):
        return base[:_MAX_FILENAME_LEN]
    return stem[: _MAX_FILENAME_LEN - len(ext) - 1] + "." + ext


def _clip(kind: str) -> str:
    return kind[:_MAX_KIND_LEN]


# --- typed reads: every wrong type is an AnomalousPayload naming the field -------------------------


def _has(data: JsonObject, key: str) -> bool:
    """Whether ``key`` is present; JSON ``null`` counts as absent, as for every optional field."""
    return data.get(key) is not None


def _wrong(where: str, key: str, expected: str) -> AnomalousPayload:
    return AnomalousPayload(
        f"not a Telegram update: {where}.{key} is not {expected}", {f"{where}.{key}": expected}
    )


def _as_object(value: object, where: str) -> JsonObject:
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise AnomalousPayload(f"not a Telegram update: {where} is not an object", {where: "an object"})
    return value


def _opt_object(data: JsonObject, key: str, where: str) -> JsonObject | None:
    value = data.get(key)
    if value is None:
        return None
    return _as_object(value, f"{where}.{key}")


def _need_object(data: JsonObject, key: str, where: str) -> JsonObject:
    value = _opt_object(data, key, where)
    if value is None:
        raise _wrong(where, key, "an object")
    return value


def _opt_int(data: JsonObject, key: str, where: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not _INT64_MIN <= value <= _INT64_MAX:
        raise _wrong(where, key, "a 64-bit integer")
    return value


def _need_int(data: JsonObject, key: str, where: str) -> int:
    value = _opt_int(data, key, where)
    if value is None:
        raise _wrong(where, key, "an integer")
    return value


def _need_number(data: JsonObject, key: str, where: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _wrong(where, key, "a finite number")
    return value


def _opt_str(data: JsonObject, key: str, where: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _wrong(where, key, "a string")
    return value


def _opt_bool(data: JsonObject, key: str, where: str) -> bool | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _wrong(where, key, "a boolean")
    return value


def _need_file_id(media: JsonObject, where: str) -> str:
    file_id = _opt_str(media, "file_id", where)
    if not file_id:
        raise _wrong(where, "file_id", "a non-empty string")
    return file_id
