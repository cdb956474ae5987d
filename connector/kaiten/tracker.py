"""The ``Tracker`` protocol for Kaiten, on top of its REST client.

``POST /cards`` takes no tags and no members list, so creating a card is a saga: create, then tags
(``POST /cards/{id}/tags {"name"}``), each step checking before it adds. ``GET /cards?external_id=``
finds the card an earlier create made (S2 ``get_cards`` parameters).

Files: ``PUT /cards/{card_id}/files`` multipart field ``file`` (S2 ``attach_file_to_card``; the
live-validated kaiten-cli ``files.upload`` uses the same). The card's ``files[]`` carry ``name`` and
``size`` (a string for the newer private files, hence ``int()``), ``type`` (S2 ``File``: 1 attachment,
2–6 links to Google Drive, Dropbox, Box, OneDrive, Yandex Disk, 7 comment e-mail, 8 comment
attachment, 10 voice recording) and ``external``. Anyone on the card can add a link as a "file"
(``POST /cards/{id}/files {url, name, type}``, used by kaiten-mcp), so only files Kaiten stores, at an
address on the Kaiten origin, are listed or fetched.

Issue keys are card ids (numbers as strings). ``issue_url`` is ``<origin>/<card id>``: Kaiten
resolves the short form to the card in whatever space it lives (used as the card link by several
public integrations, e.g. ``https://<company>.kaiten.ru/12345``); the long form
``/space/<space_id>/boards/card/<id>`` needs the space and goes stale when the card is moved.

Links: Kaiten relates cards as parent and child (``POST /cards/{parent}/children {"card_id"}``, not
settable at create, research/kaiten.md §13), so a draft's ``parent`` is one more saga step, and
``link`` knows one link type, :data:`PARENT`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Unpack

from connector.cache import DEFAULT_TTL, TtlCache
from connector.errors import TrackerError, TrackerRejected, TrackerUnavailable, Unsupported
from connector.kaiten.cards import (
    MEMBER_RESPONSIBLE,
    card_body,
    card_state,
    has_properties,
    member_id,
    responsible_id,
    tag_names,
)
from connector.kaiten.client import KaitenClient, KaitenOptions, as_int, card_id_of, to_int, token_limiter
from connector.kaiten.fields import Catalogue, read_catalogue, schema_for
from connector.origins import on_origin
from connector.streams import read_capped
from connector.types import (
    Comment,
    FieldSchema,
    FileUpload,
    IssueDraft,
    IssueRef,
    IssueState,
    LinkType,
    Target,
    TrackerFile,
)

if TYPE_CHECKING:
    from redis import Redis

    from config.settings import Settings

log = logging.getLogger(__name__)

# File types Kaiten stores itself; the others (2–6) are links to files elsewhere.
STORED_FILE_TYPES = frozenset({1, 7, 8, 10})
# Kaiten's one relation between cards: "source is the parent of target".
PARENT = LinkType(name="Parent", inward="is a child of", outward="is the parent of")


class IncompleteCard(TrackerUnavailable):
    """The card was created but a later saga step (tags, parent) failed; ``ref`` is the card.

    A retried job finds the card by its external id; ``KaitenTracker.complete_issue`` then finishes
    the remaining steps, each checking before it adds.
    """

    def __init__(self, message: str, ref: IssueRef, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.ref = ref


class KaitenTracker(KaitenClient):
    """The ``Tracker`` protocol for one Kaiten company, named ``name`` in rules and targets, plus the reads
    ``check`` and ``kaiten ls`` use."""

    kind = "kaiten"
    bulk_limit = 1
    search_lag = 10.0  # ``GET /cards?external_id=`` reads Kaiten's database; no lag is documented

    def __init__(
        self,
        url: str,
        token: str,
        *,
        name: str = "kaiten",
        schema_ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
        **options: Unpack[KaitenOptions],
    ) -> None:
        """``schema_ttl``: how long (seconds) a field schema is reused."""
        super().__init__(url, token, **options)
        self.name = name
        self._catalogue: TtlCache[Catalogue] = TtlCache(schema_ttl, clock)
        self._own_user: str | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, redis: Redis | None = None, url: str | None = None, *, name: str = "kaiten"
    ) -> KaitenTracker:
        """A tracker for ``KAITEN_URL`` / ``KAITEN_TOKEN`` (or ``url``, e.g. the sandbox's).

        With ``redis``, every request goes through the limiter shared by all processes using this
        token; without, through one of this process's own, with the same budget.
        """
        base = url or settings.KAITEN_URL
        if not base:
            raise TrackerRejected("KAITEN_URL is not set", None)
        token = settings.secret("KAITEN_TOKEN") or ("sandbox" if url else "")
        if not token:
            raise TrackerRejected("KAITEN_TOKEN is not set", None)
        return cls(base, token, limiter=token_limiter(token, redis), name=name)

    # -- the Tracker protocol ---------------------------------------------------------------------

    def create_issue(self, draft: IssueDraft, on_send: Callable[[], None] | None = None) -> IssueRef:
        """Create the card (one POST, never retried here), then add its tags and its parent.

        ``responsible_id`` goes into the create itself (the docs list it on create). If a later step
        fails, ``IncompleteCard`` carries the card's ref so the job need not create it again.
        """
        body = card_body(draft)
        if on_send is not None:
            on_send()
        created = self.request("POST", "/cards", json=body)
        ref = self._ref(created)
        try:
            self._add_tags(ref.key, draft.labels, present=tag_names(created))
            if draft.parent:
                self.add_child(draft.parent, ref.key)
        except TrackerUnavailable as exc:
            raise IncompleteCard(
                f"card {ref.key} created, tags or parent not added: {exc}", ref, exc.retry_after
            ) from None
        return ref

    def create_issues(
        self, drafts: Sequence[IssueDraft], on_send: Callable[[], None] | None = None
    ) -> list[IssueRef | TrackerError]:
        """One card per draft: Kaiten has no bulk create (``bulk_limit`` 1, so the jobs never batch)."""
        results: list[IssueRef | TrackerError] = []
        for draft in drafts:
            try:
                results.append(self.create_issue(draft, on_send))
            except TrackerRejected as exc:
                results.append(exc)
        return results

    def complete_issue(self, key: str, draft: IssueDraft) -> IssueRef:
        """Finish a create saga on an existing card: missing tags and parent, then the responsible member."""
        card = self.get_card(key)
        self._add_tags(key, draft.labels, present=tag_names(card))
        if draft.parent and not _has_parent(card, draft.parent):
            self.add_child(draft.parent, key)
        if draft.assignee and responsible_id(card) != as_int(draft.assignee, "assignee"):
            self.set_responsible(key, draft.assignee, members=card.get("members") or [])
        return self._ref(card)

    def find_issue(self, idempotency_key: str) -> IssueRef | None:
        """The card an earlier create stored ``idempotency_key`` on, as its ``external_id``."""
        cards = self.request("GET", "/cards", params={"external_id": idempotency_key, "limit": 2})
        found = [c for c in cards or [] if str(c.get("external_id")) == idempotency_key]
        return self._ref(found[0]) if found else None

    def get_state(self, key: str, *, all_fields: bool = False, fields: Sequence[str] = ()) -> IssueState:
        """Done when the card sits in a column of the "done" type (``state`` 3) or is archived; ``fields``
        holds the card fields and ``id_<n>`` properties asked for (every property with ``all_fields``)."""
        card = self.get_card(key)
        return card_state(card, self._ref(card), fields, all_fields)

    def add_comment(self, key: str, body: str, marker: str) -> str:
        """Add a markdown comment (its text carries ``marker``); return the comment id."""
        comment = self.request("POST", f"/cards/{card_id_of(key)}/comments", json={"text": body})
        return str(comment["id"])

    def get_comment(self, key: str, comment_id: str) -> Comment:
        """One comment, read from the card's comment list (Kaiten has no single-comment GET)."""
        for comment in self.request("GET", f"/cards/{card_id_of(key)}/comments") or []:
            if str(comment.get("id")) == str(comment_id):
                author = comment.get("author") or {}
                internal = comment.get("internal")
                return Comment(
                    id=str(comment["id"]),
                    body=str(comment.get("text") or ""),
                    author=str(comment.get("author_id") or author.get("id") or ""),
                    author_name=str(author.get("full_name") or ""),
                    public=None if internal is None else not bool(internal),
                )
        raise TrackerRejected(f"card {key} has no comment {comment_id}", 404)

    def update_comment(self, key: str, comment_id: str, body: str) -> None:
        """``PATCH /cards/{id}/comments/{comment_id}`` with the new text (only its author may)."""
        self.request("PATCH", f"/cards/{card_id_of(key)}/comments/{comment_id}", json={"text": body})

    def add_internal_comment(self, key: str, body: str, marker: str) -> str:
        """A comment for the team: Kaiten comments are only visible to the team unless sent to a
        Service Desk requester, so a plain comment is internal."""
        return self.add_comment(key, body, marker)

    def link(self, source: str, target: str, link_type: str | None = None) -> None:
        """``source`` becomes ``target``'s parent, unless it already is: :data:`PARENT` is the only link
        type (by its name or outward phrase); another raises ``Unsupported``."""
        if link_type is not None and link_type.casefold() not in (PARENT.name.casefold(), PARENT.outward):
            raise Unsupported(f"kaiten links cards only as parent and child, not as {link_type!r}")
        if not _has_parent(self.get_card(target), source):
            self.add_child(source, target)

    def link_issues(self, previous: str, new: str) -> None:
        """The previous card becomes the new card's parent, unless it already is."""
        self.link(previous, new)

    def field_schema(self, target: Target) -> FieldSchema:
        """The card fields and custom properties (with select values) a card of ``target``'s type can
        have, and which it requires; cached for ``schema_ttl`` seconds. The board, column and lane are
        not read: properties are company-wide. An unknown card type raises ``UnknownTarget``."""
        return schema_for(self._catalogue.get("catalogue", lambda: read_catalogue(self)), target)

    def list_files(self, key: str) -> list[TrackerFile]:
        """The files Kaiten keeps on the card, at addresses on the Kaiten origin; links are left out."""
        return [f for f in map(self._stored_file, self.get_card(key).get("files") or []) if f is not None]

    def _stored_file(self, entry: Mapping[str, Any]) -> TrackerFile | None:
        """A ``files[]`` entry the hub may fetch with the token, or None for a link to elsewhere."""
        url = on_origin(str(entry.get("url") or ""), self.origin)
        stored = to_int(entry.get("type")) in STORED_FILE_TYPES and not entry.get("external")
        if stored and url is None and entry.get("url"):
            log.warning("kaiten.file_off_origin file=%s: not fetched with the token", entry.get("id"))
        if url is None or not stored:
            return None
        # private files send ``size`` as a string
        return TrackerFile(str(entry.get("id")), str(entry.get("name")), to_int(entry.get("size")) or 0, url)

    def download_file(self, file: TrackerFile, max_bytes: int) -> bytes | None:
        """A file's bytes from the Kaiten origin, streamed and capped; an address elsewhere is refused
        without a request."""
        url = on_origin(file.url, self.origin)
        if url is None:
            raise TrackerRejected(f"kaiten file {file.id} is not on {self.origin}: not fetched", None)
        if file.size > max_bytes:
            return None
        return read_capped(self.stream(url, f"file {file.id}"), max_bytes)

    def own_user(self) -> str:
        """The token's own user id."""
        if self._own_user is None:
            self._own_user = str(self.current_user().get("id", ""))
        return self._own_user

    def find_comment(self, key: str, marker: str) -> str | None:
        """The id of the card's comment containing ``marker`` (the list endpoint is not paged)."""
        for comment in self.request("GET", f"/cards/{card_id_of(key)}/comments") or []:
            if marker in str(comment.get("text") or ""):
                return str(comment["id"])
        return None

    def attach_files(self, key: str, files: Sequence[FileUpload]) -> None:
        """Upload files the card does not already have under the same name and size."""
        if not files:
            return
        present = {(f.get("name"), to_int(f.get("size"))) for f in self.get_card(key).get("files") or []}
        for upload in files:
            if (upload.filename, len(upload.content)) in present:
                continue
            self.request(
                "PUT",
                f"/cards/{card_id_of(key)}/files",
                files={"file": (upload.filename, upload.content, upload.content_type)},
            )
            present.add((upload.filename, len(upload.content)))

    def issue_url(self, key: str) -> str:
        """The card's page: ``<origin>/<card id>``, which Kaiten resolves in any space."""
        return f"{self.origin}/{card_id_of(key)}"

    # -- reads and saga steps beyond the protocol ------------------------------------------------------

    def search_cards(
        self,
        *,
        board_id: int | str | None = None,
        column_id: int | str | None = None,
        lane_id: int | str | None = None,
        space_id: int | str | None = None,
        type_id: int | str | None = None,
        tag: str | None = None,
        external_id: str | None = None,
        condition: int | None = None,
        updated_after: str | None = None,
        properties: Mapping[str, Any] | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Cards matching the server-side filters, paged through ``limit``/``offset``.

        ``properties`` (``{"id_<n>": value}``) is matched here on the results: Kaiten's own property
        filter (the base64 ``filter`` tree) is not documented well enough to rely on.
        """
        params: dict[str, Any] = {
            "board_id": board_id,
            "column_id": column_id,
            "lane_id": lane_id,
            "space_id": space_id,
            "type_id": type_id,
            "tag": tag,
            "external_id": external_id,
            "condition": condition,
            "updated_after": updated_after,
            "broken_api": "false",
        }
        found = []
        for card in self.pages("/cards", {k: v for k, v in params.items() if v is not None}):
            if properties and not has_properties(card, properties):
                continue
            found.append(card)
            if limit is not None and len(found) >= limit:
                break
        return found

    def set_responsible(
        self, card_id: str | int, user_id: str | int, *, members: Iterable[Mapping[str, Any]] | None = None
    ) -> None:
        """Make a user the responsible member: add as member if needed, then ``PATCH`` type 2."""
        uid = as_int(user_id, "user_id")
        if members is None:
            members = self.request("GET", f"/cards/{card_id_of(card_id)}/members") or []
        if not any(member_id(m) == uid for m in members):
            self.add_member(card_id, uid)
        body = {"type": MEMBER_RESPONSIBLE}
        self.request("PATCH", f"/cards/{card_id_of(card_id)}/members/{uid}", json=body)

    def _ref(self, card: Mapping[str, Any]) -> IssueRef:
        key = str(card["id"])
        return IssueRef(tracker=self.name, key=key, url=self.issue_url(key), id=key)

    def _add_tags(self, key: str, names: Iterable[str], *, present: set[str]) -> None:
        for name in names:
            if name.lower() not in present:
                self.add_tag(key, name)
                present.add(name.lower())


def _has_parent(card: Mapping[str, Any], parent: str) -> bool:
    return as_int(parent, "parent card id") in (card.get("parents_ids") or [])
