"""The team's commands to the bot: ``/unassigned`` and ``/my`` (a job, once per update).

- ``/unassigned``: the open issues without an assignee, found by the search of the rule file's
  unassigned digest (its tracker and projects, its ``critical`` priorities; the default tracker when the
  file has no such digest), critical ones first and marked: a line with the count, then a card with Take
  for each of the first :data:`CARDS`, and a link to all of them in the tracker when there are more.
- ``/my``: the presser's open issues, by the tracker account they are linked to, one message.

Only a linked member (``store.staff``) gets an answer with issues, and only in a team chat or their
private chat with the bot: anyone else is refused in one line, and a command is never a customer's
request. Each message goes out once (the outbound log; the cards by their own rows).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import islice
from typing import Any
from urllib.parse import quote

from connector.jira.jql import to_jql
from connector.types import SearchQuery
from jobs.automations.model import DigestAction
from jobs.automations.rules import rules_of
from jobs.clock import utcnow
from jobs.context import Context, get_context
from jobs.team_posts import new_card, post_card
from mappers import team_cards
from mappers.automation_messages import critical_first, is_critical
from mappers.markup import one_line
from mappers.telegram_commands import StaffCommand, staff_command
from store import links, outbound, staff, staff_cards
from store.outbound import Outbound
from store.staff import Staff

log = logging.getLogger(__name__)

CARDS = 10  # cards a /unassigned shows; the rest are one link away
MINE = 30  # issues a /my lists
FETCHED = 200  # issues read from the search at most (the count says "200+" beyond)
NOT_MEMBER = "This command is for the support team. To join, ask for an invite link."
WRONG_CHAT = "Use this command in the team chat or in your private chat with the bot."


@dataclass(frozen=True)
class UnassignedSearch:
    """Where ``/unassigned`` looks, and which priorities it marks critical."""

    tracker: str
    query: SearchQuery
    critical: tuple[str, ...]


def handle_command(update: dict[str, Any]) -> str:
    """The RQ job; what came of the command."""
    command = staff_command(update)
    return "malformed" if command is None else handle_command_with(get_context(), command, utcnow())


def handle_command_with(ctx: Context, command: StaffCommand, now: dt.datetime) -> str:
    member = staff.find(ctx.engine, command.user_id)
    if member is None:
        outcome = _say(ctx, command, "refused", NOT_MEMBER)
    elif not command.private and command.chat_id not in ctx.config.team_bot.chats:
        outcome = _say(ctx, command, "wrong-chat", WRONG_CHAT)  # a customer's group sees no issue list
    else:
        act = _unassigned if command.command == "unassigned" else _mine
        outcome = act(ctx, command, member, now)  # a tracker outage: the job's retries
    log.info(
        "staff.command command=%s outcome=%s telegram_user=%s update_id=%s",
        command.command,
        outcome,
        command.user_id,
        command.update_id,
    )
    return outcome


def unassigned_search(ctx: Context, now: dt.datetime) -> UnassignedSearch:
    """The unassigned digest's search without its age limit, or the default tracker's open issues
    without an assignee."""
    for rule in rules_of(ctx).values():
        digest = next((a for a in rule.actions if isinstance(a, DigestAction)), None)
        query = rule.search_at(now, None) if digest is not None and rule.date_field is None else None
        if query is not None and digest is not None and query.assignee_empty:
            query = replace(query, created_before=None, status_since_before=None, not_done=True)
            return UnassignedSearch(rule.tracker, query, digest.critical)
    project = ctx.settings.JIRA_PROJECT
    query = SearchQuery(containers=(project,) if project else (), not_done=True, assignee_empty=True)
    return UnassignedSearch("jira", query, ())


def _unassigned(ctx: Context, command: StaffCommand, member: Staff, now: dt.datetime) -> str:
    search = unassigned_search(ctx, now)
    tracker = ctx.tracker(search.tracker)
    found = list(islice(tracker.search(search.query, page_size=100), FETCHED))
    ordered = critical_first(found, lambda state: (state.priority, ""), search.critical)
    shown = ordered[:CARDS]
    marked = sum(1 for state in found if is_critical(state.priority, search.critical))
    more = _search_url(ctx, search) if len(found) > len(shown) else None
    header = team_cards.list_header("Without an assignee", len(found), marked, len(shown), more)
    if len(found) >= FETCHED:
        header = header.replace(f": {len(found)} issue(s)", f": {FETCHED}+ issues", 1)
    if not found:
        return _say(ctx, command, "none", "No open issue is without an assignee.")
    _once(ctx, command, "header", lambda: _send(ctx, command.chat_id, header))
    for state in shown:
        link = links.link_for_issue(ctx.engine, state.ref.key)
        text = team_cards.issue_card_text(
            state.ref.key,
            state.summary,
            state.priority,
            critical=is_critical(state.priority, search.critical),
            requester=link.requester_name if link else None,
            channel=link.channel if link else None,
        )
        cid = staff_cards.card_id(f"command:{command.update_id}:{state.ref.key}", command.chat_id)
        post_card(ctx, new_card(cid, search.tracker, state.ref.key, command.chat_id, text), now)
    return "listed"


def _mine(ctx: Context, command: StaffCommand, member: Staff, now: dt.datetime) -> str:
    query = SearchQuery(not_done=True, assignees=(member.account,))
    found = list(islice(ctx.tracker(member.tracker).search(query, page_size=MINE + 1), MINE + 1))
    if not found:
        return _say(ctx, command, "none", f"No open issue is assigned to you ({member.account}).")
    count = f"{MINE}+" if len(found) > MINE else str(len(found))
    lines = [f"Your open issues ({member.account}): {count}"]
    for state in found[:MINE]:
        summary = one_line(state.summary, 120)
        lines.append(f"{state.ref.key} [{state.status or '-'}] {summary} {state.ref.url}")
    return _say(ctx, command, "listed", "\n".join(lines))


def _search_url(ctx: Context, search: UnassignedSearch) -> str | None:
    """The issue navigator with the same search (Jira; Kaiten has no such link)."""
    if ctx.config.tracker_kind(search.tracker) != "jira":
        return None
    browse = ctx.tracker(search.tracker).issue_url("X-1").rsplit("/browse/", 1)[0]
    return f"{browse}/issues/?jql={quote(to_jql(search.query))}"


def _say(ctx: Context, command: StaffCommand, outcome: str, text: str) -> str:
    _once(ctx, command, "answer", lambda: _send(ctx, command.chat_id, text))
    return outcome


def _send(ctx: Context, chat_id: int, text: str) -> str:
    client = ctx.telegram
    if client is None:
        log.warning("staff.no-bot chat_id=%s", chat_id)
        return ""
    return str(client.send_message(chat_id, text))


def _once(ctx: Context, command: StaffCommand, part: str, send: Callable[[], str]) -> None:
    """Send a part of the answer unless an earlier try of the job did (the outbound log)."""
    key, kind = f"tg-command:{command.update_id}", f"command:{part}"
    if (sent := outbound.find(ctx.engine, key, kind)) is not None and sent.status == "sent":
        return
    ref = send()
    outbound.record(ctx.engine, Outbound(key, kind, "telegram", str(command.chat_id), "sent", None, ref))
