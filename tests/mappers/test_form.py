"""Form submissions: per-field validation, unknown fields, files, dedupe ids."""

from __future__ import annotations

import pytest

from config.rules import HubConfig
from mappers.errors import InvalidFields
from mappers.form import UploadedFile, is_spam, parse_submission
from tests.mappers.factories import WHEN

GOOD = {"name": "Ann", "email": "Ann@Example.COM", "subject": "Broken", "message": "It broke.\nTwice."}


def parse(config: HubConfig, values: dict, files=()):  # type: ignore[no-untyped-def]
    return parse_submission("support", config.forms["support"], values, list(files), received_at=WHEN)


def test_valid_submission_becomes_a_form_message(hub_config: HubConfig) -> None:
    message = parse(hub_config, {**GOOD, "category": "bug", "submission_id": "abcdefgh12"})
    assert message.external_id == "form:support:abcdefgh12"
    assert message.sender.email == "Ann@example.com"
    assert (message.subject, message.text, message.category, message.form) == (
        "Broken",
        "It broke.\nTwice.",
        "bug",
        "support",
    )


def test_every_bad_field_is_reported_at_once(hub_config: HubConfig) -> None:
    with pytest.raises(InvalidFields) as caught:
        parse(
            hub_config,
            {"name": "", "email": "not-an-address", "subject": "a\nb", "category": "zzz", "colour": "red"},
        )
    assert caught.value.details == {
        "name": "this field is required",
        "email": "not a valid e-mail address",
        "subject": "must be a single line",
        "category": "not one of the choices",
        "message": "this field is required",
        "colour": "unknown field",
    }


def test_too_long_and_wrong_types(hub_config: HubConfig) -> None:
    with pytest.raises(InvalidFields) as caught:
        parse(hub_config, {**GOOD, "subject": "x" * 300, "name": ["a", "b"], "submission_id": "bad id!"})
    assert caught.value.details == {
        "subject": "at most 255 characters",
        "name": "expected one value",
        "submission_id": "must be 8–64 letters, digits, '-' or '_'",
    }


def test_files_are_kept_and_limited(hub_config: HubConfig) -> None:
    files = [UploadedFile("Счёт.pdf", "application/pdf", b"%PDF-1.4")]
    message = parse(hub_config, GOOD, files)
    assert [(a.filename, a.size, a.data) for a in message.attachments] == [("Счёт.pdf", 8, b"%PDF-1.4")]
    with pytest.raises(InvalidFields, match="attachments"):
        parse(hub_config, GOOD, [UploadedFile(f"{i}.txt", "text/plain", b"x") for i in range(6)])


def test_without_submission_id_identical_submissions_share_an_id(hub_config: HubConfig) -> None:
    assert parse(hub_config, GOOD).external_id == parse(hub_config, dict(GOOD)).external_id
    assert parse(hub_config, GOOD).external_id != parse(hub_config, {**GOOD, "message": "other"}).external_id


def test_honeypot(hub_config: HubConfig) -> None:
    form = hub_config.forms["support"]
    assert is_spam(form, {**GOOD, "website": "http://spam"})
    assert not is_spam(form, {**GOOD, "website": "  "})


def test_a_form_message_is_seen_by_the_rules_as_sent_to_its_form(hub_config: HubConfig) -> None:
    message = parse(
        hub_config,
        {"name": "Ann", "email": "Ann@Client.Example", "subject": "Help", "message": "hi", "category": "bug"},
    )
    facts = message.facts()
    assert (facts.channel, facts.form, facts.category, facts.recipients) == (
        "form",
        "support",
        "bug",
        ("support",),
    )
    assert facts.sender == "Ann@client.example"  # the form lowercases the domain; rules compare without case
    assert facts.telegram_chat is None and facts.telegram_bot is None
