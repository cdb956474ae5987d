"""Named tracker instances and named targets: what rules can refer to, and how a wrong name is reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loading import ConfigError, load_config
from config.matching import MessageFacts
from config.settings import Settings
from config.targets import JiraTarget, KaitenTarget
from mappers.issue import target_of

NAMED = """
trackers:
  jira-dev:
    kind: jira
    url: https://dev-jira.example.com/
    token_env: JIRA_DEV_TOKEN
  ops-kaiten:
    kind: kaiten
    url: https://ops.kaiten.ru
    token_env: OPS_KAITEN_TOKEN
  cloud:
    kind: jira
    url: https://acme.atlassian.net
    user: bot@acme.example
    password_env: CLOUD_API_TOKEN
targets:
  support: {tracker: jira, project: "${JIRA_PROJECT}", issue_type: Bug}
  dev: {tracker: jira-dev, project: DEV}
  queue: {tracker: ops-kaiten, board: 10, column: 101, lane: 111, type: 3}
rules:
  - name: dev
    when: {channel: form}
    target: dev
  - name: ops
    when: {channel: telegram}
    target: queue
    fields: {properties: {id_7: 1}}
  - name: inline-on-a-named-tracker
    when: {channel: email, category: x}
    target: {tracker: cloud, project: CLD}
  - name: rest
    target: support
"""
SECRETS = {"JIRA_DEV_TOKEN": "dev-token", "OPS_KAITEN_TOKEN": "ops-token", "CLOUD_API_TOKEN": "cloud-token"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hub.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


def errors_of(path: Path, settings: Settings | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(settings or Settings(HUB_CONFIG=path))
    return str(caught.value)


def test_rules_send_messages_to_named_targets_on_named_trackers(tmp_path: Path, secrets: None) -> None:
    config = load_config(Settings(HUB_CONFIG=write(tmp_path, NAMED), JIRA_PROJECT="HELP"))

    assert config.rule_for(MessageFacts("form")).target == JiraTarget(tracker="jira-dev", project="DEV")
    queue = config.rule_for(MessageFacts("telegram")).target
    assert queue == KaitenTarget(tracker="ops-kaiten", board=10, column=101, lane=111, type=3)
    assert config.rule_for(MessageFacts("email", "x")).target == JiraTarget(tracker="cloud", project="CLD")
    assert config.rule_for(MessageFacts("email")).target == config.target("support")
    assert config.target("support") == JiraTarget(tracker="jira", project="HELP", issue_type="Bug")
    assert config.tracker_names() == ["jira", "kaiten", "jira-dev", "ops-kaiten", "cloud"]
    assert [config.tracker_kind(n) for n in ("jira-dev", "ops-kaiten", "kaiten", "nope")] == [
        "jira",
        "kaiten",
        "kaiten",
        None,
    ]


def test_the_neutral_target_names_the_instance(tmp_path: Path, secrets: None) -> None:
    config = load_config(Settings(HUB_CONFIG=write(tmp_path, NAMED)))
    neutral = target_of(config.target("queue"))
    assert (neutral.tracker, neutral.container, neutral.column, neutral.lane, neutral.issue_type) == (
        "ops-kaiten",
        "10",
        "101",
        "111",
        "3",
    )
    assert target_of(config.target("dev")).tracker == "jira-dev"


def test_the_config_keeps_the_variable_names_never_the_secrets(tmp_path: Path, secrets: None) -> None:
    config = load_config(Settings(HUB_CONFIG=write(tmp_path, NAMED)))
    dumped = config.model_dump_json()
    assert "JIRA_DEV_TOKEN" in dumped
    assert not any(secret in dumped for secret in SECRETS.values())


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, JiraTarget(tracker="jira", project="SUP", issue_type="Task")),
        (
            {"KAITEN_URL": "https://k.example", "KAITEN_BOARD_ID": 5, "KAITEN_COLUMN_ID": 6},
            KaitenTarget(tracker="kaiten", board=5, column=6),
        ),
    ],
)
def test_tracker_default_is_the_environments_target_inline_and_named(
    tmp_path: Path, settings: dict[str, object], expected: object
) -> None:
    path = write(
        tmp_path,
        "targets:\n  home: {tracker: default}\nrules:\n"
        "  - {name: a, when: {channel: email}, target: home}\n  - {name: b, target: {tracker: default}}\n",
    )
    config = load_config(Settings(HUB_CONFIG=path, **settings))  # type: ignore[arg-type]
    assert config.rule_for(MessageFacts("email")).target == expected
    assert config.rule_for(MessageFacts("form")).target == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "rules:\n  - name: r\n    target: nowhere\n",
            "rules[0] 'r': target: unknown target 'nowhere'; the targets are (none)",
        ),
        (
            "targets:\n  a: {project: A}\nrules:\n  - name: ok\n    target: a\n  - name: r\n    target: b\n",
            "rules[1] 'r': target: unknown target 'b'; the targets are a",
        ),
        (
            "targets:\n  t: {tracker: nope, project: X}\nrules: [{name: r, target: {project: X}}]\n",
            "targets.t: unknown tracker 'nope'; the trackers are jira, kaiten",
        ),
        (
            "rules:\n  - name: r\n    target: {tracker: nope, project: X}\n",
            "rules[0] 'r': target: unknown tracker 'nope'; the trackers are jira, kaiten",
        ),
        (
            "targets:\n  t: {tracker: kaiten, project: X}\nrules: [{name: r, target: t}]\n",
            "targets.t: board: Field required",
        ),
        (
            "trackers:\n  dev: {kind: jira, url: 'https://dev.example', token_env: NOT_SET_ANYWHERE_42}\n"
            "rules: [{name: r, target: {project: X}}]\n",
            "trackers.dev: token_env: the environment variable NOT_SET_ANYWHERE_42 is not set",
        ),
        (
            "trackers:\n  dev: {kind: jira, url: 'https://dev.example', token_env: NOT_SET_ANYWHERE_42}\n"
            "rules: [{name: r, target: {tracker: dev, project: X}}]\n",
            "rules[0] 'r': target: tracker 'dev' is not valid (see trackers.dev)",
        ),
        (
            "trackers:\n  dev: {kind: jira, url: 'https://dev.example', user: u, password_env: NOT_SET_42}\n"
            "rules: [{name: r, target: {project: X}}]\n",
            "trackers.dev: password_env: the environment variable NOT_SET_42 is not set",
        ),
        (
            "trackers:\n  dev: {kind: kaiten, url: 'https://k.example', token: s3cr3t}\n"
            "rules: [{name: r, target: {project: X}}]\n",
            "trackers.dev: secrets are not written in the rule file",
        ),
        (
            "trackers:\n  dev: {kind: kaiten, url: 'https://k.example'}\nrules: [{name: r, target: {project: X}}]\n",
            "trackers.dev: a Kaiten tracker needs token_env",
        ),
        (
            "trackers:\n  dev: {kind: jira, url: 'ftp://j.example', token_env: HOME}\n"
            "rules: [{name: r, target: {project: X}}]\n",
            "trackers.dev: url: must be an http:// or https:// address",
        ),
        (
            "trackers:\n  kaiten: {kind: kaiten, url: 'https://k.example', token_env: HOME}\n"
            "rules: [{name: r, target: {project: X}}]\n",
            "trackers: ['kaiten'] are the environment's trackers",
        ),
        (
            "targets:\n  Big Name: {project: X}\nrules: [{name: r, target: {project: X}}]\n",
            "targets: names must be lowercase slugs",
        ),
        (
            "rules:\n  - name: r\n    target: {tracker: kaiten, board: 1}\n    fields: {custom_fields: {customfield_1: x}}\n",
            "rules[0] 'r': custom_fields and components are Jira fields",
        ),
        (
            "rules:\n  - name: r\n    target: {tracker: jira, kind: kaiten, project: X}\n",
            "rules[0] 'r': target: kind comes from the tracker",
        ),
    ],
)
def test_errors_name_the_file_the_entry_and_the_field(tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path, body)
    text = errors_of(path)
    assert all(line.startswith(f"{path}: ") for line in text.splitlines())
    assert expected in text


def test_a_rule_naming_a_broken_target_points_at_it_once(tmp_path: Path) -> None:
    path = write(tmp_path, "targets:\n  t: {tracker: kaiten, project: X}\nrules: [{name: r, target: t}]\n")
    lines = errors_of(path).splitlines()
    assert f"{path}: rules[0] 'r': target: target 't' is not valid (see targets.t)" in lines
    assert sum("board: Field required" in line for line in lines) == 1  # reported at the target only


def test_every_error_of_the_file_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "targets:\n  t: {tracker: nope, project: X}\nrules:\n  - {name: a, target: u}\n"
        "  - {name: b, target: {project: X}, colour: red}\n",
    )
    lines = errors_of(path).splitlines()
    assert len(lines) == 3  # and no "rules: should have at least 1 item" for rules that are there
    assert any("targets.t" in line for line in lines)
    assert any("rules[0] 'a': target: unknown target 'u'" in line for line in lines)
    assert any("rules[1] 'b': colour" in line for line in lines)


def test_a_secret_variable_may_be_a_setting(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "trackers:\n  second: {kind: kaiten, url: 'https://k.example', token_env: KAITEN_TOKEN}\n"
        "rules: [{name: r, target: {tracker: second, board: 3}}]\n",
    )
    assert "KAITEN_TOKEN is not set" in errors_of(path, Settings(HUB_CONFIG=path))
    config = load_config(Settings(HUB_CONFIG=path, KAITEN_TOKEN="k"))  # type: ignore[arg-type]
    assert config.rules[0].target == KaitenTarget(tracker="second", board=3)


def test_environment_secret_reads_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(JIRA_TOKEN="from-settings")  # type: ignore[arg-type]
    monkeypatch.setenv("EXTRA_TRACKER_TOKEN", "from-env")
    monkeypatch.setenv("EMPTY_TRACKER_TOKEN", "")
    assert settings.environment_secret("EXTRA_TRACKER_TOKEN") == "from-env"
    assert settings.environment_secret("JIRA_TOKEN") == "from-settings"
    assert settings.environment_secret("EMPTY_TRACKER_TOKEN") is None
    assert settings.environment_secret("MISSING_TRACKER_TOKEN_42") is None
