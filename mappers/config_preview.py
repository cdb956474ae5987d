"""What a message would get under a configuration, and how two configurations differ on the same
messages: the console editor's preview (issue 16). Pure: the messages, the configurations and what the
deployment can send come in; nothing is read or written.

A new message is matched as the delivery job matches it (``HubConfig.rule_for``) and drafted as it
drafts it (``mappers.issue.build_draft``), so the preview shows the rule, the tracker and project (or
board and column), the issue type, the fields, the assignee and the labels the issue would have, and the
autoreply text the customer would get. An auto-generated mail is ignored and a bounce is noted on its
issue under any configuration; a follow-up in a known conversation becomes a comment, which no rule
decides: those say so instead. A round-robin rule's next assignee lives in Redis, so the preview names
the rotation rather than guessing whose turn it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from config.rules import HubConfig, Rule
from connector.types import IssueDraft
from mappers.issue import build_draft, idempotency_label
from mappers.models import Channel, InboundMessage, MessageKind
from mappers.replies import may_autoreply_to, pick_language, render, subject_tag

ISSUE = "issue"
IGNORED = "ignored"
BOUNCE = "bounce"
COMMENT = "comment"

# What a comparison looks at, in the order a change is reported.
ASPECTS = ("rule", "target", "issue_type", "fields", "assignee", "labels", "autoreply")


@dataclass(frozen=True)
class Replies:
    """What this deployment can answer with (the settings, not the rule file): a Telegram bot, SMTP,
    autoreplies to form senders."""

    telegram: bool = True
    mail: bool = True
    forms: bool = True


@dataclass(frozen=True)
class Outcome:
    """What one message would become under one configuration.

    ``action`` is ``issue`` (a new issue: the rest is filled), ``comment`` (a follow-up on ``note``'s
    issue), ``ignored`` (auto-generated mail) or ``bounce``; ``target`` is ``tracker/PROJECT`` or
    ``tracker/board 10, column 101``; ``autoreply`` is the text the customer would get, or None with
    ``autoreply_note`` saying why none.
    """

    action: str
    rule: str = ""
    target: str = ""
    issue_type: str = ""
    fields: tuple[tuple[str, str], ...] = ()
    assignee: str = ""
    labels: tuple[str, ...] = ()
    autoreply: str | None = None
    autoreply_note: str = ""
    note: str = ""

    def aspect(self, name: str) -> object:
        """One aspect as compared (``ASPECTS``); the action counts as part of the rule."""
        return (self.action, self.rule) if name == "rule" else getattr(self, name)


@dataclass(frozen=True)
class Comparison:
    """One message under the old and the new configuration, and the aspects that differ."""

    message_id: str
    message: InboundMessage
    old: Outcome
    new: Outcome
    changes: tuple[str, ...] = field(default=())

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def outcome(
    config: HubConfig,
    message: InboundMessage,
    message_id: str,
    replies: Replies = Replies(),
    follows_up: str | None = None,
) -> Outcome:
    """What ``message`` (journaled as ``message_id``) would become under ``config``; ``follows_up`` is
    the issue its conversation already has (a follow-up becomes a comment there)."""
    if message.kind == MessageKind.AUTO_REPLY:
        return Outcome(IGNORED, note=f"auto-generated mail: {message.auto_reason or 'yes'}")
    if message.kind == MessageKind.BOUNCE:
        return Outcome(BOUNCE, note="a bounce of the hub's own mail: noted on its issue")
    if follows_up is not None or message.kind == MessageKind.EDIT:
        return Outcome(COMMENT, note=follows_up or "")
    rule = config.rule_for(message)
    draft = build_draft(message, rule, message_id)
    text, why_not = autoreply(config, message, draft, replies)
    return Outcome(
        ISSUE,
        rule=rule.name,
        target=target_text(draft),
        issue_type=draft.target.issue_type or "",
        fields=field_rows(draft),
        assignee=assignee_text(rule, draft),
        labels=tuple(label for label in draft.labels if label != idempotency_label(message_id)),
        autoreply=text,
        autoreply_note=why_not,
    )


def compare(
    old: HubConfig,
    new: HubConfig,
    messages: Iterable[tuple[str, InboundMessage]],
    replies: Replies = Replies(),
    follow_ups: dict[str, str] | None = None,
) -> list[Comparison]:
    """Each message under ``old`` and ``new``, with what changed; ``follow_ups`` maps a message id to
    the issue its conversation already had."""
    known = follow_ups or {}
    rows = []
    for message_id, message in messages:
        before = outcome(old, message, message_id, replies, known.get(message_id))
        after = outcome(new, message, message_id, replies, known.get(message_id))
        rows.append(Comparison(message_id, message, before, after, changes(before, after)))
    return rows


def changes(old: Outcome, new: Outcome) -> tuple[str, ...]:
    """The aspects (``ASPECTS``) in which two outcomes differ."""
    return tuple(name for name in ASPECTS if old.aspect(name) != new.aspect(name))


def target_text(draft: IssueDraft) -> str:
    """``jira/SUP`` or ``kaiten/board 10, column 101, lane 111``."""
    target = draft.target
    if target.column is None and target.lane is None and not target.container.isdigit():
        return f"{target.tracker}/{target.container}"
    parts = [f"board {target.container}"]
    parts += [
        f"{name} {value}" for name, value in (("column", target.column), ("lane", target.lane)) if value
    ]
    return f"{target.tracker}/{', '.join(parts)}"


def field_rows(draft: IssueDraft) -> tuple[tuple[str, str], ...]:
    """The fields a rule sets, as (name, value) text, in a stable order."""
    rows = [("priority", draft.priority or ""), ("components", ", ".join(draft.components))]
    rows += [(key, _value_text(value)) for key, value in sorted(draft.custom_fields.items())]
    return tuple((name, value) for name, value in rows if value)


def assignee_text(rule: Rule, draft: IssueDraft) -> str:
    """The assignee, or the rotation a round-robin rule takes turns in."""
    if rule.fields.assignees:
        return "round-robin: " + ", ".join(rule.fields.assignees)
    return draft.assignee or ""


def autoreply(
    config: HubConfig, message: InboundMessage, draft: IssueDraft, replies: Replies
) -> tuple[str | None, str]:
    """The autoreply a new issue's customer would get (with a placeholder key), or None and why not;
    the same reasons as ``jobs.replies`` decides by, in its order."""
    if message.channel == Channel.TELEGRAM:
        if not replies.telegram or message.telegram is None:
            return None, "no Telegram bot token configured"
    elif not replies.mail:
        return None, "SMTP_URL is not set"
    elif not may_autoreply_to((message.email.reply_to if message.email else None) or message.sender.email):
        return None, "no address to answer"
    elif message.channel == Channel.FORM and not replies.forms:
        return None, "autoreplies to form senders are off"
    language = pick_language(message.sender.language, config.texts.default_language)
    key = placeholder_key(draft)
    if message.channel == Channel.TELEGRAM:
        return render("autoreply_telegram", language, key=key, url="").strip(), ""
    subject = f"{subject_tag(key)} {render('autoreply_email_subject', language).strip()}"
    body = render("autoreply_email", language, key=key, url="").strip()
    return f"{subject}\n\n{body}", ""


def placeholder_key(draft: IssueDraft) -> str:
    """The key the preview shows for an issue not yet created: ``SUP-…``, or ``…`` for a Kaiten card."""
    container = draft.target.container
    return "…" if container.isdigit() else f"{container}-…"


def count_changed(rows: Sequence[Comparison]) -> int:
    """How many of the compared messages change."""
    return sum(1 for row in rows if row.changed)


def _value_text(value: object) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}: {item}" for key, item in value.items())
    return str(value)
