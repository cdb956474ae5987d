"""Migrations: a wave-1 database keeps its rows through the upgrade, the revisions make the schema
store/db.py describes, a failed migration changes nothing, and a process at head starts with one query."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from store import journal, links, outbound
from store.db import create_db_engine, metadata
from store.migrate import SchemaMismatch, alembic_config, schema_lock, upgrade_to_head
from store.migrations import HEAD
from tests.conftest import FIXTURES, REPO_ROOT
from tests.store.helpers import entry

WAVE1_AT = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)
DELIVERED = "d" * 32
QUEUED = "q" * 32


def plain_engine(url: str) -> Engine:
    """An engine that runs no migration, for building a database as an older hub left it."""
    engine = sa.create_engine(url, poolclass=NullPool)
    if engine.dialect.name == "sqlite":
        Path(str(engine.url.database)).parent.mkdir(parents=True, exist_ok=True)
    return engine


def create_wave1_database(url: str) -> None:
    """A database as wave 1's ``create_all`` made it (the frozen DDL), with rows as wave 1 wrote them."""
    engine = plain_engine(url)
    ddl = (FIXTURES / "store" / f"wave1.{engine.dialect.name}.sql").read_text()
    code = "\n".join(line for line in ddl.splitlines() if not line.startswith("--"))
    with engine.begin() as conn:
        for statement in filter(None, (part.strip() for part in code.split(";"))):
            conn.exec_driver_sql(statement)
        insert_wave1_rows(conn)
    engine.dispose()


def insert_wave1_rows(conn: Connection) -> None:
    tables = sa.MetaData()
    tables.reflect(conn)  # the columns as the database has them, not as store/db.py has them now
    message = {
        "channel": "email",
        "kind": "new",
        "body": '{"subject": "Printer on fire"}',
        "attempts": 1,
        "created_at": WAVE1_AT,
        "updated_at": WAVE1_AT,
    }
    conn.execute(
        tables.tables["messages"].insert(),
        {
            **message,
            "id": DELIVERED,
            "external_id": "<first@client.example>",
            "conversation_key": "email:<first@client.example>",
            "status": "delivered",
            "tracker": "jira",
            "issue_key": "SUP-7",
            "issue_url": "http://jira.test/browse/SUP-7",
            "outcome": "issue",
            "raw_blob_id": "b" * 64,
        },
    )
    conn.execute(
        tables.tables["messages"].insert(),
        {
            **message,
            "id": QUEUED,
            "external_id": "<second@client.example>",
            "conversation_key": "email:<first@client.example>",
            "status": "queued",
            "next_attempt_at": WAVE1_AT,
        },
    )
    conn.execute(tables.tables["blobs"].insert(), {"id": "b" * 64, "size": 5, "content": b"raw\x00!"})
    link = {
        "conversation_key": "email:<first@client.example>",
        "tracker": "jira",
        "issue_key": "SUP-7",
        "issue_url": "http://jira.test/browse/SUP-7",
        "channel": "email",
        "requester_name": "Ann",
        "requester_email": "ann@client.example",
        "subject": "Printer on fire",
        "active": True,
        "message_id": DELIVERED,
        "created_at": WAVE1_AT,
    }
    link_id = conn.execute(tables.tables["links"].insert().returning(sa.column("id")), link).scalar_one()
    conn.execute(
        tables.tables["mail_ids"].insert(),
        {
            "message_id": "<first@client.example>",
            "link_id": link_id,
            "direction": "in",
            "created_at": WAVE1_AT,
        },
    )
    conn.execute(
        tables.tables["outbound"].insert(),
        {
            "message_id": DELIVERED,
            "kind": "autoreply",
            "channel": "email",
            "recipient": "ann@client.example",
            "status": "sent",
            "external_ref": "<reply@hub.example>",
            "created_at": WAVE1_AT,
        },
    )


def schema_differences(engine: Engine) -> list[object]:
    """What Alembic's autogenerate would change to make the database store/db.py's schema."""
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata))


def revision(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())


def test_a_wave1_database_is_upgraded_with_its_rows(empty_url: str) -> None:
    create_wave1_database(empty_url)
    engine = create_db_engine(empty_url)
    try:
        assert revision(engine) == [HEAD]
        assert schema_differences(engine) == []
        delivered = journal.get(engine, DELIVERED)
        assert delivered is not None and (delivered.status, delivered.issue_key) == ("delivered", "SUP-7")
        assert delivered.created_at == WAVE1_AT
        assert journal.get_blob(engine, "b" * 64) == b"raw\x00!"
        assert journal.due(engine, WAVE1_AT + dt.timedelta(minutes=1)) == [QUEUED]  # the sweep finds it
        link = links.link_for_mail_ids(engine, ["<first@client.example>"])
        assert link is not None and (link.issue_key, link.requester_email) == ("SUP-7", "ann@client.example")
        assert links.active_link(engine, "email:<first@client.example>") == link
        sent = outbound.find(engine, DELIVERED, "autoreply")
        assert sent is not None and sent.external_ref == "<reply@hub.example>"
        # the unique keys came through: a repeat of a wave-1 message is still answered as a duplicate
        with pytest.raises(journal.DuplicateMessage):
            journal.record(engine, entry("<first@client.example>", channel="email"))
        journal.record(engine, entry("<third@client.example>", channel="email"))
        assert journal.count_by_status(engine) == {"delivered": 1, "queued": 2}
    finally:
        engine.dispose()


def start_node(url: str, barrier: Any) -> None:
    """What each node's process does at start-up, released together with the others."""
    barrier.wait(timeout=60)
    create_db_engine(url).dispose()


@pytest.mark.parametrize("kind", ["wave-1", "empty"])
def test_nodes_starting_at_once_migrate_one_at_a_time(empty_url: str, kind: str) -> None:
    # two nodes start against one database at the same moment: one migrates under the
    # schema lock, the other waits for it and finds the schema at head
    if kind == "wave-1":
        create_wave1_database(empty_url)
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(2)
    nodes = [spawn.Process(target=start_node, args=(empty_url, barrier)) for _ in range(2)]
    for node in nodes:
        node.start()
    for node in nodes:
        node.join(timeout=120)
    assert [node.exitcode for node in nodes] == [0, 0]
    engine = plain_engine(empty_url)
    assert revision(engine) == [HEAD]
    assert set(sa.inspect(engine).get_table_names()) == {*metadata.tables, "alembic_version"}
    if kind == "wave-1":
        assert journal.count_by_status(engine) == {"delivered": 1, "queued": 1}
    engine.dispose()


def test_a_node_not_yet_upgraded_starts_on_a_database_a_newer_release_migrated(empty_url: str) -> None:
    # a rolling upgrade: node A's new release added a revision; node B's worker, still the old release,
    # restarts. Revisions only add, so B runs on the schema as it is instead of refusing to start.
    create_db_engine(empty_url).dispose()
    newer = f"{int(HEAD) + 1:04d}"
    other = plain_engine(empty_url)
    with other.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": newer})
        conn.exec_driver_sql("CREATE TABLE from_a_newer_release (id INTEGER PRIMARY KEY)")
    engine = create_db_engine(empty_url)
    try:
        journal.record(engine, entry("<after-upgrade@client.example>", channel="email"))
        assert journal.count_by_status(engine) == {"queued": 1}
        assert revision(engine) == [newer]  # left as the newer release made it
    finally:
        engine.dispose()
        other.dispose()


def test_an_empty_database_gets_the_schema_store_db_describes(empty_url: str) -> None:
    # a table or column added to store/db.py without a revision would show here
    engine = create_db_engine(empty_url)
    try:
        assert revision(engine) == [HEAD]
        assert schema_differences(engine) == []
    finally:
        engine.dispose()


def test_tables_by_the_hubs_names_but_of_another_shape_are_refused_untouched(empty_url: str) -> None:
    other = plain_engine(empty_url)
    with other.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE messages (id VARCHAR(32) PRIMARY KEY, text TEXT)")
        conn.exec_driver_sql("INSERT INTO messages VALUES ('x', 'theirs')")
    with pytest.raises(SchemaMismatch, match="messages") as raised:
        create_db_engine(empty_url)
    assert "channel" in str(raised.value)  # it says what differs
    assert sa.inspect(other).get_table_names() == ["messages"]  # no alembic_version, nothing created
    with other.connect() as conn:
        assert conn.execute(sa.text("SELECT text FROM messages")).scalars().all() == ["theirs"]
    other.dispose()


def test_another_applications_tables_are_left_alone(empty_url: str) -> None:
    other = plain_engine(empty_url)
    with other.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    engine = create_db_engine(empty_url)
    assert set(sa.inspect(engine).get_table_names()) == {*metadata.tables, "alembic_version", "invoices"}
    engine.dispose()
    other.dispose()


def test_a_migration_that_fails_leaves_the_schema_as_it_was(empty_url: str) -> None:
    # SQLite's driver would commit each DDL statement on its own; the schema lock's transaction keeps a
    # revision that fails half-way from leaving half a schema
    engine = plain_engine(empty_url)
    with pytest.raises(RuntimeError, match="revision failed"), schema_lock(engine) as conn:
        conn.exec_driver_sql("CREATE TABLE half_done (id INTEGER PRIMARY KEY)")
        raise RuntimeError("revision failed")
    assert sa.inspect(engine).get_table_names() == []
    engine.dispose()


def test_a_process_at_head_starts_with_one_query_and_without_alembic(empty_url: str) -> None:
    create_db_engine(empty_url).dispose()
    engine = plain_engine(empty_url)
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    upgrade_to_head(engine)
    assert statements == ["SELECT version_num FROM alembic_version"]
    engine.dispose()
    # a web worker's memory: Alembic (and its template engine) stays unloaded
    script = (
        "import sys; from store.db import create_db_engine; create_db_engine(sys.argv[1]);"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, empty_url], capture_output=True, text=True, cwd=REPO_ROOT, check=True
    )
    assert run.stdout.strip() == "[]"


def test_head_is_the_newest_revision_and_history_is_linear(tmp_path: Path) -> None:
    # the start-up check compares with HEAD: a new revision must move it
    engine = plain_engine(f"sqlite:///{tmp_path / 'hub.sqlite3'}")
    with engine.connect() as conn:
        assert ScriptDirectory.from_config(alembic_config(conn)).get_heads() == [HEAD]
    engine.dispose()


def test_the_alembic_command_runs_as_the_readme_says(tmp_path: Path) -> None:
    # what a developer adding a revision runs (store/migrations/README.md), from the repository root
    url = f"sqlite:///{tmp_path / 'dev.sqlite3'}"
    env = {**os.environ, "DATABASE_URL": url}

    def alembic(*args: str) -> str:
        command = [sys.executable, "-m", "alembic", *args]
        run = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, env=env)
        assert run.returncode == 0, run.stderr
        return run.stdout + run.stderr

    alembic("upgrade", "head")
    engine = plain_engine(url)
    assert revision(engine) == [HEAD]
    assert "No new upgrade operations detected" in alembic("check")  # revisions and store/db.py agree
    assert "CREATE TABLE messages" in alembic("upgrade", "base:head", "--sql")  # SQL for a DBA to read
    alembic("downgrade", "base")
    assert sa.inspect(engine).get_table_names() == ["alembic_version"]
    engine.dispose()
