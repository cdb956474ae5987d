"""The look-alikes in a thread, as the tests run them: the Jira and Kaiten trackers, the Telegram stand-in.

Each is started with the tests' control token (``CONTROL`` carries it), and with fault injection only
where ``faults=True`` asks for it. ``Receiver`` is a webhook endpoint for what the trackers send.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from flask import Flask, request
from werkzeug.serving import make_server

from sandbox.jira.app import create_app as jira_app
from sandbox.kaiten.app import create_app as kaiten_app
from sandbox.server import TOKEN_HEADER, RunningSandbox, run_in_thread
from sandbox.telegram.app import create_app as telegram_app

CONTROL_TOKEN = "tests-control-token"  # noqa: S105 - a test secret
CONTROL = {TOKEN_HEADER: CONTROL_TOKEN}


def run_jira(db_path: str | Path, **options: Any) -> RunningSandbox:
    """The Jira look-alike on a free port; ``options`` go to ``sandbox.jira.app.create_app``."""
    return run_in_thread(jira_app(db_path, control_token=CONTROL_TOKEN, **options), "sandbox-jira")


def run_kaiten(db_path: str | Path | None = None, **options: Any) -> RunningSandbox:
    """The Kaiten look-alike on a free port; ``options`` go to ``sandbox.kaiten.app.create_app``."""
    return run_in_thread(kaiten_app(db_path, control_token=CONTROL_TOKEN, **options), "sandbox-kaiten")


def run_telegram(files_dir: Path | None = None, **options: Any) -> RunningSandbox:
    """The Telegram Bot API stand-in on a free port; ``options`` go to ``sandbox.telegram.app.create_app``."""
    return run_in_thread(telegram_app(files_dir, control_token=CONTROL_TOKEN, **options), "sandbox-telegram")


# --- webhooks ----------------------------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def event(self) -> str:
        """Jira's ``webhookEvent`` or Kaiten's ``event``."""
        return str(self.payload.get("webhookEvent") or self.payload["event"])


class Receiver:
    """A tiny webhook endpoint in a thread: records every request to ``path``, answers ``statuses`` first
    (then 200)."""

    def __init__(self, path: str = "/hooks/jira") -> None:
        self.path = path
        self.received: list[Received] = []
        self.statuses: list[int] = []
        self.delay_s = 0.0
        self._lock = threading.Lock()
        app = Flask("receiver")

        @app.post(path)
        def hook() -> tuple[str, int]:
            with self._lock:
                self.received.append(Received(dict(request.headers), request.get_data()))
                status = self.statuses.pop(0) if self.statuses else 200
            if self.delay_s:
                time.sleep(self.delay_s)
            return "", status

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{self.path}"

    def events(self) -> list[str]:
        with self._lock:
            return [r.event for r in self.received]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def flush(sandbox: RunningSandbox) -> None:
    resp = requests.post(sandbox.url + "/_sandbox/webhooks/flush", headers=CONTROL, timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"flushed": True, "pending": 0}


def deliveries(sandbox: RunningSandbox) -> list[dict[str, Any]]:
    resp = requests.get(sandbox.url + "/_sandbox/webhook-deliveries", headers=CONTROL, timeout=10)
    assert resp.status_code == 200
    return resp.json()
