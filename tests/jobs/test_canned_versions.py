"""Canned responses as part of a configuration version, as a worker sees them: the folder until a version
holds its own, then the version's library within one reload interval (parsed once per version), a
version's canned library validated with its rules, and a restore bringing an old library back (SQLite
and PostgreSQL, the real Redis)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from config.loading import ConfigError
from config.settings import Settings
from config.source import CHECK_INTERVAL
from jobs import canned as canned_jobs
from jobs import config_versions as service
from jobs.config_source import VersionSource
from jobs.context import Context
from jobs.queues import get_redis
from mappers.canned import canned_variables
from store.db import create_db_engine
from tests.clock import ManualClock
from tests.store.conftest import empty_url  # noqa: F401 - the fixture: SQLite, then PostgreSQL

RULES = (
    "rules:\n  - name: default\n    target: {tracker: jira, project: SUP}\n"
    "replies: {transitions: {'Waiting for customer': logs-request}}\n"
)
LOGS = "---\ntitle: Logs\n---\nPlease send the logs for {{ issue_key }}."
WARMER = "---\ntitle: Logs\n---\nCould you send us the logs for {{ issue_key }}, please?"


@pytest.fixture
def hub_settings(tmp_path: Path, empty_url: str, redis_url: str) -> Settings:  # noqa: F811
    """A rule file naming ``logs-request``, the folder beside it holding it, and a database."""
    (tmp_path / "hub.yaml").write_text(RULES, encoding="utf-8")
    (tmp_path / "canned").mkdir()
    (tmp_path / "canned" / "logs-request.en.md").write_text(LOGS, encoding="utf-8")
    return Settings(HUB_CONFIG=tmp_path / "hub.yaml", DATABASE_URL=empty_url, REDIS_URL=redis_url)


@pytest.fixture
def engine(hub_settings: Settings) -> Engine:
    return create_db_engine(hub_settings.DATABASE_URL)


def worker(settings: Settings, engine: Engine, clock: ManualClock) -> Context:
    """A worker's context: its rules (and so its canned library) from the configuration versions."""
    source = VersionSource(settings, engine, clock=clock)
    return Context(settings=settings, engine=engine, redis=get_redis(settings.REDIS_URL), source=source)


def rendered(ctx: Context) -> str:
    return canned_jobs.library(ctx).render("logs-request", "en", canned_variables(issue_key="SUP-1"))


def test_a_worker_switches_to_a_new_canned_text_within_one_reload_interval(
    hub_settings: Settings, engine: Engine
) -> None:
    clock = ManualClock()
    ctx = worker(hub_settings, engine, clock)
    assert rendered(ctx) == "Please send the logs for SUP-1."  # no version yet: the folder

    other = create_db_engine(hub_settings.DATABASE_URL)  # the console's process
    files = {"logs-request.en.md": WARMER}
    saved = service.save_validated(hub_settings, other, RULES, "ada", "warmer", canned=files)
    clock.now += CHECK_INTERVAL - 0.5
    assert rendered(ctx) == "Please send the logs for SUP-1."  # at most one look per interval
    clock.now += 0.5
    assert rendered(ctx) == "Could you send us the logs for SUP-1, please?"
    assert ctx.source.version().origin == f"config_versions#{saved.id}"
    assert canned_jobs.library(ctx) is canned_jobs.library(ctx)  # parsed once for the version, not per job

    (Path(hub_settings.HUB_CONFIG).parent / "canned" / "logs-request.en.md").write_text(
        "---\ntitle: x\n---\nx"
    )
    clock.now += CHECK_INTERVAL
    assert rendered(ctx) == "Could you send us the logs for SUP-1, please?"  # the version's, not the folder's

    other.dispose()


def test_a_restore_brings_back_the_old_versions_canned_library(
    hub_settings: Settings, engine: Engine
) -> None:
    first = service.save_validated(
        hub_settings, engine, RULES, "ada", "", canned={"logs-request.en.md": LOGS}
    )
    service.save_validated(hub_settings, engine, RULES, "ada", "", canned={"logs-request.en.md": WARMER})
    clock = ManualClock()
    ctx = worker(hub_settings, engine, clock)
    assert rendered(ctx) == "Could you send us the logs for SUP-1, please?"

    restored = service.restore(hub_settings, engine, first.id, "bob")
    clock.now += CHECK_INTERVAL

    assert restored.canned == {"logs-request.en.md": LOGS} and restored.restored_from == first.id
    assert rendered(ctx) == "Please send the logs for SUP-1."


def test_a_version_whose_rules_name_a_canned_response_it_lacks_is_refused(
    hub_settings: Settings, engine: Engine
) -> None:
    with pytest.raises(ConfigError, match="no canned response 'logs-request' in this configuration version"):
        service.save_validated(hub_settings, engine, RULES, "ada", "", canned={"other.en.md": LOGS})
    with pytest.raises(ConfigError, match=r"canned/logs-request.en.md: unknown variable 'nope'"):
        service.save_validated(
            hub_settings,
            engine,
            RULES,
            "ada",
            "",
            canned={"logs-request.en.md": "---\ntitle: t\n---\n{{ nope }}"},
        )
    assert service.active_canned(engine) is None  # nothing stored
