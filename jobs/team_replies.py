"""Answers from the phone: a team member replies, in the team chat, to an issue's card or to a customer's
follow-up the bot showed under it (``jobs.team_forwards``).

The text goes to the customer by the normal reply path (``send_to_customer``: their channel, once per
Telegram message), with ``::codes`` expanded as in a tracker comment, and is recorded on the issue as a
comment naming who wrote it and that it was sent. A reply starting with ``!`` is an internal note on the
issue and goes to nobody. Only linked members (``store.staff``) may answer; the chat is told when the
text could not go (somebody not linked, an issue without a customer, a code that does not render).
Each step is idempotent (the outbound ledger's key, the comment's marker), so a retried job repeats none.
"""

from __future__ import annotations

import logging
from typing import Any

from connector.errors import ChannelRejected
from jobs.canned import expand_for_issue
from jobs.context import Context, get_context
from jobs.replies import send_to_customer
from jobs.team_forwards import forwarded_card
from mappers import team_cards
from mappers.team_cards import StaffReply
from store import links, staff, staff_cards

log = logging.getLogger(__name__)


def handle_staff_reply(update: dict[str, Any]) -> str:
    """The RQ job; what came of the reply."""
    reply = team_cards.parse_reply(update)
    return "malformed" if reply is None else handle_staff_reply_with(get_context(), reply)


def handle_staff_reply_with(ctx: Context, reply: StaffReply) -> str:
    outcome, note = _answer(ctx, reply)
    log.info("staff-reply outcome=%s telegram_user=%s update_id=%s", outcome, reply.user_id, reply.update_id)
    client = ctx.telegram
    if note and client is not None:
        client.send_message(reply.chat_id, note, reply_to_message_id=reply.message_id)
    return outcome


def _answer(ctx: Context, reply: StaffReply) -> tuple[str, str | None]:
    """What the reply came to, and what the chat is told."""
    card = staff_cards.on_message(ctx.engine, reply.chat_id, reply.reply_to) or forwarded_card(
        ctx, reply.chat_id, reply.reply_to
    )
    if card is None:
        return "not-a-card", None  # a reply to another of the bot's messages: nothing to do
    member = staff.find(ctx.engine, reply.user_id)
    if member is None:
        return "refused", "Only linked members of the team can answer customers (ask for an invite link)."
    tracker = ctx.tracker(card.tracker)
    markup = ctx.markup(card.tracker)
    marker = f"hub-staff-reply-{reply.chat_id}-{reply.message_id}"
    if reply.internal:
        if tracker.find_comment(card.issue_key, marker) is None:
            signed = markup.italic(markup.escape(f"{member.name}, from Telegram"))
            body = f"{markup.escape(reply.body)}\n\n{signed}\n\n{markup.marker(marker)}"
            tracker.add_internal_comment(card.issue_key, body, marker)
        return "internal", None
    link = links.link_for_issue(ctx.engine, card.issue_key)
    if link is None:
        return "no-customer", f"{card.issue_key} has no customer conversation: nothing was sent."
    text = _expanded(ctx, reply, card.issue_key, link, member.name)
    if text is None:
        return "canned-failed", "A ::code in the answer is unknown or failed to render: nothing was sent."
    try:
        send_to_customer(
            ctx,
            link,
            text,
            key=f"reply:telegram-staff:{reply.chat_id}:{reply.message_id}",
            message_id=link.message_id,
        )
    except ChannelRejected as exc:
        return "undeliverable", f"The customer could not be reached: {exc}"
    if tracker.find_comment(card.issue_key, marker) is None:
        signed = markup.italic(markup.escape(f"{member.name}, from Telegram; sent to the customer"))
        tracker.add_comment(
            card.issue_key, f"{markup.escape(text)}\n\n{signed}\n\n{markup.marker(marker)}", marker
        )
    return "sent", None


def _expanded(ctx: Context, reply: StaffReply, key: str, link: links.Link, agent: str) -> str | None:
    """The answer with its ``::codes`` rendered for the customer; None when one fails."""
    if "::" not in reply.body:
        return reply.body
    expansion = expand_for_issue(ctx, ctx.tracker(link.tracker), key, reply.body, link, agent)
    if expansion.errors or expansion.unknown:
        return None
    return expansion.text
