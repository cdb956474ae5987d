"""Property tests: parse_update never fails with anything but AnomalousPayload or UnsupportedEvent."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mappers.errors import AnomalousPayload, UnsupportedEvent
from mappers.models import InboundMessage
from mappers.telegram import HANDLED_UPDATE_KINDS, IGNORED_UPDATE_KINDS, parse_update

RECEIVED = dt.datetime(2025, 10, 9, tzinfo=dt.UTC)
PROFILE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
ids = st.integers(min_value=-(2**52), max_value=2**52)


def either(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, 1 in 15 any JSON value: reaches the deep reads with wrong types."""
    return st.integers(0, 14).flatmap(lambda n: json_values if n == 0 else good)


def objects(
    fields: dict[str, st.SearchStrategy[Any]], required: tuple[str, ...] = ()
) -> st.SearchStrategy[dict[str, Any]]:
    """A JSON object with ``required`` keys and any subset of the other ``fields``, each plausible or not."""
    return st.fixed_dictionaries(
        {key: either(fields[key]) for key in required},
        optional={key: either(value) for key, value in fields.items() if key not in required},
    )


files = objects(
    {
        "file_id": st.text(min_size=1, max_size=10),
        "file_unique_id": st.text(max_size=10),
        "file_name": st.text(max_size=30),
        "mime_type": st.sampled_from(["audio/ogg", "image/png", "x", "application/pdf", ""]),
        "file_size": st.integers(min_value=0, max_value=2**40),
        "width": st.integers(0, 5000),
        "height": st.integers(0, 5000),
        "is_animated": st.booleans(),
        "is_video": st.booleans(),
        "emoji": st.text(max_size=2),
    },
    required=("file_id",),
)
users = objects(
    {
        "id": ids,
        "is_bot": st.booleans(),
        "first_name": st.text(max_size=20),
        "last_name": st.text(max_size=20),
        "username": st.text(max_size=20),
        "language_code": st.sampled_from(["en", "ru", ""]),
    }
)
chats = objects(
    {
        "id": ids,
        "type": st.sampled_from(["private", "group", "supergroup", "channel"]),
        "title": st.text(max_size=20),
        "is_forum": st.booleans(),
    },
    required=("id",),
)
locations = objects({"latitude": st.floats(-90, 90), "longitude": st.floats(-180, 180)})
messages = objects(
    {
        "message_id": st.integers(0, 2**31),
        "message_thread_id": st.integers(1, 2**31),
        "is_topic_message": st.booleans(),
        "is_automatic_forward": st.booleans(),
        "from": users,
        "sender_chat": chats,
        "chat": chats,
        "date": st.integers(0, 2**32),
        "edit_date": st.integers(0, 2**32),
        "text": st.text(max_size=50),
        "caption": st.text(max_size=50),
        "photo": st.lists(files, max_size=3),
        "document": files,
        "voice": files,
        "audio": files,
        "video": files,
        "video_note": files,
        "animation": files,
        "sticker": files,
        "contact": objects(
            {"phone_number": st.text(max_size=15), "first_name": st.text(max_size=10), "user_id": ids}
        ),
        "location": locations,
        "venue": objects(
            {"location": locations, "title": st.text(max_size=10), "address": st.text(max_size=10)}
        ),
        "reply_to_message": json_values,
        "migrate_to_chat_id": ids,
        "forum_topic_created": json_values,
    },
    required=("message_id", "chat"),
)
kinds = st.one_of(
    st.sampled_from(sorted(HANDLED_UPDATE_KINDS)),
    st.sampled_from(sorted(HANDLED_UPDATE_KINDS)),
    st.sampled_from(sorted(IGNORED_UPDATE_KINDS | {"future_kind"})),
)
updates = st.builds(
    lambda update_id, kind, body: {"update_id": update_id, kind: body}, either(ids), kinds, messages
)


def check(update: object) -> InboundMessage | None:
    try:
        return parse_update(update, received_at=RECEIVED)
    except (AnomalousPayload, UnsupportedEvent):
        return None


@PROFILE
@given(json_values)
def test_any_json_value_is_parsed_or_refused(value: object) -> None:
    check(value)


@PROFILE
@given(updates)
def test_update_shaped_values_are_parsed_or_refused(update: dict[str, Any]) -> None:
    message = check(update)
    if message is None:
        return
    assert message.external_id == f"tg:{update['update_id']}"
    assert message.text or message.attachments
    assert message.telegram is not None
    assert message.conversation_key.startswith(f"tg:{message.telegram.chat_id}:")
    assert all("/" not in a.filename and "\\" not in a.filename and a.filename for a in message.attachments)
    InboundMessage.model_validate_json(message.model_dump_json())


@PROFILE
@given(
    update_id=ids,
    chat_id=ids,
    message_id=st.integers(0, 2**31),
    text=st.text(min_size=1, max_size=200).filter(str.strip),
)
def test_well_formed_text_messages_always_parse(
    update_id: int, chat_id: int, message_id: int, text: str
) -> None:
    update = {
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "chat": {"id": chat_id, "type": "private"},
            "date": 0,
            "text": text,
        },
    }
    message = parse_update(update, received_at=RECEIVED)
    assert message.text == text
    assert message.conversation_key == f"tg:{chat_id}:0"
