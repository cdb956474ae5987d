"""Watchers of an issue: ``GET`` lists them, ``POST`` a JSON string (a user name on Data Center, an
account id on Cloud) adds one, again harmlessly (Atlassian's REST reference, "Add watcher":
``POST /rest/api/2/issue/{issueIdOrKey}/watchers``, body ``"fred"``; 204)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from sandbox.app import ApiRoute
from sandbox.jira.context import API_PREFIXES, api_url, catalogue, db, issue_or_404, request_json
from sandbox.jira.errors import JiraError
from sandbox.jira.render import user_json
from sandbox.jira.store import touch_issue
from sandbox.store import transaction

bp = Blueprint("jira_watchers", __name__)
api_route = ApiRoute(bp, API_PREFIXES)


@api_route("/issue/<ref>/watchers")
def list_watchers(ref: str) -> Response:
    row = issue_or_404(ref)
    names = [
        r["user_name"]
        for r in db().execute(
            "SELECT user_name FROM watcher WHERE issue_id = ? ORDER BY user_name", (row["id"],)
        )
    ]
    return jsonify(
        {
            "self": f"{api_url()}/issue/{row['key']}/watchers",
            "isWatching": False,
            "watchCount": len(names),
            "watchers": [user_json(name) for name in names],
        }
    )


@api_route("/issue/<ref>/watchers", methods=("POST",))
def add_watcher(ref: str) -> tuple[str, int]:
    row = issue_or_404(ref)
    body = request_json()
    if not isinstance(body, str) or not body:
        raise JiraError(400, ["The request body must be a JSON string: the user to add."])
    user = catalogue().user(body) or catalogue().user_by_account_id(body)
    if user is None:
        raise JiraError(404, [f'The user "{body}" does not exist.'])
    conn = db()
    with transaction(conn):
        conn.execute(
            "INSERT OR IGNORE INTO watcher (issue_id, user_name) VALUES (?, ?)", (row["id"], user.name)
        )
        touch_issue(conn, row["id"])
    return "", 204
