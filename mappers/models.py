"""The tracker-neutral message type every inbound channel is parsed into.

An :class:`InboundMessage` is what the request path journals and what the worker delivers. It is
JSON-serialisable (``model_dump_json`` / ``model_validate_json``) so the journal row can hold it; the
bytes of attachments travel beside it, as blobs in the store, referenced by ``blob_id``.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from config.matching import MessageFacts

# A lone UTF-16 surrogate ("\ud800" in JSON, "+2AA-" in UTF-7) is a str in Python but has no UTF-8
# encoding: the journal could not store it. Input is untrusted, so every model replaces them with U+FFFD.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid_unicode(value: Any) -> Any:
    """``value`` with lone surrogates in its strings (and lists and dicts of them) replaced."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value
    if isinstance(value, list):
        return [_valid_unicode(item) for item in value]
    if isinstance(value, dict):
        return {_valid_unicode(key): _valid_unicode(item) for key, item in value.items()}
    return value


class _Model(BaseModel):
    """A frozen model whose strings can always be encoded as UTF-8 (and so journaled as JSON)."""

    model_config = ConfigDict(frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_lone_surrogates(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: _valid_unicode(value) for key, value in data.items()}
        return data


class Channel(StrEnum):
    """Where a customer's message came from."""

    TELEGRAM = "telegram"
    EMAIL = "email"
    FORM = "form"


class MessageKind(StrEnum):
    """What the message is, before threading decides where it goes."""

    NEW = "new"  # a customer message: a new issue, or a comment if it follows up
    EDIT = "edit"  # a Telegram edit of an earlier message: always a comment
    BOUNCE = "bounce"  # a delivery status notification about mail the hub sent
    AUTO_REPLY = "auto_reply"  # out-of-office, auto-responder or bulk mail: never an issue


class Sender(_Model):
    """Who wrote, as far as the channel tells."""

    name: str = ""
    email: str | None = None
    telegram_user_id: int | None = None
    telegram_username: str | None = None
    language: str | None = None  # IETF tag, e.g. "ru", "en" (Telegram's language_code)

    @property
    def contact(self) -> str:
        """One readable contact line: the e-mail, or the Telegram handle or id."""
        if self.email:
            return self.email
        if self.telegram_username:
            return f"@{self.telegram_username}"
        if self.telegram_user_id is not None:
            return f"tg:{self.telegram_user_id}"
        return ""


class Attachment(_Model):
    """A file the customer sent.

    ``data`` holds the bytes between parsing and journaling; the journal replaces it with ``blob_id``.
    A Telegram file is only a ``telegram_file_id`` until the worker downloads it.
    """

    filename: str
    content_type: str = "application/octet-stream"
    size: int | None = None
    data: bytes | None = Field(default=None, exclude=True, repr=False)
    blob_id: str | None = None
    telegram_file_id: str | None = None


class EmailMeta(_Model):
    """Mail headers the hub threads and answers by."""

    message_id: str | None = None  # with angle brackets, as in the header
    in_reply_to: list[str] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)
    to: list[str] = Field(default_factory=list)
    cc: list[str] = Field(default_factory=list)
    delivered_to: list[str] = Field(default_factory=list)  # the mailboxes the mail was delivered to
    reply_to: str | None = None
    bounced_message_id: str | None = None  # a DSN: Message-ID of the mail that bounced
    bounce_status: str | None = None  # a DSN: e.g. "5.1.1"
    bounce_recipient: str | None = None


class TelegramMeta(_Model):
    """Telegram ids the hub answers by."""

    chat_id: int
    message_id: int
    thread_id: int | None = None
    chat_type: str = "private"
    edit_date: int | None = None
    bot_id: int | None = None  # the bot the update came through (the number before ":" in its token)


class InboundMessage(_Model):
    """One message from a customer, parsed and ready to journal."""

    channel: Channel
    external_id: str  # the dedupe key: update_id, Message-ID (or hash), submission id
    conversation_key: str  # the threading key: chat+topic, or the message's own key
    kind: MessageKind = MessageKind.NEW
    sender: Sender = Field(default_factory=Sender)
    subject: str = ""
    text: str = ""
    attachments: list[Attachment] = Field(default_factory=list)
    received_at: dt.datetime
    form: str | None = None  # the form's name, for web forms
    category: str | None = None  # the form's category select, for routing rules
    fields: dict[str, str] = Field(default_factory=dict)  # extra form fields, by name
    email: EmailMeta | None = None
    telegram: TelegramMeta | None = None
    auto_reason: str | None = None  # why it is an auto-reply or a bounce
    notes: list[str] = Field(default_factory=list)  # e.g. "file too large to fetch: x.zip"

    def facts(self) -> MessageFacts:
        """The message as a rule's ``when`` sees it: for mail, the addresses it reached are its
        recipients; for a form, the form's name is."""
        email, telegram = self.email, self.telegram
        if email is not None:
            recipients = (*email.to, *email.cc, *email.delivered_to)
        else:
            recipients = (self.form,) if self.form else ()
        return MessageFacts(
            channel=self.channel.value,
            category=self.category,
            form=self.form,
            sender=self.sender.email,
            recipients=recipients,
            telegram_chat=telegram.chat_id if telegram else None,
            telegram_bot=telegram.bot_id if telegram else None,
            subject=self.subject,
            text=self.text,
        )
