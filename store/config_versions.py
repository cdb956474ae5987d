"""Configuration versions (``config_versions``): every rule file saved from the console or imported,
with its author, time and comment; the newest row is the configuration in force.

A version holds the rule text and, since migration 0009, its canned library (``canned``: the files
``<key>.<lang>.md``, name → text, stored as one JSON object); ``None`` means "the ``canned/`` folder
beside the rule file", as for every version saved before and for the bootstrap.

Rows are only ever added: a restore is a new row carrying an older one's text (``restored_from``), so
the history reads as what happened and "the active version" is always ``max(id)``, one cheap query
that every process repeats every few seconds (:mod:`jobs.config_versions`). This module stores and
reads; validating a text before it is stored is the caller's (``jobs.config_versions.save_validated``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store.db import aware, config_versions
from store.journal import utcnow

MAX_AUTHOR = 255


@dataclass(frozen=True)
class StoredVersion:
    """One saved configuration: its text exactly as saved, and who saved it, when and why."""

    id: int
    created_at: dt.datetime  # aware, UTC
    author: str
    comment: str
    text: str
    restored_from: int | None
    canned: Mapping[str, str] | None = field(default=None)  # file name → text; None: the folder


def save_version(
    engine: Engine,
    *,
    text: str,
    author: str,
    comment: str,
    restored_from: int | None = None,
    canned: Mapping[str, str] | None = None,
) -> StoredVersion:
    """Store ``text`` with the canned library ``canned`` (None: the folder) as the newest version (it
    is in force from now on); the caller validated them."""
    version = StoredVersion(
        id=0,
        created_at=utcnow(),
        author=author[:MAX_AUTHOR],
        comment=comment,
        text=text,
        restored_from=restored_from,
        canned=None if canned is None else dict(sorted(canned.items())),
    )
    row = {name: value for name, value in vars(version).items() if name != "id"}
    row["canned"] = None if version.canned is None else json.dumps(version.canned, ensure_ascii=False)
    with engine.begin() as conn:
        result = conn.execute(config_versions.insert().values(**row))
    return replace(version, id=int(result.inserted_primary_key[0]))  # type: ignore[index]


def active_id(engine: Engine) -> int | None:
    """The id of the version in force (the newest); None when none was saved. One indexed query."""
    with engine.connect() as conn:
        found = conn.execute(sa.select(sa.func.max(config_versions.c.id))).scalar()
    return None if found is None else int(found)


def active_version(engine: Engine) -> StoredVersion | None:
    """The version in force: the newest row; None when the table is empty."""
    query = sa.select(config_versions).order_by(config_versions.c.id.desc()).limit(1)
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    return None if row is None else _version(row)


def get_version(engine: Engine, version_id: int) -> StoredVersion | None:
    """The version ``version_id``; None when there is no such version."""
    query = sa.select(config_versions).where(config_versions.c.id == version_id)
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    return None if row is None else _version(row)


def previous_version(engine: Engine, version_id: int) -> StoredVersion | None:
    """The version saved just before ``version_id`` (what it changed); None for the first."""
    older = list_versions(engine, limit=1, before=version_id)
    return older[0] if older else None


def list_versions(engine: Engine, *, limit: int = 50, before: int | None = None) -> list[StoredVersion]:
    """Up to ``limit`` versions, newest first; only those older than ``before`` when given (paging)."""
    query = sa.select(config_versions).order_by(config_versions.c.id.desc()).limit(max(limit, 0))
    if before is not None:
        query = query.where(config_versions.c.id < before)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [_version(row) for row in rows]


def _version(row: Any) -> StoredVersion:
    return StoredVersion(
        id=int(row["id"]),
        created_at=aware(row["created_at"]),
        author=row["author"],
        comment=row["comment"],
        text=row["text"],
        restored_from=row["restored_from"],
        canned=_files(row["canned"]),
    )


def _files(stored: str | None) -> dict[str, str] | None:
    """The canned column read back: name → text, or None (the folder)."""
    if stored is None:
        return None
    files = json.loads(stored)
    return {str(name): str(text) for name, text in files.items()}
