"""Normalise Jira and Kaiten webhooks into one tracker-neutral :class:`TrackerEvent`. Pure: no I/O.

**Jira** (``POST /hooks/jira``). Shapes are those of the REST v2 webhook payloads, checked against real
payloads from mattermost/mattermost-plugin-jira ``server/testdata/webhook-*.json`` and
zulip/zulip ``zerver/webhooks/jira/fixtures/*.json`` (copied to ``tests/fixtures/jira/``; research
notes in ``../shared/research/jira.md`` §3):

- top level ``timestamp`` (ms), ``webhookEvent``, ``issue_event_type_name`` (issue events only),
  ``user`` (the actor), ``issue {id, key, self, fields}``, ``changelog {id, items[]}``, ``comment``;
- ``comment_created`` / ``comment_updated``: ``comment {self, id, author, updateAuthor, body,
  created, updated}`` and, on Cloud, ``comment.jsdPublic``. **Server's ``comment_created`` has no
  ``issue`` object**: the issue id is read from ``comment.self`` (``.../rest/api/2/issue/10013/
  comment/10082``) and ``issue_key`` stays None, so the job must re-read the issue;
- ``jira:issue_updated``: a ``status`` item in ``changelog.items`` is a transition; Data Center also
  reports every comment a second time as ``jira:issue_updated`` with ``issue_event_type_name:
  issue_commented`` (``issue_comment_edited`` for edits) and a ``comment`` object;
- ``jira:issue_deleted``: the last state of the issue.

Dedupe keys (``event_id``), chosen so a redelivery and Data Center's double report collapse to one:

- comment events, whichever envelope they came in: ``comment:<id>:<updated>``. This is used even
  when ``X-Atlassian-Webhook-Identifier`` is given, because the double report is two deliveries with
  two identifiers; ``id`` + ``updated`` is stable across retries and changes on every edit;
- changes with a changelog (transitions, field edits): ``changelog:<id>``, again in preference to the
  delivery id (the same changelog delivered to two registered webhooks is still one change);
- everything else (``jira:issue_deleted``, an update or a transition without a changelog id):
  ``<webhookEvent>:<issue id>:<timestamp>``, all of it inside the signed body, so a captured signed
  body replayed under a fresh ``X-Atlassian-Webhook-Identifier`` (a header, not signed) is still the
  same event; the delivery identifier only where the body has no timestamp.

The delivery identifier is kept in ``delivery_id`` for logs either way. :func:`staleness` tells the
route how far ``timestamp`` is from now: a Jira webhook outside the freshness window is refused, which
bounds how long a captured body could be replayed at all. Order is not guaranteed and payloads are
old news by the time a job runs, so a job re-reads the issue before acting.

**Kaiten** (``POST /hooks/kaiten``). Outgoing ("external") webhooks, per space; envelope documented at
https://developers.kaiten.ru/external-webhooks: ``{"event": "<model>:add|update|remove", "data":
{...}}``; ``:add``/``:remove`` carry the model plus ``author {id, full_name, username, email}``,
``:update`` carries ``data.old`` (the model before), ``data.changes`` (only the changed fields, always
with ``updated``) and ``author``. Field lists follow the documentation's examples as typed in
2chevskii/kaiten-client ``src/generated/webhook-events.ts`` @ 3c544411 (``CardUpdateWebhookEvent``,
``CommentAddWebhookEvent``, ``CommentUpdateWebhookEvent``) and the card schema in
AllDmeat/kaiten-sdk ``openapi/kaiten.yaml`` (``state`` 1 queued / 2 in progress / 3 done, ``condition``
1 live / 2 archived / 3 deleted). Handled: ``comment:add``, ``comment:update``, ``card:update`` (a
``column_id`` change is a transition, ``condition`` 3 a deletion). Kaiten does not sign its webhooks
and documents no retry policy, so the payload is only a hint: the job re-reads the card. Kaiten's
``event_id`` is ``<event>:<id>:<updated>``.

:func:`verify_hub_signature` checks Jira's ``X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, raw
body)>`` (the WebSub format Atlassian uses for admin webhooks with a secret).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from mappers.errors import AnomalousPayload, UnsupportedEvent

EventKind = Literal[
    "comment_created", "comment_updated", "issue_transitioned", "issue_updated", "issue_deleted"
]
StatusCategory = Literal["new", "indeterminate", "done"]

JIRA_HANDLED_EVENTS = frozenset(
    {"comment_created", "comment_updated", "jira:issue_updated", "jira:issue_deleted"}
)
KAITEN_HANDLED_EVENTS = frozenset({"comment:add", "comment:update", "card:update"})

# ``issue_event_type_name`` values under which Data Center repeats a comment event.
_JIRA_COMMENT_TYPE_NAMES: dict[str, EventKind] = {
    "issue_commented": "comment_created",
    "issue_comment_edited": "comment_updated",
}
_COMMENT_SELF = re.compile(r"/issue/(\d+)/comment/(\d+)/?$")
_STATUS_CATEGORIES: frozenset[str] = frozenset({"new", "indeterminate", "done"})
_KAITEN_STATE_CATEGORY: dict[int, StatusCategory] = {1: "new", 2: "indeterminate", 3: "done"}
_KAITEN_DELETED = 3  # card ``condition``: 1 live, 2 archived, 3 deleted


class TrackerEvent(BaseModel):
    """One tracker webhook, normalised: what happened, to which issue, by whom."""

    model_config = ConfigDict(frozen=True)

    tracker: Literal["jira", "kaiten"]
    kind: EventKind
    event_id: str  # the dedupe key
    delivery_id: str | None = None  # X-Atlassian-Webhook-Identifier, for logs
    source_event: str = ""  # the tracker's own name: "comment_created", "card:update"...
    issue_key: str | None = None  # None for Server comment events: re-read the issue by ``issue_id``
    issue_id: str | None = None
    comment_id: str | None = None
    comment_body: str | None = None  # Jira wiki markup or Kaiten markdown, as the tracker stores it
    comment_author: str | None = None  # Jira accountId (Cloud) or name (Server); Kaiten user id
    comment_public: bool | None = None  # Jira Cloud jsdPublic; Kaiten ``not internal``; None = unknown
    comment_url: str | None = None
    status_from: str | None = None  # status name (Jira) or column id (Kaiten)
    status_to: str | None = None
    status_category_to: StatusCategory | None = None
    actor: str | None = None  # who caused the event: accountId / name / Kaiten user id
    actor_name: str | None = None  # their display name, e.g. for a canned ``agent_name``
    occurred_at: dt.datetime | None = None


# ---------------------------------------------------------------------------------------------------
# Jira


def parse_jira_webhook(payload: object, *, delivery_id: str | None = None) -> TrackerEvent:
    """A Jira webhook body (already JSON-decoded) as a :class:`TrackerEvent`.

    Raises :class:`AnomalousPayload` when it is not a Jira webhook, :class:`UnsupportedEvent` for a
    real Jira event the hub does not act on (``jira:issue_created``, ``worklog_*``, ``comment_deleted``...).
    """
    if not isinstance(payload, Mapping):
        raise AnomalousPayload("a Jira webhook is a JSON object")
    name = payload.get("webhookEvent")
    if not isinstance(name, str) or not name:
        raise AnomalousPayload("not a Jira webhook: no webhookEvent", {"webhookEvent": "missing"})
    if name not in JIRA_HANDLED_EVENTS:
        raise UnsupportedEvent(name)
    base: dict[str, Any] = {
        "tracker": "jira",
        "delivery_id": delivery_id or None,
        "source_event": name,
        "occurred_at": _jira_time(payload.get("timestamp")),
    }
    issue = _optional_mapping(payload, "issue")
    if issue is not None:
        base["issue_id"] = _text(issue.get("id"))
        base["issue_key"] = _text(issue.get("key"))
    user = _optional_mapping(payload, "user")
    if user is not None:
        base["actor"], base["actor_name"] = _jira_user(user)

    comment = _optional_mapping(payload, "comment")
    changelog = _optional_mapping(payload, "changelog")
    if name in ("comment_created", "comment_updated"):
        if comment is None:
            raise AnomalousPayload(f"Jira {name} without a comment", {"comment": "missing"})
        return _jira_comment(
            "comment_created" if name == "comment_created" else "comment_updated", comment, base
        )
    if name == "jira:issue_deleted":
        if issue is None:
            raise AnomalousPayload("Jira jira:issue_deleted without an issue", {"issue": "missing"})
        return TrackerEvent(kind="issue_deleted", event_id=_fallback_id(name, payload, base), **base)

    # jira:issue_updated
    if issue is None:
        raise AnomalousPayload("Jira jira:issue_updated without an issue", {"issue": "missing"})
    status = _status_item(changelog)
    if status is not None and changelog is not None:
        return _jira_transition(payload, issue, changelog, status, base)
    type_name = payload.get("issue_event_type_name")
    if comment is not None and type_name in _JIRA_COMMENT_TYPE_NAMES:
        return _jira_comment(_JIRA_COMMENT_TYPE_NAMES[str(type_name)], comment, base)
    if changelog is not None and _text(changelog.get("id")):
        event_id = f"changelog:{_text(changelog.get('id'))}"
    else:
        event_id = _fallback_id(name, payload, base)
    return TrackerEvent(kind="issue_updated", event_id=event_id, **base)


def _jira_comment(kind: EventKind, comment: Mapping[str, Any], base: dict[str, Any]) -> TrackerEvent:
    comment_id = _text(comment.get("id"))
    url = _text(comment.get("self"))
    match = _COMMENT_SELF.search(url or "")
    if comment_id is None and match:
        comment_id = match.group(2)
    if comment_id is None:
        raise AnomalousPayload("Jira comment without an id", {"comment.id": "missing"})
    if base.get("issue_id") is None and match:
        base = {**base, "issue_id": match.group(1)}
    updated = _text(comment.get("updated")) or _text(comment.get("created")) or ""
    body = comment.get("body")
    if body is not None and not isinstance(body, str):
        # REST v3 / ADF bodies are documents, not text: the job re-reads the comment in v2.
        body = None
    public = comment.get("jsdPublic")
    author = comment.get("author") if kind == "comment_created" else comment.get("updateAuthor")
    if not isinstance(author, Mapping):
        author = comment.get("author")
    author_id, author_name = _jira_user(author) if isinstance(author, Mapping) else (None, None)
    fields: dict[str, Any] = {
        **base,
        "comment_id": comment_id,
        "comment_body": body,
        "comment_author": author_id,
        "comment_public": public if isinstance(public, bool) else None,
        "comment_url": url,
    }
    if author_id is not None:
        # The comment's own author is the actor: a loop check compares it with the hub's account.
        fields["actor"], fields["actor_name"] = author_id, author_name
    return TrackerEvent(kind=kind, event_id=f"comment:{comment_id}:{updated}", **fields)


def _jira_transition(
    payload: Mapping[str, Any],
    issue: Mapping[str, Any],
    changelog: Mapping[str, Any],
    item: Mapping[str, Any],
    base: dict[str, Any],
) -> TrackerEvent:
    changelog_id = _text(changelog.get("id"))
    status_to = _text(item.get("toString"))
    category: StatusCategory | None = None
    fields = issue.get("fields")
    current = fields.get("status") if isinstance(fields, Mapping) else None
    if isinstance(current, Mapping):
        # The issue's current status is the transition's target unless a later change overtook it.
        same = _text(current.get("id")) == _text(item.get("to")) or (
            status_to is not None and _text(current.get("name")) == status_to
        )
        cat = current.get("statusCategory")
        key = cat.get("key") if isinstance(cat, Mapping) else None
        if same and key in _STATUS_CATEGORIES:
            category = key
    event_id = (
        f"changelog:{changelog_id}" if changelog_id else _fallback_id("jira:issue_updated", payload, base)
    )
    return TrackerEvent(
        kind="issue_transitioned",
        event_id=event_id,
        status_from=_text(item.get("fromString")),
        status_to=status_to,
        status_category_to=category,
        **base,
    )


def _status_item(changelog: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    items = changelog.get("items") if changelog is not None else None
    if not isinstance(items, list):
        return None
    for item in items:
        if not isinstance(item, Mapping):
            continue
        field_id = item.get("fieldId")
        field = item.get("field")
        if field_id == "status" or (
            field_id is None and isinstance(field, str) and field.lower() == "status"
        ):
            return item
    return None


def _jira_user(user: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(accountId or Server name/key, display name)."""
    ident = _text(user.get("accountId")) or _text(user.get("name")) or _text(user.get("key"))
    return ident, _text(user.get("displayName"))


def _jira_time(value: object) -> dt.datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _fallback_id(name: str, payload: Mapping[str, Any], base: Mapping[str, Any]) -> str:
    timestamp = _text(payload.get("timestamp"))
    if timestamp is None and base.get("delivery_id"):
        return str(base["delivery_id"])
    return f"{name}:{base.get('issue_id') or base.get('issue_key') or ''}:{timestamp or ''}"


def staleness(event: TrackerEvent, now: dt.datetime, max_age: dt.timedelta) -> str | None:
    """Why a webhook is too old (or too far ahead) to act on, or None when its time is within
    ``max_age`` of ``now``. An event without a time has no freshness to check: that is a reason too."""
    if event.occurred_at is None:
        return "the webhook has no timestamp"
    age = now - event.occurred_at
    if abs(age) <= max_age:
        return None
    minutes = int(abs(age).total_seconds() // 60)
    when = "old" if age > dt.timedelta(0) else "in the future"
    return (
        f"the webhook's timestamp is {minutes} minutes {when} (at most {int(max_age.total_seconds() // 60)})"
    )


# ---------------------------------------------------------------------------------------------------
# Kaiten


def parse_kaiten_webhook(payload: object) -> TrackerEvent:
    """A Kaiten outgoing webhook body as a :class:`TrackerEvent` (a hint: the job re-reads the card).

    Raises :class:`AnomalousPayload` when it is not a Kaiten webhook, :class:`UnsupportedEvent` for
    the events the hub does not act on (``card:add``, ``comment:remove``, tags, files, time logs...).
    """
    if not isinstance(payload, Mapping):
        raise AnomalousPayload("a Kaiten webhook is a JSON object")
    name = payload.get("event")
    if not isinstance(name, str) or ":" not in name:
        raise AnomalousPayload("not a Kaiten webhook: no event", {"event": "missing"})
    data = payload.get("data")
    if not isinstance(data, Mapping):
        raise AnomalousPayload(f"Kaiten {name} without data", {"data": "missing"})
    if name not in KAITEN_HANDLED_EVENTS:
        raise UnsupportedEvent(name)
    author = data.get("author")
    actor, actor_name = (None, None)
    if isinstance(author, Mapping):
        actor = _text(author.get("id"))
        actor_name = _text(author.get("full_name")) or _text(author.get("username"))
    base: dict[str, Any] = {
        "tracker": "kaiten",
        "source_event": name,
        "actor": actor,
        "actor_name": actor_name,
    }

    if name == "comment:add":
        return _kaiten_comment("comment_created", name, data, {}, base)
    old = data.get("old")
    changes = data.get("changes")
    if not isinstance(old, Mapping) or not isinstance(changes, Mapping):
        raise AnomalousPayload(f"Kaiten {name} without old/changes", {"data": "old and changes expected"})
    if name == "comment:update":
        return _kaiten_comment("comment_updated", name, old, changes, base)
    return _kaiten_card_update(name, old, changes, base)


def _kaiten_comment(
    kind: EventKind, name: str, comment: Mapping[str, Any], changes: Mapping[str, Any], base: dict[str, Any]
) -> TrackerEvent:
    merged = {**comment, **changes}
    comment_id = _text(merged.get("id"))
    card_id = _text(merged.get("card_id"))
    if comment_id is None or card_id is None:
        raise AnomalousPayload(f"Kaiten {name} without a comment or card id", {"data": "id, card_id"})
    updated = _text(merged.get("updated")) or ""
    internal = merged.get("internal")
    text = merged.get("text")
    author_id = _text(merged.get("author_id")) or base.get("actor")
    return TrackerEvent(
        kind=kind,
        event_id=f"{name}:{comment_id}:{updated}",
        issue_key=card_id,
        issue_id=card_id,
        comment_id=comment_id,
        comment_body=text if isinstance(text, str) else None,
        comment_author=author_id,
        comment_public=(not internal) if isinstance(internal, bool) else None,
        occurred_at=_iso_time(merged.get("updated")),
        **base,
    )


def _kaiten_card_update(
    name: str, old: Mapping[str, Any], changes: Mapping[str, Any], base: dict[str, Any]
) -> TrackerEvent:
    card_id = _text(old.get("id")) or _text(changes.get("id"))
    if card_id is None:
        raise AnomalousPayload(f"Kaiten {name} without a card id", {"data.old.id": "missing"})
    updated = _text(changes.get("updated")) or ""
    fields: dict[str, Any] = {
        **base,
        "event_id": f"{name}:{card_id}:{updated}",
        "issue_key": card_id,
        "issue_id": card_id,
        "occurred_at": _iso_time(changes.get("updated")),
    }
    if changes.get("condition") == _KAITEN_DELETED:
        return TrackerEvent(kind="issue_deleted", **fields)
    state = changes.get("state")
    category = _KAITEN_STATE_CATEGORY.get(state) if isinstance(state, int) else None
    moved = "column_id" in changes and changes.get("column_id") != old.get("column_id")
    if moved or category is not None:
        return TrackerEvent(
            kind="issue_transitioned",
            status_from=_text(old.get("column_id")),
            status_to=_text(changes.get("column_id", old.get("column_id"))),
            status_category_to=category,
            **fields,
        )
    return TrackerEvent(kind="issue_updated", **fields)


def _iso_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


# ---------------------------------------------------------------------------------------------------
# Shared


def verify_hub_signature(secret: str, body: bytes, header: str | None) -> bool:
    """True when ``header`` is ``sha256=<hex HMAC-SHA256(secret, body)>``; compared in constant time."""
    if not secret or not header:
        return False
    algorithm, _, received = header.strip().partition("=")
    if algorithm.strip().lower() != "sha256" or not received:
        return False
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest().encode("ascii")
    return hmac.compare_digest(expected, received.strip().lower().encode("utf-8", "replace"))


def is_own_event(event: TrackerEvent, own_accounts: Iterable[str]) -> bool:
    """True when the hub's own account caused ``event`` (its comment, its edit, its transition).

    ``own_accounts`` holds every id the hub's tracker user is known by: the Jira Cloud accountId, the
    Server/Data Center user name, the Kaiten user id. Such events are dropped so nothing loops.
    """
    own = {account for account in own_accounts if account}
    return bool(own) and (event.actor in own or (event.actor is None and event.comment_author in own))


def _optional_mapping(payload: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = payload.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise AnomalousPayload(f"{key} is not an object", {key: "object expected"})
    return value


def _text(value: object) -> str | None:
    """A scalar id or name as a non-empty string, else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float):
        return str(value)
    return None
