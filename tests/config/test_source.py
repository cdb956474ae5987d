"""Hot reload: the rule file's source switches to a valid edit and keeps the last good config otherwise."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from config.loading import ConfigError
from config.matching import MessageFacts
from config.settings import Settings
from config.source import CHECK_INTERVAL, FileSource, StaticSource
from tests.clock import ManualClock

RULES = "rules:\n  - name: {name}\n    target: {{tracker: jira, project: {project}}}\n"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    path = tmp_path / "hub.yaml"
    path.write_text(RULES.format(name="first", project="ONE"), encoding="utf-8")
    return path


@pytest.fixture
def source(path: Path, clock: ManualClock) -> FileSource:
    return FileSource(Settings(HUB_CONFIG=path), clock=clock)


def project(source: FileSource) -> str:
    return source.current().rule_for(MessageFacts("email")).target.project  # type: ignore[union-attr]


def test_an_edit_comes_into_force_at_the_next_look(
    path: Path, source: FileSource, clock: ManualClock
) -> None:
    path.write_text(RULES.format(name="second", project="TWO"), encoding="utf-8")
    clock.now += CHECK_INTERVAL - 0.5
    assert project(source) == "ONE"  # not looked at yet: at most one look per interval
    clock.now += 0.5
    assert project(source) == "TWO"
    assert source.version().origin == str(path)


def test_refresh_looks_at_once(path: Path, source: FileSource) -> None:
    before = source.version().digest
    path.write_text(RULES.format(name="second", project="TWO"), encoding="utf-8")
    assert source.refresh() is True
    assert project(source) == "TWO"
    assert source.version().digest != before
    assert source.refresh() is False  # nothing new


def test_an_invalid_edit_keeps_the_last_good_config_and_says_so_once(
    path: Path, source: FileSource, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    path.write_text("rules:\n  - name: broken\n    target: {tracker: jira}\n", encoding="utf-8")
    with caplog.at_level(logging.ERROR, logger="config.source"):
        for _ in range(3):
            clock.now += CHECK_INTERVAL
            assert project(source) == "ONE"
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert f"{path}: rules[0] 'broken': target.project: Field required" in errors[0]
    assert errors[0].startswith("config.invalid ")

    path.write_text(RULES.format(name="fixed", project="THREE"), encoding="utf-8")
    clock.now += CHECK_INTERVAL
    assert project(source) == "THREE"


def test_each_new_bad_version_is_logged(
    path: Path, source: FileSource, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="config.source"):
        path.write_text("rules: [", encoding="utf-8")
        source.refresh()
        path.write_text("rules: []\n", encoding="utf-8")
        source.refresh()
        source.refresh()
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(messages) == 2
    assert "not valid YAML" in messages[0] and "rules: Tuple should have at least 1 item" in messages[1]
    assert project(source) == "ONE"


def test_a_removed_file_keeps_the_config(
    path: Path, source: FileSource, caplog: pytest.LogCaptureFixture
) -> None:
    text = path.read_text(encoding="utf-8")
    path.unlink()
    with caplog.at_level(logging.ERROR, logger="config.source"):
        assert source.refresh() is False
        assert source.refresh() is False
    assert [r.getMessage() for r in caplog.records if "cannot read the rule file" in r.getMessage()] != []
    assert len(caplog.records) == 1
    assert project(source) == "ONE"
    path.write_text(text, encoding="utf-8")
    assert source.refresh() is False  # the same content as the version in force
    assert project(source) == "ONE"


def test_a_same_size_edit_within_the_same_timestamp_is_seen(path: Path, source: FileSource) -> None:
    before = os.stat(path)
    path.write_text(RULES.format(name="third", project="TWO"), encoding="utf-8")  # the same length
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    assert source.refresh() is True
    assert project(source) == "TWO"


def test_touching_the_file_reloads_nothing(
    path: Path, source: FileSource, caplog: pytest.LogCaptureFixture
) -> None:
    version = source.version()
    os.utime(path, ns=(0, os.stat(path).st_mtime_ns + 5_000_000_000))
    with caplog.at_level(logging.INFO, logger="config.source"):
        assert source.refresh() is False
    assert source.version() is version
    assert caplog.records == []


def test_an_invalid_file_at_start_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text("rules: []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=str(path)):
        FileSource(Settings(HUB_CONFIG=path))


def test_a_static_source_never_changes(path: Path) -> None:
    from config.loading import load_config

    config = load_config(Settings(HUB_CONFIG=path))
    source = StaticSource(config)
    path.write_text(RULES.format(name="second", project="TWO"), encoding="utf-8")
    assert source.refresh() is False
    assert source.current() is config
