"""A customer's follow-up, shown in the team chats where its issue has a card.

When a customer's later message lands on their issue as a comment, ``queue_forward`` hands it to
``forward`` (a job, once per message): each team chat holding the issue's card gets it as a reply under
the card, "↩ SUP-7 · Ann Lee: …", once (the outbound log, kind ``forward:<chat>``, keeps the Telegram
message it became). A team member's reply to that message is an answer from the phone, exactly as a
reply to the card is (``jobs.team_replies`` finds the card through ``forwarded_card``).
"""

from __future__ import annotations

import logging

from jobs.context import Context, get_context
from jobs.queues import enqueue_reply
from jobs.team_cards import has_team_chats
from mappers import team_cards
from mappers.models import InboundMessage
from store import journal, outbound, staff_cards
from store.outbound import Outbound
from store.staff_cards import Card

log = logging.getLogger(__name__)

KIND = "forward:{chat}"


def queue_forward(ctx: Context, message_id: str) -> None:
    """Show the follow-up ``message_id`` in the team's chats, when there are any and a bot."""
    if has_team_chats(ctx):
        enqueue_reply(ctx.redis, "jobs.team_forwards.forward", message_id)


def forward(message_id: str) -> int:
    """The RQ job: the follow-up under each card of its issue; how many chats got it now."""
    return forward_with(get_context(), message_id)


def forward_with(ctx: Context, message_id: str) -> int:
    entry = journal.get(ctx.engine, message_id)
    client = ctx.telegram
    if entry is None or entry.issue_key is None or entry.tracker is None or client is None:
        return 0
    message = InboundMessage.model_validate_json(entry.body)
    text = team_cards.forward_text(entry.issue_key, message.sender.name or "?", message.text)
    sent = 0
    for card in staff_cards.for_issue(ctx.engine, entry.tracker, entry.issue_key):
        kind = KIND.format(chat=card.chat_id)
        done = outbound.find(ctx.engine, message_id, kind)
        if card.telegram_message_id is None or (done is not None and done.status == "sent"):
            continue
        chat = int(card.chat_id) if card.chat_id.lstrip("-").isdigit() else card.chat_id  # or an @channel
        ref = client.send_message(chat, text, reply_to_message_id=card.telegram_message_id)
        record = Outbound(message_id, kind, "telegram", card.chat_id, "sent", None, str(ref))
        outbound.record(ctx.engine, record)
        sent += 1
    log.info("cards.forwarded message_id=%s key=%s chats=%d", message_id, entry.issue_key, sent)
    return sent


def forwarded_card(ctx: Context, chat_id: int, telegram_message_id: int) -> Card | None:
    """The card under which the bot's message ``telegram_message_id`` in ``chat_id`` showed a follow-up."""
    found = outbound.by_external_ref(ctx.engine, "telegram", str(chat_id), str(telegram_message_id))
    if found is None or found.kind != KIND.format(chat=chat_id):
        return None
    entry = journal.get(ctx.engine, found.message_id)
    if entry is None or entry.tracker is None or entry.issue_key is None:
        return None
    cards = staff_cards.for_issue(ctx.engine, entry.tracker, entry.issue_key)
    return next((card for card in cards if card.chat_id == str(chat_id)), None)
