"""The Bot API stand-in's app: the bot token check, the Bot API and file download routes, the
``/_sandbox`` controls, and ``main``."""

from __future__ import annotations

import base64
import binascii
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request

from sandbox.server import arg_parser, configure_logging, guard_controls, serve
from sandbox.telegram import chats, users
from sandbox.telegram.edits import EDIT_METHODS
from sandbox.telegram.methods import METHODS, call_params
from sandbox.telegram.state import ApiError, BotState, Fault, preload_files, store_file, take_fault
from sandbox.webhooks import WebhookSender, add_url_option, checked_url, flush_within

log = logging.getLogger(__name__)

DEFAULT_PORT = 8082
_DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


def create_app(
    files_dir: Path | None = None,
    *,
    token: str | None = None,
    control_token: str | None = None,
    faults: bool = False,
    webhook_url: str | None = None,
    secret_token: str | None = None,
    answer_window: float = 15.0,
) -> Flask:
    """The stand-in app. ``token``, when set, is the only bot token accepted (else 401 Unauthorized);
    ``control_token`` opens the ``/_sandbox`` controls; ``faults`` allows queued faults among them.
    ``webhook_url`` and ``secret_token`` stand for a ``setWebhook`` the bot made before (``trackerhub
    up`` points them at the hub, whose own start-up does not call setWebhook); ``answer_window`` is how
    many seconds a button press can be answered in."""
    app = Flask(__name__)
    guard_controls(app, control_token)
    state = BotState(answer_window=answer_window)
    preset = {"url": checked_url(webhook_url), "secret_token": secret_token} if webhook_url else {}
    state.webhook.update({key: value for key, value in preset.items() if value})
    sender = WebhookSender("telegram", log=log)
    if files_dir is not None:
        preload_files(state, files_dir)

    def api_error(error: ApiError) -> tuple[Response, int]:
        body: dict[str, Any] = {"ok": False, "error_code": error.status, "description": error.description}
        if error.parameters:
            body["parameters"] = error.parameters
        return jsonify(body), error.status

    app.register_error_handler(ApiError, api_error)

    def guard(given: str) -> Fault | None:
        if token is not None and given != token:
            raise ApiError(401, "Unauthorized")
        return take_fault(state)

    @app.route("/bot<bot_token>/<method>", methods=["GET", "POST"])
    def bot_method(bot_token: str, method: str) -> Response:
        late = guard(bot_token)
        params = call_params()
        handler = METHODS.get(method.lower()) or EDIT_METHODS.get(method.lower())
        if handler is None:
            raise ApiError(404, "Not Found: method not found")
        result = handler(state, params)
        if late is not None:
            time.sleep(late.delay)
        return jsonify({"ok": True, "result": result})

    @app.get("/file/bot<bot_token>/<path:file_path>")
    def file_download(bot_token: str, file_path: str) -> Response:
        late = guard(bot_token)
        if late is not None:
            time.sleep(late.delay)
        with state.lock:
            file_id = state.paths.get(file_path)
            stored = state.files.get(file_id) if file_id else None
        if stored is None:
            raise ApiError(404, "Not Found")
        return Response(stored.read(), mimetype="application/octet-stream")

    @app.post("/_sandbox/files")
    def register_file() -> Response:
        file_id, content, size, name = _registration()
        with state.lock:
            stored = store_file(state, file_id, content, size, name)
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
        if not faults:
            raise ApiError(403, "Forbidden: fault injection is off: start the sandbox telegram with --faults")
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
            raise ApiError(400, "Bad Request: chat_id is required")
        with state.lock:
            state.blocked.add(str(body["chat_id"]))
        return jsonify({"ok": True})

    @app.get("/_sandbox/webhook")
    def show_webhook() -> Response:
        with state.lock:
            return jsonify(dict(state.webhook))

    def delivered(update: dict[str, Any]) -> Response:
        return jsonify({"update": update, "delivered": users.deliver(state, sender, update)})

    @app.post("/_sandbox/users/write")
    def user_writes() -> Response:
        """``{chat_id, text, from?: {id, first_name?, username?}, reply_to_message_id?}``."""
        body = _json_body()
        chat_id = _int(body, "chat_id")
        author = _person(body.get("from"), chat_id)
        reply_to = _int(body, "reply_to_message_id") if body.get("reply_to_message_id") else None
        return delivered(users.write(state, chat_id, author, str(body.get("text") or ""), reply_to))

    @app.post("/_sandbox/users/start")
    def user_starts() -> Response:
        """``{from: {id, …}, payload}``: the person opened ``t.me/<bot>?start=<payload>``."""
        body = _json_body()
        author = _person(body.get("from"), None)
        return delivered(users.start(state, author, str(body.get("payload") or "")))

    @app.post("/_sandbox/users/press")
    def user_presses() -> Response:
        """``{chat_id, message_id, data, from?}``: the person pressed the button with ``data``."""
        body = _json_body()
        chat_id = _int(body, "chat_id")
        author = _person(body.get("from"), chat_id)
        update = users.press(state, chat_id, _int(body, "message_id"), author, str(body.get("data") or ""))
        return delivered(update)

    @app.get("/_sandbox/presses")
    def list_presses() -> Response:
        """Each press, oldest first, with the answer the bot gave it (or null)."""
        with state.lock:
            return jsonify([chats.press_json(press) for press in state.presses.values()])

    @app.get("/_sandbox/chats/<chat_id>.json")
    def chat_json(chat_id: str) -> Response:
        """The chat as its people see it now, oldest first (edits applied)."""
        with state.lock:
            return jsonify(chats.chat_json(state, chat_id))

    @app.get("/_sandbox/webhook-deliveries")
    def webhook_deliveries() -> Response:
        return jsonify(sender.deliveries())

    @app.post("/_sandbox/webhooks/flush")
    def flush_webhooks() -> tuple[Response, int]:
        answer, status = flush_within(sender, request.args.get("timeout", type=float))
        return jsonify(answer), status

    chats.add_pages(app, state, sender)

    @app.post("/_sandbox/reset")
    def reset() -> Response:
        with state.lock:
            state.messages.clear()
            state.presses.clear()
            state.sent.clear()
            state.files.clear()
            state.paths.clear()
            state.faults.clear()
            state.blocked.clear()
            state.webhook.clear()
            state.webhook.update({key: value for key, value in preset.items() if value})
        sender.forget()
        if files_dir is not None:
            preload_files(state, files_dir)
        return jsonify({"ok": True})

    return app


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "Bad Request: a JSON object is required")
    return body


def _int(body: dict[str, Any], key: str) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).lstrip("-").isdigit():
        raise ApiError(400, f"Bad Request: {key} must be an integer")
    return int(value)


def _person(value: object, chat_id: int | None) -> dict[str, Any]:
    """The ``from`` of a control call; by default the private chat's person."""
    if value is None and chat_id is not None and chat_id > 0:
        return users.person(chat_id)
    if not isinstance(value, dict):
        raise ApiError(400, "Bad Request: from {id, first_name?, username?} is required")
    name, username = value.get("first_name"), value.get("username")
    return users.person(_int(value, "id"), str(name) if name else None, str(username) if username else None)


def _read_fault(body: object) -> Fault:
    if not isinstance(body, dict):
        raise ApiError(400, "Bad Request: a JSON object is required")
    status = body.get("status", 500)
    count = body.get("count", 1)
    retry_after = body.get("retry_after")
    delay = body.get("delay", 0)
    after = body.get("after_delivery", False)
    if not isinstance(status, int) or not 400 <= status <= 599 or not isinstance(count, int) or count < 1:
        raise ApiError(400, "Bad Request: status must be 400-599 and count >= 1")
    if retry_after is None and status == 429:
        retry_after = 1
    if retry_after is not None and not isinstance(retry_after, int):
        raise ApiError(400, "Bad Request: retry_after must be an integer")
    if not isinstance(delay, int | float) or delay < 0:
        raise ApiError(400, "Bad Request: delay must be a non-negative number")
    if not isinstance(after, bool):
        raise ApiError(400, "Bad Request: after_delivery must be true or false")
    default = f"Too Many Requests: retry after {retry_after}" if status == 429 else None
    description = body.get("description") or default or _DESCRIPTIONS.get(status, f"Error {status}")
    return Fault(status, count, str(description), retry_after, float(delay), after)


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
            raise ApiError(400, "Bad Request: send JSON {file_id, content_base64} or a multipart file")
        file_id = body.get("file_id") or ""
        try:
            content = base64.b64decode(str(body.get("content_base64") or ""), validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "Bad Request: content_base64 is not base64")
        size_value = body.get("file_size")
        size_text = None if size_value is None else str(size_value)
        name = body.get("file_name")
    if not isinstance(file_id, str) or not file_id:
        raise ApiError(400, "Bad Request: file_id is required")
    if size_text is not None and not size_text.isdigit():
        raise ApiError(400, "Bad Request: file_size must be a non-negative integer")
    return file_id, content, int(size_text) if size_text else None, name if isinstance(name, str) else None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sandbox.telegram [--host H] [--port P] [--files DIR]`` (``trackerhub up`` runs it)."""
    parser = arg_parser("Run the trackerhub Telegram Bot API stand-in.", port=DEFAULT_PORT)
    parser.add_argument("--files", type=Path, default=None, help="serve every file in DIR by its name")
    add_url_option(
        parser, "SANDBOX_TELEGRAM_WEBHOOK_URL", "the people's updates", "http://127.0.0.1:8000/hooks/telegram"
    )
    parser.add_argument(
        "--secret-token",
        default=os.environ.get("SANDBOX_TELEGRAM_SECRET_TOKEN") or None,
        help="the webhook's secret_token (env SANDBOX_TELEGRAM_SECRET_TOKEN)",
    )
    args = parser.parse_args(argv)
    configure_logging()
    app = create_app(
        args.files,
        control_token=args.control_token,
        faults=args.faults,
        webhook_url=args.webhook_url,
        secret_token=args.secret_token,
    )
    serve(app, args.host, args.port, log=log, name="telegram")
    return 0
