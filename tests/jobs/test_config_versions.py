"""Configuration versions as every process sees them: only a valid text is stored, a restore is a new
version, and each process's source switches to a version saved elsewhere within one interval, keeping
the last good config when the newest does not validate (SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from config.loading import ConfigError
from config.settings import Settings
from config.source import CHECK_INTERVAL
from jobs import config_versions as service
from jobs.config_source import VersionSource
from store import config_versions as store
from store.db import create_db_engine
from tests.clock import ManualClock
from tests.config.test_source import project
from tests.store.conftest import empty_url  # noqa: F401 - the fixture: SQLite, then PostgreSQL

RULES = "# {name}\nrules:\n  - name: {name}\n    target: {{tracker: jira, project: {project}}}\n"
WITH_TRACKER = (
    "trackers:\n  jira-dev: {kind: jira, url: 'https://dev.example.com', token_env: DEV_JIRA_TOKEN}\n"
    "rules:\n  - name: dev\n    target: {tracker: jira-dev, project: DEV}\n"
)


@pytest.fixture
def rule_file(tmp_path: Path) -> Path:
    path = tmp_path / "hub.yaml"
    path.write_text(RULES.format(name="file", project="FILE"), encoding="utf-8")
    return path


@pytest.fixture
def hub_settings(rule_file: Path, empty_url: str) -> Settings:  # noqa: F811 - the fixture imported above
    """The rule file, and a database on SQLite or on PostgreSQL."""
    return Settings(HUB_CONFIG=rule_file, DATABASE_URL=empty_url)


@pytest.fixture
def engine(hub_settings: Settings) -> Engine:
    return create_db_engine(hub_settings.DATABASE_URL)


def test_a_valid_text_is_saved_and_becomes_the_active_text(hub_settings: Settings, engine: Engine) -> None:
    assert service.active_text(hub_settings, engine) == RULES.format(name="file", project="FILE")
    text = RULES.format(name="saved", project="SAVED")
    saved = service.save_validated(hub_settings, engine, text, "ada", "a new project")
    assert (saved.text, saved.author, saved.comment) == (text, "ada", "a new project")
    assert service.active_text(hub_settings, engine) == text
    assert service.active_config(hub_settings, engine).rules[0].name == "saved"


def test_an_invalid_text_is_refused_naming_the_field_and_nothing_is_stored(
    hub_settings: Settings, engine: Engine
) -> None:
    with pytest.raises(ConfigError, match=r"rules\[0\] 'broken': target.project: Field required"):
        service.save_validated(
            hub_settings, engine, "rules:\n  - name: broken\n    target: {tracker: jira}\n", "ada", ""
        )
    with pytest.raises(ConfigError, match="not valid YAML"):
        service.save_validated(hub_settings, engine, "rules: [", "ada", "")
    assert store.list_versions(engine) == []


def test_a_restore_is_a_new_version_with_the_old_text(hub_settings: Settings, engine: Engine) -> None:
    first = service.save_validated(hub_settings, engine, RULES.format(name="one", project="ONE"), "ada", "")
    service.save_validated(hub_settings, engine, RULES.format(name="two", project="TWO"), "ada", "")
    restored = service.restore(hub_settings, engine, first.id, "bob")
    assert restored.text == first.text and restored.restored_from == first.id and restored.author == "bob"
    assert store.active_version(engine) == restored
    assert len(store.list_versions(engine)) == 3
    with pytest.raises(service.VersionNotFound):
        service.restore(hub_settings, engine, restored.id + 1, "bob")


def test_a_restore_is_refused_when_its_text_no_longer_validates(
    hub_settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEV_JIRA_TOKEN", "dev-token")
    old = service.save_validated(hub_settings, engine, WITH_TRACKER, "ada", "the dev tracker")
    latest = service.save_validated(hub_settings, engine, RULES.format(name="two", project="TWO"), "ada", "")
    monkeypatch.delenv("DEV_JIRA_TOKEN")
    with pytest.raises(ConfigError, match="the environment variable DEV_JIRA_TOKEN is not set"):
        service.restore(hub_settings, engine, old.id, "bob")
    assert store.active_version(engine) == latest


def test_the_source_follows_the_file_until_a_version_is_saved_elsewhere_then_that_version(
    hub_settings: Settings, engine: Engine, rule_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    source = VersionSource(hub_settings, engine, clock=clock)
    assert project(source) == "FILE" and source.version().origin == str(rule_file)
    rule_file.write_text(RULES.format(name="edited", project="EDITED"), encoding="utf-8")
    clock.now += CHECK_INTERVAL
    assert project(source) == "EDITED"  # no version yet: the file is hot-reloaded as before

    other = create_db_engine(hub_settings.DATABASE_URL)  # another process's engine
    saved = service.save_validated(hub_settings, other, RULES.format(name="db", project="DB"), "ada", "")
    clock.now += CHECK_INTERVAL - 0.5
    assert project(source) == "EDITED"  # at most one look per interval
    with caplog.at_level(logging.INFO, logger="config.source"):
        clock.now += 0.5
        assert project(source) == "DB"
    assert source.version().origin == f"config_versions#{saved.id}"
    assert [r.getMessage() for r in caplog.records if "config.reloaded" in r.getMessage()] == [
        caplog.records[-1].getMessage()
    ]
    assert f"origin=config_versions#{saved.id} " in caplog.records[-1].getMessage()

    rule_file.write_text(RULES.format(name="ignored", project="IGNORED"), encoding="utf-8")
    restored = service.restore(hub_settings, other, saved.id, "bob")
    clock.now += CHECK_INTERVAL
    assert project(source) == "DB"  # once a version exists the database wins over the file
    assert source.version().origin == f"config_versions#{restored.id}"
    other.dispose()


def test_an_invalid_newest_version_never_replaces_the_last_good_config(
    hub_settings: Settings, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    good = service.save_validated(hub_settings, engine, RULES.format(name="good", project="GOOD"), "ada", "")
    clock = ManualClock()
    source = VersionSource(hub_settings, engine, clock=clock)
    assert project(source) == "GOOD"
    store.save_version(
        engine, text="rules:\n  - name: broken\n    target: {tracker: jira}\n", author="x", comment=""
    )
    with caplog.at_level(logging.ERROR, logger="config.source"):
        for _ in range(3):
            clock.now += CHECK_INTERVAL
            assert project(source) == "GOOD"
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "target.project: Field required" in errors[0]
    assert source.version().origin == f"config_versions#{good.id}"

    fixed = service.save_validated(
        hub_settings, engine, RULES.format(name="fixed", project="FIXED"), "ada", ""
    )
    clock.now += CHECK_INTERVAL
    assert project(source) == "FIXED" and source.version().origin == f"config_versions#{fixed.id}"


def test_a_process_starts_on_the_saved_version_without_the_rule_file(
    hub_settings: Settings, engine: Engine, rule_file: Path
) -> None:
    service.save_validated(hub_settings, engine, RULES.format(name="db", project="DB"), "ada", "")
    rule_file.unlink()
    assert project(VersionSource(hub_settings, engine)) == "DB"
