"""Running a look-alike: in a daemon thread (``run_in_thread``: the tests) or as a process until
interrupted (``serve`` from each look-alike's ``main``: ``trackerhub up``, the fault suite, the
benchmarks), on a threaded werkzeug server.
"""

from __future__ import annotations

import argparse
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from flask import Flask, request
from werkzeug.serving import BaseWSGIServer, make_server

CONTROL_PREFIX = "/_sandbox"


def is_control_request() -> bool:
    return request.path.startswith(CONTROL_PREFIX)


# --- servers -------------------------------------------------------------------------------------------


def threaded_server(app: Flask, host: str, port: int) -> BaseWSGIServer:
    """A threaded server for ``app``; ``port=0`` picks a free port (``server.server_port``)."""
    return make_server(host, port, app, threaded=True)


@dataclass
class RunningSandbox:
    """A look-alike serving from a daemon thread: ``url``, ``app``, ``stop()``; also a context manager."""

    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self.server.host}:{self.server.server_port}"

    @property
    def app(self) -> Flask:
        app: Flask = self.server.app  # type: ignore[assignment]
        return app

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
    """The options every look-alike's ``main`` takes: ``--host``, ``--port`` and, for those that keep
    data, ``--db``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    if db is not None:
        parser.add_argument("--db", type=Path, default=db, help="SQLite file (default %(default)s)")
    return parser


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
