"""mappers.telegram.parse_update against every Telegram fixture, then factory-made variations."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from mappers.errors import AnomalousPayload, UnsupportedEvent
from mappers.models import InboundMessage, MessageKind
from mappers.telegram import HANDLED_UPDATE_KINDS, IGNORED_UPDATE_KINDS, parse_update

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "telegram"
RECEIVED = dt.datetime(2025, 10, 9, 12, 0, tzinfo=dt.UTC)
MB = 1024 * 1024


def load(name: str) -> dict[str, Any]:
    """A fixture as an Update; bare Message fixtures (``NN_message_*``) are wrapped in one."""
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    if name.split("_")[1] == "message":
        return {"update_id": 900000000 + int(name[:2]), "message": data}
    return data


def parse(update: object) -> InboundMessage:
    return parse_update(update, received_at=RECEIVED)


# Every fixture's expected outcome: a dict of expected values, or the exception and its text.
EXPECTED: dict[str, dict[str, Any] | tuple[type[Exception], str]] = {
    "01_update_message_text_private.teloxide.json": {
        "external_id": "tg:892252934",
        "conversation_key": "tg:218485655:0",
        "text": "hello there",
        "sender": ("Waffle", 218485655, "WaffleLapkin", "en"),
        "meta": (218485655, 6557, None, "private", None),
        "files": [],
    },
    "02_update_supergroup_command_in_thread_with_reply.teloxide.json": {
        "external_id": "tg:439432600",
        # message_thread_id names a reply chain in a plain supergroup: not a conversation of its own
        "conversation_key": "tg:-1001293752024:0",
        "text": "/report",
        "sender": ("the Cable Guy", 5964236329, "spacewhaleblues", "en"),
        "meta": (-1001293752024, 134546, None, "supergroup", None),
        "files": [],
    },
    "03_update_message_document.home-assistant.json": {
        "external_id": "tg:2",
        "conversation_key": "tg:1111111:0",
        "text": "[file]",
        "sender": ("Test Firstname Test Lastname", 12345678, "Testusername", None),
        "meta": (1111111, 2, None, "private", None),
        "files": [
            (
                "document-AQADcbzEbT-5xuBa.pdf",
                "application/pdf",
                123456,
                "AgACAgUAAxkBAAIBUWJ5aXl6Y3h5bXl6Y3h5bXl6Y3gAAJxvMRtP7nG4Fq7m0m0vBAAMCAAN5AAMjBA",
            )
        ],
    },
    "04_update_message_voice.core-telegram-webhooks-guide.json": {
        "external_id": "tg:10000",
        "conversation_key": "tg:1111111:0",
        "text": "[voice message]",
        "sender": ("Test Firstname Test Lastname", 1111111, "Testusername", None),
        "meta": (1111111, 1365, None, "private", None),
        # old-style sample without file_unique_id: the file is named after the message
        "files": [("voice-1365.ogg", "audio/ogg", 23000, "AwADBAADbXXXXXXXXXXXGBdhD2l6_XX")],
    },
    "05_update_edited_message.core-telegram-webhooks-guide.json": {
        "external_id": "tg:10000",
        "kind": MessageKind.EDIT,
        "conversation_key": "tg:1111111:0",
        "text": "Edited text",
        "sender": ("Test Firstname Test Lastname", 1111111, "Testusername", None),
        "meta": (1111111, 1365, None, "private", 1441646600),
        "files": [],
    },
    "06_update_callback_query_inline_message.core-telegram-webhooks-guide.json": (
        UnsupportedEvent,
        "callback_query",
    ),
    "07_message_forum_topic_message.teloxide.json": {
        "external_id": "tg:900000007",
        "conversation_key": "tg:-1001847508954:4",
        "text": "blah",
        "sender": ("вафель'", 1253681278, "wafflelapkin", "en"),
        "meta": (-1001847508954, 5, 4, "supergroup", None),
        "files": [],
    },
    "08_message_media_group_item_video.teloxide.json": {
        "external_id": "tg:900000008",
        "conversation_key": "tg:250918540:0",
        "text": "[video]",
        "sender": ("Андрей Власов", 250918540, "aka_dude", "en"),
        "meta": (250918540, 198283, None, "private", None),
        # file_unique_id blanked in the capture: named after the message id
        "files": [("video-198283.mp4", "video/mp4", 1381334, "BAADAgADpgQAAgX9qEud6QcgPiOAlhYE")],
    },
    "09_message_group_migrated_to_supergroup.teloxide.json": (UnsupportedEvent, "message.migrate_to_chat_id"),
    "10_message_photo_with_caption_entities.teloxide.json": {
        "external_id": "tg:900000010",
        "conversation_key": "tg:27433968:0",
        "text": "www.example.com",
        "sender": ("Crax | rats addict", 27433968, "tacocrasco", "en"),
        "meta": (27433968, 3460, None, "private", None),
        "files": [
            (
                "photo-AQADabwxGxJmgVF-.jpg",
                "image/jpeg",
                162061,
                "AgACAgQAAxkBAAINhGKvijUVSn2i3980bQIIc1fqWGNCAAJpvDEbEmaBUfuA43fR-BnlAQADAgADeQADJAQ",
            )
        ],
    },
    "11_update_forum_topic_message.hub.json": {
        "external_id": "tg:700000011",
        "conversation_key": "tg:-1002000000001:57",
        "text": "Заказ №1042 не пришёл <b>уже неделю</b> & никто не отвечает",
        "sender": ("Мария Иванова", 421337001, "maria_iv", "ru"),
        "meta": (-1002000000001, 58, 57, "supergroup", None),
        "files": [],
    },
    "12_update_edited_message.hub.json": {
        "external_id": "tg:700000012",
        "kind": MessageKind.EDIT,
        "conversation_key": "tg:421337001:0",
        "text": "Исправление: номер заказа 1043, не 1042",
        "sender": ("Мария Иванова", 421337001, "maria_iv", "ru"),
        "meta": (421337001, 101, None, "private", 1760000160),
        "files": [],
    },
    "13_update_photo_with_caption.hub.json": {
        "external_id": "tg:700000013",
        "conversation_key": "tg:421337001:0",
        "text": "Скриншот ошибки при оплате",
        "sender": ("Мария Иванова", 421337001, "maria_iv", "ru"),
        "meta": (421337001, 102, None, "private", None),
        "files": [("photo-AQADlarge.jpg", "image/jpeg", 187221, "AgACAgIAAxkBAAPhotoLarge")],
    },
    "14_update_document_over_20mb.hub.json": {
        "external_id": "tg:700000014",
        "conversation_key": "tg:421337001:0",
        "text": "[file server-logs 2025-10-09.zip]",
        "sender": ("Мария Иванова", 421337001, "maria_iv", "ru"),
        "meta": (421337001, 103, None, "private", None),
        "files": [
            ("server-logs 2025-10-09.zip", "application/zip", 30 * MB, "BQACAgIAAxkBAAIBigDocumentFileId")
        ],
    },
    "15_update_voice.hub.json": {
        "external_id": "tg:700000015",
        "conversation_key": "tg:421337001:0",
        "text": "[voice message]",
        "sender": ("Мария Иванова", 421337001, "maria_iv", "ru"),
        "meta": (421337001, 104, None, "private", None),
        "files": [("voice-AgADvoice1.ogg", "audio/ogg", 28117, "AwACAgIAAxkBAAIBVoiceFileId")],
    },
    "16_update_unknown_kind.hub.json": (UnsupportedEvent, "future_event_kind"),
    "17_update_bot_sender.hub.json": (UnsupportedEvent, "message.from_bot"),
    "18_update_service_forum_topic_created.hub.json": (UnsupportedEvent, "message.forum_topic_created"),
    "19_update_my_chat_member_blocked.hub.json": (UnsupportedEvent, "my_chat_member"),
}

ALL_FIXTURES = sorted(path.name for path in FIXTURES.glob("*.json"))


def test_every_fixture_has_an_expectation() -> None:
    assert ALL_FIXTURES, f"no fixtures in {FIXTURES}"
    assert set(ALL_FIXTURES) == set(EXPECTED)


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_fixture(name: str) -> None:
    expected = EXPECTED[name]
    if isinstance(expected, tuple):
        error, text = expected
        with pytest.raises(error) as caught:
            parse(load(name))
        assert str(caught.value) == text
        return
    message = parse(load(name))
    assert message.channel == "telegram"
    assert message.external_id == expected["external_id"]
    assert message.conversation_key == expected["conversation_key"]
    assert message.kind == expected.get("kind", MessageKind.NEW)
    assert message.subject == ""
    assert message.text == expected["text"]
    sender = message.sender
    assert (sender.name, sender.telegram_user_id, sender.telegram_username, sender.language) == expected[
        "sender"
    ]
    meta = message.telegram
    assert meta is not None
    assert (meta.chat_id, meta.message_id, meta.thread_id, meta.chat_type, meta.edit_date) == expected["meta"]
    files = [(a.filename, a.content_type, a.size, a.telegram_file_id) for a in message.attachments]
    assert files == expected["files"]
    assert all(a.data is None for a in message.attachments)
    assert message.received_at == RECEIVED
    assert InboundMessage.model_validate_json(message.model_dump_json()) == message


# --- factories ---------------------------------------------------------------------------------------

USER = {
    "id": 421337001,
    "is_bot": False,
    "first_name": "Мария",
    "last_name": "Иванова",
    "username": "maria_iv",
}
CHAT = {"id": 421337001, "type": "private", "first_name": "Мария"}


def make_message(**fields: Any) -> dict[str, Any]:
    """A private-chat text message; ``fields`` override or add (a value of None removes the field)."""
    message: dict[str, Any] = {
        "message_id": 77,
        "from": copy.deepcopy(USER),
        "chat": copy.deepcopy(CHAT),
        "date": 1760000000,
        "text": "Здравствуйте, не работает оплата",
    }
    message.update(fields)
    return {key: value for key, value in message.items() if value is not None}


def make_update(message: dict[str, Any] | None = None, *, kind: str = "message", update_id: int = 5) -> dict:
    return {"update_id": update_id, kind: message if message is not None else make_message()}


def media(**fields: Any) -> dict[str, Any]:
    return {"file_id": "FILEID", "file_unique_id": "UNIQ", **fields}


def test_the_bot_the_update_came_through_is_kept_for_the_rules() -> None:
    message = parse_update(make_update(), received_at=RECEIVED, bot_id=123456)
    assert message.telegram is not None and message.telegram.bot_id == 123456
    facts = message.facts()
    assert (facts.channel, facts.telegram_chat, facts.telegram_bot) == ("telegram", CHAT["id"], 123456)
    assert facts.text == "Здравствуйте, не работает оплата"
    assert parse(make_update()).telegram.bot_id is None  # type: ignore[union-attr]


# --- kinds ---------------------------------------------------------------------------------------------


def test_handled_and_ignored_kinds_are_disjoint() -> None:
    assert {"message", "edited_message"} == HANDLED_UPDATE_KINDS
    assert not HANDLED_UPDATE_KINDS & IGNORED_UPDATE_KINDS
    assert {"callback_query", "my_chat_member", "channel_post", "poll"} <= IGNORED_UPDATE_KINDS


@pytest.mark.parametrize("kind", sorted(IGNORED_UPDATE_KINDS))
def test_ignored_kinds_are_unsupported(kind: str) -> None:
    with pytest.raises(UnsupportedEvent, match=f"^{kind}$"):
        parse({"update_id": 1, kind: {"anything": True}})


def test_edit_has_its_own_external_id_and_kind() -> None:
    original = parse(make_update(make_message(text="v1"), update_id=10))
    edit = parse(
        make_update(make_message(text="v2", edit_date=1760000100), kind="edited_message", update_id=11)
    )
    assert original.kind == MessageKind.NEW and edit.kind == MessageKind.EDIT
    assert original.external_id != edit.external_id
    assert original.conversation_key == edit.conversation_key
    assert edit.text == "v2"
    assert edit.telegram is not None and edit.telegram.edit_date == 1760000100
    assert edit.telegram.message_id == original.telegram.message_id  # type: ignore[union-attr]


# --- threads ---------------------------------------------------------------------------------------------


def test_topic_message_ignores_topic_creation_reply() -> None:
    created = make_message(message_id=4, message_thread_id=4, is_topic_message=True, text=None)
    created["forum_topic_created"] = {"name": "t", "icon_color": 1}
    forum = {"id": -1001, "type": "supergroup", "is_forum": True}
    update = make_update(
        make_message(chat=forum, message_thread_id=4, is_topic_message=True, reply_to_message=created)
    )
    message = parse(update)
    assert message.conversation_key == "tg:-1001:4"
    assert message.telegram is not None and message.telegram.thread_id == 4


def test_general_topic_reply_is_not_a_thread() -> None:
    forum = {"id": -1001, "type": "supergroup", "is_forum": True}
    reply = make_message(message_id=3, chat=forum)
    message = parse(make_update(make_message(chat=forum, message_thread_id=3, reply_to_message=reply)))
    assert message.conversation_key == "tg:-1001:0"


def test_private_chat_topic_is_a_thread() -> None:
    message = parse(make_update(make_message(message_thread_id=12, is_topic_message=True)))
    assert message.conversation_key == "tg:421337001:12"


# --- senders ---------------------------------------------------------------------------------------------


def test_sender_without_last_name_or_username() -> None:
    message = parse(make_update(make_message(**{"from": {"id": 5, "is_bot": False, "first_name": " Ann "}})))
    assert message.sender.name == "Ann"
    assert message.sender.telegram_username is None
    assert message.sender.contact == "tg:5"


def test_bot_sender_is_unsupported_in_edits_too() -> None:
    bot = {"id": 9, "is_bot": True, "first_name": "B"}
    with pytest.raises(UnsupportedEvent, match="edited_message.from_bot"):
        parse(make_update(make_message(**{"from": bot}), kind="edited_message"))


def test_anonymous_group_admin_is_a_person() -> None:
    group = {"id": -1009, "type": "supergroup", "title": "Acme Support", "username": "acme"}
    anonymous = {"id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"}
    message = parse(make_update(make_message(chat=group, sender_chat=group, **{"from": anonymous})))
    assert message.sender.name == "Acme Support"
    assert message.sender.telegram_user_id is None
    assert message.sender.telegram_username == "acme"


def test_automatic_channel_forward_is_unsupported() -> None:
    channel = {"id": -1007, "type": "channel", "title": "News"}
    service = {"id": 777000, "is_bot": False, "first_name": "Telegram"}
    update = make_update(make_message(sender_chat=channel, is_automatic_forward=True, **{"from": service}))
    with pytest.raises(UnsupportedEvent, match="message.automatic_forward"):
        parse(update)


def test_message_without_from_has_empty_sender() -> None:
    message = parse(make_update(make_message(**{"from": None})))
    assert message.sender.name == "" and message.sender.telegram_user_id is None


# --- content ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "filename", "content_type", "placeholder"),
    [
        ("voice", media(duration=3), "voice-UNIQ.ogg", "audio/ogg", "[voice message]"),
        ("audio", media(duration=3, mime_type="audio/mpeg"), "audio-UNIQ.mp3", "audio/mpeg", "[audio]"),
        ("audio", media(duration=3, file_name="song.flac"), "song.flac", "audio/flac", "[audio]"),
        ("video", media(width=1, height=1, duration=1), "video-UNIQ.mp4", "video/mp4", "[video]"),
        ("video", media(mime_type="video/quicktime"), "video-UNIQ.mov", "video/quicktime", "[video]"),
        ("video_note", media(length=240, duration=2), "video_note-UNIQ.mp4", "video/mp4", "[video message]"),
        (
            "animation",
            media(file_name="cat.gif.mp4", mime_type="video/mp4"),
            "cat.gif.mp4",
            "video/mp4",
            "[animation]",
        ),
        (
            "sticker",
            media(is_animated=False, is_video=False, emoji="😀"),
            "sticker-UNIQ.webp",
            "image/webp",
            "[sticker 😀]",
        ),
        (
            "sticker",
            media(is_animated=True, is_video=False),
            "sticker-UNIQ.tgs",
            "application/x-tgsticker",
            "[sticker]",
        ),
        ("sticker", media(is_animated=False, is_video=True), "sticker-UNIQ.webm", "video/webm", "[sticker]"),
        ("document", media(), "document-UNIQ", "application/octet-stream", "[file]"),
        ("document", media(file_name="отчёт.pdf"), "отчёт.pdf", "application/pdf", "[file отчёт.pdf]"),
        ("document", media(mime_type="not a mime", file_name="a.txt"), "a.txt", "text/plain", "[file a.txt]"),
    ],
)
def test_media_attachment(
    field: str, value: dict, filename: str, content_type: str, placeholder: str
) -> None:
    message = parse(make_update(make_message(text=None, **{field: value})))
    assert [(a.filename, a.content_type, a.telegram_file_id) for a in message.attachments] == [
        (filename, content_type, "FILEID")
    ]
    assert message.text == placeholder


def test_caption_replaces_placeholder() -> None:
    message = parse(make_update(make_message(text=None, voice=media(), caption="слушайте")))
    assert message.text == "слушайте"


def test_animation_is_not_filed_twice_as_document() -> None:
    gif = media(file_name="x.mp4", mime_type="video/mp4")
    message = parse(make_update(make_message(text=None, animation=gif, document=gif)))
    assert [a.filename for a in message.attachments] == ["x.mp4"]


def test_largest_photo_wins_by_area_then_size() -> None:
    sizes = [
        {"file_id": "a", "file_unique_id": "A", "width": 800, "height": 800, "file_size": 10},
        {"file_id": "b", "file_unique_id": "B", "width": 800, "height": 800, "file_size": 20},
        {"file_id": "c", "file_unique_id": "C", "width": 90, "height": 90, "file_size": 99999},
    ]
    message = parse(make_update(make_message(text=None, photo=sizes)))
    assert [(a.filename, a.telegram_file_id, a.size) for a in message.attachments] == [
        ("photo-B.jpg", "b", 20)
    ]
    assert message.text == "[photo]"


def test_document_over_cloud_limit_is_still_an_attachment() -> None:
    doc = media(file_name="big.iso", file_size=2 * 1024 * MB)
    message = parse(make_update(make_message(text=None, document=doc)))
    assert message.attachments[0].size == 2 * 1024 * MB
    assert message.notes == []


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\report.docx", "report.docx"),
        ("a\x00b\u202e.pdf", "ab.pdf"),
        ("..", "document-UNIQ"),
        ("   ", "document-UNIQ"),
        ("x" * 300 + ".pdf", "x" * 196 + ".pdf"),
    ],
)
def test_document_filename_is_made_safe(given: str, expected: str) -> None:
    message = parse(make_update(make_message(text=None, document=media(file_name=given))))
    assert message.attachments[0].filename == expected


def test_contact_location_and_venue_become_text_lines() -> None:
    contact = {"phone_number": "+79990001122", "first_name": "Иван", "last_name": "Петров", "user_id": 42}
    message = parse(make_update(make_message(text=None, contact=contact)))
    assert message.text == "Contact: Иван Петров, +79990001122 (tg:42)"
    location = {"latitude": 55.751244, "longitude": 37.618423}
    message = parse(make_update(make_message(text=None, location=location)))
    assert message.text == "Location: 55.751244, 37.618423"
    venue = {"location": location, "title": "ГУМ", "address": "Красная пл., 3"}
    message = parse(make_update(make_message(text=None, venue=venue, location=location)))
    assert message.text == "Venue: ГУМ, Красная пл., 3\nLocation: 55.751244, 37.618423"


def test_text_is_not_escaped() -> None:
    raw = "[~admin] {color:red}x{color} <script>&amp; *bold* !image.png!"
    assert parse(make_update(make_message(text=raw))).text == raw


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({"new_chat_members": [USER]}, "message.new_chat_members"),
        ({"migrate_to_chat_id": -100123}, "message.migrate_to_chat_id"),
        ({"pinned_message": {"message_id": 1}}, "message.pinned_message"),
        ({"poll": {"id": "1", "question": "?"}}, "message.poll"),
        ({"dice": {"emoji": "🎲", "value": 3}}, "message.dice"),
        ({}, "message.empty"),
        ({"text": ""}, "message.empty"),
    ],
)
def test_messages_without_content_are_unsupported(fields: dict, kind: str) -> None:
    message = make_message(text=None)
    message.update(fields)
    with pytest.raises(UnsupportedEvent, match=f"^{kind}$"):
        parse(make_update(message))


# --- anomalies ---------------------------------------------------------------------------------------------


def _without(data: dict, *path: str) -> dict:
    data = copy.deepcopy(data)
    target = data
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return data


def _with(data: dict, value: Any, *path: str) -> dict:
    data = copy.deepcopy(data)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


GOOD = make_update()


@pytest.mark.parametrize(
    "update",
    [
        None,
        [],
        "update",
        42,
        {},
        {"message": make_message()},
        _with(GOOD, "5", "update_id"),
        _with(GOOD, True, "update_id"),
        _with(GOOD, 5.0, "update_id"),
        {"update_id": 5},
        _with(GOOD, None, "message"),
        _with(GOOD, "hi", "message"),
        _with(GOOD, [], "message"),
        _without(GOOD, "message", "chat"),
        _without(GOOD, "message", "chat", "id"),
        _with(GOOD, "421337001", "message", "chat", "id"),
        _with(GOOD, 1, "message", "chat", "type"),
        _without(GOOD, "message", "message_id"),
        _with(GOOD, 12, "message", "text"),
        _with(GOOD, "no", "message", "from", "is_bot"),
        _with(GOOD, "x", "message", "from", "id"),
        _with(GOOD, ["Ann"], "message", "from", "first_name"),
        _with(GOOD, "1", "message", "is_topic_message"),
        _with(GOOD, "4", "message", "message_thread_id"),
        _with(GOOD, [], "message", "photo"),
        _with(GOOD, {"file_id": "x"}, "message", "photo"),
        _with(GOOD, [{"file_unique_id": "x"}], "message", "photo"),
        _with(GOOD, [1], "message", "photo"),
        _with(GOOD, {"file_unique_id": "x"}, "message", "document"),
        _with(GOOD, media(file_size="12"), "message", "document"),
        _with(GOOD, media(file_name=5), "message", "document"),
        _with(GOOD, "file", "message", "voice"),
        _with(GOOD, {"latitude": "55"}, "message", "location"),
        {"update_id": 5, "message": make_message(), "edited_message": make_message()},
        {"update_id": 5, 1: "x"},
    ],
)
def test_anomalous_payloads(update: object) -> None:
    with pytest.raises(AnomalousPayload) as caught:
        parse(update)
    assert str(caught.value).startswith(("not a Telegram update", "update carries"))


def test_null_optional_fields_count_as_absent() -> None:
    nulls = {"photo": None, "document": None, "location": None, "from": None, "message_thread_id": None}
    message = parse(make_update(make_message(text="hi", **nulls) | nulls))
    assert (message.text, message.attachments, message.conversation_key) == ("hi", [], "tg:421337001:0")
