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

Issue keys are card ids (numbers as strings); ``issue_url`` is ``<origin>/<card id>`` (``cached``).

Links: Kaiten relates cards as parent and child (``POST /cards/{parent}/children {"card_id"}``, not
settable at create, research/kaiten.md §13), so a draft's ``parent`` is one more saga step, and
``link`` knows one link type, :data:`PARENT`. Links to pages elsewhere are the card's external links
(``GET|POST /cards/{id}/external-links`` ``{url, description ≤ 512}``, ``PATCH .../{id}``; S2
``ExternalLink``), which carry no id of the caller's: ``add_remote_link`` finds one by its url.

The rest of the protocol lives beside this module, one concern each, and ``KaitenTracker`` puts them
together: ``comments`` (comments), ``edits`` (fields, tags, responsible, transitions, moves), ``search``
(the card list), ``checklists``; ``cached`` keeps the catalogue, board layouts and tags.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from connector.base import CAN_CHECKLISTS, CAN_MOVE, CAN_REMOTE_LINKS
from connector.errors import TrackerError, TrackerRejected, TrackerUnavailable, Unsupported
from connector.kaiten.cards import card_body, card_state
from connector.kaiten.checklists import CardChecklists
from connector.kaiten.client import as_int, card_id_of, to_int, token_limiter
from connector.kaiten.edits import CardEdits
from connector.kaiten.fields import schema_for
from connector.kaiten.search import CardSearch
from connector.origins import on_origin
from connector.streams import read_capped
from connector.types import (
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
EXTERNAL_LINK_DESCRIPTION = 512  # S2 CreateExternalLinkRequest.description maxLength


class IncompleteCard(TrackerUnavailable):
    """The card was created but a later saga step (tags, parent) failed; ``ref`` is the card.

    A retried job finds the card by its external id; ``KaitenTracker.complete_issue`` then finishes
    the remaining steps, each checking before it adds.
    """

    def __init__(self, message: str, ref: IssueRef, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.ref = ref


class KaitenTracker(CardEdits, CardSearch, CardChecklists):
    """The ``Tracker`` protocol for one Kaiten company, named ``name`` in rules and targets, plus the reads
    ``check`` and ``kaiten ls`` use. ``schema_ttl`` (seconds, with ``clock``) is how long the catalogue,
    board layouts and tags are reused."""

    kind = "kaiten"
    bulk_limit = 1
    search_lag = 10.0  # ``GET /cards?external_id=`` reads Kaiten's database; no lag is documented
    _own_user: str | None = None

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
        ref = self.ref(created["id"])
        try:
            self.relabel(created, draft.labels, ())
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
        self.relabel(card, draft.labels, ())
        if draft.parent and not _has_parent(card, draft.parent):
            self.add_child(draft.parent, key)
        if draft.assignee:
            self.set_responsible(card, draft.assignee)
        return self.ref(key)

    def find_issue(self, idempotency_key: str) -> IssueRef | None:
        """The card an earlier create stored ``idempotency_key`` on, as its ``external_id``."""
        cards = self.request("GET", "/cards", params={"external_id": idempotency_key, "limit": 2})
        found = [c for c in cards or [] if str(c.get("external_id")) == idempotency_key]
        return self.ref(found[0]["id"]) if found else None

    def get_state(self, key: str, *, all_fields: bool = False, fields: Sequence[str] = ()) -> IssueState:
        """Done when the card sits in a column of the "done" type (``state`` 3) or is archived; ``fields``
        holds the card fields and ``id_<n>`` properties asked for (every property with ``all_fields``)."""
        card = self.get_card(key)
        return card_state(card, self.ref(card["id"]), fields, all_fields)

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
        return schema_for(self.catalogue(), target)

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

    # -- issue 12: what routing, automations and the console need (the rest: edits, search, checklists) --

    def capabilities(self) -> frozenset[str]:
        """Moves keep the card (``PATCH``), checklists, external links; no bulk create."""
        return frozenset({CAN_MOVE, CAN_CHECKLISTS, CAN_REMOTE_LINKS})

    def link_types(self) -> list[LinkType]:
        """Parent and child, Kaiten's one relation between cards (``link`` makes it)."""
        return [PARENT]

    def add_remote_link(self, key: str, url: str, title: str, *, global_id: str) -> None:
        """The card's external link to ``url`` with ``title`` as its description (cut to Kaiten's 512
        characters): added, or its description updated, when the card has no link to that url with that
        description. Kaiten keeps no id of the caller's on a link, so ``global_id`` is not sent."""
        path = f"/cards/{card_id_of(key)}/external-links"
        description = title[:EXTERNAL_LINK_DESCRIPTION]
        links = self.request("GET", path) or []
        found = next((link for link in links if str(link.get("url") or "").strip() == url.strip()), None)
        if found is None:
            self.request("POST", path, json={"url": url, "description": description})
        elif (found.get("description") or "") != description:
            self.request(
                "PATCH",
                f"{path}/{as_int(found.get('id'), 'external link id')}",
                json={"description": description},
            )


def _has_parent(card: Mapping[str, Any], parent: str) -> bool:
    return as_int(parent, "parent card id") in (card.get("parents_ids") or [])
