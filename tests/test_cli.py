"""The ``trackerhub`` command's start-up: a database it cannot recognise stops it with a clear message."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from cli import main
from config.settings import get_settings


@pytest.fixture
def foreign_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """DATABASE_URL of a SQLite file with a ``messages`` table that is not the hub's."""
    url = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE messages (id INTEGER PRIMARY KEY, text TEXT)")
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_web_refuses_a_database_with_other_tables_by_the_hubs_names(foreign_database: str) -> None:
    result = CliRunner().invoke(main, ["web", "--port", "1"])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert "not the schema the hub made" in result.output and "Nothing was changed" in result.output


@pytest.mark.parametrize("command", [["worker", "--burst"], ["scheduler"], ["replay", "--all"]])
def test_the_job_processes_refuse_it_with_the_same_message(
    foreign_database: str, redis_url: str, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    from jobs.context import get_context

    monkeypatch.setenv("REDIS_URL", redis_url)
    get_settings.cache_clear()
    get_context.cache_clear()
    result = CliRunner().invoke(main, command)
    get_context.cache_clear()
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert "not the schema the hub made" in result.output and "Nothing was changed" in result.output
