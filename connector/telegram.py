"""A small synchronous Telegram Bot API client on ``requests``.

Calls follow https://core.telegram.org/bots/api ("Making requests"): every method is
``{api_url}/bot<token>/<method>`` and answers ``{"ok": true, "result": ...}`` or
``{"ok": false, "error_code", "description", "parameters"?}`` (``ResponseParameters``: ``retry_after``,
``migrate_to_chat_id``). Files are fetched with ``getFile`` (#getfile) and then
``{api_url}/file/bot<token>/<file_path>``, at most 20 MB from the cloud Bot API. ``sendMessage``
(#sendmessage) takes 1-4096 characters after entity parsing; text is sent with ``parse_mode=HTML``
and escaped as "Formatting options" (#html-style) asks: only ``&``, ``<`` and ``>``.

Errors become the connector's exceptions: 429, 5xx, timeouts and connection errors are
:class:`ChannelUnavailable` (with ``retry_after`` when Telegram gives one); other refusals are
:class:`TelegramRejected` (a :class:`ChannelRejected`) carrying Telegram's ``description``. There is no
retry loop here: the job layer re-enqueues. The only retry is one more attempt of an idempotent GET
after a connection error.

The bot token is part of every URL. It never appears in a log line or an exception message: texts
from ``requests`` are scrubbed and their exception chains suppressed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from connector.errors import ChannelRejected, ChannelUnavailable, DeliveryUncertain
from connector.sessions import pin_environment

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.telegram.org"
CLOUD_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # the cloud Bot API's getFile limit
UPLOAD_LIMIT = 50 * 1024 * 1024  # the cloud Bot API's limit for files a bot sends
PHOTO_LIMIT = 10 * 1024 * 1024  # sendPhoto's upload limit (https://core.telegram.org/bots/api#sendphoto)
MESSAGE_LIMIT = 4096  # sendMessage text length after entity parsing
CALLBACK_ANSWER_LIMIT = 200  # answerCallbackQuery text
_CHUNK = 64 * 1024
_SCRUBBED = "<token>"


class TelegramRejected(ChannelRejected):
    """Telegram refused the call; retrying the same call will not help.

    ``description`` is Telegram's text (e.g. "Forbidden: bot was blocked by the user"), ``status`` the
    HTTP status or ``error_code``, ``migrate_to_chat_id`` the new id of a group that became a supergroup.
    """

    def __init__(
        self, description: str, *, status: int | None = None, migrate_to_chat_id: int | None = None
    ) -> None:
        super().__init__(description)
        self.description = description
        self.status = status
        self.migrate_to_chat_id = migrate_to_chat_id


class FileTooLarge(TelegramRejected):
    """The file is over what may be moved: 20 MB down (``getFile``), 50 MB up, or ``max_bytes``."""


@dataclass(frozen=True)
class TelegramFile:
    """A file ready to download: ``getFile``'s answer (#file)."""

    file_id: str
    file_path: str
    file_size: int | None = None


def escape_html(text: str) -> str:
    """Escape text for ``parse_mode=HTML``: ``&``, ``<`` and ``>`` only, as the Bot API asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split plain text into pieces of at most ``limit`` characters, at line or word boundaries.

    Works on the text as the reader sees it, before :func:`escape_html`, so no HTML entity can be cut;
    escape each piece afterwards. Length is counted in UTF-16 code units (what Telegram's entity
    offsets use), which is never less than the count of characters, so a piece fits either way.
    A word longer than ``limit`` is cut. The separator at a cut (a newline or a space) is dropped;
    pieces that are only whitespace are dropped too, since Telegram refuses empty messages.
    """
    if limit < 2:
        raise ValueError("limit must be at least 2")
    pieces: list[str] = []
    rest = text
    while _units(rest) > limit:
        end = _prefix_end(rest, limit)
        cut, skip = _find_cut(rest, end)
        pieces.append(rest[:cut])
        rest = rest[cut + skip :]
    pieces.append(rest)
    return [piece for piece in pieces if piece.strip()]


def _units(text: str) -> int:
    """Length in UTF-16 code units."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _prefix_end(text: str, limit: int) -> int:
    """The largest ``n`` with ``text[:n]`` at most ``limit`` UTF-16 units."""
    units = 0
    for index, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def _find_cut(text: str, end: int) -> tuple[int, int]:
    """Where to end a piece that may hold ``text[:end]``; the cut index and separator chars to drop.

    A newline in the second half of the window wins, then the last whitespace, then a hard cut.
    The character right after the window counts too: if it is a boundary, the whole window fits.
    """
    window = text[: end + 1]
    newline = window.rfind("\n")
    if newline > 0 and newline >= end // 2:
        return newline, 1
    for index in range(len(window) - 1, 0, -1):
        if window[index].isspace():
            return index, 1
    return end, 0


class TelegramClient:
    """One bot's Bot API client. Thread-safe as far as its ``requests.Session`` is."""

    def __init__(
        self,
        token: str,
        api_url: str = DEFAULT_API_URL,
        *,
        timeout: float = 15.0,
        session: requests.Session | None = None,
        download_timeout: float = 300.0,
    ) -> None:
        if not token:
            raise ValueError("a bot token is required")
        self._token = token
        self._api_url = api_url.rstrip("/")
        self._timeout = timeout
        self._download_timeout = download_timeout
        self._session = session or requests.Session()
        pin_environment(self._session, self._api_url)

    def __repr__(self) -> str:
        return f"TelegramClient(api_url={self._api_url!r})"

    # --- methods ------------------------------------------------------------------------------------

    def get_me(self) -> dict[str, Any]:
        """The bot's own ``User`` (#getme): a cheap check that the token works."""
        result = self._call("getMe", get=True)
        if not isinstance(result, dict):
            raise TelegramRejected("getMe answered without a User")
        return result

    def set_webhook(
        self,
        url: str,
        *,
        secret_token: str | None = None,
        allowed_updates: list[str] | None = None,
        drop_pending_updates: bool = False,
    ) -> bool:
        """Point the bot at the hub's ``/hooks/telegram`` (#setwebhook)."""
        payload: dict[str, Any] = {"url": url, "drop_pending_updates": drop_pending_updates}
        if secret_token is not None:
            payload["secret_token"] = secret_token
        if allowed_updates is not None:
            payload["allowed_updates"] = allowed_updates
        return self._call("setWebhook", payload=payload) is True

    def get_file(self, file_id: str) -> TelegramFile:
        """Resolve a ``file_id`` to a download path (#getfile); FileTooLarge over the cloud limit."""
        result = self._call("getFile", payload={"file_id": file_id}, get=True)
        if not isinstance(result, dict):
            raise TelegramRejected("getFile answered without a File")
        path = result.get("file_path")
        if not isinstance(path, str) or not path:
            raise TelegramRejected("getFile answered without file_path")
        size = result.get("file_size")
        return TelegramFile(
            file_id=str(result.get("file_id") or file_id),
            file_path=path,
            file_size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        )

    def download(self, file_path: str, *, max_bytes: int = CLOUD_DOWNLOAD_LIMIT) -> bytes:
        """The file's bytes, streamed; FileTooLarge as soon as more than ``max_bytes`` arrive."""
        url = f"{self._api_url}/file/bot{self._token}/{quote(file_path, safe='/')}"
        deadline = time.monotonic() + self._download_timeout
        response = self._request("GET", url, what="file download", retry=True, stream=True)
        with response:
            if response.status_code != 200:
                raise self._http_error(response, "file download")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FileTooLarge(f"file is too big: {declared} bytes over {max_bytes}", status=413)
            return self._read_capped(response, max_bytes, deadline)

    def send_message(
        self,
        chat_id: int | str,
        text: str,
        *,
        thread_id: int | None = None,
        reply_to_message_id: int | None = None,
        parse_mode: str | None = "HTML",
        reply_markup: dict[str, Any] | None = None,
    ) -> int:
        """Send plain ``text``, escaped for ``parse_mode`` and split to fit; the last message's id.

        Only the first piece replies to ``reply_to_message_id``; only the last carries ``reply_markup``
        (an inline keyboard, #inlinekeyboardmarkup). A failure after some pieces went out raises like any
        other: a retry of the whole call sends those pieces again.
        """
        if parse_mode not in ("HTML", None):
            raise ValueError("only parse_mode='HTML' or None is supported")
        pieces = split_text(text)
        if not pieces:
            raise ValueError("refusing to send an empty message")
        message_id = 0
        for index, piece in enumerate(pieces):
            payload: dict[str, Any] = {
                "chat_id": chat_id,
                "text": escape_html(piece) if parse_mode == "HTML" else piece,
            }
            if parse_mode:
                payload["parse_mode"] = parse_mode
            if thread_id is not None:
                payload["message_thread_id"] = thread_id
            if reply_to_message_id is not None and index == 0:
                payload["reply_parameters"] = {
                    "message_id": reply_to_message_id,
                    "allow_sending_without_reply": True,
                }
            if reply_markup is not None and index == len(pieces) - 1:
                payload["reply_markup"] = reply_markup
            message_id = self._sent_id(self._call("sendMessage", payload=payload))
        return message_id

    def edit_message_text(
        self, chat_id: int | str, message_id: int, text: str, *, reply_markup: dict[str, Any] | None = None
    ) -> None:
        """Replace the text (and keyboard; none when not given) of one of the bot's messages
        (#editmessagetext). "message is not modified" is success: the message already reads so."""
        payload: dict[str, Any] = {
            "chat_id": chat_id,
            "message_id": message_id,
            "text": escape_html(text[:MESSAGE_LIMIT]),
            "parse_mode": "HTML",
        }
        if reply_markup is not None:
            payload["reply_markup"] = reply_markup
        try:
            self._call("editMessageText", payload=payload)
        except TelegramRejected as exc:
            if "message is not modified" not in str(exc):
                raise

    def answer_callback_query(self, query_id: str, text: str = "", *, show_alert: bool = False) -> None:
        """Answer a button press (#answercallbackquery), which stops the presser's spinner; ``text``
        (at most 200 characters) shows as a notice, or an alert with ``show_alert``."""
        payload: dict[str, Any] = {"callback_query_id": query_id, "show_alert": show_alert}
        if text:
            payload["text"] = text[:CALLBACK_ANSWER_LIMIT]
        self._call("answerCallbackQuery", payload=payload)

    # --- plumbing -----------------------------------------------------------------------------------

    def send_document(
        self,
        chat_id: int | str,
        filename: str,
        content: bytes,
        *,
        thread_id: int | None = None,
        caption: str = "",
    ) -> int:
        """Send a file as a document (#senddocument); FileTooLarge over the Bot API's 50 MB upload limit."""
        if len(content) > UPLOAD_LIMIT:
            raise FileTooLarge(
                f"{filename} is over the Bot API's {UPLOAD_LIMIT // (1024 * 1024)} MB upload limit"
            )
        return self._upload("sendDocument", "document", chat_id, filename, content, thread_id, caption)

    def send_photo(self, chat_id: int | str, filename: str, content: bytes, *, caption: str = "") -> int:
        """Send an image as a photo (#sendphoto: multipart ``photo``, at most 10 MB, width + height at most
        10000, a caption of up to 1024 characters); FileTooLarge over 10 MB."""
        if len(content) > PHOTO_LIMIT:
            raise FileTooLarge(
                f"{filename} is over the Bot API's {PHOTO_LIMIT // (1024 * 1024)} MB photo limit"
            )
        return self._upload("sendPhoto", "photo", chat_id, filename, content, None, caption)

    def _upload(
        self,
        method: str,
        part: str,
        chat_id: int | str,
        filename: str,
        content: bytes,
        thread_id: int | None,
        caption: str,
    ) -> int:
        """One multipart upload (``part`` holds the file); the sent message's id."""
        data: dict[str, Any] = {"chat_id": str(chat_id)}
        if thread_id is not None:
            data["message_thread_id"] = str(thread_id)
        if caption:
            data["caption"] = caption[:1024]
        url = f"{self._api_url}/bot{self._token}/{method}"
        response = self._request("POST", url, what=method, data=data, files={part: (filename, content)})
        with response:
            body = _json(response)
            if response.status_code == 200 and isinstance(body, dict) and body.get("ok") is True:
                return int((body.get("result") or {}).get("message_id", 0))
            raise self._api_error(response.status_code, body, method)

    def _call(self, method: str, *, payload: dict[str, Any] | None = None, get: bool = False) -> Any:
        """One Bot API call; its ``result`` or a connector exception."""
        url = f"{self._api_url}/bot{self._token}/{method}"
        if get:
            response = self._request("GET", url, what=method, retry=True, params=payload)
        else:
            response = self._request("POST", url, what=method, json=payload or {})
        with response:
            body = _json(response)
            if response.status_code == 200 and isinstance(body, dict) and body.get("ok") is True:
                return body.get("result")
            raise self._api_error(response.status_code, body, method)

    def _request(self, verb: str, url: str, *, what: str, retry: bool = False, **kwargs: Any) -> Any:
        """Send one request; transport failures become ChannelUnavailable without the token.

        The exception is raised outside the ``except`` block so that neither ``__cause__`` nor
        ``__context__`` keeps the ``requests`` error, whose text and request carry the URL.
        """
        failure, uncertain = "", False
        for attempt in range(2 if retry else 1):
            try:
                return self._session.request(verb, url, timeout=self._timeout, **kwargs)
            except requests.ConnectionError as exc:
                failure = f"connection failed: {self._scrub(exc)}"
                if retry and attempt == 0:
                    log.info("telegram %s: connection error, retrying once", what)
                    continue
            except requests.Timeout as exc:  # a ConnectTimeout is a ConnectionError: caught above
                uncertain = True
                failure = f"timed out: {self._scrub(exc)}"
            except requests.RequestException as exc:
                failure = self._scrub(exc)
            break
        if uncertain:
            raise DeliveryUncertain(f"telegram {what}: {failure}")
        raise ChannelUnavailable(f"telegram {what}: {failure}")

    def _read_capped(self, response: requests.Response, max_bytes: int, deadline: float) -> bytes:
        chunks: list[bytes] = []
        received = 0
        failure = ""
        try:
            for chunk in response.iter_content(_CHUNK):
                received += len(chunk)
                if received > max_bytes:
                    raise FileTooLarge(f"file is too big: over {max_bytes} bytes", status=413)
                if time.monotonic() > deadline:
                    raise ChannelUnavailable("telegram file download: took too long")
                chunks.append(chunk)
        except requests.RequestException as exc:
            failure = self._scrub(exc)
        if failure:
            raise ChannelUnavailable(f"telegram file download: {failure}")
        return b"".join(chunks)

    def _api_error(self, status: int, body: object, method: str) -> Exception:
        """The exception for a refused call, from its HTTP status and Telegram's error body."""
        info = body if isinstance(body, dict) else {}
        code = info.get("error_code")
        code = code if isinstance(code, int) and not isinstance(code, bool) else status
        if status == 200 and code == 200:
            code = 400  # {"ok": false} without a code: a refusal of unknown kind
        description = info.get("description")
        description = self._scrub(description) if isinstance(description, str) else f"HTTP {status}"
        raw_params = info.get("parameters")
        params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
        retry_after = params.get("retry_after")
        if code == 429 or status == 429:
            delay = float(retry_after) if isinstance(retry_after, int | float) else None
            log.warning("telegram %s: rate limited, retry after %s s", method, delay)
            return ChannelUnavailable(f"telegram {method}: {description}", retry_after=delay)
        if code >= 500 or status >= 500:
            return ChannelUnavailable(f"telegram {method}: {description}")
        if "file is too big" in description:
            return FileTooLarge(description, status=code)
        migrate = params.get("migrate_to_chat_id")
        log.info("telegram %s refused: %s %s", method, code, description)
        return TelegramRejected(
            description, status=code, migrate_to_chat_id=migrate if isinstance(migrate, int) else None
        )

    def _http_error(self, response: requests.Response, what: str) -> Exception:
        return self._api_error(response.status_code, _json(response), what)

    def _sent_id(self, result: object) -> int:
        message_id = result.get("message_id") if isinstance(result, dict) else None
        if not isinstance(message_id, int) or isinstance(message_id, bool):
            raise TelegramRejected("sendMessage answered without a message_id")
        return message_id

    def _scrub(self, error: object) -> str:
        """``str(error)`` without the bot token, in any encoding a URL may have carried it."""
        text = str(error)
        for secret in {self._token, quote(self._token, safe=""), quote(self._token)}:
            text = text.replace(secret, _SCRUBBED)
        return text


def _json(response: requests.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None
