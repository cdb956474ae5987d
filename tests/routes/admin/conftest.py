"""The console's fixtures: the hub's app on the real Redis and database, wired to the Jira look-alike
(with fault injection, to make dead letters), one account per role, and a logged-in test client."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from config.settings import Settings
from jobs.context import Context, build_context
from routes import create_app
from sandbox.server import RunningSandbox, run_in_thread
from store import accounts
from tests.sandboxes import run_jira

SECRET = "console-test-secret"
PASSWORDS = {"ada": "ada-admin-pass", "cory": "cory-coord-pass", "vic": "vic-viewer-pass"}
ROLES = {"ada": "admin", "cory": "coordinator", "vic": "viewer"}


@pytest.fixture
def jira(tmp_path: Path) -> Iterator[RunningSandbox]:
    with run_jira(tmp_path / "sandbox-jira.sqlite3", faults=True) as running:
        yield running


@pytest.fixture
def wired(settings: Settings, jira: RunningSandbox) -> Settings:
    return settings.model_copy(update={"JIRA_URL": jira.url, "HUB_SECRET_KEY": SECRET})


@pytest.fixture
def ctx(wired: Settings) -> Context:
    return build_context(wired)


@pytest.fixture
def users(ctx: Context) -> dict[str, accounts.User]:
    """An admin, a coordinator and a viewer."""
    return {name: accounts.add_user(ctx.engine, name, ROLES[name], PASSWORDS[name]) for name in ROLES}


@pytest.fixture
def app(wired: Settings, ctx: Context) -> Flask:
    return create_app(wired)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def worker(wired: Settings, users: dict[str, accounts.User]) -> Context:
    """A worker's context: its configuration (rules and canned library) from the version store, as a
    worker process's is."""
    return build_context(wired)


@pytest.fixture
def hub(wired: Settings, worker: Context) -> Iterator[RunningSandbox]:
    """The hub served in a thread, for a browser (a module may serve it its own way)."""
    with run_in_thread(create_app(wired), "hub") as running:
        yield running


def with_rule_file(settings: Settings, folder: Path, text: str) -> Settings:
    """``settings`` whose rule file is ``text``, written in ``folder`` (the tracker answers forgotten)."""
    from jobs.config_validation import forget_answers

    rule_file = folder / "hub.yaml"
    rule_file.write_text(text, encoding="utf-8")
    forget_answers()
    return settings.model_copy(update={"HUB_CONFIG": rule_file})


def csrf_of(html: str) -> str:
    """The CSRF token of the (first) form in a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form token"
    return found.group(1)


def matches(client: FlaskClient, path: str, pattern: str) -> list[Any]:
    """What ``pattern`` finds in the console page at ``path`` (which must answer 200), in page order."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    return re.findall(pattern, page.text)


def log_in(client: FlaskClient, name: str, password: str | None = None) -> FlaskClient:
    """Log ``client`` in through the login form, as a browser would."""
    form = client.get("/admin/login")
    answer = client.post(
        "/admin/login",
        data={"username": name, "password": password or PASSWORDS[name], "csrf_token": csrf_of(form.text)},
    )
    assert answer.status_code == 303, answer.text
    return client


@pytest.fixture
def as_user(app: Flask, users: dict[str, accounts.User]) -> Callable[[str], FlaskClient]:
    """``as_user(name)``: a fresh client logged in as that user."""
    return lambda name: log_in(app.test_client(), name)
