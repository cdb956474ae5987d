"""The rule file: the shipped one works from env alone; broken ones are reported by file, rule and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loading import ConfigError, load_config
from config.matching import MessageFacts
from config.settings import Settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hub.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_uses_env_project_and_type(tmp_path: Path) -> None:
    config = load_config(Settings(JIRA_PROJECT="HELP", JIRA_ISSUE_TYPE="Bug"))
    rule = config.rule_for(MessageFacts(channel="telegram"))
    assert (rule.target.project, rule.target.issue_type) == ("HELP", "Bug")
    support = config.forms["support"]
    required = {f.name for f in support.fields if f.required}
    assert required == {"name", "email", "subject", "message"}
    assert support.field("category") is not None and support.field("category").type == "select"


def test_shipped_config_defaults_issue_type_to_task() -> None:
    assert load_config(Settings()).rule_for(MessageFacts(channel="email")).target.issue_type == "Task"


def test_first_matching_rule_wins_and_last_is_fallback(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
rules:
  - name: bugs
    when: {channel: form, category: [bug]}
    target: {tracker: jira, project: DEV, issue_type: Bug}
    fields: {priority: High, labels: [from-form], components: [Web], custom_fields: {customfield_10010: x}}
  - name: telegram
    when: {channel: telegram}
    target: {tracker: jira, project: TG}
  - name: rest
    target: {tracker: jira, project: SUP}
""",
    )
    config = load_config(Settings(HUB_CONFIG=path))
    assert config.rule_for(MessageFacts("form", "bug", "support")).name == "bugs"
    assert config.rule_for(MessageFacts("form", "question", "support")).name == "rest"
    assert config.rule_for(MessageFacts("telegram")).name == "telegram"
    assert config.rule_for(MessageFacts("email")).name == "rest"
    assert config.rule_for(MessageFacts("form", "bug")).fields.custom_fields == {"customfield_10010": "x"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "rules:\n  - name: a\n    target: {tracker: jira}\n",
            "rules[0] 'a': target.project: Field required",
        ),
        (
            "rules:\n  - name: ok\n    target: {tracker: jira, project: X}\n  - name: b\n"
            "    target: {tracker: jira, project: X}\n    fields: {labels: [has space]}\n",
            "rules[1] 'b': fields.labels",
        ),
        (
            "rules:\n  - name: c\n    target: {tracker: jira, project: X}\n    fields: {custom_fields: {Severity: 1}}\n",
            "rules[0] 'c': fields.custom_fields",
        ),
        (
            "rules:\n  - name: d\n    target: {tracker: jira, project: X}\n    colour: red\n",
            "rules[0] 'd': colour",
        ),
        ("rules: []\n", "rules"),
        (
            "forms:\n  f:\n    title: T\n    fields: [{name: x, label: X}]\nrules: [{name: r, target: {project: X}}]\n",
            "forms.f",
        ),
        ("rules: [ {name: r\n", "not valid YAML"),
    ],
)
def test_errors_name_the_file_the_rule_and_the_field(tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        load_config(Settings(HUB_CONFIG=path))
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_placeholder_of_an_unset_setting_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "rules:\n  - name: r\n    target: {tracker: jira, project: '${KAITEN_URL}'}\n")
    with pytest.raises(ConfigError, match=r"KAITEN_URL"):
        load_config(Settings(HUB_CONFIG=path))


def test_placeholder_default_and_secrets_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path, "rules:\n  - name: r\n    target: {tracker: jira, project: '${KAITEN_URL:-OPS}'}\n"
    )
    assert load_config(Settings(HUB_CONFIG=path)).rules[0].target.project == "OPS"
    path = write(tmp_path, "rules:\n  - name: r\n    target: {tracker: jira, project: '${JIRA_TOKEN}'}\n")
    with pytest.raises(ConfigError, match="secret"):
        load_config(Settings(HUB_CONFIG=path, JIRA_TOKEN="t"))  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["SMTP_URL", "IMAP_URL"])
def test_a_mail_url_is_a_secret_it_may_hold_the_accounts_password(tmp_path: Path, name: str) -> None:
    url = ("smtp" if name == "SMTP_URL" else "imaps") + "://support:hunter2-pw@mail.example.com"
    settings = Settings(HUB_CONFIG=tmp_path / "hub.yaml", **{name: url})  # type: ignore[arg-type]
    assert settings.secret(name) == url
    assert "hunter2-pw" not in repr(settings) and "hunter2-pw" not in str(settings.model_dump())
    path = write(tmp_path, f"rules:\n  - name: r\n    target: {{tracker: jira, project: '${{{name}}}'}}\n")
    with pytest.raises(ConfigError, match="secret"):
        load_config(settings.model_copy(update={"HUB_CONFIG": path}))


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(Settings(HUB_CONFIG=tmp_path / "nope.yaml"))
