"""``trackerhub admin add-user`` (the password from standard input) and ``trackerhub config export``
(the rule file in force, as YAML on standard output): the README's contract lines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cli import main
from config.settings import DEFAULT_CONFIG, get_settings
from store import accounts, audit
from store.db import create_db_engine


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_add_user_reads_the_password_from_standard_input(database: str) -> None:
    result = CliRunner().invoke(
        main, ["admin", "add-user", "cory", "--role", "coordinator"], input="s3cret-enough\n"
    )
    assert result.exit_code == 0, result.output
    assert "added cory (coordinator)" in result.output and "s3cret-enough" not in result.output
    engine = create_db_engine(database)
    user = accounts.authenticate(engine, "cory", "s3cret-enough")
    assert user is not None and user.role == "coordinator"
    [line] = audit.search(engine, audit.AuditQuery(action="add-user"))
    assert (line.actor, line.target, line.outcome) == ("cli", "cory", "coordinator")


@pytest.mark.parametrize(
    ("arguments", "password", "says"),
    [
        (["cory", "--role", "coordinator"], "short\n", "at least 10 characters"),
        (["cory", "--role", "root"], "s3cret-enough\n", "'root' is not one of"),
    ],
)
def test_add_user_refuses_a_bad_account_saying_why(
    database: str, arguments: list[str], password: str, says: str
) -> None:
    result = CliRunner().invoke(main, ["admin", "add-user", *arguments], input=password)
    assert result.exit_code != 0 and says in result.output
    assert not accounts.any_user(create_db_engine(database))


def test_config_export_writes_the_rule_file_in_force_as_yaml(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HUB_CONFIG", raising=False)
    get_settings.cache_clear()
    result = CliRunner().invoke(main, ["config", "export"])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert result.output == DEFAULT_CONFIG.read_text()
    exported = yaml.safe_load(result.output)
    assert "${JIRA_PROJECT}" in result.output  # references stay references: no environment value leaks
    assert exported["forms"]["support"]["fields"][0]["name"] == "name"


def test_config_export_refuses_an_invalid_rule_file(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "hub.yaml"
    broken.write_text("rules: [{name: x}]\n")
    monkeypatch.setenv("HUB_CONFIG", str(broken))
    get_settings.cache_clear()
    result = CliRunner().invoke(main, ["config", "export"])
    get_settings.cache_clear()
    assert result.exit_code == 1 and str(broken) in result.output
