"""What a request of the Jira look-alike works with: the app's state, this request's database
connection, the signed-in user, the public URLs, and the small helpers every view shares."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from flask import abort, current_app, g, request

from sandbox.app import int_arg, json_body
from sandbox.controls import STATE_KEY, SandboxStateBase
from sandbox.jira.catalogue import Catalogue, Project
from sandbox.jira.errors import JiraError, issue_not_found
from sandbox.jira.store import find_issue, register_startup_webhook
from sandbox.store import request_db

API_PREFIXES = ("/rest/api/2", "/rest/api/latest")
CLOUD_API_PREFIXES = (*API_PREFIXES, "/rest/api/3")  # what Cloud also serves as v3 (the bulk APIs only so)


@dataclass
class JiraState(SandboxStateBase):
    name: ClassVar[str] = "jira"
    counted: ClassVar[Mapping[str, str]] = {
        "issues": "issue",
        "comments": "comment",
        "attachments": "attachment",
    }

    cat: Catalogue
    base_url: str | None
    token: str | None
    text_limit: int
    attachment_limit: int
    startup_webhook: tuple[str, str | None] | None = None  # (url, secret) from the command line
    cloud: bool = False  # answer as Jira Cloud: account ids, /search/jql, bulk move, Cloud's createmeta

    def reset(self) -> None:
        """Also forgets the users signed in and registered webhooks; the start-up webhook is
        registered again."""
        super().reset()
        self.cat.forget_users()
        register_startup_webhook(self.store, self.startup_webhook)


def jira_state() -> JiraState:
    state: JiraState = current_app.extensions[STATE_KEY]
    return state


def db() -> sqlite3.Connection:
    return request_db(jira_state().store)


def site_url() -> str:
    return jira_state().base_url or request.url_root.rstrip("/")


def api_url() -> str:
    return site_url() + "/rest/api/2"


def current_user() -> str:
    return str(g.get("sandbox_jira_user") or "hub")


def is_cloud() -> bool:
    return jira_state().cloud


def cloud_only() -> None:
    """Data Center has no such resource: a 404 as for any unknown path."""
    if not is_cloud():
        abort(404)


def request_json() -> Any:
    return json_body(lambda: JiraError(400, ["The request body must be JSON."]))


def catalogue() -> Catalogue:
    return jira_state().cat


def paged(items: list[Any], start: int, limit: int) -> dict[str, Any]:
    page = items[start : start + limit]
    return {
        "maxResults": limit,
        "startAt": start,
        "total": len(items),
        "isLast": start + len(page) >= len(items),
        "values": page,
    }


def parse_int(raw: str) -> int | None:
    try:
        return int(raw)
    except ValueError:
        return None


def int_param(name: str, default: int, low: int = 0, high: int = 10**9) -> int:
    return int_arg(
        name,
        default,
        low,
        high,
        parse=parse_int,
        invalid=lambda name: JiraError(400, [f"The '{name}' parameter must be a number."]),
    )


def project_or_404(ref: str) -> Project:
    project = catalogue().project(ref)
    if project is None:
        raise JiraError(404, [f"No project could be found with key '{ref}'."])
    return project


def issue_or_404(ref: str) -> sqlite3.Row:
    row = find_issue(db(), ref)
    if row is None:
        raise issue_not_found()
    return row
