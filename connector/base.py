"""The ``Tracker`` protocol: what the jobs need from Jira and Kaiten alike."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from connector.errors import TrackerError
from connector.types import (
    Checklist,
    Comment,
    FieldSchema,
    FileUpload,
    IssueDraft,
    IssueRef,
    IssueState,
    LinkType,
    SearchQuery,
    Target,
    TrackerFile,
    Transition,
)

# What a tracker can do beyond the common core (``Tracker.capabilities``).
CAN_MOVE = "move"  # move an issue to another container keeping its identity (Kaiten, Jira Cloud)
CAN_CHECKLISTS = "checklists"  # checklists on a card (Kaiten)
CAN_BULK_CREATE = "bulk_create"
CAN_REMOTE_LINKS = "remote_links"


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
        when ``link_type`` is None; repeating it is harmless. ``TrackerRejected`` naming the types
        there are for one the instance does not have."""
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

    # -- issue 12: what routing, automations and the console need ---------------------------------------

    def capabilities(self) -> frozenset[str]:
        """What this instance can do beyond the common core: ``CAN_MOVE``, ``CAN_CHECKLISTS`` …"""
        ...

    def comments(self, key: str) -> list[Comment]:
        """The issue's comments, oldest first, each with its author, date and visibility."""
        ...

    def transitions(self, key: str) -> list[Transition]:
        """Where the issue can go from here: Jira's workflow transitions, Kaiten's board columns."""
        ...

    def transition(
        self,
        key: str,
        to: str,
        *,
        fields: Mapping[str, Any] | None = None,
        resolution: str | None = None,
        comment: str | None = None,
    ) -> None:
        """Move the issue on: ``to`` is a transition id or name, or a target status name (Kaiten: a
        column id or name of the card's board). Already there: nothing to do. ``TrackerRejected`` when
        no such transition exists, naming the ones that do."""
        ...

    def update_fields(
        self,
        key: str,
        fields: Mapping[str, Any],
        *,
        add_labels: Sequence[str] = (),
        remove_labels: Sequence[str] = (),
    ) -> None:
        """Set fields by id (Jira ``customfield_N``, ``priority``, ``duedate``…; Kaiten ``id_N``
        properties, ``title``, ``due_date``, ``asap``…) and add or remove labels (Kaiten tags)."""
        ...

    def assign(self, key: str, user: str | None) -> None:
        """Make ``user`` the assignee (Kaiten: the responsible member); None unassigns."""
        ...

    def search(
        self, query: SearchQuery, *, fields: Sequence[str] = (), page_size: int = 100
    ) -> Iterator[IssueState]:
        """The issues matching ``query``, fetched lazily page by page with only the fields asked for
        (besides what an ``IssueState`` always holds)."""
        ...

    def link_types(self) -> list[LinkType]:
        """The kinds of link this instance can make; cached for a while."""
        ...

    def add_remote_link(self, key: str, url: str, title: str, *, global_id: str) -> None:
        """Link the issue to a page outside the tracker (a routing page, an issue in the other
        tracker); upserted by ``global_id`` (Kaiten: by ``url``), so repeating it is harmless."""
        ...

    def move(self, key: str, target: Target, *, fields: Mapping[str, Any] | None = None) -> IssueRef:
        """Move the issue to ``target`` keeping it one issue (Kaiten: the same card; Jira Cloud: the
        bulk move task, which gives a new key). ``MoveUnsupported`` where the tracker cannot (Jira Data
        Center): the caller creates in the target and closes the source instead."""
        ...

    def add_watchers(self, key: str, users: Sequence[str]) -> None:
        """Make ``users`` watch the issue (Jira: user names on Data Center, account ids on Cloud; Kaiten:
        user ids, added as card members); one watching already stays so, so a repeat is harmless.
        ``Unsupported`` where the tracker has no watchers."""
        ...

    def watchers(self, key: str) -> list[str]:
        """Who watches the issue, as ``add_watchers`` takes them (Jira: its watchers; Kaiten: the card's
        members other than the responsible one)."""
        ...

    def archive(self, key: str, *, comment: str | None = None) -> None:
        """Take the issue off its board, kept (Kaiten: ``condition`` 2), after adding ``comment`` unless
        it is there already; an archived issue stays so, so a repeat is harmless. ``Unsupported`` where
        the tracker has no archive (Jira: close the issue with a transition instead)."""
        ...

    def checklists(self, key: str) -> list[Checklist]:
        """The card's checklists with their items; ``Unsupported`` where there are none (Jira)."""
        ...

    def add_checklist(self, key: str, name: str, items: Sequence[str]) -> str:
        """Add a checklist (found by name first, so repeating it is harmless); return its id."""
        ...

    def check_item(self, key: str, checklist_id: str, item_id: str) -> None:
        """Check a checklist item (checked stays checked, so repeating it is harmless)."""
        ...
