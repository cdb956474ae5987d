"""Inbound message + rule → issue draft, and follow-ups → comment text (pure).

The summary is one line of at most 255 characters with no newlines (Jira's limit; Kaiten takes 1,024):
the subject when it says something, else the message's first meaningful sentence or two near 100
characters (``mappers.titles``: greetings and sign-offs skipped), else the channel and the sender.
Jira's summary and Kaiten's card title are plain text (neither renders markup in a title), so the
summary is not escaped; control characters and line breaks are removed. The description is the
customer's text escaped for the tracker's markup, followed by a block naming the sender, contact,
channel and time.
"""

from __future__ import annotations

from config.rules import Rule
from config.targets import JiraTarget, KaitenTarget
from connector.types import IssueDraft, Target
from mappers.markup import JIRA, Markup, markup_for, one_line
from mappers.models import Channel, InboundMessage
from mappers.subjects import clean_subject
from mappers.titles import TITLE_LIMIT, meaningful_subject, title_from_text

SUMMARY_LIMIT = 255
# Longest description or comment a tracker takes: Jira's jira.text.field.character.limit default (Data
# Center and Cloud); Kaiten takes 32,768. Longer customer text is cut, with a note, rather than refused.
TEXT_LIMIT = 32_767
VALUE_LIMIT = 500  # one value in the sender block (a name, a form field)

CHANNEL_NAMES = {Channel.TELEGRAM: "Telegram", Channel.EMAIL: "E-mail", Channel.FORM: "Web form"}


def idempotency_label(message_id: str) -> str:
    """The label (Jira) or external id (Kaiten) that marks the issue a message created."""
    return f"hub-{message_id}"


def summarize(message: InboundMessage) -> str:
    """The issue summary: a subject that says something ("Счёт не пришёл", not "Вопрос" or "Re:"), else
    the text's first meaningful sentence or two, else a generic subject, else what the channel tells."""
    subject = meaningful_subject(message.subject)
    if subject:
        return one_line(subject, SUMMARY_LIMIT)
    title = title_from_text(message.text)
    if title:
        return title
    fallback = clean_subject(message.subject)
    if not fallback and message.attachments:
        fallback = f"{CHANNEL_NAMES[message.channel]}: {message.attachments[0].filename}"
    if not fallback:
        sender = message.sender.name or message.sender.contact
        fallback = f"{CHANNEL_NAMES[message.channel]} message" + (f" from {sender}" if sender.strip() else "")
    return one_line(fallback, TITLE_LIMIT)


def sender_block(message: InboundMessage, markup: Markup = JIRA) -> str:
    """The block naming who wrote, how and when, in the tracker's markup."""
    rows = [
        ("From", message.sender.name or "(no name)"),
        ("Contact", message.sender.contact or "(none)"),
        ("Channel", CHANNEL_NAMES[message.channel]),
        ("Received", message.received_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip()),
    ]
    if message.category:
        rows.append(("Category", message.category))
    rows.extend((name.replace("_", " ").capitalize(), value) for name, value in message.fields.items())
    lines = [
        f"{markup.bold(markup.escape(label) + ':')} {markup.escape(_clip(value))}" for label, value in rows
    ]
    return markup.rule + "\n" + "\n".join(lines)


def describe(message: InboundMessage, markup: Markup = JIRA) -> str:
    """The issue description: the escaped text, notes about files, and the sender block."""
    notes = [markup.italic(markup.escape(note)) for note in message.notes]
    return _fit_text(message.text.strip(), markup, [], [*notes, sender_block(message, markup)])


def _clip(value: str, limit: int = VALUE_LIMIT) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _fit_text(text: str, markup: Markup, before: list[str], after: list[str]) -> str:
    """``before``, the escaped customer text, ``after``, as paragraphs in at most ``TEXT_LIMIT`` characters.

    Quoted history the text kept (``>`` lines) shows as a block quote (``Markup.text``).
    When the text does not fit it is cut (before escaping, so no escape is split) and a note says so;
    the whole message stays in the hub's journal.
    """
    frame = [*before, *after]
    room = TEXT_LIMIT - len("\n\n".join(frame)) - 2
    body = markup.text(text)
    if len(body) <= room:
        return "\n\n".join([*before, body or markup.italic("(no text)"), *after])
    note = markup.italic(
        markup.escape(
            f"The text was cut to fit the tracker's limit of {TEXT_LIMIT:,} characters; "
            f"the whole message ({len(text):,} characters) is kept in the hub's journal."
        )
    )
    room -= len(note) + 2 + len(" …")
    cut = min(len(text), max(room, 0))
    while cut > 0:
        body = markup.text(text[:cut].rstrip())
        if len(body) <= room:
            break
        cut = min(cut - 1, cut * room // len(body))
    else:
        body = ""
    return "\n\n".join([*before, body + " …" if body else "…", note, *after])


def target_of(target: JiraTarget | KaitenTarget) -> Target:
    """A rule's (or named) target as the connectors' neutral ``Target``: the tracker instance's name,
    the Jira project or Kaiten board, and Kaiten's ids as text."""
    if isinstance(target, KaitenTarget):
        return Target(
            tracker=target.tracker,
            container=str(target.board),
            issue_type=_text(target.type),
            column=_text(target.column),
            lane=_text(target.lane),
        )
    return Target(tracker=target.tracker, container=target.project, issue_type=target.issue_type)


def _text(value: int | None) -> str | None:
    return None if value is None else str(value)


def build_draft(
    message: InboundMessage, rule: Rule, message_id: str, assignee: str | None = None
) -> IssueDraft:
    """The issue a new message becomes under ``rule``; ``assignee`` (round-robin) overrides the rule's."""
    key = idempotency_label(message_id)
    target = rule.target
    fields = rule.fields
    markup = markup_for(target.kind)
    common = {
        "title": summarize(message),
        "body": describe(message, markup),
        "idempotency_key": key,
        "assignee": assignee or fields.assignee,
        "requester": message.sender.contact,
    }
    if isinstance(target, KaitenTarget):
        # Kaiten keeps the idempotency key in the card's external_id, so it is not a tag.
        return IssueDraft(
            target=target_of(target),
            labels=tuple(dict.fromkeys((message.channel.value, *fields.labels))),
            priority="asap" if fields.asap else None,
            custom_fields=dict(fields.properties),
            **common,  # type: ignore[arg-type]
        )
    return IssueDraft(
        target=target_of(target),
        labels=tuple(dict.fromkeys((message.channel.value, *fields.labels, key))),
        priority=fields.priority,
        components=fields.components,
        custom_fields=dict(fields.custom_fields),
        **common,  # type: ignore[arg-type]
    )


def build_comment(
    message: InboundMessage, message_id: str, *, edited: bool = False, markup: Markup = JIRA
) -> str:
    """A follow-up (or a Telegram edit) as a comment, ending with the hub's idempotency marker."""
    who = markup.bold(markup.escape(_clip(message.sender.name or message.sender.contact or "customer")))
    via = CHANNEL_NAMES[message.channel]
    heading = f"{who} edited a message ({via}):" if edited else f"{who} wrote ({via}):"
    notes = [markup.italic(markup.escape(note)) for note in message.notes]
    return _fit_text(
        message.text.strip(), markup, [heading], [*notes, markup.marker(comment_marker(message_id))]
    )


def bounce_comment(message: InboundMessage, message_id: str, markup: Markup = JIRA) -> str:
    """A delivery failure of the hub's own mail, recorded on the issue it concerned."""
    meta = message.email
    recipient = markup.escape((meta.bounce_recipient if meta else None) or "the customer")
    status = markup.escape((meta.bounce_status if meta else None) or "unknown")
    notice = markup.italic(f"Mail to {recipient} could not be delivered (status {status}).")
    return f"{notice}\n\n{markup.escape(message.subject)}\n\n{markup.marker(comment_marker(message_id))}"


def comment_marker(message_id: str) -> str:
    """The text that lets a retried job find a comment it already added."""
    return f"hub-{message_id}"
