"""Opening an issue for a message: its draft, an exactly-once create, and what the hub records after."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from config.rules import Rule
from connector.base import Tracker
from connector.types import FileUpload, IssueDraft, IssueRef
from jobs.attempts import Attempt, Retry, written_already
from jobs.context import Context
from jobs.files import attach_files, collect_files
from jobs.replies import autoreply_skip, log_recorded, queue_autoreply
from jobs.routing.route_link import add_route_link
from jobs.team_cards import queue_cards
from jobs.threads import own_mail_ids
from mappers.issue import build_draft
from mappers.models import InboundMessage
from store import journal, leases, outcomes
from store.links import NewLink

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewIssue:
    """A message on its way to becoming an issue: its journal row, its text, its draft and files."""

    entry: journal.Entry
    message: InboundMessage
    draft: IssueDraft
    files: list[FileUpload]
    previous: str | None = None
    attempt: int = 0


def new_issue(ctx: Context, attempt: Attempt, rule: Rule, previous: str | None) -> NewIssue:
    """The attempt's message as an issue draft, its files fetched (notes on the ones that could not be)."""
    message = attempt.message
    files, notes = collect_files(ctx, message)
    if notes or previous:
        extra = [*notes, *([f"Follow-up to {previous}, which was already resolved."] if previous else [])]
        message = message.model_copy(update={"notes": [*message.notes, *extra]})
    draft = build_draft(message, rule, attempt.id, assignee=next_assignee(ctx, rule))
    return NewIssue(attempt.entry, message, draft, files, previous, attempt.number)


def next_assignee(ctx: Context, rule: Rule) -> str | None:
    """The rule's next assignee in rotation (a counter in Redis, so it survives restarts), if it rotates."""
    people = rule.fields.assignees
    if not people:
        return None
    turn = int(ctx.redis.incr(f"hub:round-robin:{rule.name}"))
    return people[(turn - 1) % len(people)]


def open_alone(ctx: Context, tracker: Tracker, issue: NewIssue) -> str:
    """Create the issue on its own (unless an earlier attempt did) and record it."""
    return record_issue(ctx, tracker, issue, _create_once(ctx, tracker, issue.entry, issue.draft))


def record_issue(ctx: Context, tracker: Tracker, issue: NewIssue, ref: IssueRef) -> str:
    """The issue exists: attach the files, link it, remember the conversation, queue the autoreply."""
    entry, message, previous, draft = issue.entry, issue.message, issue.previous, issue.draft
    with written_already():
        attach_files(tracker, entry, ref.key, issue.files)
        if previous is not None:
            tracker.link_issues(previous, ref.key)
        add_route_link(ctx, tracker, ref)
    requester_email = (message.email.reply_to if message.email and message.email.reply_to else None) or (
        message.sender.email
    )
    skipped_reply = autoreply_skip(ctx, entry.id, message, requester_email)  # decided once, here
    new = NewLink(
        conversation_key=message.conversation_key,
        tracker=ref.tracker,
        issue_key=ref.key,
        issue_url=ref.url,
        channel=message.channel.value,
        message_id=entry.id,
        requester_name=message.sender.name,
        requester_email=requester_email,
        telegram_chat_id=message.telegram.chat_id if message.telegram else None,
        telegram_thread_id=message.telegram.thread_id if message.telegram else None,
        language=message.sender.language,
        subject=message.subject or draft.title,
        previous_issue_key=previous,
    )
    # the link, the delivered row and a skipped autoreply: one transaction
    outcomes.issue_opened(ctx.engine, new, own_mail_ids(message), skipped_reply)
    if skipped_reply is None:
        queue_autoreply(ctx, entry.id)
    else:
        log_recorded(skipped_reply)
    queue_cards(ctx, entry.id)
    return journal.DELIVERED


def _create_once(ctx: Context, tracker: Tracker, entry: journal.Entry, draft: IssueDraft) -> IssueRef:
    """Create the issue unless an earlier attempt already did (found by its idempotency label)."""
    if entry.create_started_at is not None:
        found = tracker.find_issue(draft.idempotency_key)
        if found is not None:
            log.info("deliver.found-earlier-create message_id=%s key=%s", entry.id, found.key)
            return tracker.complete_issue(found.key, draft)
        lag = dt.timedelta(seconds=tracker.search_lag)
        waited = journal.utcnow() - entry.create_started_at
        if waited < lag:
            raise Retry("an earlier create may not be searchable yet", (lag - waited).total_seconds())
    return tracker.create_issue(draft, on_send=lambda: leases.mark_create_started(ctx.engine, entry.id))
