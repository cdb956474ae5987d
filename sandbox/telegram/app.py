"""The Bot API stand-in's app: the bot token check, the Bot API and file download routes, the
``/_sandbox`` controls, and ``main``."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request

from sandbox.server import arg_parser, configure_logging, guard_controls, serve
from sandbox.telegram.methods import METHODS, call_params
from sandbox.telegram.state import ApiError, BotState, Fault, preload_files, store_file, take_fault

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
) -> Flask:
    """The stand-in app. ``token``, when set, is the only bot token accepted (else 401 Unauthorized);
    ``control_token`` opens the ``/_sandbox`` controls; ``faults`` allows queued faults among them."""
    app = Flask(__name__)
    guard_controls(app, control_token)
    state = BotState()
    if files_dir is not None:
        preload_files(state, files_dir)

    def api_error(error: ApiError) -> tuple[Response, int]:
        body: dict[str, Any] = {"ok": False, "error_code": error.status, "description": error.description}
        if error.parameters:
            body["parameters"] = error.parameters
        return jsonify(body), error.status

    app.register_error_handler(ApiError, api_error)

    def guard(given: str) -> None:
        if token is not None and given != token:
            raise ApiError(401, "Unauthorized")
        take_fault(state)

    @app.route("/bot<bot_token>/<method>", methods=["GET", "POST"])
    def bot_method(bot_token: str, method: str) -> Response:
        guard(bot_token)
        params = call_params()
        handler = METHODS.get(method.lower())
        if handler is None:
            raise ApiError(404, "Not Found: method not found")
        return jsonify({"ok": True, "result": handler(state, params)})

    @app.get("/file/bot<bot_token>/<path:file_path>")
    def file_download(bot_token: str, file_path: str) -> Response:
        guard(bot_token)
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
            preload_files(state, files_dir)
        return jsonify({"ok": True})

    return app


def _read_fault(body: object) -> Fault:
    if not isinstance(body, dict):
        raise ApiError(400, "Bad Request: a JSON object is required")
    status = body.get("status", 500)
    count = body.get("count", 1)
    retry_after = body.get("retry_after")
    delay = body.get("delay", 0)
    if not isinstance(status, int) or not 400 <= status <= 599 or not isinstance(count, int) or count < 1:
        raise ApiError(400, "Bad Request: status must be 400-599 and count >= 1")
    if retry_after is None and status == 429:
        retry_after = 1
    if retry_after is not None and not isinstance(retry_after, int):
        raise ApiError(400, "Bad Request: retry_after must be an integer")
    if not isinstance(delay, int | float) or delay < 0:
        raise ApiError(400, "Bad Request: delay must be a non-negative number")
    default = f"Too Many Requests: retry after {retry_after}" if status == 429 else None
    description = body.get("description") or default or _DESCRIPTIONS.get(status, f"Error {status}")
    return Fault(status, count, str(description), retry_after, float(delay))


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
    args = parser.parse_args(argv)
    configure_logging()
    app = create_app(args.files, control_token=args.control_token, faults=args.faults)
    serve(app, args.host, args.port, log=log, name="telegram")
    return 0
