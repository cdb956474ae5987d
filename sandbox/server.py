"""Running a look-alike, and the control token that guards its ``/_sandbox`` controls.

A look-alike runs in a daemon thread (``run_in_thread``: the tests) or as a process until interrupted
(``serve`` from each look-alike's ``main``: ``trackerhub up``, the fault suite, the benchmarks), on a
threaded werkzeug server whose request log leaves query strings out (a login link carries the token,
a webhook URL its receiver's secret). Its connections are HTTP/1.1 keep-alive, as a real Jira's (and
Kaiten's, and Telegram's) are: werkzeug's own handler closes every connection after one answer, which
made every tracker call of the hub open a new TCP connection, a cost no deployment pays
(``_KeepAliveHandler``).

The controls (fault rules, statistics, reset, switches, what a stand-in recorded) answer only a caller
that shows the token the look-alike was started with (``control_token``, ``--control-token`` or
``SANDBOX_CONTROL_TOKEN``): in the ``X-Sandbox-Token`` header, or, for a browser, in the cookie that
``GET /_sandbox/login?token=<token>&next=<path>`` sets before it redirects to ``next``. A look-alike
started without a token answers every control 403. ``trackerhub up`` makes a token per run and prints
the login links.
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import io
import logging
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from flask import Flask, Response, jsonify, redirect, request
from flask.typing import ResponseReturnValue
from werkzeug.serving import BaseWSGIServer, ThreadedWSGIServer, WSGIRequestHandler

KEEP_ALIVE_IDLE = 60.0  # seconds an idle kept-alive connection stays open (a proxy in front of Jira: ~60)
CONTROL_PREFIX = "/_sandbox"
TOKEN_HEADER = "X-Sandbox-Token"  # noqa: S105 - a header name
TOKEN_COOKIE = "sandbox_token"  # noqa: S105 - a cookie name
TOKEN_ENV = "SANDBOX_CONTROL_TOKEN"  # noqa: S105 - an environment variable's name
LOGIN_PATH = CONTROL_PREFIX + "/login"


# --- the control token ---------------------------------------------------------------------------------


def is_control_request() -> bool:
    return request.path.startswith(CONTROL_PREFIX)


def guard_controls(app: Flask, token: str | None) -> None:
    """Make every ``/_sandbox`` request of ``app`` show ``token`` (answered before any other hook), and
    serve ``GET /_sandbox/login``."""

    def check() -> Response | None:
        if not is_control_request() or request.path == LOGIN_PATH:
            return None
        if not token:
            return _refused(
                403, f"the sandbox's controls are off: start it with a control token ({TOKEN_ENV})"
            )
        if not _matches(request.headers.get(TOKEN_HEADER) or request.cookies.get(TOKEN_COOKIE), token):
            return _refused(401, f"a control call needs the sandbox's control token in {TOKEN_HEADER}")
        return None

    def login() -> ResponseReturnValue:
        """Set the token cookie for a browser and go on to ``next`` (a path of this site)."""
        if not token:
            return _refused(
                403, f"the sandbox's controls are off: start it with a control token ({TOKEN_ENV})"
            )
        if not _matches(request.args.get("token"), token):
            return _refused(401, "wrong or missing ?token=")
        target = request.args.get("next") or "/"
        if not target.startswith("/") or target.startswith("//") or "\\" in target:
            target = "/"  # only a path of this site: the link is not an open redirect
        response = redirect(target, code=303)
        response.set_cookie(
            TOKEN_COOKIE, token, path=CONTROL_PREFIX, httponly=True, samesite="Strict", secure=False
        )
        return response

    app.before_request_funcs.setdefault(None, []).insert(0, check)
    app.add_url_rule(LOGIN_PATH, endpoint="sandbox_login", view_func=login)


def _matches(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def _refused(status: int, message: str) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


# --- servers -------------------------------------------------------------------------------------------


class _PathOnlyLog(WSGIRequestHandler):
    """werkzeug's request log line without the query string."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = getattr(self, "path", None)  # unset when the request line was bad
        if path is None:
            super().log_request(code, size)
            return
        self.path = path.split("?", 1)[0]
        try:
            super().log_request(code, size)
        finally:
            self.path = path


class _KeepAliveHandler(_PathOnlyLog):
    """werkzeug's request handler, keeping an HTTP/1.1 connection open after an answer.

    werkzeug (3.1) sends ``Connection: close`` with every answer, and after each one reads whatever else
    the socket has, for up to 10 ms, to throw it away (the unread rest of a refused body): on a kept
    connection that would swallow the client's next request. So the request's body (``Content-Length``)
    is read in full before the app runs and given to it from memory, which leaves that read nothing to
    throw away, and the ``Connection: close`` is left out. A chunked request body, whose end only the
    app's reading finds, still closes the connection, as does a client that asks for it (HTTP/1.0, or
    ``Connection: close``) or waits for ``100 Continue``. Nagle's algorithm is off: werkzeug writes the
    headers and the body apart, and on a kept connection the body would otherwise wait for the client's
    delayed ACK (40 ms).
    """

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = KEEP_ALIVE_IDLE
    _keep = False

    def run_wsgi(self) -> None:
        socket_file = self.rfile
        self._keep = not (
            self.close_connection
            or "chunked" in self.headers.get("Transfer-Encoding", "").lower()
            or self.headers.get("Expect", "").lower().strip(" \t") == "100-continue"  # werkzeug answers it
        )
        if self._keep:
            self.rfile = io.BytesIO(socket_file.read(int(self.headers.get("Content-Length") or 0)))
        try:
            super().run_wsgi()
        finally:
            self.rfile = socket_file

    def send_header(self, keyword: str, value: str) -> None:
        if self._keep and keyword.lower() == "connection" and value.lower() == "close":
            return
        super().send_header(keyword, value)


class _KeepAliveServer(ThreadedWSGIServer):
    """werkzeug's threaded server, which also closes the connections it keeps when it is closed (a
    stopped look-alike must stop answering, also on a connection a client keeps)."""

    def __init__(self, host: str, port: int, app: Flask) -> None:
        super().__init__(host, port, app, _KeepAliveHandler)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request_thread(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        with self._open_lock:
            self._open.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open.discard(request)

    def server_close(self) -> None:
        super().server_close()
        with self._open_lock:
            kept = list(self._open)
        for connection in kept:
            with contextlib.suppress(OSError):  # closed by the client meanwhile
                connection.shutdown(socket.SHUT_RDWR)


def threaded_server(app: Flask, host: str, port: int) -> BaseWSGIServer:
    """A threaded server for ``app`` with keep-alive connections; ``port=0`` picks a free port
    (``server.server_port``)."""
    return _KeepAliveServer(host, port, app)


@dataclass
class RunningSandbox:
    """A look-alike serving from a daemon thread: ``url``, ``stop()``; also a context manager."""

    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self.server.host}:{self.server.server_port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def run_in_thread(
    app: Flask, name: str = "sandbox", host: str = "127.0.0.1", port: int = 0
) -> RunningSandbox:
    """Serve ``app`` from a daemon thread, on a free port unless ``port`` is given."""
    server = threaded_server(app, host, port)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
    )
    thread.start()
    return RunningSandbox(server, thread)


def serve(app: Flask, host: str, port: int, *, log: logging.Logger, name: str, data: object = None) -> None:
    """Serve ``app`` until interrupted (a look-alike's ``main``)."""
    server = threaded_server(app, host, port)
    where = f" (data in {data})" if data is not None else ""
    log.info("sandbox %s: serving on http://%s:%s%s", name, server.host, server.server_port, where)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def arg_parser(description: str, *, port: int, db: Path | None = None) -> argparse.ArgumentParser:
    """The options every look-alike's ``main`` takes: ``--host``, ``--port``, ``--control-token``,
    ``--faults`` and, for those that keep data, ``--db``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    if db is not None:
        parser.add_argument("--db", type=Path, default=db, help="SQLite file (default %(default)s)")
    parser.add_argument(
        "--control-token",
        default=os.environ.get(TOKEN_ENV) or None,
        help=f"the token /_sandbox controls require (env {TOKEN_ENV}, which keeps it out of ps); "
        "without one they answer 403",
    )
    parser.add_argument("--faults", action="store_true", help="allow fault injection (POST /_sandbox/faults)")
    return parser


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
