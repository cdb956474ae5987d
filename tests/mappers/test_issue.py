"""Message + rule → issue draft: summary, description, labels and rule fields."""

from __future__ import annotations

import pytest

from config.rules import HubConfig, Rule
from config.targets import Scope
from connector.types import Target
from mappers.issue import build_comment, build_draft, summarize
from mappers.models import Attachment
from tests.mappers.factories import email_message, telegram_message


@pytest.mark.parametrize(
    ("subject", "expected"),
    [("Re: Invoice", "Invoice"), ("Отв: Ответ: Пересл: Счёт", "Счёт"), ("RE: [SUP-12] Invoice", "Invoice")],
)
def test_summary_drops_reply_prefixes_and_issue_tags(subject: str, expected: str) -> None:
    assert summarize(email_message(subject=subject)) == expected


def test_summary_from_subject_is_one_line_of_at_most_255() -> None:
    message = email_message(subject="Re: " + "long words " * 60 + "\nsecond line")
    summary = summarize(message)
    assert len(summary) <= 255 and "\n" not in summary and summary.startswith("long words")


def test_summary_from_first_sentence_when_no_subject() -> None:
    long_enough = "The printer in room 4 is on fire and nobody is around. Also the coffee machine."
    assert (
        summarize(telegram_message(long_enough)) == "The printer in room 4 is on fire and nobody is around."
    )
    assert summarize(telegram_message("\n\n  Принтер горит! Срочно")) == "Принтер горит!"


def test_summary_of_a_photo_without_text_names_the_file() -> None:
    photo = Attachment(filename="photo-1.jpg", content_type="image/jpeg", telegram_file_id="f")
    assert summarize(telegram_message("", attachments=[photo])) == "Telegram: photo-1.jpg"


def test_draft_has_escaped_body_sender_block_labels_and_rule_fields(hub_config: HubConfig) -> None:
    message = telegram_message("[~admin] {html}<b>x</b>{html}")
    draft = build_draft(message, hub_config.rule_for(message), "abc123")
    assert draft.target == Target("jira", "SUP", issue_type="Task")
    assert draft.labels == ("telegram", "hub-abc123")
    assert draft.idempotency_key == "hub-abc123"
    assert "\\[\\~admin\\]" in draft.body and "\\{html\\}" in draft.body
    assert "*From:* Ann Lee" in draft.body and "*Contact:* @ann" in draft.body
    assert "*Channel:* Telegram" in draft.body and "*Received:* 2026-11-23 10:00:00 UTC" in draft.body


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (
            {"tracker": "kaiten", "board": 10, "column": 101, "lane": 111, "type": 3},
            Target("kaiten", "10", issue_type="3", column="101", lane="111"),
        ),
        ({"tracker": "kaiten", "board": 10}, Target("kaiten", "10")),
        ({"tracker": "jira", "project": "OPS", "issue_type": "Bug"}, Target("jira", "OPS", issue_type="Bug")),
    ],
)
def test_a_rules_target_becomes_the_drafts_neutral_target(target: dict, expected: Target) -> None:
    rule = Rule.model_validate({"name": "r", "target": target})
    assert build_draft(telegram_message("hello"), rule, "m1").target == expected


def test_a_target_on_a_named_instance_is_written_in_its_kinds_markup() -> None:
    scope = Scope(trackers={"jira-dev": "jira", "ops": "kaiten"})
    message = telegram_message("*not bold*")
    jira = Rule.model_validate(
        {"name": "r", "target": {"tracker": "jira-dev", "project": "DEV"}}, context=scope
    )
    kaiten = Rule.model_validate({"name": "k", "target": {"tracker": "ops", "board": 7}}, context=scope)
    jira_draft = build_draft(message, jira, "m1")
    kaiten_draft = build_draft(message, kaiten, "m1")
    assert jira_draft.target == Target("jira-dev", "DEV", issue_type="Task")
    assert "\\*not bold\\*" in jira_draft.body and "*Channel:* Telegram" in jira_draft.body
    assert kaiten_draft.target == Target("ops", "7")
    assert "**Channel:** Telegram" in kaiten_draft.body and "hub-m1" not in kaiten_draft.labels


def test_comment_carries_marker_and_says_edit() -> None:
    comment = build_comment(telegram_message("fixed typo"), "m1", edited=True)
    assert "edited a message" in comment and "hub-m1" in comment and "fixed typo" in comment
