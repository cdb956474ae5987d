"""The schema and what either backend must store: concurrent start-up, NUL in text, UTC timestamps."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store import journal, links
from store.db import SQLITE_CACHE_KIB, create_db_engine, metadata
from store.migrations import HEAD
from tests.postgres import PostgresServer
from tests.store.helpers import at_once, entry, new_link


def test_processes_starting_at_once_all_get_the_schema(empty_url: str) -> None:
    # N web and N worker processes start together against one empty database: one of them migrates it
    # (the others wait for the schema lock, then find it at head), and each gets a working engine
    results = at_once(6, lambda n: create_db_engine(empty_url))
    engines = [e for e in results if isinstance(e, Engine)]
    assert len(engines) == 6, results
    engine = engines[0]
    assert set(sa.inspect(engine).get_table_names()) == {*metadata.tables, "alembic_version"}
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD]
    journal.record(engine, entry("tg:1"))
    again = create_db_engine(empty_url)  # a restart finds the schema and keeps the rows
    assert journal.count_by_status(again) == {"queued": 1}
    for each in [*engines, again]:
        each.dispose()


def test_text_with_nul_is_stored_and_still_dedupes(engine: Engine) -> None:
    # PostgreSQL text cannot hold NUL; customer input and error texts can carry one
    message_id, _ = journal.record(engine, entry("tg:\x001", reason=None))
    with pytest.raises(journal.DuplicateMessage):
        journal.record(engine, entry("tg:\x001"))
    assert journal.find_by_external_id(engine, "telegram", "tg:\x001").id == message_id  # type: ignore[union-attr]
    journal.mark_failed(engine, message_id, "unparseable: bad byte \x00 at 3")
    reason = journal.get(engine, message_id).reason  # type: ignore[union-attr]
    assert reason is not None and reason.startswith("unparseable: bad byte ") and reason.endswith(" at 3")


def test_timestamps_read_back_in_utc_whatever_the_servers_time_zone(postgres_url: str) -> None:
    engine = create_db_engine(postgres_url + "%20-ctimezone%3DAsia/Tokyo")
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SHOW timezone")).scalar_one() == "Asia/Tokyo"
        before = journal.utcnow()
        message_id, _ = journal.record(engine, entry("tg:1"))
        row = journal.get(engine, message_id)
        assert row is not None and row.created_at.utcoffset() == dt.timedelta(0)
        assert before <= row.created_at <= journal.utcnow()
        assert journal.due(engine, before + dt.timedelta(seconds=journal.ENQUEUE_GRACE + 1)) == [message_id]
        links.add_link(engine, new_link())
    finally:
        engine.dispose()


def test_a_database_of_its_own_for_a_whole_hub(postgres_server: PostgresServer) -> None:
    # what the fault suite does: one database per hub it starts, dropped even with connections open
    url = postgres_server.new_database("hub_of_its_own")
    engine = create_db_engine(url)
    assert journal.count_by_status(engine) == {}
    journal.record(engine, entry("tg:1"))
    engine.dispose()
    assert postgres_server.new_database("hub_of_its_own") == url  # made again: empty again
    engine = create_db_engine(url)
    assert journal.count_by_status(engine) == {}
    postgres_server.drop_database("hub_of_its_own")  # its pooled connection is closed for it
    engine.dispose()


def test_every_sqlite_connection_keeps_a_small_page_cache(tmp_path: Path) -> None:
    # SQLite's default 2 MB cache per pooled connection, filled by any scan and kept, is most of what a
    # console page or a delivery slot grows by; every connection of the pool gets the smaller one
    engine = create_db_engine(f"sqlite:///{tmp_path / 'journal.sqlite3'}")
    try:
        with engine.connect() as first, engine.connect() as second:
            for conn in (first, second):
                assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -SQLITE_CACHE_KIB
    finally:
        engine.dispose()
