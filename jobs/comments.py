"""A message added to its conversation's issue as a comment: a follow-up, or a bounce of the hub's mail."""

from __future__ import annotations

import logging

from jobs.attempts import Attempt, written_already
from jobs.context import Context
from jobs.files import attach_files, collect_files
from jobs.team_forwards import queue_forward
from jobs.threads import own_mail_ids
from mappers.issue import bounce_comment, build_comment, comment_marker
from mappers.models import MessageKind
from store import journal, links, outcomes
from store.links import Link

log = logging.getLogger(__name__)


def add_follow_up(ctx: Context, attempt: Attempt, link: Link) -> str:
    """The message as a comment on ``link``'s issue (once: a retry looks for its marker first)."""
    entry, message = attempt.entry, attempt.message
    tracker = ctx.tracker(link.tracker)
    files, notes = collect_files(ctx, message)
    if notes:
        message = message.model_copy(update={"notes": [*message.notes, *notes]})
    marker = comment_marker(entry.id)
    if entry.attempts > 0 and tracker.find_comment(link.issue_key, marker):
        log.info("deliver.comment-exists message_id=%s key=%s", entry.id, link.issue_key)
    else:
        edited = message.kind == MessageKind.EDIT
        body = build_comment(message, entry.id, edited=edited, markup=ctx.markup(link.tracker))
        tracker.add_comment(link.issue_key, body, marker)
    with written_already():
        attach_files(tracker, entry, link.issue_key, files)
    outcomes.comment_added(ctx.engine, entry.id, link, own_mail_ids(message))  # one transaction
    queue_forward(ctx, entry.id)  # shown under the issue's card in the team chats
    return journal.DELIVERED


def record_bounce(ctx: Context, attempt: Attempt) -> str:
    """A bounce of mail the hub sent: a note on the issue it answered, or ignored if the hub sent none."""
    entry, message = attempt.entry, attempt.message
    meta = message.email
    candidates = [meta.bounced_message_id] if meta and meta.bounced_message_id else []
    if meta:
        candidates += [*meta.in_reply_to, *meta.references]
    link = links.link_for_mail_ids(ctx.engine, [c for c in candidates if c])
    if link is None:
        journal.mark_ignored(ctx.engine, entry.id, "bounce of mail the hub does not know")
        return journal.IGNORED
    tracker = ctx.tracker(link.tracker)
    marker = comment_marker(entry.id)
    if not (entry.attempts > 0 and tracker.find_comment(link.issue_key, marker)):
        tracker.add_comment(
            link.issue_key, bounce_comment(message, entry.id, ctx.markup(link.tracker)), marker
        )
    journal.mark_ignored(
        ctx.engine, entry.id, f"bounce recorded on {link.issue_key}", issue_key=link.issue_key
    )
    return journal.IGNORED
