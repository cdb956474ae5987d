"""The rule file's ``csat:`` section: the shipped one asks after HUB_CSAT_QUIET_MINUTES and alerts the
chats the environment names; a broken one is reported by file and field at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loading import ConfigError, load_config
from config.settings import Settings

RULES = "rules: [{name: r, target: {tracker: jira, project: X}}]\n"


def test_the_shipped_csat_reads_its_chats_and_quiet_period_from_the_environment() -> None:
    shipped = load_config(Settings()).csat
    assert shipped.enabled and shipped.quiet_minutes == 60
    assert (shipped.supervisors_chat, shipped.kudos_chat) == (None, None)
    wired = load_config(
        Settings(
            TELEGRAM_SUPERVISORS_CHAT_ID="-1001",
            TELEGRAM_KUDOS_CHAT_ID="@kudos_chat",
            HUB_CSAT_QUIET_MINUTES=0,
        )
    ).csat
    assert (wired.supervisors_chat, wired.kudos_chat, wired.quiet_minutes) == (-1001, "@kudos_chat", 0)


def test_a_rule_file_without_csat_asks_nobody(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(RULES, encoding="utf-8")
    assert load_config(Settings(HUB_CONFIG=path)).csat.enabled is False


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("csat: {negative_at_most: 9}", "csat.negative_at_most"),
        ("csat: {scale: emoji}", "csat.scale"),
        ("csat: {label: happy}", "csat.label"),
        ("csat: {supervisors_chat: not-a-chat}", "csat.supervisors_chat"),
        ("csat: {negative_at_most: 4, positive_at_least: 3}", "negative_at_most must be below"),
        ("csat: {quiet_minutes: 5, surveys: 2}", "csat.surveys"),
    ],
)
def test_a_broken_csat_section_is_reported_with_file_and_field(
    tmp_path: Path, section: str, expected: str
) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(RULES + section + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(Settings(HUB_CONFIG=path))
    assert str(path) in str(caught.value) and expected in str(caught.value)
