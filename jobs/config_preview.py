"""The editor's preview (issue 16): recent journal messages, or one the admin wrote, under the
configuration in force and under the edited one, side by side (``mappers.config_preview`` decides).

Messages are read back from the journal as the delivery job reads them (the row's parsed message);
the trackers' own events and rows that hold no message are left out. A message that became a comment on
a conversation's issue is shown as such under both: no rule decides a follow-up.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from pydantic import ValidationError
from sqlalchemy.engine import Engine

from config.rules import HubConfig
from config.settings import Settings
from mappers.config_preview import Comparison, Replies, compare
from mappers.models import Channel, InboundMessage, Sender
from store import message_search

DEFAULT_COUNT = 20
MAX_COUNT = 100
CUSTOMER_CHANNELS = tuple(channel.value for channel in Channel)
PASTED_ID = "preview"


def replies_of(settings: Settings) -> Replies:
    """What this deployment can answer with, from its settings."""
    return Replies(
        telegram=bool(settings.secret("TELEGRAM_BOT_TOKEN")),
        mail=bool(settings.SMTP_URL),
        forms=settings.HUB_FORM_AUTOREPLY_PER_HOUR > 0,
    )


def recent_messages(
    engine: Engine, channel: str = "", count: int = DEFAULT_COUNT
) -> tuple[list[tuple[str, InboundMessage]], dict[str, str]]:
    """The newest ``count`` customer messages of the journal (of ``channel`` when given), and the
    issue of each one that was a follow-up."""
    count = max(1, min(count, MAX_COUNT))
    wanted = [channel] if channel in CUSTOMER_CHANNELS else list(CUSTOMER_CHANNELS)
    found: list[tuple[str, InboundMessage]] = []
    follow_ups: dict[str, str] = {}
    entries = [
        e
        for c in wanted
        for e in message_search.search(engine, message_search.MessageQuery(channel=c), limit=count)
    ]
    for entry in sorted(entries, key=lambda e: (e.created_at, e.id), reverse=True)[:count]:
        try:
            message = InboundMessage.model_validate_json(entry.body)
        except ValidationError:
            continue
        found.append((entry.id, message))
        if entry.outcome == "comment" and entry.issue_key:
            follow_ups[entry.id] = entry.issue_key
    return found, follow_ups


def written_message(
    channel: str, sender: str, subject: str, text: str, category: str = "", form: str = ""
) -> InboundMessage:
    """A message the admin wrote in the preview form, as the parser would have made it: ``sender`` is an
    e-mail address (mail and forms) or a Telegram chat id; ``category`` the form's category select."""
    kind = Channel(channel) if channel in CUSTOMER_CHANNELS else Channel.EMAIL
    key = hashlib.sha256(f"{kind}|{sender}|{subject}|{text}".encode()).hexdigest()[:16]
    common = {"channel": kind, "external_id": key, "conversation_key": f"preview:{key}"}
    when = dt.datetime.now(dt.UTC)
    if kind == Channel.TELEGRAM:
        chat = int(sender) if sender.lstrip("-").isdigit() else 1
        return InboundMessage.model_validate(
            {
                **common,
                "sender": Sender(telegram_user_id=abs(chat)),
                "text": text,
                "received_at": when,
                "telegram": {"chat_id": chat, "message_id": 1},
            }
        )
    return InboundMessage.model_validate(
        {
            **common,
            "sender": Sender(email=sender.strip() or None),
            "subject": subject,
            "text": text,
            "received_at": when,
            "form": (form or "support") if kind == Channel.FORM else None,
            "category": (category.strip() or None) if kind == Channel.FORM else None,
            "email": {"to": []} if kind == Channel.EMAIL else None,
        }
    )


def preview_journal(
    settings: Settings,
    engine: Engine,
    old: HubConfig,
    new: HubConfig,
    channel: str = "",
    count: int = DEFAULT_COUNT,
) -> list[Comparison]:
    """The newest journal messages under ``old`` and ``new``."""
    messages, follow_ups = recent_messages(engine, channel, count)
    return compare(old, new, messages, replies_of(settings), follow_ups)


def preview_written(
    settings: Settings, old: HubConfig, new: HubConfig, message: InboundMessage
) -> list[Comparison]:
    """One written message under ``old`` and ``new``."""
    return compare(old, new, [(PASTED_ID, message)], replies_of(settings))
