"""Tracker events in a job: engineers' replies reach the customer, canned codes expand, statuses notify.

The webhook payload is a hint: the comment and the issue are re-read before acting, so retries, the
order Jira delivers in and edits made meanwhile do not matter. Comment events the hub's own account
caused (its comments, and its in-place edits of an engineer's comment) are dropped before anything is
read, so the hub never answers itself; the automations look at every event first
(jobs/automations/events.py: a customer's message the hub relayed may fire a rule, which reads the
issue only then). Every message to a customer is journaled in the outbound log under the comment's id
(or the transition's), so a redelivered webhook never sends twice, and status notifications are
rate-limited per issue and status and per customer (``jobs.notify_limits``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from zoneinfo import ZoneInfo

from config.rules import QuietHours
from connector.base import Tracker
from connector.errors import ChannelRejected, ChannelUnavailable
from connector.telegram import UPLOAD_LIMIT
from connector.types import FileUpload, IssueState
from jobs import canned as canned_jobs
from jobs import csat as csat_jobs
from jobs.automations.events import fire_for_event
from jobs.context import Context
from jobs.notify_limits import check_status_notification
from jobs.reconcile import card_snapshot_of, conversations, webhook_told
from jobs.replies import send_to_customer
from mappers.markup import one_line
from mappers.reconcile import RECONCILED, covers
from mappers.replies_out import COMMENT_KINDS, customer_text, names_file
from mappers.tracker_events import TrackerEvent, is_own_event
from store import journal, leases, links
from store.links import Link

log = logging.getLogger(__name__)

_LIMIT_REASONS = {
    "repeat": "status notification rate limit: this status of the issue was notified within "
    "HUB_STATUS_NOTIFY_REPEAT_MINUTES",
    "cap": "status notification rate limit: the customer had HUB_STATUS_NOTIFY_PER_HOUR notifications "
    "this hour",
}


def handle_event(ctx: Context, entry: journal.Entry) -> str:
    """Act on one journaled tracker event; return the journal status it ends in."""
    event = TrackerEvent.model_validate_json(entry.body)
    tracker = ctx.tracker(event.tracker)
    reason = _acted_on_before(ctx, tracker, entry, event)
    if reason is not None:
        journal.mark_ignored(ctx.engine, entry.id, reason, issue_key=event.issue_key)
        return journal.IGNORED
    own = event.kind in COMMENT_KINDS and is_own_event(event, [tracker.own_user()])
    fire_for_event(ctx, tracker, event, own)  # automations first: own comments may be a customer's
    if own:
        journal.mark_ignored(ctx.engine, entry.id, "the hub's own change", issue_key=event.issue_key)
        return journal.IGNORED
    key = _issue_key(tracker, event)
    if key is None:
        journal.mark_ignored(ctx.engine, entry.id, "event names no issue")
        return journal.IGNORED
    if event.kind in ("comment_created", "comment_updated") and event.comment_id:
        return _on_comment(ctx, entry, event, tracker, key)
    if event.kind == "issue_transitioned":
        return _on_transition(ctx, entry, event, tracker, key)
    journal.mark_ignored(ctx.engine, entry.id, f"{event.kind}: nothing to do", issue_key=key)
    return journal.IGNORED


def _acted_on_before(ctx: Context, tracker: Tracker, entry: journal.Entry, event: TrackerEvent) -> str | None:
    """Why this event is the second telling of a change (its webhook and polling reconciliation), or
    None: a comment acts on its first journaled creation only; a Kaiten card's webhook is void once
    the poll journaled that version of the card (``jobs.reconcile``). A change both tell alike (a Jira
    changelog) is one journal row already."""
    if event.kind == "comment_created" and event.comment_id:
        key = event.issue_key or (tracker.get_state(event.issue_id).ref.key if event.issue_id else None)
        created = journal.comment_events(ctx.engine, conversations(event.tracker, key, event.issue_id))
        first = next((mid for mid, cid, _ in created if cid == event.comment_id), entry.id)
        return None if first == entry.id else "the same comment was journaled before (webhook or poll)"
    if event.tracker == "kaiten" and event.source_event == "card:update" and event.delivery_id != RECONCILED:
        return _kaiten_card_webhook(ctx, entry, event)
    return None


def _kaiten_card_webhook(ctx: Context, entry: journal.Entry, event: TrackerEvent) -> str | None:
    card = event.issue_key or ""
    if covers(card_snapshot_of(ctx.redis, card), event):
        return "polling reconciliation journaled this change of the card before its webhook came"
    told = _webhook_card(ctx, entry)
    if told is not None:
        webhook_told(ctx.redis, card, told)
    return None


def _webhook_card(ctx: Context, entry: journal.Entry) -> dict[str, object] | None:
    """The card a ``card:update`` webhook tells (``old`` with ``changes`` over it), from its raw body."""
    raw = journal.get_blob(ctx.engine, entry.raw_blob_id) if entry.raw_blob_id else None
    try:
        data = json.loads(raw or b"{}").get("data") or {}
    except (ValueError, AttributeError):
        return None
    old, changes = data.get("old"), data.get("changes")
    return {**old, **changes} if isinstance(old, dict) and isinstance(changes, dict) else None


def _issue_key(tracker: Tracker, event: TrackerEvent) -> str | None:
    if event.issue_key:
        return event.issue_key
    if event.issue_id:  # Jira Server's comment_created has only the comment's URL: read the issue
        return tracker.get_state(event.issue_id).ref.key
    return None


def _on_comment(ctx: Context, entry: journal.Entry, event: TrackerEvent, tracker: Tracker, key: str) -> str:
    assert event.comment_id is not None
    comment = tracker.get_comment(key, event.comment_id)
    if comment.author and comment.author == tracker.own_user():
        journal.mark_ignored(ctx.engine, entry.id, "the hub's own comment", issue_key=key)
        return journal.IGNORED
    link = links.link_for_issue(ctx.engine, key)
    expanded = canned_jobs.expand_comment(ctx, tracker, key, comment, link, event, entry.id)
    if expanded is None:  # a canned response failed to render: the team was told, nothing goes out
        journal.mark_ignored(ctx.engine, entry.id, "canned response failed to render", issue_key=key)
        return journal.IGNORED
    project = _project_of(event.tracker, key, link)
    settings = ctx.config.replies.for_project(project)
    seen = event.model_copy(update={"comment_body": expanded, "comment_public": comment.public})
    text = customer_text(seen, settings.mode, settings.marker)
    if text is None or link is None:
        reason = "not for the customer" if text is None else "the issue has no customer conversation"
        journal.mark_ignored(ctx.engine, entry.id, reason, issue_key=key)
        return journal.IGNORED
    files, notes = referenced_files(tracker, key, expanded)
    if notes:
        text = text + "\n\n" + "\n".join(notes)
    return _send(ctx, entry, tracker, link, text, f"reply:{event.tracker}:{comment.id}", files)


def _on_transition(
    ctx: Context, entry: journal.Entry, event: TrackerEvent, tracker: Tracker, key: str
) -> str:
    replies = ctx.config.replies
    state = tracker.get_state(key, all_fields=True)
    link = links.link_for_issue(ctx.engine, key)
    if state.done and link is not None and link.active:
        links.deactivate(ctx.engine, link.id)  # resolving ends the conversation
    if state.done:
        _note_resolved(ctx, tracker, event, state, link)
    status = state.status or event.status_to or ""  # the tracker's word now; Kaiten's payload has column ids
    template = replies.transitions.get(status) or _status_template(status, replies.notify_statuses)
    if link is None or template is None:
        journal.mark_ignored(ctx.engine, entry.id, f"no message for status {status!r}", issue_key=key)
        return journal.IGNORED
    if replies.opt_out_label in state.labels:
        journal.mark_ignored(ctx.engine, entry.id, "the issue opted out of notifications", issue_key=key)
        return journal.IGNORED
    now = journal.utcnow()
    wait = seconds_until_quiet_hours_end(replies.quiet_hours, now)
    if wait > 0:
        leases.schedule_retry(ctx.engine, entry.id, wait, "quiet hours")
        return journal.QUEUED
    text = canned_jobs.render_for_customer(ctx, tracker, template, link, state, event)
    if text is None:
        journal.mark_ignored(
            ctx.engine, entry.id, f"canned response {template!r} failed to render", issue_key=key
        )
        return journal.IGNORED
    if _over_notify_limit(ctx, entry.id, link, status, now):
        return journal.IGNORED
    return _send(
        ctx,
        entry,
        tracker,
        link,
        text,
        f"notify:{event.tracker}:{key}:{event.event_id}"[:96],
        hub_subject=one_line(status, 120) or None,
    )


def _over_notify_limit(ctx: Context, message_id: str, link: Link, status: str, now: dt.datetime) -> bool:
    """Whether a status notification about to go out is over a limit (then it is journaled as ignored)."""
    verdict = check_status_notification(
        ctx.redis,
        link,
        status,
        message_id,
        now,
        repeat_minutes=ctx.settings.HUB_STATUS_NOTIFY_REPEAT_MINUTES,
        per_hour=ctx.settings.HUB_STATUS_NOTIFY_PER_HOUR,
    )
    if verdict == "allowed":
        return False
    log.warning(
        "notify.rate-limited message_id=%s issue=%s status=%s limit=%s",
        message_id,
        link.issue_key,
        status,
        verdict,
    )
    journal.mark_ignored(ctx.engine, message_id, _LIMIT_REASONS[verdict], issue_key=link.issue_key)
    return True


def referenced_files(tracker: Tracker, key: str, body: str) -> tuple[list[FileUpload], list[str]]:
    """The issue's files a comment names explicitly (``[^report.pdf]``, ``!screen.png!`` or the exact
    name as a word: ``mappers.replies_out.names_file``), and a note for each that is too large to send
    (Telegram takes 50 MB from a bot). The connector lists only files the tracker keeps itself."""
    uploads: list[FileUpload] = []
    notes: list[str] = []
    for file in tracker.list_files(key):
        if not names_file(body, file.filename):
            continue
        content = tracker.download_file(file, UPLOAD_LIMIT)
        if content is None:
            notes.append(f"({file.filename} is too large to send here; we will send it another way.)")
        else:
            uploads.append(FileUpload(file.filename, content))
    return uploads, notes


def _send(
    ctx: Context,
    entry: journal.Entry,
    tracker: Tracker,
    link: Link,
    text: str,
    key: str,
    files: list[FileUpload] | None = None,
    hub_subject: str | None = None,
) -> str:
    """Send, and when the customer cannot be reached, say so on the issue instead of retrying forever."""
    try:
        send_to_customer(
            ctx, link, text, key=key, message_id=entry.id, files=files or [], hub_subject=hub_subject
        )
    except ChannelRejected as exc:
        return _undeliverable(ctx, entry, tracker, link, str(exc))
    except ChannelUnavailable as exc:
        if entry.attempts + 1 >= ctx.settings.HUB_MAX_ATTEMPTS:
            return _undeliverable(
                ctx, entry, tracker, link, f"gave up after {entry.attempts + 1} attempts: {exc}"
            )
        raise
    links.mark_delivered_on(ctx.engine, entry.id, link, "reply")
    return journal.DELIVERED


def _undeliverable(ctx: Context, entry: journal.Entry, tracker: Tracker, link: Link, reason: str) -> str:
    markup = ctx.markup(link.tracker)
    note = markup.italic(
        markup.escape(f"The reply could not be delivered to the customer ({link.channel}): {reason}")
    )
    marker = f"hub-{entry.id}"
    if tracker.find_comment(link.issue_key, marker) is None:
        tracker.add_internal_comment(link.issue_key, f"{note}\n\n{markup.marker(marker)}", marker)
    journal.mark_failed(ctx.engine, entry.id, f"reply not delivered: {reason}")
    log.warning("reply.undeliverable message_id=%s issue=%s reason=%s", entry.id, link.issue_key, reason)
    return journal.FAILED


def _project_of(tracker: str, key: str, link: Link | None) -> str:
    if tracker == "jira":
        return key.rsplit("-", 1)[0]
    return ""  # Kaiten reply settings are per board; the default applies unless a board is configured


def _status_template(status: str, notify: tuple[str, ...]) -> str | None:
    """``status-<slug>`` for a status the config notifies about (e.g. ``status-waiting-for-customer``)."""
    if status.lower() not in {s.lower() for s in notify}:
        return None
    return "status-" + re.sub(r"[^a-z0-9]+", "-", status.lower()).strip("-")


def seconds_until_quiet_hours_end(quiet: QuietHours | None, now: dt.datetime) -> float:
    """How long a notification must wait because of quiet hours (0 outside them)."""
    if quiet is None:
        return 0.0
    local = now.astimezone(ZoneInfo(quiet.timezone))
    start = local.replace(hour=int(quiet.start[:2]), minute=int(quiet.start[3:]), second=0, microsecond=0)
    end = local.replace(hour=int(quiet.end[:2]), minute=int(quiet.end[3:]), second=0, microsecond=0)
    if start <= end:
        inside = start <= local < end
    else:  # over midnight, e.g. 22:00–08:00
        inside = local >= start or local < end
        if local >= start:
            end += dt.timedelta(days=1)
    # in UTC: the difference of two times of one zone ignores a clock change between them
    return (end.astimezone(dt.UTC) - local.astimezone(dt.UTC)).total_seconds() if inside else 0.0


def _note_resolved(
    ctx: Context, tracker: Tracker, event: TrackerEvent, state: IssueState, link: links.Link | None
) -> None:
    """Put the resolved issue's CSAT survey in line (it is asked later). A survey that cannot be noted is
    logged, never allowed to hold up the customer's notice of the resolution that follows."""
    try:
        csat_jobs.note_resolved(ctx, tracker, event, state, link, journal.utcnow())
    except Exception:
        log.exception("csat.not-noted issue=%s event_id=%s", event.issue_key, event.event_id)
