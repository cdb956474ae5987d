"""A Kaiten look-alike: the stand-in for tests, ``trackerhub up`` with ``HUB_SANDBOX=kaiten`` and bench.

Kaiten has no self-hosted edition, so this app is built from Kaiten's documented request and response
shapes: https://developers.kaiten.ru/ (create-new-card, update-card, retrieve-card, card tags,
members, comments, files, spaces, boards, columns, lanes, card types, custom properties, users) and
the OpenAPI file extracted from those pages, ``shared/fixtures/kaiten/spec/
kaiten-openapi.AllDmeat-kaiten-sdk.yaml``, whose ``DOC_MISMATCH`` notes record live answers. The
sanitized live payloads beside it (``card_list_item``, ``custom_property_select``, ``card_type``,
``custom_property_select_values``) fixed the field names and types used below.

What it serves, under ``/api/latest`` and ``/api/v1`` (JSON, ``Authorization: Bearer <token>``):

- cards: ``GET|POST /cards`` (filters ``board_id, column_id, lane_id, space_id, type_id, tag,
  tag_ids, external_id, condition, states, archived, query, updated_after, limit ≤ 100, offset``),
  ``GET|PATCH|DELETE /cards/{id}`` (move with ``board_id/column_id/lane_id``, archive with
  ``condition`` 2; delete is soft), tags, members (type 2 = responsible), comments, files
  (``PUT`` multipart ``file``; ``POST`` JSON ``{url, name, type}`` adds a link to a file elsewhere, as
  kaiten-mcp does: types 1–6, ``external`` unless the type is 1, which is the sandbox's guess),
  children;
- catalogue: ``/spaces``, ``/spaces/{id}/boards``, ``/boards/{id}`` (+ ``/columns``, ``/lanes``),
  ``/card-types``, ``/company/custom-properties`` (+ ``/select-values``), ``/users``,
  ``/users/current``, ``/tags``.

It checks what Kaiten checks and answers 400 ``{"message": ...}``: a missing or over-long title, an
unknown board, column, lane or card type, a column or lane of another board, an unknown user, a
custom property id that does not exist, a value of the wrong type, a select value that is not one of
the property's values (select values are arrays of select-value ids). Kaiten's exact message texts
are not documented; these are the sandbox's own. Bad or missing token: 401.

Seed: space 1 "Support" with board 10 "Support desk" (columns 101 To do / 102 In progress /
103 Done of types 1/2/3, lanes 111 "Customers" and 112 "Partners") and board 20 "Development"
(columns 201-203, lane 211); card types 1 Card, 2 Bug, 3 Request; custom properties 501 Severity
(select), 502 Customer (string), 503 Channel (multi-select), 504 Order number (number), 505 Contract
end (date); users 1 (the token's user, "Trackerhub") and 2-5 (for round-robin).

Test controls under ``/_sandbox`` (no auth): ``POST /_sandbox/faults`` (``FaultBook.add``),
``GET|DELETE /_sandbox/faults``, ``GET /_sandbox/stats``, ``POST /_sandbox/reset`` (wipes cards,
tags, comments, files; the seed stays). With ``rate_limit=True`` it also enforces Kaiten's
5 requests/s per token, answering 429 with ``X-RateLimit-Remaining: 0`` and ``X-RateLimit-Reset``.
``GET|POST /_sandbox/settings`` reads and sets ``{"author_only_comment_edits": true|false}``
(start-up: ``author_only_comment_edits=True``, ``--author-only-comment-edits``): Kaiten may let only
a comment's author edit it (``PATCH /cards/{id}/comments/{comment_id}``, "author only" in the API
reference), and in that mode anyone else's edit is answered 403. Off by default, as the sandbox
has always let the hub edit an engineer's comment.

HTML: ``GET /`` lists cards; ``GET /{id}`` (Kaiten's short card link) and
``/space/{space}/boards/card/{id}`` show one. Everything is escaped by Jinja's autoescape.

Storage: one SQLite file (WAL), one connection per request; a temporary file when no path is given.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from flask import Blueprint, Flask, Response, current_app, g, jsonify, render_template_string, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.serving import BaseWSGIServer

from sandbox import common
from sandbox.common import transaction

log = logging.getLogger(__name__)

EXTENSION = "trackerhub.sandbox.kaiten"
DEFAULT_DB = Path("var") / "sandbox-kaiten.sqlite3"
DEFAULT_PORT = 2991
TITLE_LIMIT = 1024
DESCRIPTION_LIMIT = 32768
SIZE_TEXT_LIMIT = 267
EXTERNAL_ID_LIMIT = 1024
TAG_LIMIT = 128
COMMENT_LIMIT = 32768
FILE_LIMIT = 10 * 1024 * 1024
LIST_LIMIT = 100
RATE_PER_SECOND = 5
API_PREFIXES = ("/api/latest", "/api/v1")


# --- errors ------------------------------------------------------------------------------------------------


class KaitenError(common.SandboxError):
    """An answer in Kaiten's error shape, ``{"message": "..."}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, message, headers=headers)
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"message": self.message}


def _bad(message: str) -> KaitenError:
    return KaitenError(400, message)


def _not_found(what: str = "Not found") -> KaitenError:
    return KaitenError(404, what)


# --- the seeded company ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Space:
    id: int
    title: str


@dataclass(frozen=True)
class Board:
    id: int
    space_id: int
    title: str
    default_card_type_id: int


@dataclass(frozen=True)
class Column:
    id: int
    board_id: int
    title: str
    type: int  # 1 queue, 2 in progress, 3 done
    sort_order: float


@dataclass(frozen=True)
class Lane:
    id: int
    board_id: int
    title: str
    sort_order: float


@dataclass(frozen=True)
class CardType:
    id: int
    name: str
    letter: str
    color: int


@dataclass(frozen=True)
class SelectValue:
    id: int
    value: str
    color: int
    sort_order: float


@dataclass(frozen=True)
class Property:
    id: int
    name: str
    type: str  # string, number, date, select, ...
    multi_select: bool = False
    values: tuple[SelectValue, ...] = ()


@dataclass(frozen=True)
class User:
    id: int
    full_name: str
    username: str
    email: str


SPACES = (Space(1, "Support"),)
BOARDS = (Board(10, 1, "Support desk", 1), Board(20, 1, "Development", 2))
COLUMNS = (
    Column(101, 10, "To do", 1, 1),
    Column(102, 10, "In progress", 2, 2),
    Column(103, 10, "Done", 3, 3),
    Column(201, 20, "Backlog", 1, 1),
    Column(202, 20, "Doing", 2, 2),
    Column(203, 20, "Done", 3, 3),
)
LANES = (Lane(111, 10, "Customers", 1), Lane(112, 10, "Partners", 2), Lane(211, 20, "Default", 1))
CARD_TYPES = (CardType(1, "Card", "C", 1), CardType(2, "Bug", "B", 7), CardType(3, "Request", "R", 4))
PROPERTIES = (
    Property(
        501,
        "Severity",
        "select",
        values=(
            SelectValue(601, "Critical", 1, 1),
            SelectValue(602, "Major", 2, 2),
            SelectValue(603, "Minor", 3, 3),
        ),
    ),
    Property(502, "Customer", "string"),
    Property(
        503,
        "Channel",
        "select",
        multi_select=True,
        values=(
            SelectValue(611, "Email", 4, 1),
            SelectValue(612, "Telegram", 5, 2),
            SelectValue(613, "Form", 6, 3),
        ),
    ),
    Property(504, "Order number", "number"),
    Property(505, "Contract end", "date"),
)
USERS = (
    User(1, "Trackerhub", "trackerhub", "hub@trackerhub.localhost"),
    User(2, "Alice Example", "alice", "alice@example.com"),
    User(3, "Bob Example", "bob", "bob@example.com"),
    User(4, "Carol Example", "carol", "carol@example.com"),
    User(5, "Иван Иванов", "ivanov", "ivanov@example.com"),
)
HUB_USER = 1
SEED_TIME = "2024-01-10T09:00:00.000Z"

_T = TypeVar("_T", Space, Board, Column, Lane, CardType, Property, User)


def _by_id(items: Sequence[_T], ident: Any) -> _T | None:
    number = _as_int(ident)
    return next((i for i in items if i.id == number), None) if number is not None else None


def _uid(kind: str, ident: int) -> str:
    """A stable UUID for a seeded object (Kaiten objects carry both ``id`` and ``uid``)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"kaiten-sandbox:{kind}:{ident}"))


# --- storage -----------------------------------------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS card (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uid TEXT NOT NULL,
  title TEXT NOT NULL,
  description TEXT,
  board_id INTEGER NOT NULL,
  column_id INTEGER NOT NULL,
  lane_id INTEGER NOT NULL,
  type_id INTEGER NOT NULL,
  owner_id INTEGER NOT NULL,
  asap INTEGER NOT NULL DEFAULT 0,
  due_date TEXT,
  due_date_time_present INTEGER NOT NULL DEFAULT 0,
  expires_later INTEGER NOT NULL DEFAULT 0,
  size_text TEXT,
  external_id TEXT,
  properties TEXT NOT NULL DEFAULT '{}',
  condition INTEGER NOT NULL DEFAULT 1,
  sort_order REAL NOT NULL DEFAULT 1,
  text_format_type_id INTEGER NOT NULL DEFAULT 1,
  version INTEGER NOT NULL DEFAULT 1,
  created TEXT NOT NULL,
  updated TEXT NOT NULL,
  last_moved_at TEXT,
  last_moved_to_done_at TEXT
);
CREATE INDEX IF NOT EXISTS card_external ON card (external_id);
CREATE TABLE IF NOT EXISTS tag (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uid TEXT NOT NULL,
  name TEXT NOT NULL UNIQUE COLLATE NOCASE,
  color INTEGER NOT NULL,
  created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS card_tag (
  card_id INTEGER NOT NULL,
  tag_id INTEGER NOT NULL,
  PRIMARY KEY (card_id, tag_id)
);
CREATE TABLE IF NOT EXISTS member (
  card_id INTEGER NOT NULL,
  user_id INTEGER NOT NULL,
  type INTEGER NOT NULL,
  created TEXT NOT NULL,
  PRIMARY KEY (card_id, user_id)
);
CREATE TABLE IF NOT EXISTS comment (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uid TEXT NOT NULL,
  card_id INTEGER NOT NULL,
  text TEXT NOT NULL,
  author_id INTEGER NOT NULL,
  edited INTEGER NOT NULL DEFAULT 0,
  internal INTEGER NOT NULL DEFAULT 0,
  created TEXT NOT NULL,
  updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS comment_card ON comment (card_id);
CREATE TABLE IF NOT EXISTS file (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uid TEXT NOT NULL,
  card_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  size INTEGER NOT NULL,
  mime_type TEXT NOT NULL,
  author_id INTEGER NOT NULL,
  data BLOB NOT NULL,
  created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS file_card ON file (card_id);
CREATE TABLE IF NOT EXISTS file_link (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uid TEXT NOT NULL,
  card_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  url TEXT NOT NULL,
  type INTEGER NOT NULL,
  author_id INTEGER NOT NULL,
  created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS child (
  parent_id INTEGER NOT NULL,
  child_id INTEGER NOT NULL,
  PRIMARY KEY (parent_id, child_id)
);
"""
FIRST_IDS = {"card": 1001, "tag": 301, "comment": 5001, "file": 7001, "file_link": 8001}
DATA_TABLES = ("card", "tag", "card_tag", "member", "comment", "file", "file_link", "child")
LINK_TYPES = range(1, 7)  # 1 attachment, 2 Google Drive, 3 Dropbox, 4 Box, 5 OneDrive, 6 Yandex Disk


def _now() -> str:
    """Kaiten's timestamp format: ``2024-10-14T10:48:16.594Z``."""
    return common.millis_stamp(datetime.now(UTC), "Z")


class Store(common.SqliteStore):
    """The SQLite file: schema, connections, wipe."""

    schema = SCHEMA
    first_ids = FIRST_IDS
    data_tables = DATA_TABLES


# --- validation of card fields -----------------------------------------------------------------------------

PROPERTY_KEY = re.compile(r"id_(\d+)")


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _require_int(body: dict[str, Any], name: str) -> int:
    number = _as_int(body.get(name))
    if number is None:
        raise _bad(f"{name} must be an integer")
    return number


def _bool(body: dict[str, Any], name: str) -> int:
    value = body[name]
    if not isinstance(value, bool):
        raise _bad(f"{name} must be a boolean")
    return int(value)


def _text(value: Any, name: str, limit: int, *, nullable: bool = True) -> str | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _bad(f"{name} must be a string")
    text = str(value)
    if len(text) > limit:
        raise _bad(f"{name} must be at most {limit} characters")
    return text


def _iso(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(f"{name} must be an ISO 8601 string")
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(f"{name} must be an ISO 8601 string")
    return value


def check_property(prop: Property, value: Any) -> Any:
    """The stored value for one property, or a 400 naming what is wrong."""
    if value is None:
        return None
    if prop.type == "select":
        ids = value if isinstance(value, list) else None
        if ids is None or not ids or any(_as_int(v) is None for v in ids):
            raise _bad(f"Value of property id_{prop.id} must be an array of select value ids")
        allowed = {v.id for v in prop.values}
        chosen = [_as_int(v) for v in ids]
        unknown = [v for v in chosen if v not in allowed]
        if unknown:
            raise _bad(f"Select value {unknown[0]} is not allowed for property id_{prop.id}")
        if not prop.multi_select and len(chosen) > 1:
            raise _bad(f"Property id_{prop.id} takes one value")
        return chosen
    if prop.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _bad(f"Value of property id_{prop.id} must be a number")
        return value
    if prop.type == "date":
        return _iso(value, f"property id_{prop.id}")
    if not isinstance(value, str):
        raise _bad(f"Value of property id_{prop.id} must be a string")
    return value


def check_properties(raw: Any, current: dict[str, Any] | None = None) -> dict[str, Any]:
    """Merge ``{"id_<n>": value}`` into ``current``; ``null`` removes a value."""
    if not isinstance(raw, dict):
        raise _bad("properties must be an object")
    merged = dict(current or {})
    for key, value in raw.items():
        match = PROPERTY_KEY.fullmatch(str(key))
        prop = _by_id(PROPERTIES, match.group(1)) if match else None
        if prop is None:
            raise _bad(f"Custom property {key} not found")
        stored = check_property(prop, value)
        if stored is None:
            merged.pop(key, None)
        else:
            merged[key] = stored
    return merged


def _placement(body: dict[str, Any], current: sqlite3.Row | None) -> dict[str, int]:
    """Board, column and lane after this request: each known, and the column and lane of that board."""
    out: dict[str, int] = {}
    board_changed = False
    if current is None or "board_id" in body:
        if current is None and body.get("board_id") is None:
            raise _bad("board_id is required")
        board = _by_id(BOARDS, _require_int(body, "board_id"))
        if board is None:
            raise _bad(f"Board {body.get('board_id')} not found")
        board_changed = current is None or board.id != current["board_id"]
        out["board_id"] = board.id
    board_id = out.get("board_id", current["board_id"] if current is not None else 0)
    creating = current is None
    column = _cell(body, "column_id", COLUMNS, board_id, creating=creating, board_changed=board_changed)
    lane = _cell(body, "lane_id", LANES, board_id, creating=creating, board_changed=board_changed)
    out.update({k: v for k, v in (("column_id", column), ("lane_id", lane)) if v is not None})
    return out


_Cell = TypeVar("_Cell", Column, Lane)


def _cell(
    body: dict[str, Any],
    name: str,
    items: Sequence[_Cell],
    board_id: int,
    *,
    creating: bool,
    board_changed: bool,
) -> int | None:
    """The column or lane id to store: the one named (of that board), the board's first, or unchanged."""
    kind = name.split("_")[0].title()
    if body.get(name) is not None:
        found = _by_id(items, _require_int(body, name))
        if found is None:
            raise _bad(f"{kind} {body.get(name)} not found")
        if found.board_id != board_id:
            raise _bad(f"{kind} {found.id} does not belong to board {board_id}")
        return found.id
    if creating:
        return min((i for i in items if i.board_id == board_id), key=lambda i: i.sort_order).id
    if board_changed:
        raise _bad(f"{name} of board {board_id} is required to move a card to another board")
    return None


def check_card(body: Any, current: sqlite3.Row | None = None) -> dict[str, Any]:
    """Validate a create (``current`` None) or update body; the columns to write, 400 otherwise."""
    if not isinstance(body, dict):
        raise _bad("Request body must be a JSON object")
    out: dict[str, Any] = _placement(body, current)
    if current is None or "title" in body:
        title = _text(body.get("title"), "title", TITLE_LIMIT)
        if title is None or not title.strip():
            raise _bad("title is required")
        out["title"] = title
    if "description" in body:
        out["description"] = _text(body["description"], "description", DESCRIPTION_LIMIT)
    if body.get("type_id") is not None:
        card_type = _by_id(CARD_TYPES, _require_int(body, "type_id"))
        if card_type is None:
            raise _bad(f"Card type {body.get('type_id')} not found")
        out["type_id"] = card_type.id
    elif current is None:
        board = _by_id(BOARDS, out["board_id"])
        out["type_id"] = board.default_card_type_id if board else 1
    for name in ("asap", "due_date_time_present", "expires_later"):
        if name in body:
            out[name] = _bool(body, name)
    if "due_date" in body:
        out["due_date"] = _iso(body["due_date"], "due_date")
    if "size_text" in body:
        out["size_text"] = _text(body["size_text"], "size_text", SIZE_TEXT_LIMIT)
    if "external_id" in body:
        out["external_id"] = _text(body["external_id"], "external_id", EXTERNAL_ID_LIMIT)
    if "text_format_type_id" in body:
        if body["text_format_type_id"] not in (1, 2, 3):
            raise _bad("text_format_type_id must be 1, 2 or 3")
        out["text_format_type_id"] = body["text_format_type_id"]
    if body.get("owner_id") is not None:
        out["owner_id"] = _user_or_400(body, "owner_id").id
    if current is not None and "condition" in body:
        if body["condition"] not in (1, 2):
            raise _bad("condition must be 1 or 2")
        out["condition"] = body["condition"]
    if current is None and body.get("responsible_id") is not None:
        out["responsible_id"] = _user_or_400(body, "responsible_id").id
    if "properties" in body and body["properties"] is not None:
        existing = json.loads(current["properties"]) if current is not None else {}
        out["properties"] = check_properties(body["properties"], existing)
    return out


def _user_or_400(body: dict[str, Any], name: str) -> User:
    user = _by_id(USERS, _require_int(body, name))
    if user is None:
        raise _bad(f"User {body.get(name)} not found")
    return user


# --- fault injection and rate limit ------------------------------------------------------------------------


def _rate_headers(remaining: int, reset: float) -> dict[str, str]:
    return {"X-RateLimit-Remaining": str(max(remaining, 0)), "X-RateLimit-Reset": str(int(reset))}


def _fault_answer(status: int, rule: common.FaultRule) -> Response:
    """Kaiten's error shape; a 429 carries ``X-RateLimit-Remaining: 0`` and ``X-RateLimit-Reset`` = now +
    ``retry_after`` (default 1 s), as Kaiten does; another status carries ``Retry-After`` only when
    ``retry_after`` is given."""
    headers: dict[str, str] = {}
    if status == 429:
        headers = _rate_headers(0, time.time() + (rule.retry_after if rule.retry_after is not None else 1))
    elif rule.retry_after is not None:
        headers["Retry-After"] = str(rule.retry_after)
    return KaitenError(status, f"Injected by the sandbox (fault rule {rule.id})", headers).response()


class RateWindow:
    """Kaiten's limit, per token: at most ``rate`` requests in any one-second window."""

    def __init__(self, rate: int = RATE_PER_SECOND, period: float = 1.0) -> None:
        self.rate = rate
        self.period = period
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = {}
        self.limited = 0

    def check(self, token: str) -> tuple[bool, int, float]:
        """(allowed, remaining, reset epoch) for one more request with ``token``."""
        now = time.time()
        with self._lock:
            stamps = self._seen.setdefault(token, deque())
            while stamps and stamps[0] <= now - self.period:
                stamps.popleft()
            if len(stamps) >= self.rate:
                self.limited += 1
                return False, 0, stamps[0] + self.period
            stamps.append(now)
            return True, self.rate - len(stamps), stamps[0] + self.period

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()
            self.limited = 0


# --- application state and request plumbing ----------------------------------------------------------------


@dataclass
class SandboxState(common.SandboxStateBase):
    counted: ClassVar[Mapping[str, str]] = {"cards": "card", "comments": "comment", "files": "file"}

    window: RateWindow
    token: str | None
    rate_limit: bool
    file_limit: int
    author_only_comment_edits: bool = False
    temp_dir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def extra_stats(self) -> dict[str, Any]:
        return {"rate_limited": self.window.limited}

    def reset(self) -> None:
        super().reset()
        self.window.clear()


def _state() -> SandboxState:
    state: SandboxState = current_app.extensions[EXTENSION]
    return state


def _db() -> sqlite3.Connection:
    return common.request_db(_state().store)


def _is_api(path: str) -> bool:
    return path.startswith(API_PREFIXES)


def _before_request() -> Response | None:
    if common.is_control_request():
        return None
    state = _state()
    state.stats.record_request()
    if not _is_api(request.path):
        return None
    injected = state.faults.before_request()
    if injected is not None:
        return injected
    token = _authenticate(state)
    if state.rate_limit:
        allowed, remaining, reset = state.window.check(token)
        g.sandbox_kaiten_rate = _rate_headers(remaining, reset)
        if not allowed:
            raise KaitenError(429, "Too many requests", g.sandbox_kaiten_rate)
    return None


def _after_request(response: Response) -> Response:
    if common.is_control_request() or not _is_api(request.path):
        return response
    rate = g.get("sandbox_kaiten_rate")
    if rate:
        response.headers.update(rate)
    return _state().faults.after_request(response)


def _authenticate(state: SandboxState) -> str:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    token = credentials.strip()
    if scheme.lower() != "bearer" or not token or (state.token is not None and token != state.token):
        raise KaitenError(401, "Invalid token")
    return token


def _handle_http_error(exc: HTTPException) -> Response:
    if isinstance(exc, RequestEntityTooLarge):
        return KaitenError(413, "Request entity too large").response()
    if _is_api(request.path):
        return KaitenError(exc.code or 500, exc.name).response()
    return Response(f"{exc.code} {exc.name}", status=exc.code or 500, mimetype="text/plain")


def _handle_unexpected(exc: Exception) -> Response:
    log.exception("sandbox kaiten: unexpected error on %s %s", request.method, request.path)
    return KaitenError(500, "Internal server error").response()


def _json_body() -> Any:
    return common.json_body(lambda: _bad("Request body must be JSON"))


def _int_arg(name: str, default: int, low: int = 0, high: int = 10**9) -> int:
    return common.int_arg(
        name, default, low, high, parse=_as_int, invalid=lambda name: _bad(f"{name} must be an integer")
    )


def _id_list(name: str) -> list[int] | None:
    raw = request.args.get(name)
    if not raw:
        return None
    ids = [_as_int(part) for part in raw.split(",") if part.strip()]
    if any(i is None for i in ids):
        raise _bad(f"{name} must be comma-separated integers")
    return [i for i in ids if i is not None]


# --- JSON renderers ----------------------------------------------------------------------------------------


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "uid": _uid("user", user.id),
        "full_name": user.full_name,
        "username": user.username,
        "email": user.email,
        "activated": True,
        "virtual": False,
        "created": SEED_TIME,
        "updated": SEED_TIME,
    }


def space_json(space: Space) -> dict[str, Any]:
    return {
        "id": space.id,
        "uid": _uid("space", space.id),
        "title": space.title,
        "archived": False,
        "external_id": None,
        "parent_entity_uid": None,
        "entity_type": "space",
        "created": SEED_TIME,
        "updated": SEED_TIME,
    }


def column_json(column: Column) -> dict[str, Any]:
    return {
        "id": column.id,
        "uid": _uid("column", column.id),
        "title": column.title,
        "sort_order": column.sort_order,
        "type": column.type,
        "board_id": column.board_id,
        "column_id": None,
        "wip_limit": None,
        "external_id": None,
        "created": SEED_TIME,
        "updated": SEED_TIME,
    }


def lane_json(lane: Lane) -> dict[str, Any]:
    return {
        "id": lane.id,
        "uid": _uid("lane", lane.id),
        "title": lane.title,
        "sort_order": lane.sort_order,
        "board_id": lane.board_id,
        "condition": 1,
        "default_card_type_id": None,
        "external_id": None,
        "created": SEED_TIME,
        "updated": SEED_TIME,
    }


def board_json(board: Board, *, in_space: bool = False) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": board.id,
        "uid": _uid("board", board.id),
        "title": board.title,
        "description": None,
        "default_card_type_id": board.default_card_type_id,
        "external_id": None,
        "created": SEED_TIME,
        "updated": SEED_TIME,
        "columns": [column_json(c) for c in COLUMNS if c.board_id == board.id],
        "lanes": [lane_json(lane) for lane in LANES if lane.board_id == board.id],
    }
    if in_space:
        doc.update(space_id=board.space_id, board_id=board.id, primary_path=True, sort_order=board.id)
    return doc


def card_type_json(card_type: CardType) -> dict[str, Any]:
    return {
        "id": card_type.id,
        "uid": _uid("type", card_type.id),
        "name": card_type.name,
        "letter": card_type.letter,
        "color": card_type.color,
        "archived": False,
        "company_id": 1,
        "properties": {},
        "card_properties": [],
        "created": SEED_TIME,
        "updated": SEED_TIME,
    }


def property_json(prop: Property) -> dict[str, Any]:
    return {
        "id": prop.id,
        "uid": _uid("property", prop.id),
        "name": prop.name,
        "type": prop.type,
        "condition": "active",
        "multi_select": prop.multi_select,
        "multiline": False,
        "colorful": prop.type == "select",
        "values_creatable_by_users": False,
        "show_on_facade": True,
        "external_id": None,
        "company_id": 1,
        "author_id": HUB_USER,
        "data": None,
        "created": SEED_TIME,
        "updated": SEED_TIME,
    }


def select_value_json(prop: Property, value: SelectValue) -> dict[str, Any]:
    return {
        "id": value.id,
        "uid": _uid("select-value", value.id),
        "custom_property_id": prop.id,
        "value": value.value,
        "color": value.color,
        "condition": "active",
        "sort_order": value.sort_order,
    }


def tag_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "uid": row["uid"],
        "name": row["name"],
        "color": row["color"],
        "company_id": 1,
        "archived": False,
        "created": row["created"],
        "updated": row["created"],
    }


def comment_json(row: sqlite3.Row) -> dict[str, Any]:
    author = _by_id(USERS, row["author_id"])
    return {
        "id": row["id"],
        "uid": row["uid"],
        "text": row["text"],
        "type": 1,
        "edited": bool(row["edited"]),
        "card_id": row["card_id"],
        "author_id": row["author_id"],
        "author": user_json(author) if author else None,
        "internal": bool(row["internal"]),
        "deleted": False,
        "created": row["created"],
        "updated": row["updated"],
    }


def file_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "uid": row["uid"],
        "name": row["name"],
        "size": row["size"],
        "mime_type": row["mime_type"],
        "type": 1,
        "url": f"{request.url_root.rstrip('/')}/files/{row['uid']}",
        "card_id": row["card_id"],
        "author_id": row["author_id"],
        "card_cover": False,
        "deleted": False,
        "external": False,
        "comment_id": None,
        "sort_order": row["id"],
        "created": row["created"],
        "updated": row["created"],
    }


def link_json(row: sqlite3.Row) -> dict[str, Any]:
    """A link added as a file: Kaiten lists it among the card's files, with the URL it was given."""
    return {
        "id": row["id"],
        "uid": row["uid"],
        "name": row["name"],
        "size": None,
        "type": row["type"],
        "url": row["url"],
        "card_id": row["card_id"],
        "author_id": row["author_id"],
        "card_cover": False,
        "deleted": False,
        "external": row["type"] != 1,
        "comment_id": None,
        "sort_order": row["id"],
        "created": row["created"],
        "updated": row["created"],
    }


def _card_files(conn: sqlite3.Connection, card_id: int) -> list[dict[str, Any]]:
    files = conn.execute("SELECT * FROM file WHERE card_id = ? ORDER BY id", (card_id,))
    links = conn.execute("SELECT * FROM file_link WHERE card_id = ? ORDER BY id", (card_id,))
    return [*(file_json(f) for f in files), *(link_json(link) for link in links)]


def _card_tags(conn: sqlite3.Connection, card_id: int) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT t.* FROM tag t JOIN card_tag ct ON ct.tag_id = t.id WHERE ct.card_id = ? ORDER BY t.id",
        (card_id,),
    ).fetchall()


def _members(conn: sqlite3.Connection, card_id: int) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM member WHERE card_id = ? ORDER BY created, user_id", (card_id,))
    out = []
    for row in rows:
        user = _by_id(USERS, row["user_id"])
        if user is not None:
            out.append({**user_json(user), "user_id": user.id, "card_id": card_id, "type": row["type"]})
    return out


def _related(conn: sqlite3.Connection, card_id: int, mine: str, other: str) -> list[int]:
    sql = f"SELECT {other} FROM child WHERE {mine} = ? ORDER BY {other}"  # noqa: S608 - fixed names
    return [r[0] for r in conn.execute(sql, (card_id,))]


def card_json(
    row: sqlite3.Row, conn: sqlite3.Connection, *, full: bool = True, description: bool = True
) -> dict:
    """A card: the list projection (``full=False``) or ``GET /cards/{id}`` with nested objects."""
    column = _by_id(COLUMNS, row["column_id"])
    lane = _by_id(LANES, row["lane_id"])
    board = _by_id(BOARDS, row["board_id"])
    space = _by_id(SPACES, board.space_id if board else None)
    tags = _card_tags(conn, row["id"])
    children = _related(conn, row["id"], "parent_id", "child_id")
    parents = _related(conn, row["id"], "child_id", "parent_id")
    doc: dict[str, Any] = {
        "id": row["id"],
        "uid": row["uid"],
        "title": row["title"],
        "asap": bool(row["asap"]),
        "archived": row["condition"] == 2,
        "blocked": False,
        "board_id": row["board_id"],
        "column_id": row["column_id"],
        "lane_id": row["lane_id"],
        "type_id": row["type_id"],
        "owner_id": row["owner_id"],
        "space_id": board.space_id if board else None,
        "state": column.type if column else 1,
        "condition": row["condition"],
        "due_date": row["due_date"],
        "due_date_time_present": bool(row["due_date_time_present"]),
        "expires_later": bool(row["expires_later"]),
        "size_text": row["size_text"],
        "size": _size_number(row["size_text"]),
        "external_id": row["external_id"],
        "properties": json.loads(row["properties"]),
        "sort_order": row["sort_order"],
        "version": row["version"],
        "source": "api",
        "key": None,
        "tag_ids": [t["id"] for t in tags] or None,
        "children_ids": children or None,
        "parents_ids": parents or None,
        "children_count": len(children),
        "parents_count": len(parents),
        "comments_total": conn.execute(
            "SELECT COUNT(*) FROM comment WHERE card_id = ?", (row["id"],)
        ).fetchone()[0],
        "created": row["created"],
        "updated": row["updated"],
        "last_moved_at": row["last_moved_at"],
        "last_moved_to_done_at": row["last_moved_to_done_at"],
        "path_data": {
            "space": {"id": space.id, "title": space.title} if space else None,
            "board": {"id": board.id, "title": board.title} if board else None,
            "column": {"id": column.id, "title": column.title, "sort_order": column.sort_order}
            if column
            else None,
            "lane": {"id": lane.id, "title": lane.title, "sort_order": lane.sort_order} if lane else None,
        },
    }
    if description:
        doc["description"] = row["description"]
        doc["description_filled"] = bool(row["description"])
        doc["text_format_type_id"] = row["text_format_type_id"]
    if full:
        owner = _by_id(USERS, row["owner_id"])
        card_type = _by_id(CARD_TYPES, row["type_id"])
        doc.update(
            board={"id": board.id, "title": board.title, "external_id": None} if board else None,
            column=column_json(column) if column else None,
            lane=lane_json(lane) if lane else None,
            type=card_type_json(card_type) if card_type else None,
            owner=user_json(owner) if owner else None,
            members=_members(conn, row["id"]),
            tags=[tag_json(t) for t in tags],
            files=_card_files(conn, row["id"]),
            checklists=[],
            external_links=[],
        )
    return doc


def _size_number(text: str | None) -> float | None:
    match = re.match(r"\s*(\d*\.?\d+)", text or "")
    return float(match.group(1)) if match else None


# --- API routes --------------------------------------------------------------------------------------------

bp = Blueprint("sandbox_kaiten", __name__)
api_route = common.ApiRoute(bp, API_PREFIXES)
common.add_control_routes(bp, EXTENSION, log=log, name="kaiten")


@bp.route(common.CONTROL_PREFIX + "/settings", methods=("GET", "POST"))
def sandbox_settings() -> Response | tuple[Response, int]:
    """The look-alike's switchable behaviour: ``{"author_only_comment_edits": bool}``."""
    state = _state()
    if request.method == "POST":
        body = request.get_json(silent=True, force=True)
        value = body.get("author_only_comment_edits") if isinstance(body, dict) else None
        if not isinstance(value, bool):
            return jsonify(error="author_only_comment_edits must be true or false"), 400
        state.author_only_comment_edits = value
        log.info("sandbox kaiten: author_only_comment_edits=%s", value)
    return jsonify(author_only_comment_edits=state.author_only_comment_edits)


def _card_row(card_id: int, conn: sqlite3.Connection | None = None) -> sqlite3.Row:
    row = (conn or _db()).execute("SELECT * FROM card WHERE id = ? AND condition != 3", (card_id,)).fetchone()
    if row is None:
        raise _not_found("Card not found")
    return row


def _touch(conn: sqlite3.Connection, card_id: int) -> None:
    conn.execute("UPDATE card SET updated = ?, version = version + 1 WHERE id = ?", (_now(), card_id))


@api_route("/cards", methods=("POST",))
def create_card() -> Response:
    fields = check_card(_json_body())
    responsible = fields.pop("responsible_id", None)
    now = _now()
    column = _by_id(COLUMNS, fields["column_id"])
    fields.setdefault("owner_id", HUB_USER)
    fields["properties"] = json.dumps(fields.get("properties") or {})
    fields.update(uid=str(uuid.uuid4()), created=now, updated=now, last_moved_at=now)
    if column is not None and column.type == 3:
        fields["last_moved_to_done_at"] = now
    conn = _db()
    with transaction(conn):
        fields["sort_order"] = conn.execute(
            "SELECT COALESCE(MAX(sort_order), 0) + 1 FROM card WHERE column_id = ? AND lane_id = ?",
            (fields["column_id"], fields["lane_id"]),
        ).fetchone()[0]
        names = ", ".join(fields)
        marks = ", ".join("?" for _ in fields)
        card_id = conn.execute(
            f"INSERT INTO card ({names}) VALUES ({marks})",  # noqa: S608 - names validated above
            list(fields.values()),
        ).lastrowid
        if responsible is not None:
            conn.execute("INSERT INTO member VALUES (?, ?, 2, ?)", (card_id, responsible, now))
    assert card_id is not None
    return jsonify(card_json(_card_row(card_id), conn, full=False))


@api_route("/cards")
def list_cards() -> Response:
    where, params = ["c.condition != 3"], []  # type: list[str], list[Any]
    for name in ("board_id", "column_id", "lane_id", "type_id", "condition"):
        if request.args.get(name):
            where.append(f"c.{name} = ?")
            params.append(_int_arg(name, 0))
    if request.args.get("space_id"):
        space = _int_arg("space_id", 0)
        boards = [b.id for b in BOARDS if b.space_id == space] or [0]
        where.append(f"c.board_id IN ({', '.join('?' for _ in boards)})")
        params += boards
    if request.args.get("external_id") is not None:
        where.append("c.external_id = ?")
        params.append(request.args["external_id"])
    if request.args.get("tag"):
        where.append("EXISTS (SELECT 1 FROM card_tag ct JOIN tag t ON t.id = ct.tag_id "
                     "WHERE ct.card_id = c.id AND t.name = ?)")  # fmt: skip
        params.append(request.args["tag"])
    tag_ids = _id_list("tag_ids")
    if tag_ids:
        marks = ", ".join("?" for _ in tag_ids)
        where.append(f"EXISTS (SELECT 1 FROM card_tag ct WHERE ct.card_id = c.id AND ct.tag_id IN ({marks}))")  # noqa: S608
        params += tag_ids
    states = _id_list("states")
    if states:
        columns = [c.id for c in COLUMNS if c.type in states] or [0]
        where.append(f"c.column_id IN ({', '.join('?' for _ in columns)})")
        params += columns
    if request.args.get("archived") in ("true", "false"):
        where.append("c.condition = ?")
        params.append(2 if request.args["archived"] == "true" else 1)
    if request.args.get("query"):
        where.append("c.title LIKE ? ESCAPE '\\'")
        escaped = re.sub(r"([\\%_])", r"\\\1", request.args["query"])
        params.append(f"%{escaped}%")
    for name, op in (
        ("updated_after", ">"),
        ("updated_before", "<"),
        ("created_after", ">"),
        ("created_before", "<"),
    ):
        if request.args.get(name):
            where.append(f"c.{name.split('_')[0]} {op} ?")
            params.append(_iso(request.args[name], name))
    limit = _int_arg("limit", LIST_LIMIT, 1, LIST_LIMIT)
    offset = _int_arg("offset", 0)
    conn = _db()
    rows = conn.execute(
        f"SELECT c.* FROM card c WHERE {' AND '.join(where)} ORDER BY c.id LIMIT ? OFFSET ?",  # noqa: S608
        [*params, limit, offset],
    ).fetchall()
    extra = request.args.get("additional_card_fields", "")
    with_description = "description" in [f.strip() for f in extra.split(",")]
    return jsonify([card_json(r, conn, full=False, description=with_description) for r in rows])


@api_route("/cards/<int:card_id>")
def get_card(card_id: int) -> Response:
    conn = _db()
    return jsonify(card_json(_card_row(card_id, conn), conn))


@api_route("/cards/<int:card_id>", methods=("PATCH",))
def update_card(card_id: int) -> Response:
    conn = _db()
    with transaction(conn):
        row = _card_row(card_id, conn)
        fields = check_card(_json_body(), row)
        if "properties" in fields:
            fields["properties"] = json.dumps(fields["properties"])
        now = _now()
        if (
            fields.get("column_id", row["column_id"]) != row["column_id"]
            or fields.get("lane_id", row["lane_id"]) != row["lane_id"]
        ):
            fields["last_moved_at"] = now
            column = _by_id(COLUMNS, fields.get("column_id", row["column_id"]))
            if column is not None and column.type == 3:
                fields["last_moved_to_done_at"] = now
        if fields:
            assignments = ", ".join(f"{name} = ?" for name in fields)
            conn.execute(
                f"UPDATE card SET {assignments} WHERE id = ?",  # noqa: S608 - names validated above
                [*fields.values(), card_id],
            )
        _touch(conn, card_id)
    return jsonify(card_json(_card_row(card_id, conn), conn))


@api_route("/cards/<int:card_id>", methods=("DELETE",))
def delete_card(card_id: int) -> Response:
    conn = _db()
    with transaction(conn):
        row = _card_row(card_id, conn)
        conn.execute("UPDATE card SET condition = 3, updated = ? WHERE id = ?", (_now(), card_id))
    return jsonify(card_json(row, conn, full=False))


# tags


@api_route("/cards/<int:card_id>/tags")
def list_card_tags(card_id: int) -> Response:
    conn = _db()
    _card_row(card_id, conn)
    tags = _card_tags(conn, card_id)
    return jsonify([{**tag_json(t), "card_id": card_id, "tag_id": t["id"]} for t in tags])


@api_route("/cards/<int:card_id>/tags", methods=("POST",))
def add_card_tag(card_id: int) -> Response:
    body = _json_body()
    name = body.get("name") if isinstance(body, dict) else None
    if not isinstance(name, str) or not name.strip() or len(name) > TAG_LIMIT:
        raise _bad(f"name is required, 1 to {TAG_LIMIT} characters")
    conn = _db()
    with transaction(conn):
        _card_row(card_id, conn)
        tag = conn.execute("SELECT * FROM tag WHERE name = ?", (name,)).fetchone()
        if tag is None:
            count = conn.execute("SELECT COUNT(*) FROM tag").fetchone()[0]
            tag_id = conn.execute(
                "INSERT INTO tag (uid, name, color, created) VALUES (?, ?, ?, ?)",
                (str(uuid.uuid4()), name, count % 16 + 1, _now()),
            ).lastrowid
            tag = conn.execute("SELECT * FROM tag WHERE id = ?", (tag_id,)).fetchone()
        conn.execute("INSERT OR IGNORE INTO card_tag VALUES (?, ?)", (card_id, tag["id"]))
        _touch(conn, card_id)
    return jsonify(tag_json(tag))


@api_route("/cards/<int:card_id>/tags/<int:tag_id>", methods=("DELETE",))
def remove_card_tag(card_id: int, tag_id: int) -> Response:
    conn = _db()
    with transaction(conn):
        _card_row(card_id, conn)
        if (
            conn.execute("DELETE FROM card_tag WHERE card_id = ? AND tag_id = ?", (card_id, tag_id)).rowcount
            == 0
        ):
            raise _not_found("Tag not found")
        _touch(conn, card_id)
    return jsonify({"id": tag_id})


@api_route("/tags")
def list_tags() -> Response:
    rows = _db().execute("SELECT * FROM tag ORDER BY id LIMIT ? OFFSET ?",
                         (_int_arg("limit", LIST_LIMIT, 1, LIST_LIMIT), _int_arg("offset", 0)))  # fmt: skip
    return jsonify([tag_json(r) for r in rows])


# members


@api_route("/cards/<int:card_id>/members")
def list_members(card_id: int) -> Response:
    conn = _db()
    _card_row(card_id, conn)
    return jsonify(_members(conn, card_id))


@api_route("/cards/<int:card_id>/members", methods=("POST",))
def add_member(card_id: int) -> Response:
    body = _json_body()
    if not isinstance(body, dict):
        raise _bad("Request body must be a JSON object")
    user = _user_or_400(body, "user_id")
    conn = _db()
    with transaction(conn):
        _card_row(card_id, conn)
        conn.execute("INSERT OR IGNORE INTO member VALUES (?, ?, 1, ?)", (card_id, user.id, _now()))
        _touch(conn, card_id)
    member = next(m for m in _members(conn, card_id) if m["id"] == user.id)
    return jsonify(member)


@api_route("/cards/<int:card_id>/members/<int:user_id>", methods=("PATCH",))
def update_member(card_id: int, user_id: int) -> Response:
    body = _json_body()
    kind = body.get("type") if isinstance(body, dict) else None
    if kind not in (1, 2):
        raise _bad("type must be 1 (member) or 2 (responsible)")
    conn = _db()
    with transaction(conn):
        _card_row(card_id, conn)
        if (
            conn.execute(
                "SELECT 1 FROM member WHERE card_id = ? AND user_id = ?", (card_id, user_id)
            ).fetchone()
            is None
        ):
            raise _not_found("Member not found")
        if kind == 2:  # one responsible per card
            conn.execute("UPDATE member SET type = 1 WHERE card_id = ? AND type = 2", (card_id,))
        conn.execute("UPDATE member SET type = ? WHERE card_id = ? AND user_id = ?", (kind, card_id, user_id))
        _touch(conn, card_id)
    return jsonify({"card_id": card_id, "user_id": user_id, "type": kind})


@api_route("/cards/<int:card_id>/members/<int:user_id>", methods=("DELETE",))
def remove_member(card_id: int, user_id: int) -> Response:
    conn = _db()
    with transaction(conn):
        _card_row(card_id, conn)
        if (
            conn.execute("DELETE FROM member WHERE card_id = ? AND user_id = ?", (card_id, user_id)).rowcount
            == 0
        ):
            raise _not_found("Member not found")
        _touch(conn, card_id)
    return jsonify({"id": user_id})


# comments


def _comment_text(body: Any) -> str:
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise _bad("text is required")
    if len(text) > COMMENT_LIMIT:
        raise _bad(f"text must be at most {COMMENT_LIMIT} characters")
    return text


@api_route("/cards/<int:card_id>/comments")
def list_comments(card_id: int) -> Response:
    conn = _db()
    _card_row(card_id, conn)
    rows = conn.execute("SELECT * FROM comment WHERE card_id = ? ORDER BY id", (card_id,))
    return jsonify([comment_json(r) for r in rows])


def _acting_user() -> int:
    """The token's user; the sandbox-only ``X-Sandbox-User`` header lets a test write as an engineer."""
    given = request.headers.get("X-Sandbox-User", "")
    if given.isdigit() and _by_id(USERS, int(given)) is not None:
        return int(given)
    return HUB_USER


@api_route("/cards/<int:card_id>/comments", methods=("POST",))
def add_comment(card_id: int) -> Response:
    body = _json_body()
    text = _comment_text(body)
    conn = _db()
    now = _now()
    with transaction(conn):
        _card_row(card_id, conn)
        comment_id = conn.execute(
            "INSERT INTO comment (uid, card_id, text, author_id, internal, created, updated) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (str(uuid.uuid4()), card_id, text, _acting_user(), 1 if body.get("internal") else 0, now, now),
        ).lastrowid
        _touch(conn, card_id)
    return jsonify(comment_json(conn.execute("SELECT * FROM comment WHERE id = ?", (comment_id,)).fetchone()))


def _comment_row(conn: sqlite3.Connection, card_id: int, comment_id: int) -> sqlite3.Row:
    _card_row(card_id, conn)
    row = conn.execute("SELECT * FROM comment WHERE id = ? AND card_id = ?", (comment_id, card_id)).fetchone()
    if row is None:
        raise _not_found("Comment not found")
    return row


@api_route("/cards/<int:card_id>/comments/<int:comment_id>", methods=("PATCH",))
def update_comment(card_id: int, comment_id: int) -> Response:
    text = _comment_text(_json_body())
    conn = _db()
    with transaction(conn):
        row = _comment_row(conn, card_id, comment_id)
        if _state().author_only_comment_edits and row["author_id"] != _acting_user():
            raise KaitenError(403, "Only the author of a comment can edit it")
        conn.execute(
            "UPDATE comment SET text = ?, edited = 1, updated = ? WHERE id = ?", (text, _now(), comment_id)
        )
    return jsonify(comment_json(_comment_row(conn, card_id, comment_id)))


@api_route("/cards/<int:card_id>/comments/<int:comment_id>", methods=("DELETE",))
def delete_comment(card_id: int, comment_id: int) -> Response:
    conn = _db()
    with transaction(conn):
        _comment_row(conn, card_id, comment_id)
        conn.execute("DELETE FROM comment WHERE id = ?", (comment_id,))
    return jsonify({"id": comment_id})


# files


@api_route("/cards/<int:card_id>/files")
def list_files(card_id: int) -> Response:
    conn = _db()
    _card_row(card_id, conn)
    return jsonify(_card_files(conn, card_id))


@api_route("/cards/<int:card_id>/files", methods=("POST",))
def add_file_link(card_id: int) -> Response:
    body = _json_body()
    if not isinstance(body, dict):
        raise _bad("Request body must be a JSON object")
    url = _text(body.get("url"), "url", 4096, nullable=False)
    name = _text(body.get("name"), "name", 1024, nullable=False)
    kind = _as_int(body.get("type", 1))
    if not url or not name:
        raise _bad("url and name are required")
    if kind not in LINK_TYPES:
        raise _bad("type must be one of 1-6")
    conn = _db()
    with transaction(conn):
        _card_row(card_id, conn)
        link_id = conn.execute(
            "INSERT INTO file_link (uid, card_id, name, url, type, author_id, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (str(uuid.uuid4()), card_id, name, url, kind, _acting_user(), _now()),
        ).lastrowid
        _touch(conn, card_id)
    return jsonify(link_json(conn.execute("SELECT * FROM file_link WHERE id = ?", (link_id,)).fetchone()))


@api_route("/cards/<int:card_id>/files", methods=("PUT",))
def attach_file(card_id: int) -> Response:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise _bad("Upload file error: multipart field 'file' is required")
    data = upload.read(_state().file_limit + 1)
    if len(data) > _state().file_limit:
        raise KaitenError(413, "File is too large")
    conn = _db()
    with transaction(conn):
        _card_row(card_id, conn)
        file_id = conn.execute(
            "INSERT INTO file (uid, card_id, name, size, mime_type, author_id, data, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (str(uuid.uuid4()), card_id, upload.filename, len(data),
             upload.mimetype or "application/octet-stream", HUB_USER, data, _now()),
        ).lastrowid  # fmt: skip
        _touch(conn, card_id)
    return jsonify(file_json(conn.execute("SELECT * FROM file WHERE id = ?", (file_id,)).fetchone()))


@api_route("/cards/<int:card_id>/files/<int:file_id>", methods=("DELETE",))
def detach_file(card_id: int, file_id: int) -> Response:
    conn = _db()
    with transaction(conn):
        _card_row(card_id, conn)
        if conn.execute("DELETE FROM file WHERE id = ? AND card_id = ?", (file_id, card_id)).rowcount == 0:
            raise _not_found("File not found")
        _touch(conn, card_id)
    return jsonify({"id": file_id})


@bp.route("/files/<uid>")
def download_file(uid: str) -> Response:
    row = _db().execute("SELECT name, data FROM file WHERE uid = ?", (uid,)).fetchone()
    if row is None:
        return Response("File not found", status=404, mimetype="text/plain")
    resp = Response(bytes(row["data"]), mimetype="application/octet-stream")
    resp.headers["Content-Disposition"] = "attachment"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return resp


# children


@api_route("/cards/<int:card_id>/children")
def list_children(card_id: int) -> Response:
    conn = _db()
    _card_row(card_id, conn)
    ids = _related(conn, card_id, "parent_id", "child_id")
    return jsonify([card_json(_card_row(i, conn), conn, full=False) for i in ids])


@api_route("/cards/<int:card_id>/children", methods=("POST",))
def add_child(card_id: int) -> Response:
    body = _json_body()
    if not isinstance(body, dict):
        raise _bad("Request body must be a JSON object")
    child_id = _require_int(body, "card_id")
    if child_id == card_id:
        raise _bad("A card cannot be its own child")
    conn = _db()
    with transaction(conn):
        _card_row(card_id, conn)
        child = _card_row(child_id, conn)
        conn.execute("INSERT OR IGNORE INTO child VALUES (?, ?)", (card_id, child_id))
        _touch(conn, card_id)
    return jsonify(card_json(child, conn, full=False))


@api_route("/cards/<int:card_id>/children/<int:child_id>", methods=("DELETE",))
def remove_child(card_id: int, child_id: int) -> Response:
    conn = _db()
    with transaction(conn):
        _card_row(card_id, conn)
        if (
            conn.execute(
                "DELETE FROM child WHERE parent_id = ? AND child_id = ?", (card_id, child_id)
            ).rowcount
            == 0
        ):
            raise _not_found("Child not found")
    return jsonify({"id": child_id})


# catalogue


def _found(item: _T | None) -> _T:
    if item is None:
        raise _not_found()
    return item


@api_route("/spaces")
def list_spaces() -> Response:
    return jsonify([space_json(s) for s in SPACES])


@api_route("/spaces/<int:space_id>")
def get_space(space_id: int) -> Response:
    return jsonify(space_json(_found(_by_id(SPACES, space_id))))


@api_route("/spaces/<int:space_id>/boards")
def list_boards(space_id: int) -> Response:
    _found(_by_id(SPACES, space_id))
    return jsonify([board_json(b, in_space=True) for b in BOARDS if b.space_id == space_id])


@api_route("/boards/<int:board_id>")
def get_board(board_id: int) -> Response:
    return jsonify(board_json(_found(_by_id(BOARDS, board_id))))


@api_route("/boards/<int:board_id>/columns")
def list_columns(board_id: int) -> Response:
    _found(_by_id(BOARDS, board_id))
    return jsonify([column_json(c) for c in COLUMNS if c.board_id == board_id])


@api_route("/boards/<int:board_id>/lanes")
def list_lanes(board_id: int) -> Response:
    _found(_by_id(BOARDS, board_id))
    condition = _int_arg("condition", 1)
    return jsonify([lane_json(lane) for lane in LANES if lane.board_id == board_id and condition == 1])


def _paged(items: list[Any]) -> list[Any]:
    offset = _int_arg("offset", 0)
    return items[offset : offset + _int_arg("limit", LIST_LIMIT, 1, LIST_LIMIT)]


@api_route("/card-types")
def list_card_types() -> Response:
    return jsonify(_paged([card_type_json(t) for t in CARD_TYPES]))


@api_route("/card-types/<int:type_id>")
def get_card_type(type_id: int) -> Response:
    return jsonify(card_type_json(_found(_by_id(CARD_TYPES, type_id))))


@api_route("/company/custom-properties")
def list_properties() -> Response:
    return jsonify(_paged([property_json(p) for p in PROPERTIES]))


@api_route("/company/custom-properties/<int:property_id>")
def get_property(property_id: int) -> Response:
    return jsonify(property_json(_found(_by_id(PROPERTIES, property_id))))


@api_route("/company/custom-properties/<int:property_id>/select-values")
def list_select_values(property_id: int) -> Response:
    prop = _found(_by_id(PROPERTIES, property_id))
    return jsonify([select_value_json(prop, v) for v in prop.values])


@api_route("/users")
def list_users() -> Response:
    return jsonify(_paged([user_json(u) for u in USERS]))


@api_route("/users/current")
def current_user() -> Response:
    return jsonify(user_json(USERS[0]))


# --- HTML pages --------------------------------------------------------------------------------------------

HTML_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'"
PAGE_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem;color:#222}"
    "li{margin:.4rem 0}.meta{color:#666;font-size:.9em}.done{color:#2a7}.tag{background:#eef;padding:0 .3em}"
    "pre{white-space:pre-wrap;background:#f6f6f6;padding:.8rem}"
)
INDEX_HTML = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Kaiten sandbox</title><style>{{ style }}</style></head><body>
<h1>Kaiten sandbox: cards</h1>
<p class="meta">{{ cards|length }} card{{ "" if cards|length == 1 else "s" }}, newest first.</p>
{% if cards %}<ol>{% for c in cards %}
<li><a href="{{ url_for('sandbox_kaiten.html_card', card_id=c.id) }}">#{{ c.id }}</a> {{ c.title }}
<div class="meta"><span class="{{ 'done' if c.state == 3 else '' }}">{{ c.path_data.column.title }}</span>
 · {{ c.path_data.board.title }} / {{ c.path_data.lane.title }}{% if c.asap %} · ASAP{% endif %}
 {% if c.archived %} · archived{% endif %}</div></li>{% endfor %}</ol>
{% else %}<p>No cards yet. Send the hub a message and it will show up here.</p>{% endif %}
</body></html>"""
CARD_HTML = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>#{{ c.id }} {{ c.title }}</title><style>{{ style }}</style></head><body>
<p><a href="{{ url_for('sandbox_kaiten.html_index') }}">All cards</a></p>
<h1>#{{ c.id }} {{ c.title }}</h1>
<p class="meta">{{ c.path_data.board.title }} → {{ c.column.title }} / {{ c.lane.title }} · {{ c.type.name }}
{% if c.asap %} · ASAP{% endif %}{% if c.archived %} · archived{% endif %}
 · external id {{ c.external_id }}</p>
{% if c.tags %}<p>{% for t in c.tags %}<span class="tag">{{ t.name }}</span> {% endfor %}</p>{% endif %}
{% if c.members %}<p>Members: {% for m in c.members %}{{ m.full_name }}
{%- if m.type == 2 %} (responsible){% endif %}
{% if not loop.last %}, {% endif %}{% endfor %}</p>{% endif %}
{% if props %}<ul>{% for name, value in props %}<li>{{ name }}: {{ value }}</li>{% endfor %}</ul>{% endif %}
<h2>Description</h2><pre>{{ c.description or "" }}</pre>
{% if c.files %}<h2>Files</h2><ul>{% for f in c.files %}<li>{{ f.name }} ({{ f.size }} bytes)</li>
{% endfor %}</ul>{% endif %}
<h2>Comments</h2>{% for m in comments %}<pre>{{ m.text }}</pre><p class="meta">{{ m.created }}</p>
{% else %}<p>None.</p>{% endfor %}
</body></html>"""


def _html(template: str, status: int = 200, **context: Any) -> Response:
    return common.html_response(
        render_template_string(template, style=PAGE_STYLE, **context), status, HTML_CSP
    )


@bp.route("/")
def html_index() -> Response:
    conn = _db()
    rows = conn.execute("SELECT * FROM card WHERE condition != 3 ORDER BY id DESC LIMIT 200").fetchall()
    return _html(INDEX_HTML, cards=[card_json(r, conn, full=False) for r in rows])


@bp.route("/<int:card_id>")
@bp.route("/space/<int:space_id>/card/<int:card_id>")
@bp.route("/space/<int:space_id>/boards/card/<int:card_id>")
def html_card(card_id: int, space_id: int | None = None) -> Response:
    conn = _db()
    row = conn.execute("SELECT * FROM card WHERE id = ? AND condition != 3", (card_id,)).fetchone()
    if row is None:
        return Response("Card not found", status=404, mimetype="text/plain")
    card = card_json(row, conn)
    comments = [
        comment_json(r)
        for r in conn.execute("SELECT * FROM comment WHERE card_id = ? ORDER BY id", (card_id,))
    ]
    return _html(CARD_HTML, c=card, comments=comments, props=_property_lines(card["properties"]))


def _property_lines(values: dict[str, Any]) -> list[tuple[str, str]]:
    lines = []
    for key, value in values.items():
        match = PROPERTY_KEY.fullmatch(key)
        prop = _by_id(PROPERTIES, match.group(1)) if match else None
        if prop is None:
            continue
        if prop.type == "select":
            names = {v.id: v.value for v in prop.values}
            value = ", ".join(names.get(v, str(v)) for v in value)
        lines.append((prop.name, str(value)))
    return lines


# --- app factory and servers -------------------------------------------------------------------------------


def create_kaiten_sandbox_app(
    db_path: str | Path | None = None,
    *,
    token: str | None = None,
    latency_ms: int = 0,
    rate_limit: bool = False,
    file_limit: int = FILE_LIMIT,
    author_only_comment_edits: bool = False,
) -> Flask:
    """The stand-in as a Flask app on the SQLite file ``db_path`` (a temporary file when None).

    ``token``, when set, is the only Bearer token accepted (any non-empty one otherwise);
    ``latency_ms`` delays every API request; ``rate_limit`` enforces Kaiten's 5 requests/s per token;
    ``author_only_comment_edits`` refuses (403) an edit of a comment by anyone but its author.
    """
    temp_dir = None
    if db_path is None:
        temp_dir = tempfile.TemporaryDirectory(prefix="kaiten-sandbox-")
        db_path = Path(temp_dir.name) / "kaiten.sqlite3"
    state = SandboxState(
        store=Store(db_path),
        faults=common.FaultBook("kaiten", _fault_answer, log=log, latency_ms=latency_ms),
        stats=common.Stats(),
        window=RateWindow(),
        token=token,
        rate_limit=rate_limit,
        file_limit=file_limit,
        author_only_comment_edits=author_only_comment_edits,
        temp_dir=temp_dir,
    )
    return common.sandbox_app(
        __name__,
        extension=EXTENSION,
        state=state,
        blueprint=bp,
        max_content_length=file_limit + 1024 * 1024,
        before=_before_request,
        after=_after_request,
        http_error=_handle_http_error,
        unexpected=_handle_unexpected,
    )


def make_sandbox_server(
    host: str = "127.0.0.1", port: int = 0, *, db_path: str | Path | None = None, **app_kwargs: Any
) -> BaseWSGIServer:
    """A threaded server (``port=0`` picks a free port); ``app_kwargs`` go to the app factory."""
    return common.threaded_server(create_kaiten_sandbox_app(db_path, **app_kwargs), host, port)


@dataclass
class RunningSandbox(common.RunningSandbox):
    """A stand-in serving from a daemon thread: ``url`` (the site origin), ``api_url``, ``app``,
    ``stop()``; also a context manager."""

    @property
    def api_url(self) -> str:
        return self.url + "/api/latest"


def run_in_thread(
    db_path: str | Path | None = None, host: str = "127.0.0.1", port: int = 0, **app_kwargs: Any
) -> RunningSandbox:
    """Start the stand-in on a free port in a daemon thread (for tests and benchmarks)."""
    server = make_sandbox_server(host, port, db_path=db_path, **app_kwargs)
    return RunningSandbox.start(server, "sandbox-kaiten")


def serve(
    host: str = "127.0.0.1", port: int = DEFAULT_PORT, db_path: str | Path = DEFAULT_DB, **app_kwargs: Any
) -> None:
    """Serve until interrupted (``trackerhub up`` runs it in its own process)."""
    server = make_sandbox_server(host, port, db_path=db_path, **app_kwargs)
    common.serve_until_interrupted(server, db_path, log=log, name="kaiten")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sandbox.kaiten [--host H] [--port P] [--db FILE] ...``."""
    parser = common.arg_parser("Run the trackerhub Kaiten stand-in.", port=DEFAULT_PORT, db=DEFAULT_DB)
    parser.add_argument("--token", default=None, help="the only Bearer token accepted (default: any)")
    parser.add_argument("--latency-ms", type=int, default=0, help="delay every API request")
    parser.add_argument("--rate-limit", action="store_true", help="enforce 5 requests/s per token")
    parser.add_argument(
        "--author-only-comment-edits", action="store_true", help="only a comment's author may edit it (403)"
    )
    args = parser.parse_args(argv)
    common.configure_logging()
    serve(
        args.host,
        args.port,
        args.db,
        token=args.token,
        latency_ms=args.latency_ms,
        rate_limit=args.rate_limit,
        author_only_comment_edits=args.author_only_comment_edits,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
