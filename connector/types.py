"""Tracker-neutral types the connectors take and return (DESIGN.md, "Core types")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FileUpload:
    """A file to attach to an issue."""

    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


@dataclass(frozen=True)
class IssueDraft:
    """Everything needed to create one issue; built by the mappers, sent by a connector.

    ``idempotency_key`` is stored on the issue (a Jira label, a Kaiten external id) so a retried
    create can find what an earlier attempt made.
    """

    tracker: str  # "jira" or "kaiten"
    project: str  # Jira project key; Kaiten board id
    issue_type: str
    title: str
    body: str  # already in the tracker's markup, customer text escaped
    idempotency_key: str
    labels: tuple[str, ...] = ()
    priority: str | None = None
    assignee: str | None = None
    components: tuple[str, ...] = ()
    custom_fields: dict[str, Any] = field(default_factory=dict)
    requester: str = ""
    column: str | None = None  # Kaiten
    lane: str | None = None  # Kaiten


@dataclass(frozen=True)
class IssueRef:
    """A pointer to an issue in a tracker."""

    tracker: str
    key: str
    url: str
    id: str | None = None


@dataclass(frozen=True)
class IssueState:
    """What the hub needs to know about an existing issue."""

    ref: IssueRef
    done: bool
    status: str = ""
    summary: str = ""
    labels: tuple[str, ...] = ()
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrackerFile:
    """A file attached to an issue or card."""

    id: str
    filename: str
    size: int
    url: str


@dataclass(frozen=True)
class Comment:
    """A comment as the tracker has it now (webhook payloads are only hints)."""

    id: str
    body: str
    author: str  # account id, user name or Kaiten user id
    author_name: str = ""
    public: bool | None = None  # None: the tracker does not say
