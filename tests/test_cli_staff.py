"""``trackerhub staff invite|ls|remove`` (the issue's Contract: invite prints the deep link)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from cli import main
from config.settings import Settings, get_settings
from jobs.context import get_context
from store import staff
from store.db import create_db_engine

LINK = re.compile(r"https://t\.me/support_team_bot\?start=([A-Za-z0-9_-]{24})")


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("DATABASE_URL", settings.DATABASE_URL)
    monkeypatch.setenv("REDIS_URL", settings.REDIS_URL or "")
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "@support_team_bot")
    get_settings.cache_clear()
    get_context.cache_clear()
    yield settings
    get_settings.cache_clear()
    get_context.cache_clear()


def test_invite_prints_a_one_time_link_that_ls_and_remove_know(env: Settings) -> None:
    invited = CliRunner().invoke(main, ["staff", "invite", "ann.lee", "--expires", "12h"])
    assert invited.exit_code == 0, invited.output
    found = LINK.fullmatch(invited.stdout.strip())
    assert found, invited.stdout
    listed = CliRunner().invoke(main, ["staff", "ls"])
    assert "(invited)" in listed.stdout and ":ann.lee" in listed.stdout
    engine = create_db_engine(env.DATABASE_URL)
    outcome, _ = staff.redeem(engine, found.group(1), 501, "Ann Lee", "ann", dt.datetime.now(dt.UTC))
    assert outcome == staff.Redeemed.LINKED
    listed = CliRunner().invoke(main, ["staff", "ls"])
    assert listed.stdout.startswith("501\tAnn Lee @ann\t") and "(invited)" not in listed.stdout
    removed = CliRunner().invoke(main, ["staff", "remove", "ann.lee"])
    assert removed.exit_code == 0 and staff.members(engine) == []
    again = CliRunner().invoke(main, ["staff", "remove", "ann.lee"])
    assert again.exit_code == 1 and "nobody linked" in again.output


@pytest.mark.parametrize(
    "args, says",
    [
        (["--tracker", "nope"], "no tracker is called 'nope'"),
        (["--expires", "soon"], "is not a business duration"),
    ],
)
def test_invite_refuses_a_wrong_tracker_or_duration(env: Settings, args: list[str], says: str) -> None:
    result = CliRunner().invoke(main, ["staff", "invite", "ann.lee", *args])
    assert result.exit_code == 2 and says in result.output
