"""Outbound jobs: the automatic reply that tells a customer their issue key, in their channel.

Each send is recorded in the outbound log keyed by (message, kind), so a retried job does not send
twice. Mail is rate-limited per recipient (``HUB_AUTOREPLY_PER_HOUR``) and never sent to robots.
Autoreplies carry only the issue key and the hub's own text (``mappers.replies``), and those to form
senders, whose address anyone can type, are capped for the whole hub (``HUB_FORM_AUTOREPLY_PER_HOUR``):
a spammer who rotates recipients and addresses still cannot make the hub a mailer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from connector.errors import ChannelRejected
from connector.mail import send_mail
from connector.ratelimit import RedisRateLimiter
from connector.types import FileUpload
from jobs.context import Context, get_context
from jobs.queues import enqueue_reply
from mappers.models import Channel, InboundMessage
from mappers.replies import (
    autoreply_subject,
    build_autoreply_mail,
    may_autoreply_to,
    pick_language,
    render,
    reply_subject,
    subject_tag,
)
from mappers.replies_out import html_alternative
from store import journal, links, outbound
from store.links import Link
from store.outbound import Outbound

log = logging.getLogger(__name__)

AUTOREPLY = "autoreply"
HOUR = 3600
FORM_AUTOREPLY_CAP_KEY = "hub:form-autoreply-rate"


def send_autoreply(message_id: str) -> str:
    """RQ entry point: tell the customer their new issue's key."""
    return send_autoreply_with(get_context(), message_id)


def send_autoreply_with(ctx: Context, message_id: str) -> str:
    """Send (or skip, with a reason) the auto-reply for a delivered message; return what happened."""
    done = outbound.find(ctx.engine, message_id, AUTOREPLY)
    if done is not None and done.status in ("sent", "skipped"):
        return done.status
    entry = journal.get(ctx.engine, message_id)
    if entry is None or entry.outcome != "issue" or entry.issue_key is None:
        return "skipped"
    link = links.link_for_issue(ctx.engine, entry.issue_key)
    if link is None:
        return "skipped"
    message = InboundMessage.model_validate_json(entry.body)
    if _skipped(ctx, message_id, message, link.requester_email):
        return "skipped"
    language = pick_language(message.sender.language, ctx.config.texts.default_language)
    try:
        if message.channel == Channel.TELEGRAM:
            return _reply_telegram(ctx, message_id, message, link, language)
        return _reply_mail(ctx, message_id, message, link, language)
    except ChannelRejected as exc:
        _record(ctx, message_id, message.channel, link.requester_email or "", "failed", str(exc))
        log.warning("autoreply.rejected message_id=%s reason=%s", message_id, exc)
        return "failed"


def autoreply_skip(
    ctx: Context, message_id: str, message: InboundMessage, requester_email: str | None
) -> Outbound | None:
    """The outbound log's "skipped" for a new issue's autoreply when the configuration rules it out
    (no bot token, no SMTP, no address to answer); None when a reply can go (``queue_autoreply``).

    Decided once, when the issue is recorded: the delivery writes the skip with its other rows, and no
    job is queued for it (a job would cost 3–4 ms of worker CPU, bench/pipeline.py).
    """
    reason = _why_no_autoreply(ctx, message, requester_email)
    if reason is None:
        return None
    recipient = "" if message.channel == Channel.TELEGRAM else requester_email or ""
    return Outbound(message_id, AUTOREPLY, message.channel.value, recipient, "skipped", reason, None)


def queue_autoreply(ctx: Context, message_id: str) -> None:
    """Queue a new issue's autoreply job (``autoreply_skip`` said one can go)."""
    enqueue_reply(ctx.redis, "jobs.replies.send_autoreply", message_id)


def _skipped(ctx: Context, message_id: str, message: InboundMessage, requester_email: str | None) -> bool:
    """Record the autoreply as skipped when the configuration rules it out; whether it did."""
    skip = autoreply_skip(ctx, message_id, message, requester_email)
    if skip is None:
        return False
    outbound.record(ctx.engine, skip)
    log_recorded(skip)
    return True


def _why_no_autoreply(ctx: Context, message: InboundMessage, requester_email: str | None) -> str | None:
    """Why no autoreply can go to this message's sender, as far as the configuration tells; None: it can."""
    if message.channel == Channel.TELEGRAM:
        return None if ctx.telegram is not None and message.telegram else "no Telegram bot token configured"
    if not ctx.settings.secret("SMTP_URL"):
        return "SMTP_URL is not set"
    if not may_autoreply_to(requester_email):
        return "no address to answer"
    if message.channel == Channel.FORM and ctx.settings.HUB_FORM_AUTOREPLY_PER_HOUR == 0:
        return "autoreplies to form senders are off (HUB_FORM_AUTOREPLY_PER_HOUR=0)"
    return None


def _reply_telegram(ctx: Context, message_id: str, message: InboundMessage, link: Link, language: str) -> str:
    client, meta = ctx.telegram, message.telegram
    assert client is not None and meta is not None  # _why_no_autoreply said so
    text = render("autoreply_telegram", language, key=link.issue_key, url=link.issue_url)
    sent_id = client.send_message(
        meta.chat_id, text, thread_id=meta.thread_id, reply_to_message_id=meta.message_id
    )
    return _record(ctx, message_id, Channel.TELEGRAM, str(meta.chat_id), "sent", None, str(sent_id))


def _reply_mail(ctx: Context, message_id: str, message: InboundMessage, link: Link, language: str) -> str:
    recipient = link.requester_email
    smtp_url = ctx.settings.secret("SMTP_URL")
    assert smtp_url and recipient is not None  # _why_no_autoreply said so
    limited = _over_mail_limit(ctx, message.channel, recipient)
    if limited is not None:
        return _record(ctx, message_id, message.channel, recipient, "skipped", limited)
    meta = message.email
    mail = build_autoreply_mail(
        sender=ctx.settings.HUB_EMAIL_FROM,
        recipient=recipient,
        subject=autoreply_subject(link.issue_key, language=language),
        body=render("autoreply_email", language, key=link.issue_key, url=link.issue_url),
        domain=ctx.settings.email_domain,
        in_reply_to=meta.message_id if meta else None,
        references=list(meta.references) if meta else [],
        date=journal.utcnow(),
    )
    send_mail(smtp_url, mail)
    sent_id = str(mail["Message-ID"])
    links.remember_mail_ids(ctx.engine, link.id, [sent_id], "out")
    return _record(ctx, message_id, message.channel, recipient, "sent", None, sent_id)


def _over_mail_limit(ctx: Context, channel: Channel, recipient: str) -> str | None:
    """Why this autoreply mail would break an hourly limit; None when it may go.

    At most ``HUB_AUTOREPLY_PER_HOUR`` per recipient (loop protection) and, for form senders, at most
    ``HUB_FORM_AUTOREPLY_PER_HOUR`` in all, counted in Redis so every worker shares the budget.
    """
    if _count_this_hour(ctx, f"hub:autoreply-rate:{recipient.lower()}") > ctx.settings.HUB_AUTOREPLY_PER_HOUR:
        return "per-recipient rate limit"
    cap = ctx.settings.HUB_FORM_AUTOREPLY_PER_HOUR
    if channel == Channel.FORM and _count_this_hour(ctx, FORM_AUTOREPLY_CAP_KEY) > cap:
        return f"hourly cap on autoreplies to form senders reached (HUB_FORM_AUTOREPLY_PER_HOUR={cap})"
    return None


def _count_this_hour(ctx: Context, key: str) -> int:
    """Count one more event in ``key``'s window, which opens with its first event and lasts an hour.

    The window's expiry is set in the same transaction as the count, so a crash between the two cannot
    leave a counter that never expires (and a limit that never lifts).
    """
    pipe = ctx.redis.pipeline(transaction=True)
    pipe.set(key, 0, ex=HOUR, nx=True)
    pipe.incr(key)
    return int(pipe.execute()[1])


def _record(
    ctx: Context,
    message_id: str,
    channel: Channel,
    recipient: str,
    status: str,
    reason: str | None,
    external_ref: str | None = None,
    *,
    kind: str = AUTOREPLY,
) -> str:
    item = Outbound(message_id, kind, channel.value, recipient, status, reason, external_ref)
    outbound.record(ctx.engine, item)
    return log_recorded(item)


def log_recorded(item: Outbound) -> str:
    """Log an outbound log row just written; its status."""
    log.info(
        "outbound.%s message_id=%s kind=%s channel=%s", item.status, item.message_id, item.kind, item.channel
    )
    return item.status


# -- messages from the team: replies, canned messages, status notifications -----------------------------


def send_to_customer(
    ctx: Context,
    link: Link,
    text: str,
    *,
    key: str,
    message_id: str,
    files: Sequence[FileUpload] = (),
    hub_subject: str | None = None,
) -> str:
    """Send ``text`` to the customer of ``link`` in their channel, once per ``key``.

    Telegram: plain text, escaped and split by the client, at most one message per second per chat.
    E-mail: ``[KEY] Re: <subject>`` threaded under the customer's last mail, plain text with an HTML
    alternative; its Message-ID is remembered so the customer's answer threads back. A message no person
    wrote (a status notification) passes ``hub_subject``: then the mail's subject is ``[KEY] <hub_subject>``
    and neither the customer's subject nor their name is repeated, because a web form's or a mail's
    address is not verified and the hub must not echo a stranger's text to an address a stranger chose.
    Raises ChannelUnavailable (retry later) or ChannelRejected (give up and tell the team).
    """
    done = outbound.find_kind(ctx.engine, key)
    if done is not None and done.status == "sent":
        return "duplicate"
    if link.channel == Channel.TELEGRAM.value:
        sent = _send_telegram(ctx, link, text, files)
        recipient = str(link.telegram_chat_id)
    else:
        sent = _send_mail(ctx, link, text, files, hub_subject)
        recipient = link.requester_email or ""
    return _record(ctx, message_id, Channel(link.channel), recipient, "sent", None, sent, kind=key)


def _send_telegram(ctx: Context, link: Link, text: str, files: Sequence[FileUpload]) -> str:
    client = ctx.telegram
    if client is None or link.telegram_chat_id is None:
        raise ChannelRejected("no Telegram bot token is configured")
    limiter = _chat_limiter(ctx, link.telegram_chat_id)
    limiter.acquire(timeout=10)
    sent = client.send_message(link.telegram_chat_id, text, thread_id=link.telegram_thread_id)
    for upload in files:
        limiter.acquire(timeout=10)
        client.send_document(
            link.telegram_chat_id, upload.filename, upload.content, thread_id=link.telegram_thread_id
        )
    return str(sent)


def _chat_limiter(ctx: Context, chat_id: int) -> RedisRateLimiter:
    """Telegram asks for at most one message per second per chat (Bot API FAQ)."""
    return RedisRateLimiter(ctx.redis, f"hub:tg-chat:{chat_id}", rate=1, burst=1, period=1.0, max_wait=10.0)


def _send_mail(
    ctx: Context, link: Link, text: str, files: Sequence[FileUpload] = (), hub_subject: str | None = None
) -> str:
    smtp_url = ctx.settings.secret("SMTP_URL")
    if not smtp_url:
        raise ChannelRejected("SMTP_URL is not set")
    if not may_autoreply_to(link.requester_email):
        raise ChannelRejected("the customer left no e-mail address")
    assert link.requester_email is not None
    thread = links.thread_mail_ids(ctx.engine, link.id)
    mail = build_autoreply_mail(
        sender=ctx.settings.HUB_EMAIL_FROM,
        recipient=link.requester_email,
        recipient_name="" if hub_subject is not None else link.requester_name,
        subject=(
            f"{subject_tag(link.issue_key)} {hub_subject}"
            if hub_subject is not None
            else reply_subject(link.issue_key, link.subject)
        ),
        body=text,
        html=html_alternative(text),
        domain=ctx.settings.email_domain,
        in_reply_to=links.last_inbound_mail_id(ctx.engine, link.id),
        references=thread,
        date=journal.utcnow(),
    )
    for upload in files:
        maintype, _, subtype = (upload.content_type or "application/octet-stream").partition("/")
        mail.add_attachment(
            upload.content, maintype=maintype, subtype=subtype or "octet-stream", filename=upload.filename
        )
    send_mail(smtp_url, mail)
    sent_id = str(mail["Message-ID"])
    links.remember_mail_ids(ctx.engine, link.id, [sent_id], "out")
    return sent_id
