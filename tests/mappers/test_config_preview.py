"""The editor's preview: what a message would get under a configuration, and what an edit changes."""

from __future__ import annotations

from pathlib import Path

from config.loading import parse_config
from config.rules import HubConfig
from config.settings import Settings
from mappers.config_preview import Replies, compare, count_changed, outcome
from mappers.models import MessageKind, Sender
from tests.mappers.factories import email_message, telegram_message

BEFORE = """
rules:
  - name: billing
    when: {keywords: [invoice]}
    target: {tracker: jira, project: SUP}
    fields: {priority: High, assignee: ann}
  - name: default
    target: {tracker: jira, project: SUP}
"""


def config(text: str, **settings: str) -> HubConfig:
    return parse_config(text, Path("hub.yaml"), Settings(**settings))  # type: ignore[arg-type]


def test_a_rule_sending_invoices_elsewhere_moves_only_the_invoice_message_to_another_project() -> None:
    after = config(BEFORE.replace("project: SUP}\n    fields", "project: FIN}\n    fields"))
    invoice = email_message("Invoice is wrong")
    other = email_message("Printer is on fire", "It smokes.")

    rows = compare(config(BEFORE), after, [("m1", invoice), ("m2", other)])

    assert [row.message_id for row in rows if row.changed] == ["m1"]
    assert rows[0].old.target == "jira/SUP" and rows[0].new.target == "jira/FIN"
    assert rows[0].changes == ("target", "autoreply")  # the autoreply names the new project's key
    assert rows[0].new.rule == "billing" and rows[0].new.fields == (("priority", "High"),)
    assert rows[0].new.assignee == "ann"
    assert rows[1].old == rows[1].new and rows[1].new.rule == "default"
    assert count_changed(rows) == 1


def test_a_new_rule_above_the_rest_takes_the_messages_it_matches_with_its_fields_and_assignee() -> None:
    after = config(
        BEFORE.replace(
            "rules:\n",
            "rules:\n  - {name: outage, when: {keywords: [fire]}, target: {tracker: jira, project: DEV},"
            " fields: {priority: Highest, components: [Web], assignees: [bo, cy]}}\n",
        )
    )
    fire = telegram_message("The printer is on fire")

    (row,) = compare(config(BEFORE), after, [("m1", fire)])

    assert row.changes == ("rule", "target", "fields", "assignee", "autoreply")
    assert (row.old.rule, row.new.rule) == ("default", "outage")
    assert row.new.fields == (("priority", "Highest"), ("components", "Web"))
    assert row.new.assignee == "round-robin: bo, cy"
    assert row.new.labels == ("telegram",)  # the hub's idempotency label is not the rule's to show


def test_the_autoreply_is_the_senders_language_or_the_configurations_default() -> None:
    russian = config(BEFORE + "texts: {default_language: ru}\n")
    mail = email_message("Invoice is wrong")

    (row,) = compare(config(BEFORE), russian, [("m1", mail)])

    assert row.changes == ("autoreply",)
    assert row.old.autoreply is not None and row.old.autoreply.startswith("[SUP-…] ")
    assert "We have registered your request as SUP-…." in row.old.autoreply
    assert row.new.autoreply is not None and "зарегистрировали его под номером SUP-…." in row.new.autoreply
    assert row.new.autoreply != row.old.autoreply
    english = telegram_message("Hi", sender=Sender(name="Ann", telegram_user_id=1, language="en"))
    assert compare(config(BEFORE), russian, [("m2", english)])[0].changes == ()


def test_no_autoreply_is_shown_where_the_hub_would_send_none() -> None:
    rules = config(BEFORE)
    no_smtp = outcome(rules, email_message(), "m1", Replies(mail=False))
    no_bot = outcome(rules, telegram_message(), "m2", Replies(telegram=False))
    no_reply_box = outcome(rules, email_message(sender=Sender(email="no-reply@shop.example")), "m3")

    assert (no_smtp.autoreply, no_smtp.autoreply_note) == (None, "SMTP_URL is not set")
    assert (no_bot.autoreply, no_bot.autoreply_note) == (None, "no Telegram bot token configured")
    assert (no_reply_box.autoreply, no_reply_box.autoreply_note) == (None, "no address to answer")


def test_follow_ups_auto_replies_and_bounces_are_not_decided_by_rules() -> None:
    before, after = config(BEFORE), config(BEFORE.replace("SUP", "FIN"))
    auto = email_message(kind=MessageKind.AUTO_REPLY, auto_reason="header Auto-Submitted: auto-replied")
    bounce = email_message(kind=MessageKind.BOUNCE)
    follow_up = email_message("Invoice is wrong")

    rows = compare(before, after, [("a", auto), ("b", bounce), ("f", follow_up)], follow_ups={"f": "SUP-7"})

    assert [(row.new.action, row.changed) for row in rows] == [
        ("ignored", False),
        ("bounce", False),
        ("comment", False),
    ]
    assert rows[2].new.note == "SUP-7"


def test_a_kaiten_rule_shows_the_board_column_tags_and_properties() -> None:
    after = config(
        BEFORE.replace(
            "rules:\n",
            "rules:\n  - {name: ops, when: {channel: telegram}, target: {tracker: kaiten, board: 10, column: 101},"
            " fields: {labels: [support], asap: true, properties: {id_501: [602]}}}\n",
        ),
        KAITEN_URL="http://kaiten.test",
    )

    (row,) = compare(config(BEFORE), after, [("m1", telegram_message())])

    assert row.new.target == "kaiten/board 10, column 101"
    assert row.new.fields == (("priority", "asap"), ("id_501", "602"))
    assert row.new.labels == ("telegram", "support")
    assert row.new.autoreply is not None and "…" in row.new.autoreply
