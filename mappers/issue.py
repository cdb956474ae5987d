"""Inbound message + rule → issue draft, and follow-ups → comment text (pure).

The summary is one line of at most 255 characters with no newlines (Jira's limit), taken from the
e-mail subject or the message's first sentence. The description is the customer's text escaped for the
tracker's markup, followed by a block naming the sender, contact, channel and time.
"""

from __future__ import annotations

import re

from config.rules import Rule
from connector.types import IssueDraft
from mappers.markup import escape_jira, one_line
from mappers.models import Channel, InboundMessage
from mappers.subjects import clean_subject

SUMMARY_LIMIT = 255
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s")

CHANNEL_NAMES = {Channel.TELEGRAM: "Telegram", Channel.EMAIL: "E-mail", Channel.FORM: "Web form"}


def idempotency_label(message_id: str) -> str:
    """The label (Jira) or external id (Kaiten) that marks the issue a message created."""
    return f"hub-{message_id}"


def summarize(message: InboundMessage) -> str:
    """The issue summary: the subject if there is one, else the text's first sentence."""
    subject = clean_subject(message.subject)
    if subject:
        return one_line(subject, SUMMARY_LIMIT)
    first_line = next((line for line in message.text.splitlines() if line.strip()), "")
    sentence = _SENTENCE_END.split(first_line.strip(), maxsplit=1)[0]
    if sentence:
        return one_line(sentence, SUMMARY_LIMIT)
    if message.attachments:
        return one_line(f"{CHANNEL_NAMES[message.channel]}: {message.attachments[0].filename}")
    return f"{CHANNEL_NAMES[message.channel]} message from {message.sender.name or message.sender.contact}"


def sender_block(message: InboundMessage) -> str:
    """The Jira wiki block naming who wrote, how and when."""
    rows = [
        ("From", message.sender.name or "(no name)"),
        ("Contact", message.sender.contact or "(none)"),
        ("Channel", CHANNEL_NAMES[message.channel]),
        ("Received", message.received_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip()),
    ]
    if message.category:
        rows.append(("Category", message.category))
    rows.extend((name.replace("_", " ").capitalize(), value) for name, value in message.fields.items())
    lines = [f"*{label}:* {escape_jira(value)}" for label, value in rows]
    return "----\n" + "\n".join(lines)


def describe(message: InboundMessage) -> str:
    """The issue description: the escaped text, notes about files, and the sender block."""
    parts = [escape_jira(message.text.strip()) or "_(no text)_"]
    parts.extend(f"_{escape_jira(note)}_" for note in message.notes)
    parts.append(sender_block(message))
    return "\n\n".join(parts)


def build_draft(message: InboundMessage, rule: Rule, message_id: str) -> IssueDraft:
    """The issue a new message becomes under ``rule``."""
    key = idempotency_label(message_id)
    labels = (message.channel.value, *rule.fields.labels, key)
    return IssueDraft(
        tracker=rule.target.tracker,
        project=rule.target.project,
        issue_type=rule.target.issue_type,
        title=summarize(message),
        body=describe(message),
        idempotency_key=key,
        labels=tuple(dict.fromkeys(labels)),
        priority=rule.fields.priority,
        assignee=rule.fields.assignee,
        components=rule.fields.components,
        custom_fields=dict(rule.fields.custom_fields),
        requester=message.sender.contact,
    )


def build_comment(message: InboundMessage, message_id: str, *, edited: bool = False) -> str:
    """A follow-up (or a Telegram edit) as a comment, ending with the hub's idempotency marker."""
    who = escape_jira(message.sender.name or message.sender.contact or "customer")
    via = CHANNEL_NAMES[message.channel]
    heading = f"*{who}* edited a message ({via}):" if edited else f"*{who}* wrote ({via}):"
    parts = [heading, escape_jira(message.text.strip()) or "_(no text)_"]
    parts.extend(f"_{escape_jira(note)}_" for note in message.notes)
    parts.append(comment_marker(message_id))
    return "\n\n".join(parts)


def bounce_comment(message: InboundMessage, message_id: str) -> str:
    """A delivery failure of the hub's own mail, recorded on the issue it concerned."""
    meta = message.email
    recipient = escape_jira((meta.bounce_recipient if meta else None) or "the customer")
    status = escape_jira((meta.bounce_status if meta else None) or "unknown")
    return (
        f"_Mail to {recipient} could not be delivered (status {status})._\n\n"
        f"{escape_jira(message.subject)}\n\n{comment_marker(message_id)}"
    )


def comment_marker(message_id: str) -> str:
    """The trailer that lets a retried job find a comment it already added."""
    return f"{{color:#999999}}hub-{message_id}{{color}}"
