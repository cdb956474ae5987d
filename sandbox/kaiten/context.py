"""What a request of the Kaiten look-alike works with: its errors, the app's state, this request's
database connection, and the helpers the views share."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from flask import current_app, request

from sandbox.app import SandboxError, int_arg, json_body
from sandbox.controls import STATE_KEY, SandboxStateBase
from sandbox.kaiten.catalogue import HUB_USER, USERS, as_int, by_id
from sandbox.kaiten.ratelimit import RateWindow
from sandbox.kaiten.store import stamp_now
from sandbox.store import request_db

API_PREFIXES = ("/api/latest", "/api/v1")
LIST_LIMIT = 100


class KaitenError(SandboxError):
    """An answer in Kaiten's error shape, ``{"message": "..."}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, message, headers=headers)
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"message": self.message}


def bad_request(message: str) -> KaitenError:
    return KaitenError(400, message)


def not_found(what: str = "Not found") -> KaitenError:
    return KaitenError(404, what)


@dataclass
class KaitenState(SandboxStateBase):
    name: ClassVar[str] = "kaiten"
    counted: ClassVar[Mapping[str, str]] = {"cards": "card", "comments": "comment", "files": "file"}

    window: RateWindow
    token: str | None
    rate_limit: bool
    file_limit: int
    author_only_comment_edits: bool = False
    webhook_url: str | None = None  # Kaiten's space webhook; None sends nothing
    temp_dir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def extra_stats(self) -> dict[str, Any]:
        return {"rate_limited": self.window.limited}

    def reset(self) -> None:
        super().reset()
        self.window.clear()


def kaiten_state() -> KaitenState:
    state: KaitenState = current_app.extensions[STATE_KEY]
    return state


def db() -> sqlite3.Connection:
    return request_db(kaiten_state().store)


def is_api(path: str) -> bool:
    return path.startswith(API_PREFIXES)


def request_json() -> Any:
    return json_body(lambda: bad_request("Request body must be JSON"))


def json_object() -> dict[str, Any]:
    """The request's JSON body, which must be an object."""
    body = request_json()
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object")
    return body


def insert_row(conn: sqlite3.Connection, table: str, fields: Mapping[str, Any]) -> int:
    """Insert ``fields`` (column names checked by the caller) into ``table``; the new row's id."""
    names = ", ".join(fields)
    marks = ", ".join("?" for _ in fields)
    sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608 - fixed table, checked names
    row_id = conn.execute(sql, list(fields.values())).lastrowid
    assert row_id is not None
    return row_id


def update_row(conn: sqlite3.Connection, table: str, row_id: int, fields: Mapping[str, Any]) -> None:
    """Set ``fields`` (column names checked by the caller) on the row ``row_id`` of ``table``."""
    assignments = ", ".join(f"{name} = ?" for name in fields)
    sql = f"UPDATE {table} SET {assignments} WHERE id = ?"  # noqa: S608 - fixed table, checked names
    conn.execute(sql, [*fields.values(), row_id])


def owned_row(conn: sqlite3.Connection, table: str, row_id: int, owner: str, owner_id: int) -> sqlite3.Row:
    """The row ``row_id`` of ``table`` whose ``owner`` column is ``owner_id`` (a card's checklist, a
    checklist's item ...); 404 naming the table otherwise."""
    sql = f"SELECT * FROM {table} WHERE id = ? AND {owner} = ?"  # noqa: S608 - fixed names
    row = conn.execute(sql, (row_id, owner_id)).fetchone()
    if row is None:
        raise not_found(f"{table.replace('_', ' ').capitalize()} not found")
    return row


def int_param(name: str, default: int, low: int = 0, high: int = 10**9) -> int:
    return int_arg(
        name, default, low, high, parse=as_int, invalid=lambda name: bad_request(f"{name} must be an integer")
    )


def id_list(name: str) -> list[int] | None:
    raw = request.args.get(name)
    if not raw:
        return None
    ids = [as_int(part) for part in raw.split(",") if part.strip()]
    if any(i is None for i in ids):
        raise bad_request(f"{name} must be comma-separated integers")
    return [i for i in ids if i is not None]


def card_row(card_id: int, conn: sqlite3.Connection | None = None) -> sqlite3.Row:
    row = (conn or db()).execute("SELECT * FROM card WHERE id = ? AND condition != 3", (card_id,)).fetchone()
    if row is None:
        raise not_found("Card not found")
    return row


def touch_card(conn: sqlite3.Connection, card_id: int) -> None:
    conn.execute("UPDATE card SET updated = ?, version = version + 1 WHERE id = ?", (stamp_now(), card_id))


def acting_user() -> int:
    """The token's user; the sandbox-only ``X-Sandbox-User`` header lets a test write as an engineer."""
    given = request.headers.get("X-Sandbox-User", "")
    if given.isdigit() and by_id(USERS, int(given)) is not None:
        return int(given)
    return HUB_USER
