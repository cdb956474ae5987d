"""The ``Tracker`` protocol: what the jobs need from Jira and Kaiten alike."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from connector.errors import TrackerError
from connector.types import (
    Comment,
    FieldSchema,
    FileUpload,
    IssueDraft,
    IssueRef,
    IssueState,
    Target,
    TrackerFile,
)


class Tracker(Protocol):
    """One tracker deployment. Every write is safe to repeat through its idempotency marker.

    ``name`` is the instance's name in rules and targets (``jira`` and ``kaiten`` for the ones the
    environment defines; journal rows and links store it); ``kind`` is ``jira`` or ``kaiten``.
    """

    name: str
    kind: str

    @property
    def search_lag(self) -> float:
        """Seconds after a create during which ``find_issue`` may still miss it (search index lag)."""
        ...

    def create_issue(self, draft: IssueDraft, on_send: Callable[[], None] | None = None) -> IssueRef:
        """Create an issue carrying ``draft.idempotency_key``. Never retried blindly inside.

        ``on_send`` is called just before the create request leaves, after every read the create needs,
        so the caller knows from then on that the issue may exist even if the answer is lost.
        """
        ...

    @property
    def bulk_limit(self) -> int:
        """How many issues one ``create_issues`` call may open; 1 where the tracker has no bulk create."""
        ...

    def create_issues(
        self, drafts: Sequence[IssueDraft], on_send: Callable[[], None] | None = None
    ) -> list[IssueRef | TrackerError]:
        """Create several issues in one request; for each draft, in order, its issue or why it was refused.

        A failure of the request as a whole raises, as ``create_issue`` does; ``on_send`` likewise.
        """
        ...

    def complete_issue(self, key: str, draft: IssueDraft) -> IssueRef:
        """Finish a create that stopped half-way (Kaiten's saga); a no-op where creates are atomic."""
        ...

    def find_issue(self, idempotency_key: str) -> IssueRef | None:
        """The issue an earlier create with this key made, if the tracker can see it yet."""
        ...

    def get_state(self, key: str, *, all_fields: bool = False, fields: Sequence[str] = ()) -> IssueState:
        """The issue's status and status category, summary, labels, people, dates, type, priority and
        container; ``fields`` holds the fields asked for by id (all of them with ``all_fields``)."""
        ...

    def add_comment(self, key: str, body: str, marker: str) -> str:
        """Add a comment whose text contains ``marker``; return its id."""
        ...

    def find_comment(self, key: str, marker: str) -> str | None:
        """The id of a comment on the issue containing ``marker``, if any."""
        ...

    def get_comment(self, key: str, comment_id: str) -> Comment:
        """One comment, re-read from the tracker."""
        ...

    def update_comment(self, key: str, comment_id: str, body: str) -> None:
        """Replace a comment's text in place (canned responses are expanded this way)."""
        ...

    def add_internal_comment(self, key: str, body: str, marker: str) -> str:
        """A comment for the team only (e.g. "the reply could not be delivered"); return its id."""
        ...

    def own_user(self) -> str:
        """The hub's own account id, so events caused by the hub's writes can be ignored."""
        ...

    def link(self, source: str, target: str, link_type: str | None = None) -> None:
        """Link two issues ("``source`` <outward phrase> ``target``"), with the instance's default type
        when ``link_type`` is None; repeating it is harmless. ``Unsupported`` for a type the tracker
        cannot make."""
        ...

    def link_issues(self, previous: str, new: str) -> None:
        """Link a conversation's new issue to its previous (resolved) one; repeating it is harmless."""
        ...

    def field_schema(self, target: Target) -> FieldSchema:
        """The fields a create in ``target`` can fill and must fill, with their allowed values; cached
        per instance for a while. ``UnknownTarget`` when the container or type does not exist."""
        ...

    def list_files(self, key: str) -> list[TrackerFile]:
        """The files attached to an issue or card."""
        ...

    def download_file(self, file: TrackerFile, max_bytes: int) -> bytes | None:
        """A file's bytes, or None when it is over ``max_bytes`` (checked while streaming)."""
        ...

    def attach_files(self, key: str, files: Sequence[FileUpload]) -> None:
        """Upload files to the issue, skipping ones already attached under the same name and size."""
        ...

    def issue_url(self, key: str) -> str:
        """The browser URL of an issue."""
        ...
