"""Canned responses in jobs: ``::key`` codes expanded in place in tracker comments, and canned texts
rendered for customers (transition-bound messages, status notifications).

A template that fails to render is never sent half-filled: the team gets an internal comment naming the
template and the problem, and the customer gets nothing.

A comment is expanded in place at most once: the write is recorded in the outbound log under
``canned:<tracker>:<comment id>``, and a later event for the same comment (a redelivery, an edit, the
hub's own edit coming back) never writes again. Where the tracker refuses the edit (Kaiten lets only a
comment's author edit it; a Jira user without "Edit All Comments"), the expansion is posted as the
hub's own internal comment naming the original one, so the team still sees what the customer got.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from connector.base import Tracker
from connector.errors import TrackerError, TrackerRejected
from connector.types import Comment, IssueState
from jobs.automations.sla import sla_text
from jobs.context import Context
from mappers.canned import (
    CannedError,
    CannedLibrary,
    Expansion,
    canned_variables,
    expand_codes,
)
from mappers.canned_files import config_library
from mappers.markup import markup_for
from mappers.replies import pick_language
from mappers.tracker_events import TrackerEvent
from store import links, outbound
from store.links import Link
from store.outbound import Outbound

log = logging.getLogger(__name__)


def _report_problems(library: CannedLibrary) -> None:
    for problem in library.errors:
        log.error("canned.broken-template problem=%s", problem)


def library(ctx: Context) -> CannedLibrary:
    """The canned-response library of the configuration in force: its version's (parsed once per
    version), else the folder beside the rule file (parsed again when one of its files changes)."""
    return config_library(ctx.config, ctx.settings.HUB_CONFIG, on_load=_report_problems)


class PreviewFailed(Exception):
    """A canned preview could not be rendered: the template's problem, or the tracker's answer."""


def preview(
    ctx: Context, canned: CannedLibrary, key: str, issue_key: str, language: str | None = None
) -> str:
    """``key`` of ``canned`` rendered for issue ``issue_key`` as its customer would get it (in
    ``language``, else the customer's, else the default), reading the issue from its tracker:
    ``trackerhub canned preview`` and the console's. :class:`PreviewFailed` saying why when it cannot be."""
    link = links.link_for_issue(ctx.engine, issue_key)
    tracker_name = link.tracker if link else ("kaiten" if issue_key.isdigit() else "jira")
    try:
        state = ctx.tracker(tracker_name).get_state(issue_key, all_fields=True)
        language = language or pick_language(
            link.language if link else None, ctx.config.texts.default_language
        )
        return canned.render(key, language, variables(ctx, state, link, "", language))
    except (CannedError, TrackerError) as exc:
        raise PreviewFailed(str(exc)) from None


def variables(
    ctx: Context, state: IssueState, link: Link | None, agent: str, language: str
) -> dict[str, object]:
    """What a template may use: issue key, summary, status, requester, agent, fields by id, and the
    time the issue's SLA clock has left in ``language`` (``jobs.automations.sla.sla_text``)."""
    return canned_variables(
        issue_key=state.ref.key,
        summary=state.summary,
        status=state.status,
        requester_name=link.requester_name if link else "",
        agent_name=agent,
        sla_text=sla_text(ctx, state, language),
        fields=state.fields,
    )


def expand_for_issue(
    ctx: Context,
    tracker: Tracker,
    key: str,
    text: str,
    link: Link | None,
    agent: str,
    *,
    escape: Callable[[str], str] | None = None,
) -> Expansion:
    """``text`` with its ``::codes`` rendered for issue ``key``, in its customer's language (a tracker
    comment passes ``escape``, its markup's; a text for the customer does not)."""
    state = tracker.get_state(key, all_fields=True)
    language = pick_language(link.language if link else None, ctx.config.texts.default_language)
    return expand_codes(
        text, library(ctx), language, variables(ctx, state, link, agent, language), escape=escape
    )


def expand_comment(
    ctx: Context,
    tracker: Tracker,
    key: str,
    comment: Comment,
    link: Link | None,
    event: TrackerEvent,
    message_id: str,
) -> str | None:
    """The comment's text with ``::codes`` expanded (the comment edited in place, once), or None when a
    code is unknown or failed to render; those are reported to the team in an internal comment."""
    if "::" not in comment.body:
        return comment.body
    markup = markup_for(event.tracker)
    agent = comment.author_name or event.actor_name or ""
    expansion = expand_for_issue(ctx, tracker, key, comment.body, link, agent, escape=markup.escape)
    if expansion.problems:
        marker = f"hub-canned-{event.tracker}-{comment.id}"
        if tracker.find_comment(key, marker) is None:
            lines = "\n".join(f"* {markup.escape(line)}" for line in expansion.problems)
            tracker.add_internal_comment(key, f"{lines}\n\n{markup.marker(marker)}", marker)
    if expansion.errors or expansion.unknown:  # never send a half-filled text or a raw ::code
        return None
    if expansion.changed:
        _write_once(ctx, tracker, key, comment, expansion.text, event.tracker, message_id)
    return expansion.text


def _write_once(
    ctx: Context, tracker: Tracker, key: str, comment: Comment, text: str, tracker_name: str, message_id: str
) -> None:
    """Put the expansion on the tracker unless this comment was expanded before; record that it was."""
    kind = f"canned:{tracker_name}:{comment.id}"
    if outbound.find_kind(ctx.engine, kind) is not None:
        log.info("canned.already-expanded issue=%s comment=%s", key, comment.id)
        return
    reason = None
    try:
        tracker.update_comment(key, comment.id, text)
        written = comment.id
        log.info("canned.expanded issue=%s comment=%s", key, comment.id)
    except TrackerRejected as exc:
        reason = f"the tracker refused the in-place edit: {exc}"
        written = _post_beside(tracker, key, comment, text, tracker_name, str(exc))
        log.warning("canned.edit-refused issue=%s comment=%s posted=%s", key, comment.id, written)
    record = Outbound(message_id, kind, tracker_name, key, "sent", reason, written)
    outbound.record(ctx.engine, record)


def _post_beside(tracker: Tracker, key: str, comment: Comment, text: str, tracker_name: str, why: str) -> str:
    """The expansion as the hub's own internal comment pointing at ``comment``; its id (found, if an
    earlier attempt posted it already)."""
    marker = f"hub-canned-{tracker_name}-{comment.id}-expanded"
    found = tracker.find_comment(key, marker)
    if found is not None:
        return found
    markup = markup_for(tracker_name)
    by = f" by {comment.author_name}" if comment.author_name else ""
    note = markup.italic(
        markup.escape(
            f"The hub could not insert the canned response into comment {comment.id}{by} ({why}). "
            "The customer received this text:"
        )
    )
    return tracker.add_internal_comment(key, f"{note}\n\n{text}\n\n{markup.marker(marker)}", marker)


def render_for_customer(
    ctx: Context, tracker: Tracker, template: str, link: Link, state: IssueState, event: TrackerEvent
) -> str | None:
    """A canned text for the customer, in their language; None (and an internal note) when it fails."""
    language = pick_language(link.language, ctx.config.texts.default_language)
    try:
        return library(ctx).render(
            template, language, variables(ctx, state, link, event.actor_name or "", language)
        )
    except CannedError as exc:
        markup = ctx.markup(link.tracker)
        marker = f"hub-canned-{event.event_id}"[:120]
        if tracker.find_comment(link.issue_key, marker) is None:
            note = markup.italic(markup.escape(f"The message {template!r} was not sent: {exc}"))
            tracker.add_internal_comment(link.issue_key, f"{note}\n\n{markup.marker(marker)}", marker)
        return None
