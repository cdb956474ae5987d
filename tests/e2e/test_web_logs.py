"""`trackerhub web` under gunicorn: a webhook secret in a query string never reaches its logs.

Kaiten authenticates its webhooks with ``?token=`` (it cannot sign), and a Jira that cannot sign may be
opted in to the same; gunicorn's stock access log writes the whole request line, query and all.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from gunicorn.config import Config

from config.gunicorn_logs import HubLogger
from tests.conftest import REPO_ROOT, free_port

pytestmark = pytest.mark.e2e

TOKEN = "kaiten-url-token-0123456789"


def test_the_access_log_shows_paths_without_query_strings(tmp_path: Path, redis_url: str) -> None:
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("JIRA_", "KAITEN_", "TELEGRAM_", "REDIS_", "DATABASE_", "HUB_"))
    }
    env.update(
        REDIS_URL=redis_url,
        DATABASE_URL=f"sqlite:///{tmp_path / 'hub.sqlite3'}",
        KAITEN_WEBHOOK_SECRET=TOKEN,
        JIRA_WEBHOOK_SECRET=TOKEN,
        JIRA_WEBHOOK_URL_TOKEN="1",
    )
    log_path = tmp_path / "web.log"
    with log_path.open("wb") as log:
        web = subprocess.Popen(
            [sys.executable, "-m", "cli", "web", "--port", str(port), "--workers", "1"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if requests.get(f"{base}/healthz", timeout=10).status_code < 600:
                        break
                except (requests.ConnectionError, requests.Timeout):  # not listening, or a slow first load
                    pass
                if web.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("trackerhub web did not start:\n" + log_path.read_text(errors="replace"))
                time.sleep(0.2)
            kaiten = requests.post(
                f"{base}/hooks/kaiten?token={TOKEN}", json={"event": "tag:add", "data": {}}, timeout=10
            )
            assert kaiten.status_code == 200  # an event the hub does not use, accepted and ignored
            jira = requests.post(f"{base}/hooks/jira?lang=en&token={TOKEN}", data=b"{", timeout=10)
            assert jira.status_code == 400
        finally:
            os.killpg(web.pid, signal.SIGTERM)
            web.wait(timeout=30)
    output = log_path.read_text(errors="replace")
    assert "method=POST path=/hooks/kaiten status=200" in output, output
    assert "method=POST path=/hooks/jira status=400" in output, output
    assert TOKEN not in output


def access_line(capsys: pytest.CaptureFixture[str], log_format: str, method: str, uri: str) -> str:
    """The line the hub's gunicorn logger writes for one request to ``uri`` in ``log_format``."""
    config = Config()
    config.set("accesslog", "-")
    config.set("access_log_format", log_format)
    logger = HubLogger(config)
    path, _, query = uri.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "RAW_URI": uri,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.5",
    }

    class Response:
        status = "200 OK"
        sent = 2
        headers: list[tuple[str, str]] = []

    try:
        logger.access(Response(), environ, environ, dt.timedelta(milliseconds=3))
        return capsys.readouterr().out
    finally:
        logger.access_log.handlers.clear()


def test_an_operator_s_own_access_log_format_gets_no_query_string_either(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = access_line(capsys, '"%(r)s" q=%(q)s raw=%({raw_uri}e)s', "POST", f"/hooks/kaiten?token={TOKEN}")
    assert '"POST /hooks/kaiten HTTP/1.1" q= raw=/hooks/kaiten' in line
    assert TOKEN not in line


@pytest.mark.parametrize("path", ["/route/{t}", "/route/{t}/requests/r1/status", "/csat/{t}"])
def test_a_signed_link_s_token_is_not_in_the_access_log(
    capsys: pytest.CaptureFixture[str], path: str
) -> None:
    signed = "eyJpc3N1ZSI6IlNVUC0xIn0.Z1x2y3.c2lnbmF0dXJl"  # whoever holds it may route or vote
    log_format = 'path=%(U)s "%(r)s" raw=%({raw_uri}e)s info=%({path_info}e)s'
    line = access_line(capsys, log_format, "GET", path.format(t=signed))
    assert f"path={path.format(t='<token>')} " in line
    assert signed not in line
