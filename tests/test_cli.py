"""The ``trackerhub`` command's start-up: a database it cannot recognise, or a look-alike it does not have,
stops it with a clear message."""

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


@pytest.mark.parametrize(
    ("value", "trackers"),
    [
        ("jira", ("jira",)),
        ("kaiten", ("kaiten",)),
        ("kaiten, jira", ("jira", "kaiten")),
        ("both", ("jira", "kaiten")),
    ],
)
def test_hub_sandbox_names_one_look_alike_or_both(value: str, trackers: tuple[str, ...]) -> None:
    from config.settings import Settings

    settings = Settings(HUB_SANDBOX=value)  # type: ignore[arg-type]
    assert trackers == settings.HUB_SANDBOX


def test_up_refuses_an_unknown_look_alike_before_starting_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("JIRA_URL", "KAITEN_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # so `up` starts no Redis of its own
    monkeypatch.setenv("HUB_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("HUB_SANDBOX", "jira,jria")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["up", "--port", "1"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code != 0
    assert "HUB_SANDBOX" in result.output and "unknown look-alike(s) ['jria']" in result.output
    assert not list(tmp_path.glob("sandbox-*"))  # no look-alike was started


@pytest.mark.parametrize("value", ["1", "9", "-1"])
def test_node_refuses_an_idle_time_a_supervisor_would_take_for_a_failing_child(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``HUB_NODE_IDLE_SECONDS`` is 0 (children never rest) or at least 10 s: a child exiting sooner after
    its start would be forked again only after a growing pause (cli/slots.py)."""
    monkeypatch.setenv("HUB_NODE_IDLE_SECONDS", value)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["node", "--port", "1"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "bad environment" in result.output and "HUB_NODE_IDLE_SECONDS" in result.output


@pytest.mark.parametrize(("value", "seconds"), [("0", 0), ("10", 10), ("3600", 3600)])
def test_hub_node_idle_seconds_is_off_or_ten_seconds_and_more(value: str, seconds: int) -> None:
    from config.settings import Settings

    assert seconds == Settings(HUB_NODE_IDLE_SECONDS=value).HUB_NODE_IDLE_SECONDS  # type: ignore[arg-type]
