"""What a delivery writes once its message reached the tracker, in one transaction.

A new issue: the conversation's link to it (and the message's own mail ids), the journal row delivered,
and, when the configuration already rules the autoreply out, the outbound log's "skipped". A comment:
the message's mail ids on the issue's thread, and the row delivered. Written together they cost one
commit instead of three, and a process killed in between can no longer leave a link without its
delivered row (the retry would have found the issue by its label, but only after a search).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Engine

from store import journal, links, outbound
from store.links import Link, NewLink
from store.outbound import Outbound


def issue_opened(
    engine: Engine, new: NewLink, mail_message_ids: Sequence[str], skipped_reply: Outbound | None = None
) -> Link:
    """The message ``new.message_id`` opened ``new.issue_key``: link, delivered row and a skipped
    autoreply (when given), all or nothing; the link as stored."""
    with engine.begin() as conn:
        link = links.insert_link(conn, new, mail_message_ids)
        journal.set_delivered(
            conn,
            new.message_id,
            tracker=new.tracker,
            issue_key=new.issue_key,
            issue_url=new.issue_url,
            outcome="issue",
        )
        if skipped_reply is not None:
            outbound.record_in(conn, skipped_reply)
    return link


def comment_added(engine: Engine, message_id: str, link: Link, mail_message_ids: Sequence[str]) -> None:
    """The message ``message_id`` is a comment on ``link``'s issue: its mail ids on the thread and its
    row delivered, together."""
    with engine.begin() as conn:
        links.put_mail_ids(conn, link.id, mail_message_ids, "in")
        links.set_delivered_on(conn, message_id, link, "comment")
