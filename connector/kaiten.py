"""Kaiten through its REST API (``https://<company>.kaiten.ru/api/latest``), on ``requests``.

Shapes follow Kaiten's own documentation, https://developers.kaiten.ru/ (read through the ``search``
tool; the site is a JS app), and the OpenAPI file extracted from it in
``shared/fixtures/kaiten/spec/kaiten-openapi.AllDmeat-kaiten-sdk.yaml`` (S2 in research/kaiten.md):

- auth: ``Authorization: Bearer <token>``; JSON in and out; errors as ``{"message": "..."}``.
- rate limit: 5 requests/s per token; a 429 carries ``X-RateLimit-Remaining`` and
  ``X-RateLimit-Reset`` (UTC epoch), no ``Retry-After`` (developers.kaiten.ru front page). Every call
  first takes a token from the limiter: ``RedisRateLimiter``, shared by every process using the token,
  or, for a command with no Redis, an in-process ``LocalRateLimiter`` with the same budget.
- ``POST /cards`` (developers.kaiten.ru/cards/create-new-card): ``title`` and ``board_id`` required;
  ``column_id``, ``lane_id``, ``type_id``, ``description`` (markdown by default,
  ``text_format_type_id`` 1), ``asap``, ``due_date``, ``size_text``, ``responsible_id``,
  ``external_id`` ("any external id you want to assign to card"), ``properties``
  (``{"id_<custom_property_id>": value}``). It takes no tags and no members list, so creating a card
  is a saga: create, then tags (``POST /cards/{id}/tags {"name"}``), each step checking before it
  adds.
- ``PATCH /cards/{id}`` (developers.kaiten.ru/cards/update-card) moves (``board_id``, ``column_id``,
  ``lane_id``) and archives (``condition`` 2).
- card ``state`` 1 queued / 2 in progress / 3 done follows the column's type; ``condition`` 1 live,
  2 archived (card response tables, developers.kaiten.ru/card-children/add-children).
- ``GET /cards?external_id=`` finds the card an earlier create made (S2 ``get_cards`` parameters).
- files: ``PUT /cards/{card_id}/files`` multipart field ``file`` (S2 ``attach_file_to_card``; the
  live-validated kaiten-cli ``files.upload`` uses the same). The card's ``files[]`` carry ``name`` and
  ``size`` (a string for the newer private files, hence ``int()``), ``type`` (S2 ``File``: 1
  attachment, 2–6 links to Google Drive, Dropbox, Box, OneDrive, Yandex Disk, 7 comment e-mail, 8
  comment attachment, 10 voice recording) and ``external``. Anyone on the card can add a link as a
  "file" (``POST /cards/{id}/files {url, name, type}``, used by kaiten-mcp), so only files Kaiten
  stores, at an address on the Kaiten origin, are listed or fetched.
- the token (``Authorization``) is added to each request the hub makes to the Kaiten origin, never
  kept on the session: a redirect to another host loses it (``requests`` strips ``Authorization``
  when the host changes, ``Session.rebuild_auth``), and Kaiten's signed file links are meant to be
  fetched without it (developers.kaiten.ru/restricted-access-files-migration).
- ``broken_api=false`` on card reads, so user-type custom properties are numeric ids, not uids
  (faq-ru.kaiten.site, "Исправление формата пользовательских полей в API").

Issue keys are card ids (numbers as strings). ``issue_url`` is ``<origin>/<card id>``: Kaiten
resolves the short form to the card in whatever space it lives (used as the card link by several
public integrations, e.g. ``https://<company>.kaiten.ru/12345``); the long form
``/space/<space_id>/boards/card/<id>`` needs the space and goes stale when the card is moved.

Errors: timeouts, connection errors, 5xx, 408 and 429 are ``TrackerUnavailable`` (with
``retry_after`` from ``X-RateLimit-Reset`` on a 429); other 4xx are ``TrackerRejected`` carrying
Kaiten's ``message``. Idempotent reads are retried here briefly (tenacity); writes never are: the jobs
retry them, after ``find_issue`` / ``find_comment``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import requests
from tenacity import Retrying, retry_if_exception, stop_after_attempt

from connector.errors import TrackerError, TrackerRejected, TrackerUnavailable
from connector.origins import on_origin
from connector.ratelimit import LocalRateLimiter, RateLimiter, RedisRateLimiter, limiter_key
from connector.sessions import pin_environment
from connector.streams import read_capped
from connector.types import Comment, FileUpload, IssueDraft, IssueRef, IssueState, TrackerFile

if TYPE_CHECKING:
    from redis import Redis

    from config.settings import Settings

log = logging.getLogger(__name__)

API_SUFFIXES = ("/api/latest", "/api/v1")
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
PAGE = 100  # the largest ``limit`` list endpoints take
READ_RETRY_MAX_WAIT = 5.0
STATE_DONE = 3
CONDITION_ARCHIVED = 2
MEMBER_RESPONSIBLE = 2
STATE_NAMES = {1: "queued", 2: "in progress", 3: "done"}
# Kaiten allows 5 requests/s per token. The shared limiter grants 5 per 1.2 s: the margin absorbs
# network jitter between the grant (Redis's clock) and the request's arrival (Kaiten's clock).
RATE_LIMIT = 5
RATE_PERIOD = 1.2
# File types Kaiten stores itself; the others (2–6) are links to files elsewhere.
STORED_FILE_TYPES = frozenset({1, 7, 8, 10})
# IssueDraft.custom_fields keys that are card fields, not custom properties.
CARD_FIELDS = ("due_date", "due_date_time_present", "size_text", "expires_later", "sort_order", "position")


def split_url(url: str) -> tuple[str, str]:
    """``(site origin, API root)`` from ``KAITEN_URL`` given as the site or ending in /api/latest|v1."""
    url = url.strip().rstrip("/")
    for suffix in API_SUFFIXES:
        if url.endswith(suffix):
            return url[: -len(suffix)], url
    if url.endswith("/api"):
        return url[:-4], url + "/latest"
    return url, url + "/api/latest"


class IncompleteCard(TrackerUnavailable):
    """The card was created but a later saga step (tags, responsible) failed; ``ref`` is the card.

    A retried job finds the card by its external id; ``KaitenTracker.complete_issue`` then finishes
    the remaining steps, each checking before it adds.
    """

    def __init__(self, message: str, ref: IssueRef, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.ref = ref


class KaitenTracker:
    """The ``Tracker`` protocol for one Kaiten company, plus the reads ``check`` and ``kaiten ls`` use."""

    name = "kaiten"
    bulk_limit = 1
    search_lag = 10.0  # ``GET /cards?external_id=`` reads Kaiten's database; no lag is documented

    def __init__(
        self,
        url: str,
        token: str,
        *,
        limiter: RateLimiter | None = None,
        timeout: float = 30.0,
        session: requests.Session | None = None,
        read_retries: int = 2,
    ) -> None:
        self.origin, self.api = split_url(url)
        self.timeout = timeout
        self.limiter = limiter
        self.read_retries = read_retries
        self.session = session or requests.Session()
        pin_environment(self.session, url)
        self._own_user: str | None = None
        self._auth = {"Authorization": f"Bearer {token}"}
        self.session.headers.setdefault("Accept", "application/json")

    @classmethod
    def from_settings(
        cls, settings: Settings, redis: Redis | None = None, url: str | None = None
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
        limiter: RateLimiter
        if redis is not None:
            key = limiter_key("kaiten", token)
            limiter = RedisRateLimiter(redis, key, rate=RATE_LIMIT, burst=RATE_LIMIT, period=RATE_PERIOD)
        else:
            limiter = LocalRateLimiter(rate=RATE_LIMIT, period=RATE_PERIOD, start_full=True)
        return cls(base, token, limiter=limiter)

    # -- the Tracker protocol ---------------------------------------------------------------------

    def create_issue(self, draft: IssueDraft, on_send: Callable[[], None] | None = None) -> IssueRef:
        """Create the card (one POST, never retried here), then add its tags.

        ``responsible_id`` goes into the create itself (the docs list it on create). If a later step
        fails, ``IncompleteCard`` carries the card's ref so the job need not create it again.
        """
        body = card_body(draft)
        if on_send is not None:
            on_send()
        created = self.request("POST", "/cards", json=body)
        ref = self._ref(created)
        try:
            self._add_tags(ref.key, draft.labels, present=_tag_names(created))
        except TrackerUnavailable as exc:
            raise IncompleteCard(
                f"card {ref.key} created, tags not added: {exc}", ref, exc.retry_after
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
        """Finish a create saga on an existing card: missing tags, then the responsible member."""
        card = self.get_card(key)
        self._add_tags(key, draft.labels, present=_tag_names(card))
        if draft.assignee and _responsible_id(card) != _int(draft.assignee, "assignee"):
            self.set_responsible(key, draft.assignee, members=card.get("members") or [])
        return self._ref(card)

    def find_issue(self, idempotency_key: str) -> IssueRef | None:
        """The card an earlier create stored ``idempotency_key`` on, as its ``external_id``."""
        cards = self.request("GET", "/cards", params={"external_id": idempotency_key, "limit": 2})
        found = [c for c in cards or [] if str(c.get("external_id")) == idempotency_key]
        return self._ref(found[0]) if found else None

    def get_state(self, key: str, *, all_fields: bool = False) -> IssueState:
        """Done when the card sits in a column of the "done" type (``state`` 3) or is archived."""
        card = self.get_card(key)
        return IssueState(
            ref=self._ref(card),
            done=card_done(card),
            status=card_status(card),
            summary=str(card.get("title") or ""),
            labels=tuple(str(t.get("name")) for t in card.get("tags") or []),
            fields=dict(card.get("properties") or {}) if all_fields else {},
        )

    def add_comment(self, key: str, body: str, marker: str) -> str:
        """Add a markdown comment (its text carries ``marker``); return the comment id."""
        comment = self.request("POST", f"/cards/{_id(key)}/comments", json={"text": body})
        return str(comment["id"])

    def get_comment(self, key: str, comment_id: str) -> Comment:
        """One comment, read from the card's comment list (Kaiten has no single-comment GET)."""
        for comment in self.request("GET", f"/cards/{_id(key)}/comments") or []:
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
        self.request("PATCH", f"/cards/{_id(key)}/comments/{comment_id}", json={"text": body})

    def add_internal_comment(self, key: str, body: str, marker: str) -> str:
        """A comment for the team: Kaiten comments are only visible to the team unless sent to a
        Service Desk requester, so a plain comment is internal."""
        return self.add_comment(key, body, marker)

    def link_issues(self, previous: str, new: str) -> None:
        """The previous card becomes the new card's parent, unless it already is."""
        if int(previous) in (self.get_card(new).get("parents_ids") or []):
            return
        self.add_child(previous, new)

    def list_files(self, key: str) -> list[TrackerFile]:
        """The files Kaiten keeps on the card, at addresses on the Kaiten origin; links are left out."""
        return [f for f in map(self._stored_file, self.get_card(key).get("files") or []) if f is not None]

    def _stored_file(self, entry: Mapping[str, Any]) -> TrackerFile | None:
        """A ``files[]`` entry the hub may fetch with the token, or None for a link to elsewhere."""
        url = on_origin(str(entry.get("url") or ""), self.origin)
        stored = _size(entry.get("type")) in STORED_FILE_TYPES and not entry.get("external")
        if stored and url is None and entry.get("url"):
            log.warning("kaiten.file_off_origin file=%s: not fetched with the token", entry.get("id"))
        if url is None or not stored:
            return None
        # private files send ``size`` as a string
        return TrackerFile(str(entry.get("id")), str(entry.get("name")), _size(entry.get("size")) or 0, url)

    def download_file(self, file: TrackerFile, max_bytes: int) -> bytes | None:
        """A file's bytes from the Kaiten origin, streamed and capped; an address elsewhere is refused
        without a request."""
        url = on_origin(file.url, self.origin)
        if url is None:
            raise TrackerRejected(f"kaiten file {file.id} is not on {self.origin}: not fetched", None)
        if file.size > max_bytes:
            return None
        try:
            response = self.session.get(url, headers=self._auth, stream=True, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout):
            raise TrackerUnavailable(f"kaiten file {file.id} unreachable") from None
        if response.status_code >= 400:
            response.close()
            raise TrackerRejected(f"kaiten file {file.id}: HTTP {response.status_code}", response.status_code)
        return read_capped(response, max_bytes)

    def own_user(self) -> str:
        """The token's own user id."""
        if self._own_user is None:
            self._own_user = str(self.current_user().get("id", ""))
        return self._own_user

    def find_comment(self, key: str, marker: str) -> str | None:
        """The id of the card's comment containing ``marker`` (the list endpoint is not paged)."""
        for comment in self.request("GET", f"/cards/{_id(key)}/comments") or []:
            if marker in str(comment.get("text") or ""):
                return str(comment["id"])
        return None

    def attach_files(self, key: str, files: Sequence[FileUpload]) -> None:
        """Upload files the card does not already have under the same name and size."""
        if not files:
            return
        present = {(f.get("name"), _size(f.get("size"))) for f in self.get_card(key).get("files") or []}
        for upload in files:
            if (upload.filename, len(upload.content)) in present:
                continue
            self.request(
                "PUT",
                f"/cards/{_id(key)}/files",
                files={"file": (upload.filename, upload.content, upload.content_type)},
            )
            present.add((upload.filename, len(upload.content)))

    def issue_url(self, key: str) -> str:
        """The card's page: ``<origin>/<card id>``, which Kaiten resolves in any space."""
        return f"{self.origin}/{_id(key)}"

    # -- cards --------------------------------------------------------------------------------------

    def get_card(self, card_id: str | int) -> dict[str, Any]:
        """One card with its members, tags, files, column and lane (``broken_api=false``)."""
        card: dict[str, Any] = self.request("GET", f"/cards/{_id(card_id)}", params={"broken_api": "false"})
        return card

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
        for card in self._pages("/cards", {k: v for k, v in params.items() if v is not None}):
            if properties and not _has_properties(card, properties):
                continue
            found.append(card)
            if limit is not None and len(found) >= limit:
                break
        return found

    def move_card(
        self,
        card_id: str | int,
        board_id: int | str | None = None,
        column_id: int | str | None = None,
        lane_id: int | str | None = None,
    ) -> dict[str, Any]:
        """Move a card (``PATCH`` with the target board and a column/lane of that board)."""
        body = {
            k: int(v)
            for k, v in (("board_id", board_id), ("column_id", column_id), ("lane_id", lane_id))
            if v is not None
        }
        card: dict[str, Any] = self.request("PATCH", f"/cards/{_id(card_id)}", json=body)
        return card

    def update_card(self, card_id: str | int, **fields: Any) -> dict[str, Any]:
        """``PATCH /cards/{id}`` with the given fields (absent = unchanged, ``None`` = cleared)."""
        card: dict[str, Any] = self.request("PATCH", f"/cards/{_id(card_id)}", json=fields)
        return card

    def archive_card(self, card_id: str | int) -> dict[str, Any]:
        """Archive a card (``condition`` 2)."""
        return self.update_card(card_id, condition=CONDITION_ARCHIVED)

    def add_tag(self, card_id: str | int, name: str) -> dict[str, Any]:
        """Add a tag by name (Kaiten creates the company tag if it is new)."""
        tag: dict[str, Any] = self.request("POST", f"/cards/{_id(card_id)}/tags", json={"name": name})
        return tag

    def add_member(self, card_id: str | int, user_id: str | int) -> dict[str, Any]:
        """Make a user a plain member of the card."""
        body = {"user_id": _int(user_id, "user_id")}
        member: dict[str, Any] = self.request("POST", f"/cards/{_id(card_id)}/members", json=body)
        return member

    def set_responsible(
        self, card_id: str | int, user_id: str | int, *, members: Iterable[Mapping[str, Any]] | None = None
    ) -> None:
        """Make a user the responsible member: add as member if needed, then ``PATCH`` type 2."""
        uid = _int(user_id, "user_id")
        if members is None:
            members = self.request("GET", f"/cards/{_id(card_id)}/members") or []
        if not any(_member_id(m) == uid for m in members):
            self.add_member(card_id, uid)
        body = {"type": MEMBER_RESPONSIBLE}
        self.request("PATCH", f"/cards/{_id(card_id)}/members/{uid}", json=body)

    def add_child(self, parent_id: str | int, child_id: str | int) -> dict[str, Any]:
        """Link two cards as parent and child (``POST /cards/{parent}/children {"card_id"}``)."""
        body = {"card_id": _int(child_id, "card_id")}
        child: dict[str, Any] = self.request("POST", f"/cards/{_id(parent_id)}/children", json=body)
        return child

    # -- topology and catalogue, for `trackerhub check` and `trackerhub kaiten ls` ---------------------

    def list_spaces(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/spaces") or [])

    def list_boards(self, space_id: int | str) -> list[dict[str, Any]]:
        return list(self.request("GET", f"/spaces/{_id(space_id)}/boards") or [])

    def get_board(self, board_id: int | str) -> dict[str, Any]:
        """A board with its ``columns`` and ``lanes``."""
        board: dict[str, Any] = self.request("GET", f"/boards/{_id(board_id)}")
        return board

    def list_columns(self, board_id: int | str) -> list[dict[str, Any]]:
        """Columns with their ``type``: 1 queue, 2 in progress, 3 done."""
        return list(self.request("GET", f"/boards/{_id(board_id)}/columns") or [])

    def list_lanes(self, board_id: int | str) -> list[dict[str, Any]]:
        """Live lanes (``condition=1``)."""
        return list(self.request("GET", f"/boards/{_id(board_id)}/lanes", params={"condition": 1}) or [])

    def list_card_types(self) -> list[dict[str, Any]]:
        return list(self._pages("/card-types", {}))

    def list_properties(self) -> list[dict[str, Any]]:
        """Company custom properties (``id``, ``name``, ``type``, ``multi_select`` ...)."""
        return list(self._pages("/company/custom-properties", {}))

    def list_select_values(self, property_id: int | str) -> list[dict[str, Any]]:
        return list(self.request("GET", f"/company/custom-properties/{_id(property_id)}/select-values") or [])

    def list_users(self) -> list[dict[str, Any]]:
        return list(self._pages("/users", {}))

    def current_user(self) -> dict[str, Any]:
        """The token's own user (to filter the hub's own events out of webhooks)."""
        user: dict[str, Any] = self.request("GET", "/users/current")
        return user

    # -- HTTP -----------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        files: Mapping[str, Any] | None = None,
    ) -> Any:
        """One API call with the connector's error translation; reads are retried briefly."""
        if method != "GET" or self.read_retries <= 0:
            return self._send(method, path, params, json, files)
        retrying = Retrying(
            stop=stop_after_attempt(self.read_retries + 1),
            retry=retry_if_exception(_worth_retrying),
            wait=_wait_for,
            reraise=True,
        )
        return retrying(self._send, method, path, params, json, files)

    def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        files: Mapping[str, Any] | None,
    ) -> Any:
        if self.limiter is not None:
            self.limiter.acquire()
        try:
            response = self.session.request(
                method,
                self.api + path,
                params=params,
                json=json,
                files=files,
                headers=self._auth,
                timeout=self.timeout,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TrackerUnavailable(f"kaiten unreachable: {type(exc).__name__}") from None
        except requests.RequestException as exc:
            raise TrackerUnavailable(f"kaiten request failed: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise _translate(response, method, path)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise TrackerUnavailable(
                f"kaiten answered {method} {path} with non-JSON", status=response.status_code
            ) from None

    def _pages(self, path: str, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            page = self.request("GET", path, params={**params, "limit": PAGE, "offset": offset}) or []
            yield from page
            if len(page) < PAGE:
                return
            offset += len(page)

    def _ref(self, card: Mapping[str, Any]) -> IssueRef:
        key = str(card["id"])
        return IssueRef(tracker=self.name, key=key, url=self.issue_url(key), id=key)

    def _add_tags(self, key: str, names: Iterable[str], *, present: set[str]) -> None:
        for name in names:
            if name.lower() not in present:
                self.add_tag(key, name)
                present.add(name.lower())


# -- mapping ----------------------------------------------------------------------------------------------


def card_body(draft: IssueDraft) -> dict[str, Any]:
    """The ``POST /cards`` body for a draft (developers.kaiten.ru/cards/create-new-card)."""
    body: dict[str, Any] = {
        "title": draft.title,
        "board_id": _int(draft.project, "board id"),
        "description": draft.body,
        "asap": (draft.priority or "").strip().lower() == "asap",
        "external_id": draft.idempotency_key,
    }
    if draft.column:
        body["column_id"] = _int(draft.column, "column id")
    if draft.lane:
        body["lane_id"] = _int(draft.lane, "lane id")
    if draft.issue_type:
        body["type_id"] = _int(draft.issue_type, "card type id")
    if draft.assignee:
        body["responsible_id"] = _int(draft.assignee, "responsible user id")
    properties: dict[str, Any] = {}
    for name, value in draft.custom_fields.items():
        if name in CARD_FIELDS:
            body[name] = value
        else:
            properties[property_key(name)] = value
    if properties:
        body["properties"] = properties
    return body


def property_key(name: str | int) -> str:
    """``id_<n>`` for a custom property given as ``5``, ``"5"`` or ``"id_5"``."""
    text = str(name).strip()
    number = text[3:] if text.startswith("id_") else text
    if not number.isdigit():
        raise TrackerRejected(f"custom property {text!r} is not an id (expected id_<n>)", 400)
    return f"id_{int(number)}"


def card_done(card: Mapping[str, Any]) -> bool:
    """In a "done" column (``state`` 3, or the column's ``type`` 3) or archived (``condition`` 2)."""
    column = card.get("column") or {}
    return (
        card.get("state") == STATE_DONE
        or column.get("type") == STATE_DONE
        or card.get("condition") == CONDITION_ARCHIVED
        or bool(card.get("archived"))
    )


def card_status(card: Mapping[str, Any]) -> str:
    """A human status: the column's title (``archived`` when archived)."""
    if card.get("condition") == CONDITION_ARCHIVED or card.get("archived"):
        return "archived"
    column = card.get("column") or (card.get("path_data") or {}).get("column") or {}
    return str(column.get("title") or STATE_NAMES.get(int(card.get("state") or 0), ""))


def _tag_names(card: Mapping[str, Any]) -> set[str]:
    return {str(t.get("name", "")).lower() for t in card.get("tags") or []}


def _responsible_id(card: Mapping[str, Any]) -> int | None:
    for member in card.get("members") or []:
        if member.get("type") == MEMBER_RESPONSIBLE:
            return _member_id(member)
    return None


def _member_id(member: Mapping[str, Any]) -> int | None:
    """A card member's user id (members are users plus ``user_id``/``card_id``/``type``)."""
    return _size(member.get("user_id", member.get("id")))


def _has_properties(card: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    values = card.get("properties") or {}
    for name, value in wanted.items():
        have = values.get(property_key(name))
        if isinstance(have, list) and not isinstance(value, list):
            if value not in have:
                return False
        elif have != value:
            return False
    return True


def _id(value: str | int) -> int:
    return _int(value, "card id")


def _int(value: Any, what: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise TrackerRejected(f"{what} must be a number, not {value!r}", 400) from None


def _size(value: Any) -> int | None:
    """An integer from a number or a numeric string (private files send ``size`` as a string)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# -- errors -------------------------------------------------------------------------------------------------


def _translate(response: requests.Response, method: str, path: str) -> Exception:
    status = response.status_code
    text = f"kaiten answered {status} to {method} {path}: {_message(response)}"
    if status == 429:
        return TrackerUnavailable(text, retry_after=reset_delay(response.headers), status=status)
    if status in RETRYABLE_STATUS or status >= 500:
        return TrackerUnavailable(text, retry_after=_retry_after(response.headers), status=status)
    return TrackerRejected(text, status)


def _message(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])[:500]
    return (response.text or response.reason or "").strip()[:200]


def reset_delay(headers: Mapping[str, str], now: float | None = None) -> float:
    """Seconds until ``X-RateLimit-Reset`` (documented as a UTC epoch), at least 1; 1 when missing."""
    now = time.time() if now is None else now
    value = headers.get("X-RateLimit-Reset")
    try:
        reset = float(value) if value is not None else None
    except ValueError:
        reset = None
    if reset is None or not math.isfinite(reset):
        return _retry_after(headers) or 1.0
    if reset > 1e11:  # milliseconds, should Kaiten ever send them
        reset /= 1000
    elif reset < 1e9:  # not an epoch: a delay in seconds, as some proxies send
        return max(1.0, reset)
    return max(1.0, reset - now)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


def _worth_retrying(exc: BaseException) -> bool:
    if not isinstance(exc, TrackerUnavailable) or isinstance(exc, IncompleteCard):
        return False
    return exc.retry_after is None or exc.retry_after <= READ_RETRY_MAX_WAIT


def _wait_for(state: Any) -> float:
    exc = state.outcome.exception() if state.outcome is not None else None
    if isinstance(exc, TrackerUnavailable) and exc.retry_after is not None:
        return float(exc.retry_after)
    return min(0.25 * 2 ** (state.attempt_number - 1), 2.0)
