"""What each automation action does to a tracker, a chat or a mailbox, safe to repeat.

A firing's worker may die after an action and before its progress is saved, so every action is run as
if it might have happened already:

- comments carry the marker ``hub-auto-<firing id>-<n>`` and are looked up by it first;
- issues created carry it as their idempotency key and are looked up by it first;
- messages to the team and to customers go through the outbound log under ``auto:<firing id>:<n>``;
- transitions, assignments, fields and labels set a state, which is the same set twice (a round-robin
  assignee is chosen once and saved before it is assigned).

An action limited to SLA states (``only:``) that a firing of another state reaches is recorded as
skipped, with the reason, like any action's outcome.

Errors: ``TrackerUnavailable`` / ``ChannelUnavailable`` mean "later" (the firing is retried under the
tracker's circuit breaker); ``TrackerRejected`` / ``ChannelRejected`` / :class:`ActionFailed` mean the
action cannot be done as configured (the firing fails, with the reason).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from functools import partial
from typing import Any

from connector.base import Tracker
from connector.mail import send_mail
from connector.telegram import escape_html
from connector.types import DONE, IssueDraft, IssueRef, IssueState
from jobs import canned as canned_jobs
from jobs.automations.drafts import finish_issue, new_issue
from jobs.automations.model import (
    Action,
    AssignAction,
    ChecklistAction,
    ChecklistChildrenAction,
    CommentAction,
    CreateAction,
    DigestAction,
    NotifyAction,
    OnlyAction,
    ReportAction,
    ResolveAction,
    RouteAction,
    SetAction,
    TransitionAction,
)
from jobs.automations.routes import route_issue
from jobs.automations.subtasks import add_subtasks
from jobs.clock import utcnow
from jobs.context import Context
from jobs.replies import send_to_customer
from jobs.team_posts import new_card, post_card
from mappers import assignment, team_cards
from mappers.automation_messages import (
    critical_first,
    digest_text,
    is_critical,
    notification_text,
    render_text,
)
from mappers.canned import CannedError
from mappers.markup import one_line
from mappers.replies import pick_language
from store import links, outbound, staff_cards
from store.automations import Firing
from store.outbound import Outbound

log = logging.getLogger(__name__)

REPORT_PNG = "weekly-report.png"

Progress = dict[str, Any]
DIGEST_CARDS = 10  # a digest's cards in a team chat; the rest are lines of its first message


class ActionFailed(Exception):
    """The action cannot be done as configured (a missing template, no one to assign)."""


@dataclass
class ActionRun:
    """One action of one firing, and where to save what it decided before it acts."""

    ctx: Context
    tracker: Tracker
    firing: Firing
    index: int
    save: Callable[[Progress], None]  # saves a partial decision (a chosen assignee) under this action
    now: dt.datetime = field(default_factory=utcnow)  # the firing's run: whose "today" least_open skips

    @property
    def marker(self) -> str:
        return f"hub-auto-{self.firing.id}-{self.index}"

    @property
    def outbound_kind(self) -> str:
        return f"auto:{self.firing.id}:{self.index}"

    @property
    def issue(self) -> dict[str, Any]:
        return self.firing.payload

    @property
    def key(self) -> str:
        return self.firing.issue_key


def perform(run: ActionRun, action: Action, decided: Progress | None = None) -> Progress:
    """Do ``action`` (or find it done); return what it did, saved as the action's progress."""
    match action:
        case OnlyAction(states=states, action=inner):
            state = (run.issue.get("sla") or {}).get("state")
            if state not in states:
                return {
                    "skipped": f"only for SLA {', '.join(states)}; this firing is {state or 'no SLA state'}"
                }
            return perform(run, inner, decided)
        case CommentAction():
            return _comment(run, action)
        case NotifyAction():
            text = notification_text(run.firing.rule, run.issue, render_text(action.text, run.issue))
            unassigned = [] if run.issue.get("assignee") else [run.issue]  # an issue to take: a card
            done = _to_team(run, action.telegram_chat, action.email, text, cards=unassigned, head=None)
            if action.assignee:
                done["assignee"] = _mention_assignee(run, render_text(action.text, run.issue) or text)
            return done
        case DigestAction():
            issues = run.issue.get("issues", [])
            text = digest_text(run.firing.rule, action.title, issues, action.critical)
            head = action.title or run.firing.rule
            return _to_team(
                run,
                action.telegram_chat,
                action.email,
                text,
                cards=issues,
                head=head,
                critical=action.critical,
            )
        case TransitionAction():
            run.tracker.transition(run.key, action.to, resolution=action.resolution)
            return {"to": action.to}
        case ResolveAction():
            return _resolve(run, action)
        case AssignAction():
            return _assign(run, action, decided or {})
        case SetAction():
            run.tracker.update_fields(
                run.key, action.fields, add_labels=action.add_labels, remove_labels=action.remove_labels
            )
            return {"set": True}
        case CreateAction():
            return _create(run, action)
        case ChecklistAction():
            chosen = action.for_status(str(run.issue.get("status") or ""))
            if chosen is None:
                return {"skipped": f"no checklist for status {run.issue.get('status')!r}"}
            name, items = chosen
            if run.ctx.config.tracker_kind(run.firing.tracker) == "jira":
                return add_subtasks(run, name, items)  # Jira's checklist: sub-tasks, each looked up first
            return {"checklist": run.tracker.add_checklist(run.key, name, items)}  # found by name first
        case ReportAction():
            return _report(run)
        case RouteAction():
            return route_issue(run, action)
        case ChecklistChildrenAction():
            return _checklist_children(run, action)
    raise ActionFailed(f"unknown action {type(action).__name__}")


def _comment(run: ActionRun, action: CommentAction) -> Progress:
    link = links.link_for_issue(run.ctx.engine, run.key)
    text = _text(run, action, link)
    if action.to_customer:
        if link is None:
            return {"skipped": "the issue has no customer conversation"}
        status = send_to_customer(run.ctx, link, text, key=run.outbound_kind, message_id=run.firing.id)
        return {"sent": status}
    found = run.tracker.find_comment(run.key, run.marker)
    if found is not None:
        return {"comment": found}
    markup = run.ctx.markup(run.firing.tracker)
    body = f"{markup.escape(text)}\n\n{markup.marker(run.marker)}"
    add = run.tracker.add_comment if action.public else run.tracker.add_internal_comment
    return {"comment": add(run.key, body, run.marker)}


def _text(run: ActionRun, action: CommentAction, link: links.Link | None) -> str:
    if action.canned is None:
        return render_text(action.text, run.issue)
    language = pick_language(link.language if link else None, run.ctx.config.texts.default_language)
    state = _state_seen(run)
    try:
        return canned_jobs.library(run.ctx).render(
            action.canned, language, canned_jobs.variables(run.ctx, state, link, "", language)
        )
    except CannedError as exc:
        raise ActionFailed(f"canned response {action.canned!r}: {exc}") from None


def _state_seen(run: ActionRun) -> IssueState:
    """The issue as the scan saw it, for a template's variables (no second read)."""
    issue = run.issue
    return IssueState(
        ref=IssueRef(run.firing.tracker, run.key, str(issue.get("url") or "")),
        done=False,
        status=str(issue.get("status") or ""),
        summary=str(issue.get("summary") or ""),
        priority=issue.get("priority"),
        assignee=issue.get("assignee"),
        container=str(issue.get("container") or ""),
        created=dt.datetime.fromisoformat(str(issue["created"])) if issue.get("created") else None,
    )


def _to_team(
    run: ActionRun,
    chat: str | None,
    email: str | None,
    text: str,
    *,
    cards: Sequence[Mapping[str, Any]] = (),
    head: str | None = None,
    critical: Sequence[str] = (),
) -> Progress:
    """Send ``text`` to the team's chat and mailbox, each once (the outbound log). In a team chat of
    the team bot, the ``cards`` issues go as cards with Take instead (``jobs.team_posts``), under a
    ``head`` line when there is one (a digest)."""
    done: Progress = {}
    if chat:
        as_cards = bool(cards) and _is_team_chat(run.ctx, chat)

        def send() -> str:
            if as_cards:
                return _cards(run, chat, text, cards, head, critical)
            return _telegram(run, chat, text)

        done["telegram"] = _once(run, f"{run.outbound_kind}:tg", "telegram", chat, send)
    if email:
        done["email"] = _once(
            run, f"{run.outbound_kind}:mail", "email", email, lambda: _mail(run, email, text)
        )
    return done or {"skipped": "no team chat or e-mail configured"}


def _is_team_chat(ctx: Context, chat: str) -> bool:
    return ctx.telegram is not None and chat in {str(team) for team in ctx.config.team_bot.chats}


def _cards(
    run: ActionRun,
    chat: str,
    text: str,
    issues: Sequence[Mapping[str, Any]],
    head: str | None,
    critical: Sequence[str],
) -> str:
    """The issues as cards in a team chat, each once (its own row), critical first: a notification's
    one card reads as its text; a digest's line on top counts them and lists past the cards' limit."""
    ordered = critical_first(issues, lambda one: (one.get("priority"), str(one.get("key", ""))), critical)
    shown, rest = ordered[:DIGEST_CARDS], ordered[DIGEST_CARDS:]
    if head is not None:
        marked = sum(1 for issue in issues if is_critical(issue.get("priority"), critical))
        lines = [team_cards.list_header(head, len(issues), marked, len(shown), None)]
        lines += [f"{issue.get('key')} {one_line(str(issue.get('summary') or ''), 120)}" for issue in rest]
        _once(
            run,
            f"{run.outbound_kind}:tg:head",
            "telegram",
            chat,
            lambda: _telegram(run, chat, "\n".join(lines)),
        )
    for issue in shown:
        key = str(issue.get("key", ""))
        card_text = text if head is None else _card_text(run, issue, critical)
        cid = staff_cards.card_id(f"{run.outbound_kind}:{key}", chat)
        post_card(run.ctx, new_card(cid, run.firing.tracker, key, chat, card_text), utcnow())
    return f"{len(shown)} card(s)"


def _card_text(run: ActionRun, issue: Mapping[str, Any], critical: Sequence[str]) -> str:
    link = links.link_for_issue(run.ctx.engine, str(issue.get("key", "")))
    return team_cards.issue_card_text(
        str(issue.get("key", "")),
        str(issue.get("summary") or ""),
        issue.get("priority"),
        critical=is_critical(issue.get("priority"), critical),
        requester=link.requester_name if link else None,
        channel=link.channel if link else None,
    )


def _mention_assignee(run: ActionRun, text: str) -> str:
    """Tell the issue's assignee in an internal comment that mentions them (the tracker notifies them)."""
    assignee = run.issue.get("assignee")
    if not assignee:
        return "no assignee"
    marker = f"{run.marker}-assignee"
    if run.tracker.find_comment(run.key, marker) is not None:
        return "duplicate"
    markup = run.ctx.markup(run.firing.tracker)
    jira = run.ctx.config.tracker_kind(run.firing.tracker) == "jira"
    mention = f"[~{assignee}]" if jira else f"@{markup.escape(str(assignee))}"
    run.tracker.add_internal_comment(
        run.key, f"{mention} {markup.escape(text)}\n\n{markup.marker(marker)}", marker
    )
    return "mentioned"


def _once(run: ActionRun, kind: str, channel: str, recipient: str, send: Callable[[], str]) -> str:
    engine = run.ctx.engine
    if (sent := outbound.find(engine, run.firing.id, kind)) is not None and sent.status == "sent":
        return "duplicate"
    ref = send()
    outbound.record(engine, Outbound(run.firing.id, kind, channel, recipient, "sent", None, ref))
    return "sent"


def _telegram(run: ActionRun, chat: str, text: str) -> str:
    client = run.ctx.telegram
    if client is None:
        raise ActionFailed("TELEGRAM_BOT_TOKEN is not set")
    return str(client.send_message(chat, text, parse_mode="HTML"))


def _mail(run: ActionRun, recipients: str, text: str, png: tuple[str, bytes] | None = None) -> str:
    """Mail ``text`` to the team (with ``png``, a file name and an image, attached)."""
    settings = run.ctx.settings
    smtp_url = settings.secret("SMTP_URL")
    if not smtp_url:
        raise ActionFailed("SMTP_URL is not set")
    mail = EmailMessage()
    mail["From"] = settings.HUB_EMAIL_FROM
    mail["To"] = recipients
    mail["Subject"] = text.splitlines()[0][:200]
    mail["Message-ID"] = make_msgid(domain=settings.email_domain)
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(text)
    if png is not None:
        mail.add_attachment(png[1], maintype="image", subtype="png", filename=png[0])
    send_mail(smtp_url, mail)
    return str(mail["Message-ID"])


def _report(run: ActionRun) -> Progress:
    """The weekly report of the week before the due time: its text and chart to the team's chat (a
    message, then the chart as a photo) and mailbox (the chart attached), each once; its figures to
    ``/metrics``."""
    from jobs.reports.post import render_report

    spec = run.ctx.config.reports.weekly
    text, png = render_report(run.ctx, dt.datetime.fromisoformat(str(run.issue["due"])))
    done: Progress = {}
    if spec.telegram_chat is not None:
        chat = str(spec.telegram_chat)
        send = partial(_telegram, run, chat, escape_html(text))
        done["telegram"] = _once(run, f"{run.outbound_kind}:tg", "telegram", chat, send)
        photo = partial(_photo, run, chat, png, text.splitlines()[0])
        done["chart"] = _once(run, f"{run.outbound_kind}:tg-chart", "telegram", chat, photo)
    if spec.email:
        recipients = ", ".join(spec.email)
        mail = partial(_mail, run, recipients, text, (REPORT_PNG, png))
        done["email"] = _once(run, f"{run.outbound_kind}:mail", "email", recipients, mail)
    return done or {"skipped": "no team chat or e-mail configured"}


def _photo(run: ActionRun, chat: str, png: bytes, caption: str) -> str:
    client = run.ctx.telegram
    if client is None:
        raise ActionFailed("TELEGRAM_BOT_TOKEN is not set")
    return str(client.send_photo(chat, REPORT_PNG, png, caption=caption))


def _resolve(run: ActionRun, action: ResolveAction) -> Progress:
    state = run.tracker.get_state(run.key)
    if state.done:
        return {"resolved": "already"}
    to_done = [t for t in run.tracker.transitions(run.key) if t.to_category == DONE]
    if not to_done:
        raise ActionFailed(f"{run.key} has no transition to a done status from {state.status!r}")
    run.tracker.transition(run.key, to_done[0].id, resolution=action.resolution)
    return {"to": to_done[0].to_status}


def _assign(run: ActionRun, action: AssignAction, decided: Progress) -> Progress:
    user = decided.get("chosen") or action.user
    if action.how == "least_open" and not decided.get("chosen"):
        user = _least_open(run, action)
        run.save({"chosen": user})  # the same choice if this firing is run again
    if action.how == "round_robin" and not decided.get("chosen"):
        if not action.among:
            raise ActionFailed("round_robin needs a list of assignees (among)")
        turn = int(run.ctx.redis.incr(f"hub:automations:turn:{run.firing.rule}:{run.index}"))
        user = action.among[(turn - 1) % len(action.among)]
        run.save({"chosen": user})  # the same choice if this firing is run again
    if not user:
        raise ActionFailed("no assignee")
    run.tracker.assign(run.key, str(user))
    return {"chosen": user, "assigned": True}


def _least_open(run: ActionRun, action: AssignAction) -> str:
    """The available user with the fewest open issues: one paged search counting their load."""
    assert action.spec is not None
    day = run.now.astimezone(action.zone).date()  # absences are the team's days, not UTC's
    query = assignment.load_query(action.spec, day, action.containers)
    chosen = assignment.least_open(action.spec, day, run.tracker.search(query)) if query else None
    if chosen is None:
        raise ActionFailed("least_open: every listed user is away today")
    return chosen


def _create(run: ActionRun, action: CreateAction) -> Progress:
    tracker = run.ctx.tracker(action.target.tracker)
    found = tracker.find_issue(run.marker)
    new = new_issue(run, action, tracker)  # jobs/automations/drafts.py: fields, carried values
    ref = found or tracker.create_issue(new.draft)
    finish_issue(tracker, ref.key, new, found=found is not None)
    if action.link and action.target.tracker == run.firing.tracker:
        tracker.link(run.key, ref.key)
    return {"created": ref.key}


def _checklist_children(run: ActionRun, action: ChecklistChildrenAction) -> Progress:
    """A child card per unchecked item of the checklist, each once: keyed by the item, not the firing, so
    a later change of the checklist (another firing) finds the children the earlier one made."""
    wanted = (action.checklist or "").casefold()
    lists = [c for c in run.tracker.checklists(run.key) if not wanted or c.name.casefold() == wanted]
    items = [(checklist.id, item) for checklist in lists for item in checklist.items if not item.checked]
    if not items:
        return {"skipped": f"no unchecked item in checklist {action.checklist or '(any)'!r}"}
    tracker = run.ctx.tracker(action.target.tracker)
    links = _external_links(run) if "links" in action.carry else []
    children = {}
    for checklist_id, item in items:
        draft = _child_draft(run, action, item.text, f"hub-child-{run.key}-{item.id}")
        earlier = tracker.find_issue(draft.idempotency_key)  # an earlier create may have stopped half-way
        found = tracker.create_issue(draft) if earlier is None else tracker.complete_issue(earlier.key, draft)
        for link in links:
            tracker.add_remote_link(found.key, link["url"], link["description"], global_id=link["url"])
        if action.check_items:
            run.tracker.check_item(run.key, checklist_id, item.id)
        children[item.id] = found.key
    return {"children": children}


def _child_draft(run: ActionRun, action: ChecklistChildrenAction, title: str, key: str) -> IssueDraft:
    """The child card of one item: titled by it, under the card, with what the action carries."""
    return IssueDraft(
        target=action.target,
        title=title,
        body=run.ctx.markup(action.target.tracker).escape(f"{title} ({run.key})"),
        idempotency_key=key,
        labels=tuple(run.issue.get("labels") or ()) if "labels" in action.carry else (),
        assignee=run.issue.get("assignee") if "assignee" in action.carry else None,
        parent=run.key,
    )


def _external_links(run: ActionRun) -> list[dict[str, str]]:
    """The card's external links (Kaiten ``external_links``: url and description)."""
    state = run.tracker.get_state(run.key, fields=("external_links",))
    found = state.fields.get("external_links") or []
    return [
        {"url": str(link["url"]), "description": str(link.get("description") or link["url"])}
        for link in found
        if isinstance(link, dict) and link.get("url")
    ]
