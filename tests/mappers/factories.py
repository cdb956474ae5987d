"""Small factories for messages in tests: one call per variation instead of copied dicts."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from mappers.models import Channel, EmailMeta, InboundMessage, Sender, TelegramMeta

_ids = itertools.count(1)
WHEN = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


def telegram_message(
    text: str = "Printer is on fire. Help!", *, chat_id: int = 42, **overrides: Any
) -> InboundMessage:
    n = next(_ids)
    values: dict[str, Any] = {
        "channel": Channel.TELEGRAM,
        "external_id": f"tg:{n}",
        "conversation_key": f"tg:{chat_id}:0",
        "sender": Sender(name="Ann Lee", telegram_user_id=chat_id, telegram_username="ann", language="en"),
        "text": text,
        "received_at": WHEN,
        "telegram": TelegramMeta(chat_id=chat_id, message_id=n),
    }
    values.update(overrides)
    return InboundMessage(**values)


def email_message(
    subject: str = "Invoice is wrong", text: str = "Hello, the invoice total is wrong.", **overrides: Any
) -> InboundMessage:
    n = next(_ids)
    message_id = overrides.pop("message_id", f"<m{n}@customer.example>")
    values: dict[str, Any] = {
        "channel": Channel.EMAIL,
        "external_id": message_id,
        "conversation_key": f"email:{message_id}",
        "sender": Sender(name="Bob Smith", email="bob@customer.example"),
        "subject": subject,
        "text": text,
        "received_at": WHEN,
        "email": EmailMeta(message_id=message_id, **overrides.pop("email_meta", {})),
    }
    values.update(overrides)
    return InboundMessage(**values)
