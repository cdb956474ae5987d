"""connector.telegram.TelegramClient against a mocked Bot API (``responses``)."""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import urlsplit

import pytest
import requests
import responses
from responses import matchers

from connector.errors import ChannelRejected, ChannelUnavailable
from connector.telegram import (
    CLOUD_DOWNLOAD_LIMIT,
    FileTooLarge,
    TelegramClient,
    TelegramFile,
    TelegramRejected,
    escape_html,
    split_text,
)

TOKEN = "123456789:AAE-secret_token-ABCdef"
API = "https://tg.example"
BOT = f"{API}/bot{TOKEN}"


@pytest.fixture
def client() -> TelegramClient:
    return TelegramClient(TOKEN, API, timeout=2.0)


@pytest.fixture
def mocked():
    with responses.RequestsMock() as rsps:
        yield rsps


def ok(result: object) -> dict:
    return {"ok": True, "result": result}


def error(code: int, description: str, **parameters: object) -> dict:
    body: dict = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


def sent_bodies(mocked: responses.RequestsMock) -> list[dict]:
    return [
        json.loads(call.request.body) for call in mocked.calls if call.request.url.endswith("/sendMessage")
    ]


# --- helpers ---------------------------------------------------------------------------------------------


def test_escape_html_escapes_only_three_characters() -> None:
    assert escape_html("<b>a & b</b> \"q\" 'x'") == "&lt;b&gt;a &amp; b&lt;/b&gt; \"q\" 'x'"
    assert escape_html("&amp;") == "&amp;amp;"


def test_split_text_short_text_is_one_piece() -> None:
    assert split_text("hello") == ["hello"]
    assert split_text("") == []
    assert split_text(" \n ") == []


def test_split_text_prefers_newlines_then_spaces() -> None:
    text = "aaaa bbbb\ncccc dddd eeee"
    assert split_text(text, limit=12) == ["aaaa bbbb", "cccc dddd", "eeee"]


def test_split_text_cuts_long_words_hard() -> None:
    assert split_text("x" * 25, limit=10) == ["x" * 10, "x" * 10, "x" * 5]


def test_split_text_counts_utf16_units() -> None:
    pieces = split_text("😀" * 10, limit=8)  # each emoji is two UTF-16 units
    assert pieces == ["😀" * 4, "😀" * 4, "😀" * 2]


def test_split_text_keeps_every_word() -> None:
    words = [f"слово{i}" for i in range(3000)]
    text = " ".join(words)
    pieces = split_text(text, limit=4096)
    assert all(len(piece) <= 4096 for piece in pieces)
    assert " ".join(pieces).split() == words


# --- getFile and download ------------------------------------------------------------------------------


def test_get_file_and_download(client: TelegramClient, mocked: responses.RequestsMock) -> None:
    mocked.get(
        f"{BOT}/getFile",
        match=[matchers.query_param_matcher({"file_id": "F1"})],
        json=ok(
            {"file_id": "F1", "file_unique_id": "U1", "file_size": 5, "file_path": "documents/file_1.pdf"}
        ),
    )
    mocked.get(f"{API}/file/bot{TOKEN}/documents/file_1.pdf", body=b"%PDF-")
    file = client.get_file("F1")
    assert file == TelegramFile("F1", "documents/file_1.pdf", 5)
    assert client.download(file.file_path) == b"%PDF-"


@pytest.mark.parametrize(
    "file_path", ["https://evil.example/x.pdf", "//evil.example/x.pdf", "@evil.example/x.pdf", "../../x.pdf"]
)
def test_a_download_stays_on_the_bot_api_host_whatever_file_path_says(
    client: TelegramClient, mocked: responses.RequestsMock, file_path: str
) -> None:
    """The token is part of the download URL, so the host must never come from getFile's answer."""
    mocked.get(re.compile(re.escape(API) + "/.*"), body=b"%PDF-")
    client.download(file_path)
    [call] = mocked.calls
    assert urlsplit(call.request.url).netloc == urlsplit(API).netloc


def test_get_file_too_big_is_file_too_large(client: TelegramClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BOT}/getFile", status=400, json=error(400, "Bad Request: file is too big"))
    with pytest.raises(FileTooLarge, match="^Bad Request: file is too big$") as caught:
        client.get_file("F1")
    assert caught.value.status == 400
    assert len(mocked.calls) == 1  # a refusal: asked once, not retried as a failure would be


def test_get_file_without_path_is_rejected(client: TelegramClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BOT}/getFile", json=ok({"file_id": "F1", "file_unique_id": "U1"}))
    with pytest.raises(TelegramRejected, match="file_path"):
        client.get_file("F1")


def test_download_stops_past_max_bytes(client: TelegramClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/file/bot{TOKEN}/big.bin", body=b"x" * 300_000, auto_calculate_content_length=False)
    with pytest.raises(FileTooLarge, match="too big"):
        client.download("big.bin", max_bytes=100_000)


def test_download_refuses_large_content_length_early(
    client: TelegramClient, mocked: responses.RequestsMock
) -> None:
    mocked.get(
        f"{API}/file/bot{TOKEN}/big.bin",
        body=b"x",
        headers={"Content-Length": str(CLOUD_DOWNLOAD_LIMIT + 1)},
        auto_calculate_content_length=False,
    )
    with pytest.raises(FileTooLarge):
        client.download("big.bin")


def test_download_at_the_limit_is_fine(client: TelegramClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/file/bot{TOKEN}/ok.bin", body=b"y" * 1000)
    assert client.download("ok.bin", max_bytes=1000) == b"y" * 1000


def test_download_missing_file_is_rejected(client: TelegramClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/file/bot{TOKEN}/gone.bin", status=404, body="Not Found")
    with pytest.raises(TelegramRejected) as caught:
        client.download("gone.bin")
    assert caught.value.status == 404


def test_get_file_retries_once_after_connection_error(
    client: TelegramClient, mocked: responses.RequestsMock
) -> None:
    mocked.get(f"{BOT}/getFile", body=requests.ConnectionError("reset"))
    mocked.get(f"{BOT}/getFile", json=ok({"file_id": "F1", "file_path": "p"}))
    assert client.get_file("F1").file_path == "p"
    assert len(mocked.calls) == 2


def test_send_is_not_retried_after_connection_error(
    client: TelegramClient, mocked: responses.RequestsMock
) -> None:
    mocked.post(f"{BOT}/sendMessage", body=requests.ConnectionError("reset"))
    with pytest.raises(ChannelUnavailable):
        client.send_message(1, "hi")
    assert len(mocked.calls) == 1


# --- sendMessage ---------------------------------------------------------------------------------------


def test_send_message_escapes_and_threads(client: TelegramClient, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{BOT}/sendMessage", json=ok({"message_id": 42, "chat": {"id": -100}, "date": 0}))
    message_id = client.send_message(-100, "<b>SUP-1</b> & done", thread_id=7, reply_to_message_id=5)
    assert message_id == 42
    assert sent_bodies(mocked) == [
        {
            "chat_id": -100,
            "text": "&lt;b&gt;SUP-1&lt;/b&gt; &amp; done",
            "parse_mode": "HTML",
            "message_thread_id": 7,
            "reply_parameters": {"message_id": 5, "allow_sending_without_reply": True},
        }
    ]


def test_send_message_without_parse_mode_sends_raw_text(
    client: TelegramClient, mocked: responses.RequestsMock
) -> None:
    mocked.post(f"{BOT}/sendMessage", json=ok({"message_id": 1}))
    client.send_message(1, "a < b", parse_mode=None)
    assert sent_bodies(mocked) == [{"chat_id": 1, "text": "a < b"}]


def test_send_message_splits_10000_chars_into_3(
    client: TelegramClient, mocked: responses.RequestsMock
) -> None:
    for message_id in (11, 12, 13):
        mocked.post(f"{BOT}/sendMessage", json=ok({"message_id": message_id}))
    text = ("Ответ & <ответ> " * 700)[:10_000]
    assert client.send_message(1, text, reply_to_message_id=9) == 13
    bodies = sent_bodies(mocked)
    assert len(bodies) == 3
    assert "reply_parameters" in bodies[0] and all("reply_parameters" not in b for b in bodies[1:])
    rendered = [b["text"].replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") for b in bodies]
    assert all(len(piece) <= 4096 for piece in rendered)
    assert " ".join(rendered).split() == text.split()
    for body in bodies:  # every '&' starts a whole entity: nothing was cut in the middle
        assert body["text"].count("&") == sum(body["text"].count(e) for e in ("&lt;", "&gt;", "&amp;"))


def test_send_message_refuses_empty_text(client: TelegramClient) -> None:
    with pytest.raises(ValueError, match="empty"):
        client.send_message(1, "  \n")


def test_send_message_refuses_other_parse_modes(client: TelegramClient) -> None:
    with pytest.raises(ValueError, match="parse_mode"):
        client.send_message(1, "x", parse_mode="MarkdownV2")


# --- errors ------------------------------------------------------------------------------------------------


def test_429_is_unavailable_with_retry_after(client: TelegramClient, mocked: responses.RequestsMock) -> None:
    mocked.post(
        f"{BOT}/sendMessage", status=429, json=error(429, "Too Many Requests: retry after 17", retry_after=17)
    )
    with pytest.raises(ChannelUnavailable) as caught:
        client.send_message(1, "hi")
    assert caught.value.retry_after == 17
    assert "Too Many Requests" in str(caught.value)


def test_403_blocked_is_rejected_with_description(
    client: TelegramClient, mocked: responses.RequestsMock
) -> None:
    mocked.post(f"{BOT}/sendMessage", status=403, json=error(403, "Forbidden: bot was blocked by the user"))
    with pytest.raises(ChannelRejected, match="^Forbidden: bot was blocked by the user$") as caught:
        client.send_message(1, "hi")
    assert isinstance(caught.value, TelegramRejected) and caught.value.status == 403


def test_400_migrated_group_carries_new_chat_id(
    client: TelegramClient, mocked: responses.RequestsMock
) -> None:
    body = error(
        400, "Bad Request: group chat was upgraded to a supergroup chat", migrate_to_chat_id=-1001555
    )
    mocked.post(f"{BOT}/sendMessage", status=400, json=body)
    with pytest.raises(TelegramRejected) as caught:
        client.send_message(-599, "hi")
    assert caught.value.migrate_to_chat_id == -1001555


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_unavailable(client: TelegramClient, mocked: responses.RequestsMock, status: int) -> None:
    mocked.post(f"{BOT}/sendMessage", status=status, body="<html>Bad Gateway</html>")
    with pytest.raises(ChannelUnavailable) as caught:
        client.send_message(1, "hi")
    assert caught.value.retry_after is None


def test_ok_false_with_200_is_an_error(client: TelegramClient, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{BOT}/sendMessage", status=200, json=error(400, "Bad Request: chat not found"))
    with pytest.raises(TelegramRejected, match="chat not found"):
        client.send_message(1, "hi")


def test_ok_false_with_200_and_429_code_is_unavailable(
    client: TelegramClient, mocked: responses.RequestsMock
) -> None:
    mocked.post(f"{BOT}/sendMessage", status=200, json=error(429, "Too Many Requests", retry_after=3))
    with pytest.raises(ChannelUnavailable) as caught:
        client.send_message(1, "hi")
    assert caught.value.retry_after == 3


def test_garbage_200_answer_is_rejected(client: TelegramClient, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{BOT}/sendMessage", status=200, body="not json")
    with pytest.raises(TelegramRejected):
        client.send_message(1, "hi")


def test_timeout_is_unavailable(client: TelegramClient, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{BOT}/sendMessage", body=requests.ReadTimeout(f"read timed out: {BOT}/sendMessage"))
    with pytest.raises(ChannelUnavailable, match="timed out"):
        client.send_message(1, "hi")


def test_every_call_has_a_timeout(mocked: responses.RequestsMock) -> None:
    seen: list[object] = []

    class Recording(requests.Session):
        def request(self, *args, **kwargs):  # type: ignore[override]
            seen.append(kwargs.get("timeout"))
            return super().request(*args, **kwargs)

    client = TelegramClient(TOKEN, API, timeout=3.5, session=Recording())
    mocked.post(f"{BOT}/sendMessage", json=ok({"message_id": 1}))
    mocked.get(f"{BOT}/getFile", json=ok({"file_id": "F", "file_path": "p"}))
    mocked.get(f"{API}/file/bot{TOKEN}/p", body=b"z")
    mocked.get(f"{BOT}/getMe", json=ok({"id": 1, "is_bot": True, "first_name": "b"}))
    mocked.post(f"{BOT}/setWebhook", json=ok(True))
    client.send_message(1, "x")
    client.download(client.get_file("F").file_path)
    client.get_me()
    assert client.set_webhook("https://hub.example/hooks/telegram", secret_token="s3cr3t") is True
    assert seen == [3.5] * 5


# --- the token never leaks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        requests.ConnectionError(
            f"HTTPSConnectionPool(host='tg.example'): Max retries exceeded with url: /bot{TOKEN}/x"
        ),
        requests.ReadTimeout(f"timed out reading {BOT}/sendMessage"),
        requests.TooManyRedirects(f"Exceeded 30 redirects: {BOT.replace(':', '%3A')}/sendMessage"),
    ],
)
def test_token_never_in_exceptions_or_logs(
    client: TelegramClient,
    mocked: responses.RequestsMock,
    caplog: pytest.LogCaptureFixture,
    failure: Exception,
) -> None:
    caplog.set_level(logging.DEBUG, logger="connector")
    mocked.post(f"{BOT}/sendMessage", body=failure)
    mocked.get(f"{BOT}/getFile", body=failure)
    mocked.get(f"{API}/file/bot{TOKEN}/x", body=failure)
    for call in (
        lambda: client.send_message(1, "hi"),
        lambda: client.get_file("F"),
        lambda: client.download("x"),
    ):
        with pytest.raises(ChannelUnavailable) as caught:
            call()
        exc = caught.value
        texts = [str(exc), repr(exc), str(exc.__cause__), str(exc.__context__)]
        assert not any(TOKEN in text or "AAE-secret" in text for text in texts)
        assert exc.__cause__ is None and exc.__context__ is None
    assert TOKEN not in caplog.text and "AAE-secret" not in caplog.text
    assert TOKEN not in repr(client)


def test_token_not_in_rejection_for_any_status(
    client: TelegramClient, mocked: responses.RequestsMock
) -> None:
    mocked.post(f"{BOT}/sendMessage", status=401, json=error(401, "Unauthorized"))
    with pytest.raises(TelegramRejected) as caught:
        client.send_message(1, "hi")
    assert TOKEN not in str(caught.value)
