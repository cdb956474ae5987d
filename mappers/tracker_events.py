"""Normalise tracker webhooks into one tracker-neutral :class:`TrackerEvent`. Pure: no I/O.

Jira's webhooks are read here, Kaiten's in mappers/kaiten_events.py.

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
- ``jira:issue_deleted``: the last state of the issue;
- ``jira:issue_created``: the new issue (the automations' ``created`` trigger; nothing else acts on it).

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
    "comment_created",
    "comment_updated",
    "issue_transitioned",
    "issue_updated",
    "issue_deleted",
    "issue_created",
]
StatusCategory = Literal["new", "indeterminate", "done"]

JIRA_HANDLED_EVENTS = frozenset(
    {"comment_created", "comment_updated", "jira:issue_updated", "jira:issue_deleted", "jira:issue_created"}
)

# ``issue_event_type_name`` values under which Data Center repeats a comment event.
_JIRA_COMMENT_TYPE_NAMES: dict[str, EventKind] = {
    "issue_commented": "comment_created",
    "issue_comment_edited": "comment_updated",
}
_COMMENT_SELF = re.compile(r"/issue/(\d+)/comment/(\d+)/?$")
_STATUS_CATEGORIES: frozenset[str] = frozenset({"new", "indeterminate", "done"})


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
    fields_changed: tuple[str, ...] = ()  # Jira: each changelog item's fieldId and name; Kaiten: see there
    resolution: str | None = None  # Jira: the resolution a change set (changelog item ``resolution``)


# ---------------------------------------------------------------------------------------------------
# Jira


def parse_jira_webhook(payload: object, *, delivery_id: str | None = None) -> TrackerEvent:
    """A Jira webhook body (already JSON-decoded) as a :class:`TrackerEvent`.

    Raises :class:`AnomalousPayload` when it is not a Jira webhook, :class:`UnsupportedEvent` for a
    real Jira event the hub does not act on (``worklog_*``, ``comment_deleted``...).
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
        base["issue_id"] = scalar_text(issue.get("id"))
        base["issue_key"] = scalar_text(issue.get("key"))
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
    if name == "jira:issue_created":  # an issue is created once: its id is the event's whole identity
        if issue is None or not base.get("issue_id"):
            raise AnomalousPayload("Jira jira:issue_created without an issue", {"issue": "missing"})
        return TrackerEvent(kind="issue_created", event_id=f"{name}:{base['issue_id']}", **base)

    # jira:issue_updated
    if issue is None:
        raise AnomalousPayload("Jira jira:issue_updated without an issue", {"issue": "missing"})
    base.update(_changed(changelog))
    status = _status_item(changelog)
    if status is not None and changelog is not None:
        return _jira_transition(payload, issue, changelog, status, base)
    type_name = payload.get("issue_event_type_name")
    if comment is not None and type_name in _JIRA_COMMENT_TYPE_NAMES:
        return _jira_comment(_JIRA_COMMENT_TYPE_NAMES[str(type_name)], comment, base)
    if changelog is not None and scalar_text(changelog.get("id")):
        event_id = f"changelog:{scalar_text(changelog.get('id'))}"
    else:
        event_id = _fallback_id(name, payload, base)
    return TrackerEvent(kind="issue_updated", event_id=event_id, **base)


def _jira_comment(kind: EventKind, comment: Mapping[str, Any], base: dict[str, Any]) -> TrackerEvent:
    comment_id = scalar_text(comment.get("id"))
    url = scalar_text(comment.get("self"))
    match = _COMMENT_SELF.search(url or "")
    if comment_id is None and match:
        comment_id = match.group(2)
    if comment_id is None:
        raise AnomalousPayload("Jira comment without an id", {"comment.id": "missing"})
    if base.get("issue_id") is None and match:
        base = {**base, "issue_id": match.group(1)}
    updated = scalar_text(comment.get("updated")) or scalar_text(comment.get("created")) or ""
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
    changelog_id = scalar_text(changelog.get("id"))
    status_to = scalar_text(item.get("toString"))
    category: StatusCategory | None = None
    fields = issue.get("fields")
    current = fields.get("status") if isinstance(fields, Mapping) else None
    if isinstance(current, Mapping):
        # The issue's current status is the transition's target unless a later change overtook it.
        same = scalar_text(current.get("id")) == scalar_text(item.get("to")) or (
            status_to is not None and scalar_text(current.get("name")) == status_to
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
        status_from=scalar_text(item.get("fromString")),
        status_to=status_to,
        status_category_to=category,
        **base,
    )


def _changed(changelog: Mapping[str, Any] | None) -> dict[str, Any]:
    """``fields_changed`` (each changelog item's ``fieldId`` and ``field`` name, so a rule may name a
    field either way) and the ``resolution`` set, if one was."""
    items = changelog.get("items") if changelog is not None else None
    names: list[str] = []
    resolution = None
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, Mapping):
            continue
        names += [n for n in (scalar_text(item.get("fieldId")), scalar_text(item.get("field"))) if n]
        if str(item.get("fieldId") or item.get("field") or "").lower() == "resolution":
            resolution = scalar_text(item.get("toString"))
    return {"fields_changed": tuple(dict.fromkeys(names)), "resolution": resolution}


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
    ident = (
        scalar_text(user.get("accountId")) or scalar_text(user.get("name")) or scalar_text(user.get("key"))
    )
    return ident, scalar_text(user.get("displayName"))


def _jira_time(value: object) -> dt.datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _fallback_id(name: str, payload: Mapping[str, Any], base: Mapping[str, Any]) -> str:
    timestamp = scalar_text(payload.get("timestamp"))
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


def scalar_text(value: object) -> str | None:
    """A scalar id or name as a non-empty string, else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float):
        return str(value)
    return None
