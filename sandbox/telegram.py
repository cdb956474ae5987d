"""A Telegram Bot API stand-in for tests and ``trackerhub up``: in memory, no network, any token.

It answers the calls the hub makes the way the cloud Bot API does (https://core.telegram.org/bots/api,
"Making requests": parameters as query string, form or JSON; replies ``{"ok": true, "result": ...}``
or ``{"ok": false, "error_code", "description", "parameters"?}``):

- ``/bot<token>/sendMessage``: checks ``parse_mode=HTML`` text the way Telegram does ("can't parse
  entities" for a stray ``<`` or ``&``, "message is too long" past 4096 characters after parsing),
  records the call and answers a ``Message``;
- ``/bot<token>/getFile`` and ``GET /file/bot<token>/<file_path>``: files registered through
  ``POST /_sandbox/files``; a registered size over 20 MB answers "Bad Request: file is too big";
- ``/bot<token>/getMe``, ``setWebhook``, ``deleteWebhook``, ``getWebhookInfo``.

Test controls under ``/_sandbox``:

- ``POST /_sandbox/files``: JSON ``{file_id, content_base64, file_size?, file_name?}`` or multipart
  (``file`` part plus form fields ``file_id``, ``file_size?``); answers ``{file_id, file_path, file_size}``;
- ``GET /_sandbox/sent[?chat_id=]`` lists recorded ``sendMessage`` calls, ``DELETE`` clears them;
- ``POST /_sandbox/faults {"status": 429, "retry_after": 2, "count": N, "description"?, "delay"?}``:
  the next N Bot API calls (file downloads included) answer that error (``delay`` seconds late);
  ``DELETE /_sandbox/faults`` clears them;
- ``POST /_sandbox/blocked {"chat_id"}``: sends to that chat answer 403 "bot was blocked by the user";
- ``GET /_sandbox/webhook``: the last ``setWebhook`` call; ``POST /_sandbox/reset``: forget everything.

``files_dir``, when given, pre-registers every regular file in it under ``file_id`` = its name.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import itertools
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.serving import BaseWSGIServer

from sandbox.common import threaded_server

CLOUD_DOWNLOAD_LIMIT = 20 * 1024 * 1024
MESSAGE_LIMIT = 4096
UPLOAD_LIMIT = 50 * 1024 * 1024  # what the cloud Bot API takes from a bot
SANDBOX_BOT = {
    "id": 7000000001,
    "is_bot": True,
    "first_name": "trackerhub sandbox",
    "username": "trackerhub_sandbox_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
_DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
_HTML_TAG = re.compile(
    r"</?(b|strong|i|em|u|ins|s|strike|del|span|tg-spoiler|a|tg-emoji|code|pre|blockquote)"
    r"(\s[^<>]*)?>",
    re.IGNORECASE,
)
_HTML_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d{1,7}|#x[0-9a-fA-F]{1,6});")


@dataclass
class _File:
    file_id: str
    file_path: str
    size: int
    content: bytes | None = None
    source: Path | None = None

    def read(self) -> bytes:
        if self.content is not None:
            return self.content
        return self.source.read_bytes() if self.source else b""


@dataclass
class _Fault:
    status: int
    count: int
    description: str
    retry_after: int | None = None
    delay: float = 0.0


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, _File] = field(default_factory=dict)  # by file_id
    paths: dict[str, str] = field(default_factory=dict)  # file_path -> file_id
    faults: list[_Fault] = field(default_factory=list)
    blocked: set[str] = field(default_factory=set)
    webhook: dict[str, Any] = field(default_factory=dict)
    message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    file_numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


class _ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


def create_telegram_sandbox_app(files_dir: Path | None = None, *, token: str | None = None) -> Flask:
    """The stand-in app. ``token``, when set, is the only token accepted (else 401 Unauthorized)."""
    app = Flask(__name__)
    state = _State()
    if files_dir is not None:
        _preload(state, files_dir)

    def api_error(error: _ApiError) -> tuple[Response, int]:
        body: dict[str, Any] = {"ok": False, "error_code": error.status, "description": error.description}
        if error.parameters:
            body["parameters"] = error.parameters
        return jsonify(body), error.status

    app.register_error_handler(_ApiError, api_error)

    def guard(given: str) -> None:
        if token is not None and given != token:
            raise _ApiError(401, "Unauthorized")
        _take_fault(state)

    @app.route("/bot<bot_token>/<method>", methods=["GET", "POST"])
    def bot_method(bot_token: str, method: str) -> Response:
        guard(bot_token)
        params = _params()
        handler = _METHODS.get(method.lower())
        if handler is None:
            raise _ApiError(404, "Not Found: method not found")
        return jsonify({"ok": True, "result": handler(state, params)})

    @app.get("/file/bot<bot_token>/<path:file_path>")
    def file_download(bot_token: str, file_path: str) -> Response:
        guard(bot_token)
        with state.lock:
            file_id = state.paths.get(file_path)
            stored = state.files.get(file_id) if file_id else None
        if stored is None:
            raise _ApiError(404, "Not Found")
        return Response(stored.read(), mimetype="application/octet-stream")

    @app.post("/_sandbox/files")
    def register_file() -> Response:
        file_id, content, size, name = _registration()
        with state.lock:
            stored = _store(state, file_id, content, size, name)
        return jsonify({"file_id": file_id, "file_path": stored.file_path, "file_size": stored.size})

    @app.get("/_sandbox/sent")
    def list_sent() -> Response:
        chat_id = request.args.get("chat_id")
        with state.lock:
            sent = [dict(item) for item in state.sent if chat_id is None or str(item["chat_id"]) == chat_id]
        return jsonify(sent)

    @app.delete("/_sandbox/sent")
    def clear_sent() -> Response:
        with state.lock:
            state.sent.clear()
        return jsonify({"ok": True})

    @app.post("/_sandbox/faults")
    def add_fault() -> Response:
        fault = _read_fault(request.get_json(silent=True))
        with state.lock:
            state.faults.append(fault)
        return jsonify({"ok": True})

    @app.delete("/_sandbox/faults")
    def clear_faults() -> Response:
        with state.lock:
            state.faults.clear()
        return jsonify({"ok": True})

    @app.post("/_sandbox/blocked")
    def block_chat() -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or "chat_id" not in body:
            raise _ApiError(400, "Bad Request: chat_id is required")
        with state.lock:
            state.blocked.add(str(body["chat_id"]))
        return jsonify({"ok": True})

    @app.get("/_sandbox/webhook")
    def show_webhook() -> Response:
        with state.lock:
            return jsonify(dict(state.webhook))

    @app.post("/_sandbox/reset")
    def reset() -> Response:
        with state.lock:
            state.sent.clear()
            state.files.clear()
            state.paths.clear()
            state.faults.clear()
            state.blocked.clear()
            state.webhook.clear()
        if files_dir is not None:
            _preload(state, files_dir)
        return jsonify({"ok": True})

    return app


def make_sandbox_server(
    host: str = "127.0.0.1", port: int = 0, *, files_dir: Path | None = None, token: str | None = None
) -> BaseWSGIServer:
    """A threaded server for the stand-in; ``port=0`` picks a free port (``server.server_port``).

    Run it with ``serve_forever()`` (in a thread for tests) and stop it with ``shutdown()``.
    """
    return threaded_server(create_telegram_sandbox_app(files_dir, token=token), host, port)


def serve(host: str, port: int, *, files_dir: Path | None = None) -> None:
    """Serve the stand-in until interrupted (``trackerhub up`` runs it in its own process)."""
    make_sandbox_server(host, port, files_dir=files_dir).serve_forever()


# --- Bot API methods ----------------------------------------------------------------------------------


def _send_message(state: _State, params: dict[str, Any]) -> dict[str, Any]:
    chat_id = _chat_id(params)
    text = params.get("text")
    if not isinstance(text, str) or not text.strip():
        raise _ApiError(400, "Bad Request: message text is empty")
    parse_mode = params.get("parse_mode")
    rendered = _render_html(text) if str(parse_mode).upper() == "HTML" else text
    if not rendered.strip():
        raise _ApiError(400, "Bad Request: message text is empty")
    if _utf16_len(rendered) > MESSAGE_LIMIT:
        raise _ApiError(400, "Bad Request: message is too long")
    with state.lock:
        if str(chat_id) in state.blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        message_id = next(state.message_ids)
        state.sent.append(
            {
                "chat_id": chat_id,
                "text": text,
                "parse_mode": parse_mode,
                "message_thread_id": params.get("message_thread_id"),
                "reply_parameters": params.get("reply_parameters"),
                "reply_to_message_id": params.get("reply_to_message_id"),
                "message_id": message_id,
            }
        )
    message: dict[str, Any] = {
        "message_id": message_id,
        "from": SANDBOX_BOT,
        "chat": {
            "id": chat_id,
            "type": "private" if isinstance(chat_id, int) and chat_id > 0 else "supergroup",
        },
        "date": int(time.time()),
        "text": rendered,
    }
    if params.get("message_thread_id") is not None:
        message["message_thread_id"] = params["message_thread_id"]
    return message


def _get_file(state: _State, params: dict[str, Any]) -> dict[str, Any]:
    file_id = params.get("file_id")
    if not isinstance(file_id, str) or not file_id:
        raise _ApiError(400, "Bad Request: file_id is required")
    with state.lock:
        stored = state.files.get(file_id)
    if stored is None:
        raise _ApiError(400, "Bad Request: invalid file_id")
    if stored.size > CLOUD_DOWNLOAD_LIMIT:
        raise _ApiError(400, "Bad Request: file is too big")
    return {
        "file_id": stored.file_id,
        "file_unique_id": hashlib.sha256(stored.file_id.encode()).hexdigest()[:16],
        "file_size": stored.size,
        "file_path": stored.file_path,
    }


def _get_me(state: _State, params: dict[str, Any]) -> dict[str, Any]:
    return dict(SANDBOX_BOT)


def _set_webhook(state: _State, params: dict[str, Any]) -> bool:
    if "url" not in params:
        raise _ApiError(400, "Bad Request: url is required")
    with state.lock:
        state.webhook.clear()
        state.webhook.update(params)
    return True


def _delete_webhook(state: _State, params: dict[str, Any]) -> bool:
    with state.lock:
        state.webhook.clear()
    return True


def _get_webhook_info(state: _State, params: dict[str, Any]) -> dict[str, Any]:
    with state.lock:
        url = str(state.webhook.get("url", ""))
        allowed = state.webhook.get("allowed_updates")
    info: dict[str, Any] = {"url": url, "has_custom_certificate": False, "pending_update_count": 0}
    if allowed is not None:
        info["allowed_updates"] = allowed
    return info


def _send_document(state: _State, params: dict[str, Any]) -> dict[str, Any]:
    """``sendDocument`` with a multipart ``document`` (https://core.telegram.org/bots/api#senddocument)."""
    chat_id = _chat_id(params)
    upload = request.files.get("document")
    if upload is None:
        raise _ApiError(400, "Bad Request: there is no document in the request")
    content = upload.read()
    if len(content) > UPLOAD_LIMIT:
        raise _ApiError(413, "Request Entity Too Large")
    with state.lock:
        if str(chat_id) in state.blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        message_id = next(state.message_ids)
        state.sent.append(
            {
                "chat_id": chat_id,
                "document": upload.filename,
                "size": len(content),
                "caption": params.get("caption"),
                "message_thread_id": params.get("message_thread_id"),
                "message_id": message_id,
            }
        )
    return {"message_id": message_id, "from": SANDBOX_BOT, "chat": {"id": chat_id}, "date": int(time.time())}


_METHODS = {
    "sendmessage": _send_message,
    "senddocument": _send_document,
    "getfile": _get_file,
    "getme": _get_me,
    "setwebhook": _set_webhook,
    "deletewebhook": _delete_webhook,
    "getwebhookinfo": _get_webhook_info,
}


# --- helpers ---------------------------------------------------------------------------------------


def _params() -> dict[str, Any]:
    """Call parameters from the query string, a form or a JSON body, as the Bot API accepts."""
    params: dict[str, Any] = dict(request.args.items())
    params.update(request.form.items())
    body = request.get_json(silent=True)
    if isinstance(body, dict):
        params.update(body)
    return params


def _chat_id(params: dict[str, Any]) -> int | str:
    chat_id = params.get("chat_id")
    if isinstance(chat_id, int) and not isinstance(chat_id, bool):
        return chat_id
    if isinstance(chat_id, str) and re.fullmatch(r"-?\d+", chat_id):
        return int(chat_id)
    if isinstance(chat_id, str) and chat_id.startswith("@"):
        return chat_id
    raise _ApiError(400, "Bad Request: chat not found")


def _chat_type(chat_id: int | str) -> str:
    return "private" if isinstance(chat_id, int) and chat_id > 0 else "supergroup"


def _render_html(text: str) -> str:
    """What the reader sees of ``parse_mode=HTML`` text; "can't parse entities" for broken markup."""
    rendered: list[str] = []
    position = 0
    while position < len(text):
        ch = text[position]
        if ch == "<":
            match = _HTML_TAG.match(text, position)
            if match is None:
                raise _ApiError(
                    400, f"Bad Request: can't parse entities: unsupported start tag at {position}"
                )
            position = match.end()
        elif ch == "&":
            match = _HTML_ENTITY.match(text, position)
            if match is None:
                raise _ApiError(400, f"Bad Request: can't parse entities: bad entity at {position}")
            rendered.append(html.unescape(match.group(0)))
            position = match.end()
        elif ch == ">":
            raise _ApiError(400, f"Bad Request: can't parse entities: unexpected '>' at {position}")
        else:
            rendered.append(ch)
            position += 1
    return "".join(rendered)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _take_fault(state: _State) -> None:
    with state.lock:
        if not state.faults:
            return
        fault = state.faults[0]
        fault.count -= 1
        if fault.count <= 0:
            state.faults.pop(0)
    if fault.delay:
        time.sleep(fault.delay)
    parameters = {"retry_after": fault.retry_after} if fault.retry_after is not None else None
    raise _ApiError(fault.status, fault.description, parameters)


def _read_fault(body: object) -> _Fault:
    if not isinstance(body, dict):
        raise _ApiError(400, "Bad Request: a JSON object is required")
    status = body.get("status", 500)
    count = body.get("count", 1)
    retry_after = body.get("retry_after")
    delay = body.get("delay", 0)
    if not isinstance(status, int) or not 400 <= status <= 599 or not isinstance(count, int) or count < 1:
        raise _ApiError(400, "Bad Request: status must be 400-599 and count >= 1")
    if retry_after is None and status == 429:
        retry_after = 1
    if retry_after is not None and not isinstance(retry_after, int):
        raise _ApiError(400, "Bad Request: retry_after must be an integer")
    if not isinstance(delay, int | float) or delay < 0:
        raise _ApiError(400, "Bad Request: delay must be a non-negative number")
    default = f"Too Many Requests: retry after {retry_after}" if status == 429 else None
    description = body.get("description") or default or _DESCRIPTIONS.get(status, f"Error {status}")
    return _Fault(status, count, str(description), retry_after, float(delay))


def _registration() -> tuple[str, bytes, int | None, str | None]:
    """``(file_id, content, declared size, file name)`` from a JSON or multipart registration."""
    upload = request.files.get("file")
    if upload is not None:
        file_id = request.form.get("file_id") or upload.filename or ""
        content = upload.read()
        size_text = request.form.get("file_size")
        name = upload.filename
    else:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise _ApiError(400, "Bad Request: send JSON {file_id, content_base64} or a multipart file")
        file_id = body.get("file_id") or ""
        try:
            content = base64.b64decode(str(body.get("content_base64") or ""), validate=True)
        except (binascii.Error, ValueError):
            raise _ApiError(400, "Bad Request: content_base64 is not base64")
        size_value = body.get("file_size")
        size_text = None if size_value is None else str(size_value)
        name = body.get("file_name")
    if not isinstance(file_id, str) or not file_id:
        raise _ApiError(400, "Bad Request: file_id is required")
    if size_text is not None and not size_text.isdigit():
        raise _ApiError(400, "Bad Request: file_size must be a non-negative integer")
    return file_id, content, int(size_text) if size_text else None, name if isinstance(name, str) else None


def _store(state: _State, file_id: str, content: bytes | None, size: int | None, name: str | None) -> _File:
    """Register a file (caller holds the lock); re-registering a file_id replaces it."""
    old = state.files.get(file_id)
    if old is not None:
        state.paths.pop(old.file_path, None)
    suffix = Path(name).suffix if name else ""
    suffix = suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,10}", suffix) else ""
    file_path = f"documents/file_{next(state.file_numbers)}{suffix}"
    stored = _File(file_id, file_path, size if size is not None else len(content or b""), content)
    state.files[file_id] = stored
    state.paths[file_path] = file_id
    return stored


def _preload(state: _State, files_dir: Path) -> None:
    with state.lock:
        for path in sorted(files_dir.iterdir()):
            if path.is_file():
                stored = _store(state, path.name, None, path.stat().st_size, path.name)
                stored.source = path


def main() -> None:
    """Run the stand-in as a process (``trackerhub up`` starts it with ``--port``)."""
    import argparse

    parser = argparse.ArgumentParser(description="Telegram Bot API stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--files", type=Path, default=None)
    args = parser.parse_args()
    serve(args.host, args.port, files_dir=args.files)


if __name__ == "__main__":
    main()
