"""The rule file under a running app and worker: rules by sender, recipient, bot and keyword; named
tracker instances; an edit followed by the next message without a restart; a bad edit changing nothing.

End to end on the sandboxes: a message enters through its hook, is journaled, and the worker delivers it
to the tracker instance and project its rule names.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask.testing import FlaskClient

from config.settings import Settings
from config.source import CHECK_INTERVAL, FileSource
from jobs.context import Context, build_context
from routes import create_app
from sandbox.server import RunningSandbox
from store import journal, links
from tests.clock import ManualClock
from tests.jobs.conftest import run_job, sandbox_issues
from tests.routes.conftest import post_telegram, text_update
from tests.sandboxes import run_jira

RULES = """
targets:
  support: {{tracker: jira, project: SUP}}
  development: {{tracker: jira, project: DEV}}
rules:
{rules}
  - name: rest
    target: support
"""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def rule_file(tmp_path: Path) -> Path:
    return tmp_path / "rules" / "hub.yaml"


def write_rules(path: Path, rules: str, extra: str = "") -> None:
    path.parent.mkdir(exist_ok=True)
    path.write_text(extra + RULES.format(rules=rules), encoding="utf-8")


@pytest.fixture
def live(ctx: Context, rule_file: Path, clock: ManualClock) -> Iterator[tuple[Context, FlaskClient]]:
    """A worker context and an app, each with its own source on ``rule_file`` and the test's clock."""
    if not rule_file.exists():
        write_rules(rule_file, "")
    settings = ctx.settings.model_copy(update={"HUB_CONFIG": rule_file})
    worker = build_context(settings, FileSource(settings, clock=clock))
    app = create_app(settings, FileSource(settings, clock=clock))
    yield worker, app.test_client()


def deliver_update(worker: Context, client: FlaskClient, update_id: int, text: str) -> str:
    """Post a Telegram update to the hook, deliver it, and return the key of the issue it opened."""
    response = post_telegram(client, text_update(update_id, text, chat_id=1000 + update_id))
    assert response.status_code == 202, response.get_json()
    message_id = response.get_json()["id"]
    assert run_job(worker, message_id) == journal.DELIVERED
    link = links.active_link(worker.engine, f"tg:{1000 + update_id}:0")
    assert link is not None
    return link.issue_key


def post_mail(client: FlaskClient, raw: bytes) -> str:
    response = client.post(
        "/hooks/email",
        data=raw,
        headers={"Authorization": "Bearer inbound-token"},
        content_type="message/rfc822",
    )
    assert response.status_code == 202, response.get_json()
    return str(response.get_json()["id"])


def issue_of(worker: Context, message_id: str) -> str:
    assert run_job(worker, message_id) == journal.DELIVERED
    entry = journal.get(worker.engine, message_id)
    assert entry is not None
    link = links.active_link(worker.engine, entry.conversation_key)
    assert link is not None
    return link.issue_key


def test_an_edit_reaches_the_next_message_and_a_bad_edit_keeps_the_rules(
    live: tuple[Context, FlaskClient],
    rule_file: Path,
    clock: ManualClock,
    jira_sandbox: RunningSandbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker, client = live
    assert deliver_update(worker, client, 1, "The printer is on fire").startswith("SUP-")

    write_rules(rule_file, "  - {name: chats, when: {channel: telegram}, target: development}\n")
    assert deliver_update(worker, client, 2, "Still on fire").startswith("SUP-")  # not looked at yet
    clock.now += CHECK_INTERVAL
    assert deliver_update(worker, client, 3, "Now the scanner too").startswith("DEV-")

    write_rules(rule_file, "  - {name: chats, when: {channel: telegram}, target: nowhere}\n")
    clock.now += CHECK_INTERVAL
    with caplog.at_level(logging.ERROR, logger="config.source"):
        assert deliver_update(worker, client, 4, "And the fax").startswith("DEV-")  # the last good rules
    assert [r.getMessage() for r in caplog.records if "unknown target 'nowhere'" in r.getMessage()] != []
    bugs = sandbox_issues(jira_sandbox, "project = DEV ORDER BY created ASC")
    assert [issue["fields"]["summary"] for issue in bugs] == ["Now the scanner too", "And the fax"]


def test_the_app_serves_a_form_added_to_the_file(
    live: tuple[Context, FlaskClient], rule_file: Path, clock: ManualClock
) -> None:
    _, client = live
    assert client.get("/forms/feedback").status_code == 404
    form = (
        "forms:\n  feedback:\n    title: Feedback\n    fields:\n"
        "      - {name: email, label: E-mail, type: email, required: true}\n"
        "      - {name: message, label: Message, type: textarea, required: true}\n"
    )
    write_rules(rule_file, "", extra=form)
    clock.now += CHECK_INTERVAL
    assert client.get("/forms/feedback").status_code == 200
    response = client.post("/hooks/forms/feedback", data={"email": "a@b.example", "message": "Nice"})
    assert response.status_code == 202


def test_rules_route_by_bot_recipient_sender_domain_and_keyword(
    rule_file: Path, live: tuple[Context, FlaskClient], clock: ManualClock
) -> None:
    write_rules(
        rule_file,
        "  - {name: bot, when: {telegram_bot: 123, keywords: [сбой]}, target: development}\n"
        "  - {name: vip, when: {recipient: vip@support.example}, target: development}\n"
        "  - {name: partner, when: {sender_domain: пример.рф}, target: development}\n",
    )
    worker, client = live
    clock.now += CHECK_INTERVAL  # the app and worker pick up the rules written after they started
    # the settings' bot token is "123:…": the hook records the bot the update came through
    assert deliver_update(worker, client, 11, "Сбой оплаты, срочно").startswith("DEV-")
    assert deliver_update(worker, client, 12, "Сбойный модуль").startswith("SUP-")  # not the whole word
    vip = post_mail(
        client,
        b"Delivered-To: VIP@support.example\r\nFrom: a@customer.example\r\nTo: all@support.example\r\n"
        b"Subject: Help\r\nMessage-ID: <v1@customer.example>\r\n\r\nHello",
    )
    assert issue_of(worker, vip).startswith("DEV-")
    partner = post_mail(
        client,
        b"From: Ivan <ivan@xn--e1afmkfd.xn--p1ai>\r\nTo: support@support.example\r\n"
        b"Subject: Help\r\nMessage-ID: <p1@customer.example>\r\n\r\nHello",
    )
    assert issue_of(worker, partner).startswith("DEV-")
    other = post_mail(
        client,
        b"From: a@customer.example\r\nTo: support@support.example\r\n"
        b"Subject: Help\r\nMessage-ID: <o1@customer.example>\r\n\r\nHello",
    )
    assert issue_of(worker, other).startswith("SUP-")


@pytest.fixture
def second_jira(tmp_path: Path) -> Iterator[RunningSandbox]:
    with run_jira(tmp_path / "second-jira.sqlite3") as running:
        yield running


def test_a_named_tracker_instance_gets_its_rules_messages(
    ctx: Context,
    rule_file: Path,
    second_jira: RunningSandbox,
    jira_sandbox: RunningSandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SECOND_JIRA_TOKEN", "second-token")
    instance = (
        f"trackers:\n  jira-two: {{kind: jira, url: '{second_jira.url}', token_env: SECOND_JIRA_TOKEN}}\n"
    )
    write_rules(
        rule_file,
        "  - {name: two, when: {channel: telegram}, target: {tracker: jira-two, project: DEV}}\n",
        extra=instance,
    )
    settings: Settings = ctx.settings.model_copy(update={"HUB_CONFIG": rule_file})
    worker = build_context(settings)
    client = create_app(settings).test_client()

    key = deliver_update(worker, client, 21, "Goes to the second Jira")
    link = links.active_link(worker.engine, "tg:1021:0")
    assert link is not None and (link.tracker, link.issue_key) == ("jira-two", key)
    assert [i["key"] for i in sandbox_issues(second_jira, "project = DEV")] == [key]
    assert sandbox_issues(jira_sandbox, "project = DEV") == []
    assert worker.tracker("jira-two").name == "jira-two"
    assert worker.tracker("jira-two") is worker.tracker("jira-two")  # built once, one breaker
    # the chat's next message is a comment on that issue, in the second Jira's markup
    response = post_telegram(client, text_update(22, "And a *follow-up*", chat_id=1021))
    assert run_job(worker, response.get_json()["id"]) == journal.DELIVERED
    [comment] = requests.get(
        f"{second_jira.url}/rest/api/2/issue/{key}/comment", auth=("engineer", "engineer-password"), timeout=5
    ).json()["comments"]
    assert "\\*follow-up\\*" in comment["body"]


def test_a_reload_that_moves_an_instance_rebuilds_its_connector(
    ctx: Context,
    rule_file: Path,
    second_jira: RunningSandbox,
    jira_sandbox: RunningSandbox,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SECOND_JIRA_TOKEN", "second-token")
    rule = "  - {name: two, target: {tracker: jira-two, project: DEV}}\n"
    instance = "trackers:\n  jira-two: {{kind: jira, url: '{url}', token_env: SECOND_JIRA_TOKEN}}\n"
    write_rules(rule_file, rule, extra=instance.format(url=second_jira.url))
    settings = ctx.settings.model_copy(update={"HUB_CONFIG": rule_file})
    worker = build_context(settings, FileSource(settings, clock=clock))
    before = worker.tracker("jira-two")
    assert before.url == second_jira.url  # type: ignore[attr-defined]

    write_rules(rule_file, rule, extra=instance.format(url=jira_sandbox.url))
    clock.now += CHECK_INTERVAL
    after = worker.tracker("jira-two")
    assert after is not before and after.url == jira_sandbox.url  # type: ignore[attr-defined]
