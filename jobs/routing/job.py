"""The job ``route-<id>``: carries out one journaled routing request, step by step.

Each step is idempotent and journaled (``route_requests.steps``), so a job killed anywhere resumes,
in a new job from the sweep, where the last one stopped, and a step cut off half-way finds what it
already wrote by a marker:

- **native move** (the route's mode is ``move``, the target is in the source's own tracker instance
  and that tracker can move: Jira Cloud's bulk move, Kaiten's ``PATCH /cards``): one move with the
  plan's fields; the issue keeps its comments, files and conversation. Jira Cloud's refusal (a
  permission, a field) falls back to the copy method below. At most :data:`MOVES_PER_SITE` moves run
  at once per tracker instance (a Redis semaphore): Cloud queues bulk tasks per site.
- **copy** (Jira Data Center, across trackers, Kaiten across spaces, and every spawn): the target is
  found by its marker label / external id ``hub-route-<id>`` or created with the plan's fields; the
  attachments are copied (those there already skipped); one digest comment of the public comments
  (found again by its marker); the two issues are linked (one tracker: a typed link; across trackers:
  a remote link on the Jira side, an external link on the Kaiten side, both upserted by URL/global
  id); in move mode the customer's conversation follows the target (``store.links``), then the source
  gets its comment and its transition (or Kaiten column).

Then the receiving team is told (Telegram chat, e-mail; each once, through the outbound log) and the
request ends with its audit line; the issue's cards in the team chats then say where it went
(``jobs.team_routes``). A refused create is a failed request with the tracker's own error
and nothing written; an outage postpones the request (the sweep re-enqueues it when it is due).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from config.routes import Route
from connector.base import CAN_MOVE
from connector.errors import (
    ChannelError,
    MoveUnsupported,
    TrackerRejected,
    TrackerUnavailable,
    Unsupported,
)
from connector.mail import send_mail
from connector.types import FileUpload, IssueRef
from jobs.canned import library as canned_library
from jobs.context import Context, get_context
from jobs.replies import send_to_customer
from jobs.routing.drafts import draft_of, tracker_values
from jobs.routing.errors import PlanRefused, RoutingError, TrackerDown
from jobs.routing.move_slots import move_slot
from jobs.routing.planning import find_route, make_plan, read_source
from jobs.routing.route_link import add_route_link
from jobs.team_routes import tell_cards
from mappers.autofill import RoutePlan, SourceIssue
from mappers.canned import CannedError, canned_variables
from mappers.replies import pick_language
from mappers.route_text import digest_comment
from store import links as conversation_links
from store import outbound
from store import routing as store
from store.routing import RouteRequest

log = logging.getLogger(__name__)

LEASE_SECONDS = 300  # as jobs.routing.api's: renewed at every step
RETRY_DELAYS = (10, 30, 120, 600, 1800)  # seconds before an attempt after an outage
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ATTEMPTS = 8
# what a moved issue keeps as it is (its own title, text, labels, reporter; the move sets project and type)
KEPT_BY_A_MOVE = frozenset(
    {"summary", "title", "description", "labels", "tags", "reporter", "project", "issuetype"}
)


def marker_of(request_id: str) -> str:
    """The idempotency marker of a request's target issue, digest comment and links."""
    return f"hub-route-{request_id}"


def run_route(request_id: str) -> str:
    """RQ's entry point."""
    ended = run_route_with(get_context(), request_id)
    return ended.status if ended is not None else "held"


def run_route_with(ctx: Context, request_id: str, now: dt.datetime | None = None) -> RouteRequest | None:
    """Carry out the request if no other job holds it; the request as it ends (None when held)."""
    request = store.claim(ctx.engine, request_id, LEASE_SECONDS, now=now)
    if request is None:
        return store.get_request(ctx.engine, request_id)
    ended = _carry_out(ctx, request)
    if ended is not None and ended.finished:
        _tell_team_chat(ctx, ended)
    return ended


def _tell_team_chat(ctx: Context, ended: RouteRequest) -> None:
    """The issue's cards in the team chats say where it went (once: a finished request is not claimed
    again). A chat that fails to hear it is logged; the route is done either way."""
    try:
        tell_cards(ctx, ended)
    except Exception:  # a notice about a finished request must not make its job fail
        log.exception("route.cards-failed request=%s", ended.id)


def _carry_out(ctx: Context, request: RouteRequest) -> RouteRequest | None:
    try:
        return _Route(ctx, request).run()
    except (TrackerUnavailable, TrackerDown) as exc:
        return _postpone(ctx, request, f"waiting for the tracker: {exc}")
    except PlanRefused as exc:
        return store.finish(ctx.engine, request.id, store.FAILED, reason=str(exc))
    except (TrackerRejected, Unsupported, RoutingError) as exc:
        log.warning("route.failed request=%s reason=%s", request.id, exc)
        return store.finish(ctx.engine, request.id, store.FAILED, reason=f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # a bug or the database: retried with back-off, failed after the last
        log.exception("route.error request=%s", request.id)
        return _postpone(ctx, request, f"{type(exc).__name__}: {exc}")


def _postpone(ctx: Context, request: RouteRequest, reason: str) -> RouteRequest | None:
    """An outage: try again after a back-off (the sweep enqueues it when due), or fail after the last."""
    if request.attempts >= MAX_ATTEMPTS:
        return store.finish(ctx.engine, request.id, store.FAILED, reason=reason)
    delay = RETRY_DELAYS[min(request.attempts, len(RETRY_DELAYS)) - 1]
    log.info("route.postponed request=%s delay=%s reason=%s", request.id, delay, reason)
    return store.postpone(ctx.engine, request.id, delay, reason)


@dataclass
class _Route:
    ctx: Context
    request: RouteRequest

    def __post_init__(self) -> None:
        self.route: Route = find_route(self.ctx, self.request.route)
        self.steps: dict[str, Any] = dict(self.request.steps)
        self.marker = marker_of(self.request.id)
        # nothing can have been written before the first attempt: it skips the lookups by marker
        self.retry = self.request.attempts > 1
        self.source_tracker = self.ctx.tracker(self.request.source_tracker)

    # -- the steps ------------------------------------------------------------------------------------

    def run(self) -> RouteRequest | None:
        source = read_source(self.ctx, self.request.source_tracker, self.request.source_key, self.route)
        plan = make_plan(self.ctx, self.request.route, self.route, source, self.request.supplied)
        if "target" not in self.steps and not plan.ready:
            raise PlanRefused(plan)
        target = self._target(source, plan)
        if not self.steps.get("moved"):
            self._step("files", lambda: self._copy_files(source, target))
            self._step("digest", lambda: self._digest(source, target))
            self._step("link", lambda: self._link(source, target))
        if self.route.mode == "move":
            self._step("follow", lambda: self._follow(target))
            if not self.steps.get("moved"):
                self._step("source", lambda: self._close_source(target))
            if self.route.customer_notice:
                self._step("notice", lambda: self._tell_customers(source, target))
        self._step("notify", lambda: self._notify_team(source, target))
        values = {p.field.name: p.text for p in plan.values}
        ended = store.finish(self.ctx.engine, self.request.id, store.DONE, field_values=values)
        log.info(
            "route.done request=%s route=%s source=%s target=%s",
            self.request.id,
            self.request.route,
            self.request.source_key,
            target.key,
        )
        return ended

    def _step(self, name: str, act: Callable[[], Any]) -> None:
        if name in self.steps:
            return
        result = act()
        self.steps = store.record_step(
            self.ctx.engine, self.request.id, name, result if result is not None else True
        )
        store.extend_lease(self.ctx.engine, self.request.id, LEASE_SECONDS)

    def _target(self, source: SourceIssue, plan: RoutePlan) -> IssueRef:
        """The target issue: already known, moved natively, found by its marker, or created."""
        known = self.steps.get("target")
        tracker = self.ctx.tracker(plan.target.tracker)
        if known:
            return IssueRef(plan.target.tracker, str(known), tracker.issue_url(str(known)))
        ref = self._native_move(source, plan)
        if ref is None:
            found = tracker.find_issue(self.marker) if self.retry else None
            ref = found or self._create(plan)
        store.set_target(self.ctx.engine, self.request.id, ref.tracker, ref.key, ref.url)
        self.steps = store.record_step(self.ctx.engine, self.request.id, "target", ref.key)
        return ref

    def _native_move(self, source: SourceIssue, plan: RoutePlan) -> IssueRef | None:
        """The issue moved by the tracker itself, or None where it cannot or would not (copy instead)."""
        same_instance = plan.target.tracker == self.request.source_tracker
        if self.route.mode != "move" or not same_instance:
            return None
        if CAN_MOVE not in self.source_tracker.capabilities():
            return None
        wire = plan.field_values()
        required = {p.field.id for p in plan.values if p.field.required} - KEPT_BY_A_MOVE
        try:
            with move_slot(self.ctx, plan.target.tracker):
                ref = self.source_tracker.move(
                    self.request.source_key, plan.target, fields={k: wire[k] for k in required}
                )
        except MoveUnsupported:
            return None
        except TrackerRejected as exc:
            log.info("route.move-refused request=%s reason=%s fallback=copy", self.request.id, exc)
            return None
        self.steps = store.record_step(self.ctx.engine, self.request.id, "moved", ref.key)
        rest = [p for p in plan.values if p.field.id not in required and p.field.id not in KEPT_BY_A_MOVE]
        if rest:
            self.source_tracker.update_fields(ref.key, tracker_values(rest, self.source_tracker))
        return ref

    def _create(self, plan: RoutePlan) -> IssueRef:
        tracker = self.ctx.tracker(plan.target.tracker)
        draft, later = draft_of(plan, self.marker, tracker)
        ref = tracker.create_issue(draft)
        if later:
            tracker.update_fields(ref.key, later)
        add_route_link(self.ctx, tracker, ref)
        return ref

    def _copy_files(self, source: SourceIssue, target: IssueRef) -> int:
        uploads = []
        for file in source.files:
            content = self.source_tracker.download_file(file, MAX_FILE_BYTES)
            if content is not None:
                uploads.append(FileUpload(file.filename, content))
        if uploads:
            self.ctx.tracker(target.tracker).attach_files(target.key, uploads)
        return len(uploads)

    def _digest(self, source: SourceIssue, target: IssueRef) -> str | None:
        if not self.route.carry.comments:
            return None
        tracker = self.ctx.tracker(target.tracker)
        digest_marker = f"{self.marker}-digest"
        found = tracker.find_comment(target.key, digest_marker) if self.retry else None
        if found:
            return found
        same = target.tracker == self.request.source_tracker
        body = digest_comment(
            source.comments,
            self.ctx.markup(target.tracker),
            marker=digest_marker,
            source_key=self.request.source_key,
            source_markup=None if same else source.kind,
        )
        return tracker.add_comment(target.key, body, digest_marker) if body else None

    def _link(self, source: SourceIssue, target: IssueRef) -> str:
        if target.tracker == self.request.source_tracker:
            link_type = self.route.link_type
            if self.ctx.config.tracker_kind(target.tracker) == "kaiten":
                link_type = None  # Kaiten links cards as parent and child only
            self.source_tracker.link(self.request.source_key, target.key, link_type)
            return "link"
        target_tracker = self.ctx.tracker(target.tracker)
        source_url = source.state.ref.url
        target_tracker.add_remote_link(
            target.key,
            source_url,
            f"{self.request.source_key}: {source.state.summary}"[:250],
            global_id=f"{self.marker}-source",
        )
        self.source_tracker.add_remote_link(
            self.request.source_key,
            target.url,
            f"{target.key}: {source.state.summary}"[:250],
            global_id=f"{self.marker}-target",
        )
        return "remote-links"

    def _follow(self, target: IssueRef) -> int:
        """The customer's conversation moves to the target: follow-ups, replies and status notices
        come from it, and the source's close tells the customer nothing."""
        return conversation_links.move_to_issue(
            self.ctx.engine,
            tracker=self.request.source_tracker,
            issue_key=self.request.source_key,
            to_tracker=target.tracker,
            to_key=target.key,
            to_url=target.url,
        )

    def _tell_customers(self, source: SourceIssue, target: IssueRef) -> int:
        """The route's ``customer_notice`` (a canned template) to each customer of the conversation, in
        their channel and language, once each; one that cannot be reached is logged, not retried."""
        template = self.route.customer_notice
        assert template is not None
        told = 0
        for link in conversation_links.links_on_issue(self.ctx.engine, target.tracker, target.key):
            language = pick_language(link.language, self.ctx.config.texts.default_language)
            values = canned_variables(
                issue_key=target.key, summary=source.state.summary, requester_name=link.requester_name
            )
            try:
                text = canned_library(self.ctx).render(template, language, values)
                send_to_customer(
                    self.ctx,
                    link,
                    text,
                    key=f"route-notice:{self.request.id}:{link.id}",
                    message_id=self.request.id,
                    hub_subject=f"Your request is now {target.key}",
                )
            except (CannedError, ChannelError) as exc:
                log.warning("route.notice-failed request=%s link=%s error=%s", self.request.id, link.id, exc)
                continue
            told += 1
        return told

    def _close_source(self, target: IssueRef) -> str:
        """Move mode: the source's fate (a Jira transition with its resolution, a Kaiten column or the
        archive), with its "Moved to" comment in the same request; an issue already there is left alone,
        so a retry writes neither twice."""
        fate = self.route.source_fate
        key = self.request.source_key
        comment = None
        if fate is None or fate.comment:
            text = fate.comment if fate is not None and isinstance(fate.comment, str) else "Moved to"
            markup = self.ctx.markup(self.request.source_tracker)
            comment = f"{markup.escape(text)} {target.key} {target.url}"
        if self.ctx.config.tracker_kind(self.request.source_tracker) == "kaiten":
            if fate is not None and fate.archive:
                self.source_tracker.archive(key, comment=comment)
                return "archive"
            column = fate.column if fate is not None else None
            to = str(column) if column is not None else _done_transition(self.source_tracker.transitions(key))
            self.source_tracker.transition(key, to, comment=comment)
            return to
        wanted = fate.transition if fate is not None else None
        to = wanted or _done_transition(self.source_tracker.transitions(key))
        resolution = fate.resolution if fate is not None else None
        self.source_tracker.transition(key, to, resolution=resolution, comment=comment)
        return to

    def _notify_team(self, source: SourceIssue, target: IssueRef) -> list[str]:
        """Tell the receiving team: its Telegram chat and its e-mail, each once (the outbound log), and
        its watchers on the target issue."""
        notify = self.route.notify
        text = (
            f"Routed to you: {target.key} — {source.state.summary}\n{target.url}\n"
            f"(from {self.request.source_key}, by {self.request.requested_by}, route {self.request.route})"
        )
        sent = []
        if notify.telegram_chat is not None and self.ctx.telegram is not None:
            sent += self._once(
                "route-team:telegram",
                str(notify.telegram_chat),
                lambda: self._telegram(notify.telegram_chat, text),
            )
        for address in notify.email:
            if self.ctx.settings.secret("SMTP_URL"):
                send = functools.partial(self._mail, address, target, text)
                sent += self._once(f"route-team:email:{address}"[:96], address, send)
        if notify.watchers:
            sent += self._add_watchers(target, notify.watchers)
        return sent

    def _add_watchers(self, target: IssueRef, watchers: tuple[str, ...]) -> list[str]:
        """The route's watchers on the target (harmless to repeat); a tracker without watchers, or one
        refusing a watcher (a user it does not know), is logged, not retried: the issue has moved."""
        try:
            self.ctx.tracker(target.tracker).add_watchers(target.key, watchers)
        except (Unsupported, TrackerRejected) as exc:
            log.warning(
                "route.watchers-refused request=%s tracker=%s error=%s",
                self.request.id,
                target.tracker,
                exc,
            )
            return []
        return ["route-team:watchers"]

    def _once(self, kind: str, recipient: str, send: Callable[[], str]) -> list[str]:
        if outbound.find(self.ctx.engine, self.request.id, kind) is not None:
            return [kind]
        try:
            ref = send()
        except ChannelError as exc:
            log.warning("route.notify-failed request=%s kind=%s error=%s", self.request.id, kind, exc)
            outbound.record(
                self.ctx.engine,
                outbound.Outbound(
                    self.request.id, kind, kind.split(":")[1], recipient, "failed", str(exc), None
                ),
            )
            return []
        outbound.record(
            self.ctx.engine,
            outbound.Outbound(self.request.id, kind, kind.split(":")[1], recipient, "sent", None, ref),
        )
        return [kind]

    def _telegram(self, chat: int | str | None, text: str) -> str:
        client = self.ctx.telegram
        assert client is not None and chat is not None
        return str(client.send_message(chat, text))

    def _mail(self, address: str, target: IssueRef, text: str) -> str:
        mail = EmailMessage()
        mail["From"] = self.ctx.settings.HUB_EMAIL_FROM
        mail["To"] = address
        mail["Subject"] = f"Routed to you: {target.key}"
        mail.set_content(text)
        smtp_url = self.ctx.settings.secret("SMTP_URL")
        assert smtp_url  # the caller checked it
        send_mail(smtp_url, mail)
        return address


def _done_transition(transitions: list[Any]) -> str:
    done = next((t for t in transitions if t.to_category == "done"), None)
    if done is None:
        raise TrackerRejected("the source has no transition into a done status; set source_fate.transition")
    return str(done.id)
