"""What polling reconciliation found, as the :class:`TrackerEvent` its webhook would have been. Pure.

Each change is rebuilt as the webhook body the tracker would have sent and read by the webhook's own
parser, so a reconciled event has the webhook's kind, fields and **event id**: a change the webhook
also brought is one journal row (the journal's key is the tracker and the event id) and one automation
firing (``event:<event id>``), whichever came first.

- **Jira**: a changelog history (``expand=changelog``: ``{id, author, created, items[]}``, REST v2
  ``Changelog``) is the ``changelog`` of a ``jira:issue_updated`` webhook (``{id, items[]}``, the same
  items), its ``author`` the webhook's ``user``, its ``created`` the ``timestamp``; the event id is
  ``changelog:<id>`` either way.
- **Kaiten**: the card has no history the list returns, so the card now is compared with what the hub
  last saw of it (:class:`CardSnapshot`): the differences are a ``card:update`` webhook's ``changes``
  (``old`` the snapshot, ``changes.updated`` the card's ``updated``), so the event id
  ``card:update:<id>:<updated>`` is the webhook's for that version of the card. The responsible
  (``responsible_id``, which Kaiten's ``card:update`` does not carry: it is a ``card_member`` event)
  is compared too, so an assignment reaches the ``assigned`` trigger and the SLA's ``start: assigned``.
- **Comments**: ``comment_event`` (a comment is known by its id: ``jobs.events`` acts on the first
  journaled creation of a comment only, as an edit before the poll changes the webhook's id).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from connector.types import Comment, IssueChanges, IssueRef, IssueState
from mappers.errors import AnomalousPayload, UnsupportedEvent
from mappers.kaiten_events import iso_time, parse_kaiten_webhook
from mappers.tracker_events import TrackerEvent, parse_jira_webhook

RECONCILED = "reconciled"  # the delivery_id of an event the poll journaled (a webhook's is its own)

TrackerName = Literal["jira", "kaiten"]


def jira_history_events(changes: IssueChanges, after: dt.datetime) -> list[TrackerEvent]:
    """The changelog histories of an issue made at or after ``after``, oldest first, each as the
    ``jira:issue_updated`` webhook that told it (a transition, an assignment, a field edit)."""
    fields = changes.issue.get("fields") or {}
    issue = {"id": changes.ref.id or changes.issue.get("id"), "key": changes.ref.key}
    issue["fields"] = {"status": fields.get("status")} if fields.get("status") else {}
    found = []
    for history in sorted(changes.histories, key=lambda h: _jira_time(h.get("created")) or after):
        at = _jira_time(history.get("created"))
        if at is None or at < after or not history.get("items"):
            continue
        payload = {
            "webhookEvent": "jira:issue_updated",
            "timestamp": int(at.timestamp() * 1000),
            "user": history.get("author") or None,
            "issue": issue,
            "changelog": {"id": history.get("id"), "items": history.get("items")},
        }
        try:
            event = parse_jira_webhook(payload, delivery_id=RECONCILED)
        except (AnomalousPayload, UnsupportedEvent):
            continue  # a history the webhook could not have carried either
        found.append(event)
    return found


def changelog_cut(changes: IssueChanges, after: dt.datetime) -> bool:
    """Whether histories made since ``after`` may be missing: the changelog was cut and even its
    oldest history given is that recent."""
    times = [t for t in (_jira_time(h.get("created")) for h in changes.histories) if t is not None]
    return not changes.histories_complete and (not times or min(times) >= after)


def comment_event(tracker: TrackerName, ref: IssueRef, comment: Comment) -> TrackerEvent:
    """A comment the poll found, as its ``comment_created`` webhook would be read."""
    return TrackerEvent(
        tracker=tracker,
        kind="comment_created",
        event_id=f"{RECONCILED}:comment:{comment.id}",
        delivery_id=RECONCILED,
        source_event="comment_created" if tracker == "jira" else "comment:add",
        issue_key=ref.key,
        issue_id=ref.id or ref.key,
        comment_id=comment.id,
        comment_body=comment.body,
        comment_author=comment.author or None,
        comment_public=comment.public,
        actor=comment.author or None,
        actor_name=comment.author_name or None,
        occurred_at=comment.created,
    )


# -- Kaiten ------------------------------------------------------------------------------------------

CARD_FIELDS = (
    "column_id",
    "state",
    "condition",
    "properties",
    "updated",
    "comments_total",
    "created",
    "last_moved_at",
)
_COMPARED = ("column_id", "state", "condition", "properties", "responsible_id")


@dataclass(frozen=True)
class CardSnapshot:
    """What the hub last saw of a card: the fields whose change is an event, the card's ``updated``
    (raw, as the tracker writes it), its comment count, the fields whose value the hub does not know
    (``unknown``: the next poll takes them as they are, without an event), and ``polled``, the
    ``updated`` of the last change the poll itself journaled (a webhook of that version or an older
    one is then already acted on)."""

    updated: str
    values: dict[str, Any] = field(default_factory=dict)
    comments_total: int | None = None
    unknown: tuple[str, ...] = ()
    polled: str = ""

    def dumps(self) -> str:
        """The snapshot as stored."""
        data = {
            "updated": self.updated,
            "values": self.values,
            "comments": self.comments_total,
            "unknown": list(self.unknown),
            "polled": self.polled,
        }
        return json.dumps(data, sort_keys=True)

    @classmethod
    def loads(cls, raw: str | bytes) -> CardSnapshot:
        """A stored snapshot."""
        data = json.loads(raw)
        unknown = tuple(data.get("unknown") or ())
        return cls(
            data["updated"], data.get("values") or {}, data.get("comments"), unknown, data.get("polled") or ""
        )

    @property
    def at(self) -> dt.datetime | None:
        """``updated`` as a moment."""
        return iso_time(self.updated)


def card_snapshot(state: IssueState) -> CardSnapshot:
    """A card as a search found it (with :data:`CARD_FIELDS`)."""
    values = {name: state.fields.get(name) for name in _COMPARED if name != "responsible_id"}
    values["responsible_id"] = _int_or_none(state.assignee)
    total = state.fields.get("comments_total")
    return CardSnapshot(
        str(state.fields.get("updated") or ""), values, total if isinstance(total, int) else None
    )


def first_base(state: IssueState, seen: CardSnapshot, after: dt.datetime) -> CardSnapshot | None:
    """What a card seen for the first time is compared with: a card created since ``after`` that has
    moved since (``last_moved_at`` later than ``created``) moved from a column the hub never saw, which
    is a move all the same; None: any other card is taken as it is."""
    created, moved = iso_time(state.fields.get("created")), iso_time(state.fields.get("last_moved_at"))
    if created is None or moved is None or created < after or moved <= created:
        return None
    unseen = {**seen.values, "column_id": None, "state": None}
    return CardSnapshot(str(state.fields.get("created")), unseen, seen.comments_total)


def needs_comments(before: CardSnapshot | None, seen: CardSnapshot) -> bool:
    """Whether a card's comments are read: first seen, its ``comments_total`` changed, or the list does
    not give the count and the card changed."""
    if before is None or before.comments_total != seen.comments_total:
        return True
    return seen.comments_total is None and seen.updated != before.updated


def card_change_event(card_id: str, before: CardSnapshot, now: CardSnapshot) -> TrackerEvent | None:
    """The ``card:update`` webhook a card's change since ``before`` would have been (None when nothing
    the hub acts on changed, or ``now`` is not newer).

    Of the version a webhook told (``before`` made by :func:`after_webhook`), only a new responsible is
    news: Kaiten's ``card:update`` does not carry it, so an assignment followed by a move within one
    poll would otherwise be lost. That event gets an id of its own; the webhook's took the version's."""
    same_version = now.updated == before.updated
    if not same_version and _not_after(now, before):
        return None
    changes = {
        name: value
        for name, value in now.values.items()
        if name not in before.unknown and name in before.values and before.values[name] != value
    }
    if same_version:
        changes = {name: value for name, value in changes.items() if name == "responsible_id"}
    if not changes:
        return None
    old = {"id": _int_or_none(card_id) or card_id, **before.values, "updated": before.updated}
    payload = {"event": "card:update", "data": {"old": old, "changes": {**changes, "updated": now.updated}}}
    try:
        event = parse_kaiten_webhook(payload)
    except (AnomalousPayload, UnsupportedEvent):
        return None
    update: dict[str, Any] = {"delivery_id": RECONCILED}
    if same_version:
        update["event_id"] = f"{event.event_id}:responsible:{changes['responsible_id']}"
    return event.model_copy(update=update)


def after_webhook(before: CardSnapshot | None, card: Mapping[str, Any]) -> CardSnapshot:
    """What the hub knows of a card once a ``card:update`` webhook told it ``card`` (``old`` merged with
    ``changes``): its column, state, condition and properties, not its responsible (left as known)."""
    values = dict(before.values) if before is not None else {}
    values.update({name: card.get(name) for name in _COMPARED if name in card})
    unknown = tuple(name for name in _COMPARED if name not in values)
    kept = before.comments_total if before is not None else None
    polled = before.polled if before is not None else ""
    return CardSnapshot(str(card.get("updated") or ""), values, kept, unknown, polled)


def covers(snapshot: CardSnapshot | None, event: TrackerEvent) -> bool:
    """Whether the poll already journaled the change a ``card:update`` webhook tells: it saw that
    version of the card, or a later one, and journaled what had changed since the hub last knew it."""
    polled = iso_time(snapshot.polled) if snapshot is not None else None
    return polled is not None and event.occurred_at is not None and polled >= event.occurred_at


def _not_after(now: CardSnapshot, before: CardSnapshot) -> bool:
    return now.at is not None and before.at is not None and now.at <= before.at


def _jira_time(value: object) -> dt.datetime | None:
    """Jira's ``2026-12-07T05:47:12.123+0000``."""
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        return iso_time(value)


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value)) if value is not None and str(value) != "" else None
    except ValueError:
        return None
