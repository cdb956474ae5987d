"""``/start`` and ``/start <payload>`` in a private chat are talk with the bot; anything else is not."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappers.telegram_commands import StartCommand, staff_command, start_command, valid_payload


def update(
    text: object, *, chat_type: str = "private", is_bot: bool = False, **sender: Any
) -> dict[str, Any]:
    person = {"id": 501, "is_bot": is_bot, "first_name": "Ann", **sender}
    chat = {"id": 501 if chat_type == "private" else -100200300, "type": chat_type}
    return {
        "update_id": 9,
        "message": {"message_id": 3, "date": 1, "chat": chat, "from": person, "text": text},
    }


@pytest.mark.parametrize(
    "text, payload",
    [
        ("/start", None),
        ("/start ", None),
        ("/start inv_AbC-123", "inv_AbC-123"),
        ("/start@trackerhub_bot inv_AbC-123", "inv_AbC-123"),
        ("  /start   x  ", "x"),
        ("/start two words", None),  # not a deep link: see the next test
    ],
)
def test_start_is_recognised(text: str, payload: str | None) -> None:
    found = start_command(update(text))
    if text == "/start two words":
        assert found is None
        return
    assert found == StartCommand(9, 501, 501, "Ann", None, None, payload)


def test_the_sender_is_read_with_name_username_and_language() -> None:
    found = start_command(update("/start", last_name="Lee", username="ann_lee", language_code="ru"))
    assert found is not None
    assert (found.name, found.username, found.language) == ("Ann Lee", "ann_lee", "ru")


@pytest.mark.parametrize(
    "built",
    [
        update("/started"),
        update("hello /start"),
        update("/help"),
        update("/start", chat_type="group"),
        update("/start", chat_type="supergroup"),
        update("/start", is_bot=True),
        update(None),
        {"update_id": 1, "edited_message": update("/start")["message"]},
        {"update_id": "1", "message": update("/start")["message"]},
        [],
        "text",
    ],
)
def test_anything_else_is_left_to_the_message_parser(built: object) -> None:
    assert start_command(built) is None


def test_a_payload_has_telegrams_alphabet_and_length() -> None:
    assert valid_payload("A" * 64) and valid_payload("a_b-9")
    assert not valid_payload("A" * 65) and not valid_payload("") and not valid_payload("кот")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(json_values, st.text(max_size=80))
def test_it_never_raises(anything: object, text: str) -> None:
    start_command(anything)
    found = start_command(update(text))
    assert found is None or found.payload is None or " " not in found.payload


@pytest.mark.parametrize(
    "text, chat_type, command",
    [
        ("/unassigned", "private", "unassigned"),
        ("/my@TrackerHubBot", "supergroup", "my"),
        (" /my  please ", "supergroup", "my"),
        ("/myself", "private", None),
        ("/my@", "private", None),
        ("what is /my status", "private", None),
        ("/start", "private", None),
    ],
)
def test_the_teams_commands_are_read_in_any_chat(text: str, chat_type: str, command: str | None) -> None:
    found = staff_command(update(text, chat_type=chat_type))
    assert (found.command if found else None) == command
    if found is not None:
        assert found.private == (chat_type == "private") and found.user_id == 501


def test_a_bot_sending_a_command_is_not_the_team() -> None:
    assert staff_command(update("/my", is_bot=True)) is None
