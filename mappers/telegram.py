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

from datetime import datetime

from mappers.errors import AnomalousPayload, UnsupportedEvent
from mappers.models import Attachment, Channel, InboundMessage, MessageKind, Sender, TelegramMeta
from mappers.telegram_fields import (
    JsonObject,
    as_object,
    has,
    need_int,
    need_number,
    need_object,
    opt_bool,
    opt_int,
    opt_object,
    opt_str,
)
from mappers.telegram_media import read_media

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
_MAX_KIND_LEN = 64


def parse_update(update: object, *, received_at: datetime, bot_id: int | None = None) -> InboundMessage:
    """Turn one webhook body (already JSON-decoded) into an :class:`InboundMessage`.

    ``bot_id`` is the bot whose webhook received the update (an update does not name its bot); rules
    can match it.

    Raises :class:`AnomalousPayload` when ``update`` is not a Telegram Update or a field we read has
    the wrong type, and :class:`UnsupportedEvent` for real updates the hub does not use.
    """
    data = as_object(update, "update")
    update_id = need_int(data, "update_id", "update")
    kind = _pick_kind(data)
    message = as_object(data[kind], kind)
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
    chat = need_object(message, "chat", kind)
    chat_id = need_int(chat, "id", f"{kind}.chat")
    chat_type = opt_str(chat, "type", f"{kind}.chat") or "private"
    message_id = need_int(message, "message_id", kind)
    sender = _read_sender(message, kind)
    if opt_bool(message, "is_automatic_forward", kind):
        raise UnsupportedEvent(f"{kind}.automatic_forward")
    thread_id = _read_thread(message, kind)
    edit_date = opt_int(message, "edit_date", kind)
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
    user = opt_object(message, "from", kind)
    on_behalf = opt_object(message, "sender_chat", kind)
    is_bot = False
    user_id: int | None = None
    if user is not None:
        user_id = need_int(user, "id", f"{kind}.from")
        is_bot = opt_bool(user, "is_bot", f"{kind}.from") or False
    if on_behalf is not None:
        need_int(on_behalf, "id", f"{kind}.sender_chat")
        if is_bot and user_id != GROUP_ANONYMOUS_BOT_ID:
            raise UnsupportedEvent(f"{kind}.from_bot")
        return Sender(
            name=opt_str(on_behalf, "title", f"{kind}.sender_chat") or "",
            telegram_username=opt_str(on_behalf, "username", f"{kind}.sender_chat"),
        )
    if user is None:
        return Sender()
    if is_bot:
        raise UnsupportedEvent(f"{kind}.from_bot")
    where = f"{kind}.from"
    names = (opt_str(user, "first_name", where), opt_str(user, "last_name", where))
    return Sender(
        name=" ".join(part.strip() for part in names if part and part.strip()),
        telegram_user_id=user_id,
        telegram_username=opt_str(user, "username", where),
        language=opt_str(user, "language_code", where),
    )


def _read_thread(message: JsonObject, kind: str) -> int | None:
    """The forum (or private-chat) topic id; reply chains outside topics are not threads."""
    thread_id = opt_int(message, "message_thread_id", kind)
    return thread_id if opt_bool(message, "is_topic_message", kind) else None


def _read_content(message: JsonObject, kind: str) -> tuple[str, list[Attachment]]:
    """The message's text (text or caption, then contact/venue/location lines) and files."""
    body = opt_str(message, "text", kind) or opt_str(message, "caption", kind) or ""
    attachments: list[Attachment] = []
    placeholders: list[str] = []
    for attachment, placeholder in read_media(message, kind):
        attachments.append(attachment)
        placeholders.append(placeholder)
    lines = [body] if body else placeholders
    lines += _read_shared(message, kind)
    return "\n".join(lines), attachments


def _read_shared(message: JsonObject, kind: str) -> list[str]:
    """Text lines for a shared contact, venue or location."""
    lines: list[str] = []
    if has(message, "contact"):
        contact = need_object(message, "contact", kind)
        where = f"{kind}.contact"
        names = (opt_str(contact, "first_name", where), opt_str(contact, "last_name", where))
        name = " ".join(part for part in names if part)
        phone = opt_str(contact, "phone_number", where) or ""
        user_id = opt_int(contact, "user_id", where)
        line = "Contact: " + ", ".join(part for part in (name, phone) if part)
        lines.append(line + (f" (tg:{user_id})" if user_id is not None else ""))
    if has(message, "venue"):
        venue = need_object(message, "venue", kind)
        where = f"{kind}.venue"
        parts = (opt_str(venue, "title", where), opt_str(venue, "address", where))
        lines.append("Venue: " + ", ".join(part for part in parts if part))
        if not has(message, "location") and has(venue, "location"):
            lines.append(_location_line(need_object(venue, "location", where), f"{where}.location"))
    if has(message, "location"):
        lines.append(_location_line(need_object(message, "location", kind), f"{kind}.location"))
    return lines


def _location_line(location: JsonObject, where: str) -> str:
    latitude = need_number(location, "latitude", where)
    longitude = need_number(location, "longitude", where)
    return f"Location: {latitude}, {longitude}"


def _service_kind(message: JsonObject, kind: str) -> str:
    """Name an update with nothing to file after its first non-envelope field."""
    extra = sorted(key for key in message if key not in _ENVELOPE_FIELDS and key not in ("text", "caption"))
    return _clip(f"{kind}.{extra[0]}" if extra else f"{kind}.empty")


def _clip(kind: str) -> str:
    return kind[:_MAX_KIND_LEN]
