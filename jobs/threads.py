"""Which issue a message belongs to: its conversation's, found by chat, mail headers or subject key."""

from __future__ import annotations

from jobs.context import Context
from mappers.models import Channel, InboundMessage
from mappers.subjects import find_issue_keys
from store import links
from store.links import Link


def find_thread(ctx: Context, message: InboundMessage) -> Link | None:
    """The conversation's issue, if this message follows up on one (resolved or not: the caller asks).

    Telegram: the chat topic's newest issue. E-mail: a Message-ID in In-Reply-To/References that the
    hub sent or received; failing that, an issue key in the subject, but only from the issue's requester.
    """
    if message.channel == Channel.TELEGRAM:
        return links.latest_link(ctx.engine, message.conversation_key)
    if message.channel != Channel.EMAIL or message.email is None:
        return None
    by_header = links.link_for_mail_ids(
        ctx.engine, [*message.email.in_reply_to, *reversed(message.email.references)]
    )
    if by_header is not None:
        return by_header
    sender = (message.sender.email or "").lower()
    for key in find_issue_keys(message.subject):
        link = links.link_for_issue(ctx.engine, key)
        if link is not None and sender and (link.requester_email or "").lower() == sender:
            return link
    return None


def resolved(ctx: Context, link: Link) -> bool:
    """Whether the link's issue is done now (the tracker decides; a reopened issue goes on), its link
    deactivated if it still was active: a message to it then opens a successor issue."""
    if not ctx.tracker(link.tracker).get_state(link.issue_key).done:
        return False
    if link.active:
        links.deactivate(ctx.engine, link.id)
    return True


def own_mail_ids(message: InboundMessage) -> list[str]:
    """The message's own Message-ID, to find its thread by when the customer answers it."""
    if message.email and message.email.message_id:
        return [message.email.message_id]
    return []
