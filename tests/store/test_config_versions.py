"""Configuration versions: stored exactly as saved, the newest in force, listed newest first with
paging (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store import config_versions as versions
from store.db import create_db_engine

TEXT = "# the rule file, comments and ${REFERENCES} kept\nrules:\n  - name: 'все'\n    target: support\n"


def test_a_saved_version_comes_back_exactly_as_saved_and_is_the_active_one(engine: Engine) -> None:
    assert versions.active_version(engine) is None and versions.active_id(engine) is None
    before = dt.datetime.now(dt.UTC)
    saved = versions.save_version(engine, text=TEXT, author="ada", comment="первая")
    assert saved.text == TEXT and saved.author == "ada" and saved.comment == "первая"
    assert saved.restored_from is None
    assert saved.created_at.tzinfo is not None and saved.created_at >= before - dt.timedelta(seconds=1)
    assert versions.get_version(engine, saved.id) == saved
    assert versions.active_version(engine) == saved
    assert versions.active_id(engine) == saved.id
    assert versions.get_version(engine, saved.id + 1) is None


def test_the_newest_version_is_in_force_and_the_list_pages_newest_first(engine: Engine) -> None:
    saved = [
        versions.save_version(engine, text=f"rules: []  # {n}\n", author="cli:ops", comment=str(n))
        for n in range(5)
    ]
    restored = versions.save_version(
        engine, text=saved[0].text, author="ada", comment="", restored_from=saved[0].id
    )
    assert versions.active_version(engine) == restored
    assert [v.id for v in versions.list_versions(engine)] == [restored.id, *[v.id for v in reversed(saved)]]
    assert [v.id for v in versions.list_versions(engine, limit=2)] == [restored.id, saved[4].id]
    assert [v.id for v in versions.list_versions(engine, limit=2, before=saved[3].id)] == [
        saved[2].id,
        saved[1].id,
    ]
    assert versions.get_version(engine, restored.id) == restored and restored.restored_from == saved[0].id
    assert versions.previous_version(engine, restored.id) == saved[4]
    assert versions.previous_version(engine, saved[0].id) is None


CANNED = {
    "thanks.ru.md": "---\ntitle: Спасибо\n---\nСпасибо, {{ requester_name }}!\n",
    "a.en.md": "---\ntitle: A\n---\nA",
}


def test_a_version_keeps_its_canned_files_exactly_and_none_means_the_folder(engine: Engine) -> None:
    with_files = versions.save_version(engine, text=TEXT, author="ada", comment="", canned=CANNED)
    folder = versions.save_version(engine, text=TEXT, author="ada", comment="")
    empty = versions.save_version(engine, text=TEXT, author="ada", comment="", canned={})

    assert versions.get_version(engine, with_files.id) == with_files and with_files.canned == CANNED
    assert versions.get_version(engine, folder.id) == folder and folder.canned is None
    assert versions.get_version(engine, empty.id) == empty and empty.canned == {}  # no responses at all
    assert [v.canned for v in versions.list_versions(engine)] == [{}, None, CANNED]


def test_versions_saved_before_migration_0009_read_the_folder(empty_url: str) -> None:
    from alembic import command

    from store.migrate import alembic_config
    from tests.store.test_migrate import plain_engine

    old = plain_engine(empty_url)
    with old.begin() as conn:
        command.upgrade(alembic_config(conn), "0008")
        conn.execute(
            sa.text(
                "INSERT INTO config_versions (created_at, author, comment, text) VALUES (:at, 'ada', '', :text)"
            ),
            {"at": dt.datetime(2026, 12, 1, tzinfo=dt.UTC), "text": TEXT},
        )
    old.dispose()
    engine = create_db_engine(empty_url)  # a process of this release migrates to 0009 as it starts
    try:
        (version,) = versions.list_versions(engine)
        assert (version.text, version.canned) == (TEXT, None)
    finally:
        engine.dispose()
