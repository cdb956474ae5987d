"""sandbox.server: every look-alike's /_sandbox controls answer only its control token; a browser gets in
through the login link `trackerhub up` prints; the tracker pages themselves need none; the request log
never shows the token."""

from __future__ import annotations

import http.client
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask, request

from sandbox.controls import STATE_KEY
from sandbox.jira import app as jira
from sandbox.kaiten import app as kaiten
from sandbox.server import RunningSandbox, run_in_thread
from sandbox.telegram import app as telegram
from tests.sandboxes import CONTROL, CONTROL_TOKEN, run_jira

JIRA_AUTH = {"Authorization": "Bearer t"}
LOGIN = f"/_sandbox/login?token={CONTROL_TOKEN}&next=/_sandbox/sent"  # the link `up` prints

# each look-alike, and a control its users call: (name, app factory, control path)
LOOK_ALIKES: list[tuple[str, Callable[..., Flask], str]] = [
    ("jira", lambda tmp, **kw: jira.create_app(tmp / "jira.sqlite3", **kw), "/_sandbox/stats"),
    ("kaiten", lambda tmp, **kw: kaiten.create_app(tmp / "kaiten.sqlite3", **kw), "/_sandbox/stats"),
    ("telegram", lambda tmp, **kw: telegram.create_app(**kw), "/_sandbox/sent"),
]


@pytest.fixture(params=LOOK_ALIKES, ids=[name for name, _, _ in LOOK_ALIKES])
def look_alike(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[RunningSandbox, str]]:
    _, factory, path = request.param
    with run_in_thread(factory(tmp_path, control_token=CONTROL_TOKEN)) as running:
        yield running, path


def test_a_control_answers_its_token_and_nothing_else(look_alike: tuple[RunningSandbox, str]) -> None:
    sandbox, path = look_alike
    url = sandbox.url + path
    assert requests.get(url, timeout=5).status_code == 401
    assert requests.get(url, headers={"X-Sandbox-Token": "guess"}, timeout=5).status_code == 401
    assert requests.get(url, cookies={"sandbox_token": "guess"}, timeout=5).status_code == 401
    assert requests.get(url, headers=CONTROL, timeout=5).status_code == 200


def test_a_stranger_cannot_reset_the_tracker(tmp_path: Path) -> None:
    with run_jira(tmp_path / "jira.sqlite3") as sandbox:
        created = requests.post(
            sandbox.url + "/rest/api/2/issue",
            json={"fields": {"project": {"key": "SUP"}, "issuetype": {"id": "10002"}, "summary": "kept"}},
            headers=JIRA_AUTH,
            timeout=5,
        )
        assert created.status_code == 201
        refused = requests.post(sandbox.url + "/_sandbox/reset", timeout=5)
        assert refused.status_code == 401 and "X-Sandbox-Token" in refused.json()["error"]
        issue = requests.get(sandbox.url + "/rest/api/2/issue/SUP-1", headers=JIRA_AUTH, timeout=5)
        assert issue.json()["fields"]["summary"] == "kept"


@pytest.mark.parametrize(("name", "factory", "path"), LOOK_ALIKES, ids=[name for name, _, _ in LOOK_ALIKES])
def test_without_a_control_token_the_controls_are_off(
    name: str, factory: Callable[..., Flask], path: str, tmp_path: Path
) -> None:
    client = factory(tmp_path).test_client()
    for headers in ({}, {"X-Sandbox-Token": ""}, {"X-Sandbox-Token": "anything"}):
        refused = client.get(path, headers=headers)
        assert refused.status_code == 403, name
        assert "SANDBOX_CONTROL_TOKEN" in refused.get_json()["error"]
    assert client.get(f"/_sandbox/login?token=&next={path}").status_code == 403


def test_the_login_link_lets_a_browser_see_the_telegram_page() -> None:
    with run_in_thread(telegram.create_app(control_token=CONTROL_TOKEN)) as sandbox:
        browser = requests.Session()
        page = browser.get(sandbox.url + LOGIN, timeout=5)
        assert page.status_code == 200 and page.json() == []
        assert page.history[0].status_code == 303
        cookie = page.history[0].headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/_sandbox" in cookie
        assert browser.get(sandbox.url + "/_sandbox/sent", timeout=5).status_code == 200
        assert requests.get(sandbox.url + "/_sandbox/sent", timeout=5).status_code == 401  # no cookie


def test_a_wrong_login_sets_nothing_and_next_stays_on_the_site() -> None:
    client = telegram.create_app(control_token=CONTROL_TOKEN).test_client()
    wrong = client.get("/_sandbox/login?token=guess&next=/_sandbox/sent")
    assert wrong.status_code == 401 and "Set-Cookie" not in wrong.headers
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        answer = client.get("/_sandbox/login", query_string={"token": CONTROL_TOKEN, "next": target})
        assert answer.status_code == 303 and answer.headers["Location"] == "/"


def test_the_jira_pages_need_no_control_token(tmp_path: Path) -> None:
    with run_jira(tmp_path / "jira.sqlite3") as sandbox:
        requests.post(
            sandbox.url + "/rest/api/2/issue",
            json={"fields": {"project": {"key": "SUP"}, "issuetype": {"id": "10002"}, "summary": "Printer"}},
            headers=JIRA_AUTH,
            timeout=5,
        ).raise_for_status()
        index = requests.get(sandbox.url + "/", timeout=5)
        issue = requests.get(sandbox.url + "/browse/SUP-1", timeout=5)
    assert index.status_code == 200 and "Printer" in index.text
    assert issue.status_code == 200 and "Printer" in issue.text


def test_the_request_log_leaves_the_token_out(caplog: pytest.LogCaptureFixture) -> None:
    app = telegram.create_app(control_token=CONTROL_TOKEN)
    with caplog.at_level(logging.INFO, logger="werkzeug"), run_in_thread(app) as sandbox:
        requests.get(sandbox.url + LOGIN, timeout=5)
    assert "GET /_sandbox/login HTTP/1.1" in caplog.text
    assert CONTROL_TOKEN not in caplog.text


@pytest.mark.parametrize("module", [jira, kaiten, telegram], ids=["jira", "kaiten", "telegram"])
def test_main_takes_the_control_token_from_the_environment_and_faults_from_a_flag(
    module: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    served: list[Flask] = []
    monkeypatch.setattr(module, "serve", lambda app, *args, **kwargs: served.append(app))
    monkeypatch.setenv("SANDBOX_CONTROL_TOKEN", "from-env")
    db = [] if module is telegram else ["--db", str(tmp_path / "db.sqlite3")]
    module.main(db)
    module.main([*db, "--control-token", "from-flag", "--faults"])
    quiet, loud = (app.test_client() for app in served)
    path = "/_sandbox/sent" if module is telegram else "/_sandbox/stats"
    assert quiet.get(path, headers={"X-Sandbox-Token": "from-env"}).status_code == 200
    assert loud.get(path, headers={"X-Sandbox-Token": "from-flag"}).status_code == 200
    if module is not telegram:
        assert [app.extensions[STATE_KEY].faults.enabled for app in served] == [False, True]
    fault = {"status": 500, "count": 1}
    assert (
        quiet.post("/_sandbox/faults", json=fault, headers={"X-Sandbox-Token": "from-env"}).status_code == 403
    )
    assert loud.post(
        "/_sandbox/faults", json=fault, headers={"X-Sandbox-Token": "from-flag"}
    ).status_code in (
        200,
        201,
    )


# -- keep-alive: a look-alike keeps a connection open between requests, as a real tracker does ------------


def _echo_app() -> Flask:
    app = Flask("echo")

    @app.post("/echo")
    def echo() -> dict[str, int]:
        return {"length": len(request.get_data())}

    @app.post("/refuse")
    def refuse() -> tuple[str, int]:  # answers without reading the body
        return "no", 400

    return app


def test_two_requests_share_one_connection_and_a_refused_body_does_not_leak_into_the_next() -> None:
    with run_in_thread(_echo_app()) as running:
        conn = http.client.HTTPConnection(running.server.host, running.server.server_port, timeout=10)
        conn.request("POST", "/refuse", body=b"x" * 5000)
        first = conn.getresponse()
        assert first.status == 400 and not first.will_close
        first.read()
        kept = conn.sock
        conn.request("POST", "/echo", body=b"y" * 3)
        second = conn.getresponse()
        assert json.loads(second.read()) == {"length": 3}
        assert conn.sock is kept  # the same connection: not closed by the look-alike, not reopened
        conn.close()


def test_a_chunked_body_is_read_and_its_connection_closed() -> None:
    with run_in_thread(_echo_app()) as running:
        answer = requests.post(running.url + "/echo", data=iter([b"abc", b"de"]), timeout=10)
        assert answer.json() == {"length": 5}
        assert answer.headers["Connection"] == "close"


def test_a_stopped_look_alike_stops_answering_on_a_kept_connection() -> None:
    running = run_in_thread(_echo_app())
    conn = http.client.HTTPConnection(running.server.host, running.server.server_port, timeout=10)
    conn.request("POST", "/echo", body=b"a")
    assert json.loads(conn.getresponse().read()) == {"length": 1}
    running.stop()
    with pytest.raises(OSError):  # the kept connection is closed, and nothing listens any more
        conn.request("POST", "/echo", body=b"b")
        conn.getresponse()
    conn.close()
