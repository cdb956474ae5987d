"""The Telegram stand-in's other side: inline keyboards, button presses and their answers, edits, deep
links, and the chat page, with updates delivered to a webhook as Telegram delivers them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connector.telegram import TelegramClient, TelegramRejected
from sandbox.server import RunningSandbox
from tests.sandboxes import CONTROL, Receiver, flush, run_telegram

TOKEN = "42:sandbox-token"
SECRET = "hook-secret"  # noqa: S105 - a test secret
STAFF_CHAT = -100200300
KEYBOARD = {
    "inline_keyboard": [
        [{"text": "Take", "callback_data": "take:1"}, {"text": "Open", "url": "https://x.test/1"}]
    ]
}
ANN = {"id": 501, "first_name": "Ann"}
BOB = {"id": 502, "first_name": "Bob"}


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = Receiver("/hooks/telegram")
    yield found
    found.stop()


@pytest.fixture(scope="module")
def running(receiver: Receiver) -> Iterator[RunningSandbox]:
    with run_telegram(webhook_url=receiver.url, secret_token=SECRET) as sandbox:
        yield sandbox


@pytest.fixture
def tg(running: RunningSandbox, receiver: Receiver) -> RunningSandbox:
    # the previous test's updates may still be on their way (a reset does not drop queued deliveries):
    # let them arrive before the receiver forgets what it got, or one lands in this test's list
    flush(running)
    requests.post(f"{running.url}/_sandbox/reset", headers=CONTROL, timeout=5).raise_for_status()
    receiver.received.clear()
    return running


def call(tg: RunningSandbox, method: str, **params: Any) -> requests.Response:
    return requests.post(f"{tg.url}/bot{TOKEN}/{method}", json=params, timeout=5)


def control(tg: RunningSandbox, path: str, **body: Any) -> requests.Response:
    return requests.post(f"{tg.url}/_sandbox/{path}", json=body, headers=CONTROL, timeout=5)


def card(tg: RunningSandbox, markup: dict[str, Any] = KEYBOARD) -> int:
    response = call(tg, "sendMessage", chat_id=STAFF_CHAT, text="NEW-1: printer", reply_markup=markup)
    assert response.status_code == 200, response.text
    return int(response.json()["result"]["message_id"])


def updates(tg: RunningSandbox, receiver: Receiver) -> list[dict[str, Any]]:
    flush(tg)
    return [r.payload for r in receiver.received]


def test_a_keyboard_is_kept_and_returned(tg: RunningSandbox) -> None:
    message_id = card(tg)
    sent = requests.get(f"{tg.url}/_sandbox/chats/{STAFF_CHAT}.json", headers=CONTROL, timeout=5).json()
    assert sent[0]["message_id"] == message_id
    assert sent[0]["reply_markup"] == KEYBOARD
    assert [b["callback_data"] for b in sent[0]["buttons"]] == ["take:1"]


@pytest.mark.parametrize(
    "button, description",
    [
        ({"text": "Take", "callback_data": "x" * 65}, "BUTTON_DATA_INVALID"),
        ({"text": "Взять", "callback_data": "я" * 33}, "BUTTON_DATA_INVALID"),  # 66 bytes, 33 characters
        ({"text": "Take", "callback_data": ""}, "BUTTON_DATA_INVALID"),
        ({"text": "Take"}, "text buttons are unallowed in the inline keyboard"),
        ({"text": "Take", "callback_data": "a", "url": "https://x.test"}, "exactly one action"),
        ({"text": "Open", "url": "javascript:alert(1)"}, "BUTTON_URL_INVALID"),
    ],
)
def test_a_keyboard_the_bot_api_refuses(tg: RunningSandbox, button: dict[str, Any], description: str) -> None:
    response = call(
        tg, "sendMessage", chat_id=STAFF_CHAT, text="x", reply_markup={"inline_keyboard": [[button]]}
    )
    assert response.status_code == 400
    assert description in response.json()["description"]


def test_a_form_encoded_markup_is_parsed(tg: RunningSandbox) -> None:
    response = requests.post(
        f"{tg.url}/bot{TOKEN}/sendMessage",
        data={"chat_id": STAFF_CHAT, "text": "x", "reply_markup": json.dumps(KEYBOARD)},
        timeout=5,
    )
    assert response.json()["result"]["reply_markup"] == KEYBOARD
    broken = requests.post(
        f"{tg.url}/bot{TOKEN}/sendMessage", data={"chat_id": 1, "text": "x", "reply_markup": "{"}, timeout=5
    )
    assert broken.status_code == 400


def test_a_press_reaches_the_webhook_with_its_secret(tg: RunningSandbox, receiver: Receiver) -> None:
    message_id = card(tg)
    answer = control(
        tg, "users/press", chat_id=STAFF_CHAT, message_id=message_id, data="take:1", **{"from": ANN}
    )
    assert answer.status_code == 200 and answer.json()["delivered"] is True
    flush(tg)
    (got,) = receiver.received
    assert got.headers["X-Telegram-Bot-Api-Secret-Token"] == SECRET
    query = got.payload["callback_query"]
    assert query["data"] == "take:1"
    assert query["from"]["id"] == ANN["id"]
    assert query["message"]["message_id"] == message_id
    assert query["message"]["chat"]["id"] == STAFF_CHAT


def test_a_press_is_answered_once(tg: RunningSandbox, receiver: Receiver) -> None:
    message_id = card(tg)
    control(tg, "users/press", chat_id=STAFF_CHAT, message_id=message_id, data="take:1", **{"from": ANN})
    query_id = updates(tg, receiver)[0]["callback_query"]["id"]
    first = call(tg, "answerCallbackQuery", callback_query_id=query_id, text="Taken by you")
    assert first.json() == {"ok": True, "result": True}
    again = call(tg, "answerCallbackQuery", callback_query_id=query_id, text="again")
    assert again.status_code == 400 and "query is too old" in again.json()["description"]
    unknown = call(tg, "answerCallbackQuery", callback_query_id="nope")
    assert unknown.status_code == 400
    presses = requests.get(f"{tg.url}/_sandbox/presses", headers=CONTROL, timeout=5).json()
    assert [p["answer"]["text"] for p in presses] == ["Taken by you"]


def test_an_answer_too_late_or_too_long_is_refused(receiver: Receiver) -> None:
    with run_telegram(webhook_url=receiver.url, answer_window=0.0) as late:
        message_id = card(late)
        update = control(
            late, "users/press", chat_id=STAFF_CHAT, message_id=message_id, data="take:1", **{"from": ANN}
        )
        query_id = update.json()["update"]["callback_query"]["id"]
        flush(late)
        response = call(late, "answerCallbackQuery", callback_query_id=query_id)
        assert response.status_code == 400 and "too old" in response.json()["description"]
    receiver.received.clear()


def test_an_answer_over_200_characters_is_refused(tg: RunningSandbox) -> None:
    message_id = card(tg)
    update = control(
        tg, "users/press", chat_id=STAFF_CHAT, message_id=message_id, data="take:1", **{"from": ANN}
    )
    query_id = update.json()["update"]["callback_query"]["id"]
    response = call(tg, "answerCallbackQuery", callback_query_id=query_id, text="x" * 201)
    assert response.status_code == 400 and response.json()["description"] == "Bad Request: MESSAGE_TOO_LONG"


def test_only_a_button_on_the_message_can_be_pressed(tg: RunningSandbox, receiver: Receiver) -> None:
    message_id = card(tg)
    forged = control(
        tg, "users/press", chat_id=STAFF_CHAT, message_id=message_id, data="take:2", **{"from": ANN}
    )
    assert forged.status_code == 400
    elsewhere = control(
        tg, "users/press", chat_id=STAFF_CHAT, message_id=message_id + 99, data="take:1", **{"from": ANN}
    )
    assert elsewhere.status_code == 400
    assert updates(tg, receiver) == []


def test_an_edit_changes_what_the_chat_shows(tg: RunningSandbox) -> None:
    message_id = card(tg)
    edited = call(
        tg, "editMessageText", chat_id=STAFF_CHAT, message_id=message_id, text="NEW-1: taken by Ann"
    )
    assert edited.status_code == 200
    assert "reply_markup" not in edited.json()["result"]  # an edit without a keyboard removes it
    chat = requests.get(f"{tg.url}/_sandbox/chats/{STAFF_CHAT}.json", headers=CONTROL, timeout=5).json()
    assert chat[0]["text"] == "NEW-1: taken by Ann" and chat[0]["edited"] is True and chat[0]["buttons"] == []
    same = call(tg, "editMessageText", chat_id=STAFF_CHAT, message_id=message_id, text="NEW-1: taken by Ann")
    assert same.status_code == 400 and "message is not modified" in same.json()["description"]
    markup = call(
        tg, "editMessageReplyMarkup", chat_id=STAFF_CHAT, message_id=message_id, reply_markup=KEYBOARD
    )
    assert markup.json()["result"]["reply_markup"] == KEYBOARD
    missing = call(tg, "editMessageText", chat_id=STAFF_CHAT, message_id=message_id + 99, text="x")
    assert missing.status_code == 400 and "message to edit not found" in missing.json()["description"]


def test_a_pressed_button_that_was_edited_away_cannot_be_pressed(tg: RunningSandbox) -> None:
    message_id = card(tg)
    call(
        tg,
        "editMessageReplyMarkup",
        chat_id=STAFF_CHAT,
        message_id=message_id,
        reply_markup={"inline_keyboard": []},
    )
    late = control(
        tg, "users/press", chat_id=STAFF_CHAT, message_id=message_id, data="take:1", **{"from": BOB}
    )
    assert late.status_code == 400


def test_a_persons_message_cannot_be_edited_by_the_bot(tg: RunningSandbox) -> None:
    written = control(tg, "users/write", chat_id=ANN["id"], text="hello")
    message_id = written.json()["update"]["message"]["message_id"]
    response = call(tg, "editMessageText", chat_id=ANN["id"], message_id=message_id, text="changed")
    assert response.status_code == 400 and "can't be edited" in response.json()["description"]


def test_a_reply_carries_the_message_it_answers(tg: RunningSandbox, receiver: Receiver) -> None:
    message_id = card(tg)
    control(
        tg, "users/write", chat_id=STAFF_CHAT, text="On it", reply_to_message_id=message_id, **{"from": BOB}
    )
    (update,) = updates(tg, receiver)
    message = update["message"]
    assert message["text"] == "On it" and message["from"]["id"] == BOB["id"]
    assert message["chat"] == {"id": STAFF_CHAT, "type": "supergroup"}
    assert message["reply_to_message"]["message_id"] == message_id
    assert message["reply_to_message"]["text"] == "NEW-1: printer"


def test_a_start_link_sends_the_start_command(tg: RunningSandbox, receiver: Receiver) -> None:
    response = control(tg, "users/start", payload="inv_AbC-123", **{"from": ANN})
    assert response.status_code == 200
    (update,) = updates(tg, receiver)
    message = update["message"]
    assert message["text"] == "/start inv_AbC-123"
    assert message["chat"] == {"id": ANN["id"], "type": "private"}
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    for payload in ("", "x" * 65, "has space", "кириллица"):
        assert control(tg, "users/start", payload=payload, **{"from": ANN}).status_code == 400


def test_an_update_kind_the_bot_did_not_ask_for_is_not_sent(tg: RunningSandbox, receiver: Receiver) -> None:
    call(tg, "setWebhook", url=receiver.url, secret_token=SECRET, allowed_updates=["message"])
    message_id = card(tg)
    pressed = control(
        tg, "users/press", chat_id=STAFF_CHAT, message_id=message_id, data="take:1", **{"from": ANN}
    )
    assert pressed.json()["delivered"] is False
    written = control(tg, "users/write", chat_id=ANN["id"], text="hi")
    assert written.json()["delivered"] is True
    assert [list(u)[1] for u in updates(tg, receiver)] == ["message"]


def test_the_chat_page_escapes_and_presses(tg: RunningSandbox, receiver: Receiver) -> None:
    message_id = card(tg, {"inline_keyboard": [[{"text": "<b>Take</b>", "callback_data": "take:1"}]]})
    control(tg, "users/write", chat_id=STAFF_CHAT, text="<script>alert(1)</script>", **{"from": BOB})
    browser = requests.Session()
    assert browser.get(f"{tg.url}/_sandbox/chats/{STAFF_CHAT}", timeout=5).status_code in (401, 403)
    browser.get(f"{tg.url}/_sandbox/login", params={"token": CONTROL["X-Sandbox-Token"]}, timeout=5)
    page = browser.get(f"{tg.url}/_sandbox/chats/{STAFF_CHAT}", timeout=5)
    assert page.status_code == 200
    assert "<script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "&lt;b&gt;Take&lt;/b&gt;" in page.text
    assert "form-action 'self'" in page.headers["Content-Security-Policy"]
    pressed = browser.post(
        f"{tg.url}/_sandbox/chats/press",
        data={"chat_id": STAFF_CHAT, "message_id": message_id, "data": "take:1", "user_id": BOB["id"]},
        allow_redirects=False,
        timeout=5,
    )
    assert pressed.status_code == 303 and pressed.headers["Location"].startswith(
        f"/_sandbox/chats/{STAFF_CHAT}"
    )
    kinds = [list(u)[1] for u in updates(tg, receiver)]
    assert kinds == ["message", "callback_query"]
    wrong = browser.post(
        f"{tg.url}/_sandbox/chats/press",
        data={"chat_id": STAFF_CHAT, "message_id": message_id, "data": "take:9"},
        allow_redirects=False,
        timeout=5,
    )
    assert wrong.status_code == 303 and "error=" in wrong.headers["Location"]


def test_the_hubs_client_sends_keyboards_edits_and_answers(tg: RunningSandbox, receiver: Receiver) -> None:
    client = TelegramClient(TOKEN, tg.url, timeout=5.0)
    message_id = client.send_message(STAFF_CHAT, "card <1>", reply_markup=KEYBOARD)
    client.edit_message_text(STAFF_CHAT, message_id, "card <1>: taken")
    client.edit_message_text(STAFF_CHAT, message_id, "card <1>: taken")  # "not modified" is success
    chat = requests.get(f"{tg.url}/_sandbox/chats/{STAFF_CHAT}.json", headers=CONTROL, timeout=5).json()
    assert chat[0]["text"] == "card <1>: taken" and chat[0]["buttons"] == []
    client.edit_message_text(STAFF_CHAT, message_id, "card <1>: again", reply_markup=KEYBOARD)
    pressed = control(
        tg, "users/press", chat_id=STAFF_CHAT, message_id=message_id, data="take:1", **{"from": ANN}
    )
    query_id = pressed.json()["update"]["callback_query"]["id"]
    client.answer_callback_query(query_id, "x" * 300, show_alert=True)  # cut to Telegram's 200
    presses = requests.get(f"{tg.url}/_sandbox/presses", headers=CONTROL, timeout=5).json()
    assert presses[0]["answer"] == {"text": "x" * 200, "show_alert": True, "url": None}
    with pytest.raises(TelegramRejected):
        client.answer_callback_query(query_id, "twice")
