"""The rule file's ``team_bot:`` section: the team's chats, each with every issue's cards or only those
of the projects (boards) it serves; a broken entry is reported by file and field at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loading import ConfigError, load_config
from config.settings import Settings

RULES = "rules: [{name: r, target: {tracker: jira, project: X}}]\n"


def loaded(tmp_path: Path, section: str) -> Settings:
    path = tmp_path / "hub.yaml"
    path.write_text(RULES + section + "\n", encoding="utf-8")
    return Settings(HUB_CONFIG=path)


def test_a_chat_gets_every_card_unless_it_names_the_projects_it_serves(tmp_path: Path) -> None:
    section = 'team_bot: {chats: ["-1001", {chat: "-1002", serves: [DB, "42"]}, ""]}'
    team_bot = load_config(loaded(tmp_path, section)).team_bot
    assert team_bot.chats == (-1001, -1002)  # the empty one (an unset variable) is nobody
    assert team_bot.serves_issue(-1001, "SUP") and team_bot.serves_issue(-1001, "DB")
    assert team_bot.serves_issue(-1002, "DB") and team_bot.serves_issue(-1002, "42")
    assert not team_bot.serves_issue(-1002, "SUP")
    assert team_bot.serves_issue(-1002, None)  # a project the tracker could not tell: no card is lost


def test_the_shipped_team_chat_serves_every_project() -> None:
    team_bot = load_config(Settings(TELEGRAM_TEAM_CHAT_ID="-1003")).team_bot
    assert team_bot.chats == (-1003,) and team_bot.serves == {}


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ('team_bot: {chats: [{chat: "-1002", serves: []}]}', "serves names at least one"),
        ('team_bot: {chats: [{chat: "-1002", teams: [DB]}]}', "not teams"),
        ("team_bot: {chats: [not-a-chat]}", "a Telegram chat is a chat id"),
    ],
)
def test_a_broken_team_chat_is_reported_with_file_and_section(
    tmp_path: Path, section: str, expected: str
) -> None:
    settings = loaded(tmp_path, section)
    with pytest.raises(ConfigError) as caught:
        load_config(settings)
    assert str(settings.HUB_CONFIG) in str(caught.value) and "team_bot" in str(caught.value)
    assert expected in str(caught.value)
