"""The Telegram Bot API stand-in, run in a thread and driven through TelegramClient."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from connector.errors import ChannelRejected, ChannelUnavailable
from connector.telegram import FileTooLarge, TelegramClient, TelegramRejected
from sandbox.telegram.app import create_app as create_telegram_sandbox_app
from tests.sandboxes import CONTROL, run_telegram

TOKEN = "42:sandbox-token"
MB = 1024 * 1024


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    files_dir = tmp_path_factory.mktemp("tg-files")
    (files_dir / "preloaded.txt").write_bytes(b"from disk")
    with run_telegram(files_dir, faults=True) as running:
        yield running.url


@pytest.fixture
def sandbox(base_url: str) -> Iterator[str]:
    requests.post(f"{base_url}/_sandbox/reset", headers=CONTROL, timeout=5).raise_for_status()
    yield base_url


@pytest.fixture
def client(sandbox: str) -> TelegramClient:
    return TelegramClient(TOKEN, sandbox, timeout=5.0)


def sent(base: str, chat_id: int | None = None) -> list[dict]:
    params = {"chat_id": chat_id} if chat_id is not None else None
    response = requests.get(f"{base}/_sandbox/sent", params=params, headers=CONTROL, timeout=5)
    response.raise_for_status()
    return response.json()


def register(base: str, file_id: str, content: bytes, **extra: object) -> dict:
    body = {"file_id": file_id, "content_base64": base64.b64encode(content).decode(), **extra}
    response = requests.post(f"{base}/_sandbox/files", json=body, headers=CONTROL, timeout=5)
    response.raise_for_status()
    return response.json()


def fault(base: str, **body: object) -> None:
    requests.post(f"{base}/_sandbox/faults", json=body, headers=CONTROL, timeout=5).raise_for_status()


def test_get_me(client: TelegramClient) -> None:
    me = client.get_me()
    assert me["is_bot"] is True and me["username"]


def test_send_message_is_recorded_and_rendered(client: TelegramClient, sandbox: str) -> None:
    first = client.send_message(1001, "Заявка <SUP-1> & готово", thread_id=3, reply_to_message_id=77)
    second = client.send_message(2002, "other chat")
    assert second > first
    records = sent(sandbox, 1001)
    assert len(records) == 1
    record = records[0]
    assert record["chat_id"] == 1001
    assert record["text"] == "Заявка &lt;SUP-1&gt; &amp; готово"
    assert record["parse_mode"] == "HTML"
    assert record["message_thread_id"] == 3
    assert record["reply_parameters"] == {"message_id": 77, "allow_sending_without_reply": True}
    assert record["message_id"] == first
    assert len(sent(sandbox)) == 2
    requests.delete(f"{sandbox}/_sandbox/sent", headers=CONTROL, timeout=5).raise_for_status()
    assert sent(sandbox) == []


def test_long_text_is_split_and_accepted(client: TelegramClient, sandbox: str) -> None:
    client.send_message(5, ("a&b <c> " * 1250)[:10_000])
    assert len(sent(sandbox, 5)) == 3


def test_sandbox_refuses_broken_html_and_long_text(sandbox: str) -> None:
    url = f"{sandbox}/bot{TOKEN}/sendMessage"
    broken = requests.post(url, json={"chat_id": 1, "text": "a < b", "parse_mode": "HTML"}, timeout=5)
    assert broken.status_code == 400 and "can't parse entities" in broken.json()["description"]
    too_long = requests.post(url, json={"chat_id": 1, "text": "x" * 4097}, timeout=5)
    assert (
        too_long.status_code == 400 and too_long.json()["description"] == "Bad Request: message is too long"
    )
    entities = requests.post(
        url, data={"chat_id": "1", "text": "&lt;" * 4096, "parse_mode": "HTML"}, timeout=5
    )
    assert entities.json()["ok"] is True  # 4096 characters after parsing


def test_get_file_and_download(client: TelegramClient, sandbox: str) -> None:
    registered = register(sandbox, "F-1", b"%PDF-1.7 data", file_name="report.pdf")
    file = client.get_file("F-1")
    assert file.file_path == registered["file_path"] and file.file_path.endswith(".pdf")
    assert file.file_size == len(b"%PDF-1.7 data")
    assert client.download(file.file_path) == b"%PDF-1.7 data"


def test_multipart_registration(client: TelegramClient, sandbox: str) -> None:
    files = {"file": ("voice.ogg", b"OggS....", "audio/ogg")}
    response = requests.post(
        f"{sandbox}/_sandbox/files", files=files, data={"file_id": "V-1"}, headers=CONTROL, timeout=5
    )
    response.raise_for_status()
    assert client.download(client.get_file("V-1").file_path) == b"OggS...."


def test_preloaded_files_dir(client: TelegramClient) -> None:
    assert client.download(client.get_file("preloaded.txt").file_path) == b"from disk"


def test_file_over_20mb_is_too_big(client: TelegramClient, sandbox: str) -> None:
    register(sandbox, "BIG", b"", file_size=20 * MB + 1)
    with pytest.raises(FileTooLarge, match="file is too big"):
        client.get_file("BIG")


def test_download_cap(client: TelegramClient, sandbox: str) -> None:
    register(sandbox, "MID", b"z" * 200_000)
    with pytest.raises(FileTooLarge):
        client.download(client.get_file("MID").file_path, max_bytes=100_000)


def test_unknown_file_id_is_rejected(client: TelegramClient) -> None:
    with pytest.raises(TelegramRejected, match="invalid file_id"):
        client.get_file("nope")


def test_fault_429_then_recovery(client: TelegramClient, sandbox: str) -> None:
    fault(sandbox, status=429, retry_after=2, count=2)
    for _ in range(2):
        with pytest.raises(ChannelUnavailable) as caught:
            client.send_message(1, "hi")
        assert caught.value.retry_after == 2
    assert client.send_message(1, "hi") > 0
    assert len(sent(sandbox, 1)) == 1


def test_fault_5xx_and_403(client: TelegramClient, sandbox: str) -> None:
    fault(sandbox, status=502)
    with pytest.raises(ChannelUnavailable):
        client.get_me()
    fault(sandbox, status=403)
    with pytest.raises(ChannelRejected, match="bot was blocked by the user"):
        client.send_message(1, "hi")


def test_fault_delay_hits_the_client_timeout(sandbox: str) -> None:
    fault(sandbox, status=500, delay=1.0)
    slow = TelegramClient(TOKEN, sandbox, timeout=0.2)
    with pytest.raises(ChannelUnavailable, match="timed out"):
        slow.send_message(1, "hi")


def test_blocked_chat(client: TelegramClient, sandbox: str) -> None:
    requests.post(
        f"{sandbox}/_sandbox/blocked", json={"chat_id": 66}, headers=CONTROL, timeout=5
    ).raise_for_status()
    with pytest.raises(TelegramRejected, match="^Forbidden: bot was blocked by the user$"):
        client.send_message(66, "hi")
    assert client.send_message(67, "hi") > 0


def test_set_webhook_is_recorded(client: TelegramClient, sandbox: str) -> None:
    assert client.set_webhook(
        "https://hub.example/hooks/telegram", secret_token="s", allowed_updates=["message"]
    )
    recorded = requests.get(f"{sandbox}/_sandbox/webhook", headers=CONTROL, timeout=5).json()
    assert recorded["url"] == "https://hub.example/hooks/telegram"
    assert recorded["secret_token"] == "s" and recorded["allowed_updates"] == ["message"]


def test_unknown_method_is_404(sandbox: str) -> None:
    response = requests.post(f"{sandbox}/bot{TOKEN}/launchRocket", timeout=5)
    assert response.status_code == 404 and response.json()["ok"] is False


def test_required_token(tmp_path: Path) -> None:
    app = create_telegram_sandbox_app(token="1:right")
    http = app.test_client()
    assert http.get("/bot1:wrong/getMe").status_code == 401
    assert http.get("/bot1:right/getMe").json["ok"] is True


def png_header(width: int, height: int) -> bytes:
    """The start of a PNG: its signature and IHDR chunk (what the look-alike reads the size from)."""
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + len(ihdr).to_bytes(4, "big") + b"IHDR" + ihdr + b"\0\0\0\0"


def test_send_photo_takes_an_image_within_the_bot_api_limits(client: TelegramClient, sandbox: str) -> None:
    message_id = client.send_photo(-100, "chart.png", png_header(1000, 700), caption="Weekly report")
    [photo] = sent(sandbox)
    assert photo["message_id"] == message_id and photo["photo"] == "chart.png"
    assert (photo["width"], photo["height"], photo["caption"]) == (1000, 700, "Weekly report")
    with pytest.raises(TelegramRejected, match="IMAGE_PROCESS_FAILED"):
        client.send_photo(-100, "notes.txt", b"not an image")
    with pytest.raises(TelegramRejected, match="PHOTO_INVALID_DIMENSIONS"):
        client.send_photo(-100, "strip.png", png_header(4200, 200))  # wider than 20 times its height
    with pytest.raises(FileTooLarge):
        client.send_photo(-100, "huge.png", png_header(100, 100) + bytes(10 * MB))
    assert len(sent(sandbox)) == 1
