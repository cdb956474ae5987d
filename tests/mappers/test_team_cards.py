"""The team chat's card, its buttons and the presses that come back (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappers.team_cards import (
    CardFacts,
    card_text,
    forward_text,
    keyboard,
    parse_press,
    parse_reply,
    routed_card,
    taken_card,
    taken_text,
)

CARD = "0123456789abcdef0123"


def test_the_card_names_the_key_the_summary_and_who_asked_how() -> None:
    text = card_text(CardFacts("SUP-7", "Printer on fire", "Ann Lee", "email"))
    assert text == "New request SUP-7: Printer on fire\nFrom Ann Lee by e-mail"
    assert taken_text(text, "Bob").endswith("\n\nTaken by Bob")
    urgent = CardFacts("SUP-8", "Site down", "Ann Lee", "telegram", "Highest", "52 min of working time left")
    assert card_text(urgent).endswith(
        "From Ann Lee by Telegram\nPriority: Highest · first response: 52 min of working time left"
    )


def test_a_follow_up_under_the_card_names_the_issue_and_the_customer_and_is_clipped() -> None:
    assert forward_text("SUP-7", "Ann Lee", "  It jams again \n") == "↩ SUP-7 · Ann Lee: It jams again"
    assert forward_text("SUP-7", "Ann Lee", "") == "↩ SUP-7 · Ann Lee: (no text: see the issue)"
    long = forward_text("SUP-7", "Ann Lee", "x" * 5000)
    assert long.endswith("x…") and len(long) == len("↩ SUP-7 · Ann Lee: ") + 1500 + 1


def test_buttons_take_route_open_and_take_goes_once_taken() -> None:
    fresh = keyboard(CARD, open_url="https://j/browse/SUP-7", route_url="https://hub/route/t", taken=False)
    assert fresh == {
        "inline_keyboard": [
            [{"text": "Take", "callback_data": f"take:{CARD}"}],
            [
                {"text": "Route →", "url": "https://hub/route/t"},
                {"text": "Open", "url": "https://j/browse/SUP-7"},
            ],
        ]
    }
    assert len(f"take:{CARD}".encode()) <= 64  # Telegram's limit for callback_data
    taken = keyboard(CARD, open_url="https://j/browse/SUP-7", route_url=None, taken=True)
    assert taken == {"inline_keyboard": [[{"text": "Open", "url": "https://j/browse/SUP-7"}]]}


def test_route_buttons_two_a_row_at_most_six_and_none_over_the_data_limit() -> None:
    routes = [(f"r{i}", f"Team {i}") for i in range(8)] + [("x" * 40, "Too long an id")]
    rows = keyboard(CARD, open_url="o", route_url=None, taken=True, routes=routes)["inline_keyboard"]
    assert [[b["text"] for b in row] for row in rows] == [
        ["→ Team 0", "→ Team 1"],
        ["→ Team 2", "→ Team 3"],
        ["→ Team 4", "→ Team 5"],
        ["Open"],
    ]
    assert routed_card(rows[0][1]["callback_data"]) == (CARD, "r1")
    assert routed_card(f"take:{CARD}") is None and routed_card(f"route:{CARD}:Bad!") is None


@pytest.mark.parametrize(
    "data, card",
    [(f"take:{CARD}", CARD), ("take:SUP-7", None), (f"take:{CARD}x", None), ("route:1", None), ("", None)],
)
def test_only_take_with_a_card_id_names_a_card(data: str, card: str | None) -> None:
    assert taken_card(data) == card


def press_update(**query: Any) -> dict[str, Any]:
    body = {
        "id": "q1",
        "from": {"id": 501, "is_bot": False, "first_name": "Ann", "last_name": "Lee"},
        "message": {"message_id": 5, "date": 1, "chat": {"id": -100200300, "type": "supergroup"}},
        "chat_instance": "1",
        "data": f"take:{CARD}",
        **query,
    }
    return {"update_id": 3, "callback_query": body}


def test_a_press_is_read() -> None:
    press = parse_press(press_update())
    assert press is not None
    assert (press.query_id, press.user_id, press.name, press.chat_id, press.message_id, press.data) == (
        "q1",
        501,
        "Ann Lee",
        -100200300,
        5,
        f"take:{CARD}",
    )


@pytest.mark.parametrize(
    "update",
    [
        press_update(message=None),  # an inline-mode press: no message the bot can check
        press_update(message={"message_id": 0, "date": 0, "chat": {"id": "x"}}),
        press_update(id=7),
        {"update_id": 3, "message": {}},
        {"update_id": "3", "callback_query": press_update()["callback_query"]},
        None,
    ],
)
def test_what_is_not_a_press_on_a_message_is_none(update: object) -> None:
    assert parse_press(update) is None


@given(
    st.recursive(
        st.none() | st.integers() | st.text(max_size=10),
        lambda c: st.dictionaries(st.text(max_size=10), c, max_size=4),
        max_leaves=15,
    )
)
def test_parse_press_never_raises(anything: object) -> None:
    parse_press({"update_id": 1, "callback_query": anything})


def reply_update(text: object = "We are on it", **message: Any) -> dict[str, Any]:
    chat = {"id": -100200300, "type": "supergroup"}
    body = {
        "message_id": 9,
        "date": 1,
        "chat": chat,
        "from": {"id": 501, "is_bot": False, "first_name": "Ann"},
        "text": text,
        "reply_to_message": {"message_id": 5, "date": 1, "chat": chat},
        **message,
    }
    return {"update_id": 4, "message": body}


def test_a_reply_to_a_card_is_read_and_an_exclamation_mark_makes_it_internal() -> None:
    found = parse_reply(reply_update())
    assert found is not None and (found.chat_id, found.reply_to, found.message_id) == (-100200300, 5, 9)
    assert (found.internal, found.body) == (False, "We are on it")
    note = parse_reply(reply_update("!  old firmware "))
    assert note is not None and (note.internal, note.body) == (True, "old firmware")


@pytest.mark.parametrize(
    "update",
    [
        reply_update(reply_to_message=None),
        reply_update("!"),
        reply_update("   "),
        reply_update(None),
        reply_update(**{"from": {"id": 1, "is_bot": True, "first_name": "bot"}}),
        {"update_id": 4, "edited_message": reply_update()["message"]},
    ],
)
def test_what_is_not_a_persons_reply_with_text_is_none(update: dict[str, Any]) -> None:
    assert parse_reply(update) is None
