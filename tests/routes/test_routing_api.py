"""The routing API as a tracker automation calls it, on the real app against the Jira look-alike:
token required (401 without, 403 wrong), 202 with the journaled request's id, 422 naming the missing
field, 404 for an unknown route or issue, one request for a double or concurrent POST, the status and
the audit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask.testing import FlaskClient

from connector.types import IssueRef
from jobs.context import Context
from jobs.routing.job import run_route_with
from routes import create_app
from store import routing as store
from tests.jobs.conftest import ctx, jira_sandbox, mail_sink, telegram_sandbox  # noqa: F401 - fixtures
from tests.jobs.routing.conftest import create_source

TOKEN = "routing-api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def api_ctx(ctx: Context) -> Context:  # noqa: F811 - the fixture imported above
    from jobs.context import build_context

    return build_context(ctx.settings.model_copy(update={"HUB_API_TOKEN": TOKEN}))


@pytest.fixture
def api_client(api_ctx: Context) -> FlaskClient:
    return create_app(api_ctx.settings, api_ctx.config).test_client()


@pytest.fixture
def source(api_ctx: Context) -> IssueRef:
    return create_source(api_ctx)


def post(
    client: FlaskClient, route: str, key: str, body: Any = None, headers: dict[str, str] | None = None
) -> Any:
    return client.post(f"/api/routes/{route}/{key}", json=body, headers=AUTH if headers is None else headers)


def test_a_call_without_the_token_or_with_a_wrong_one_routes_nothing(
    api_client: FlaskClient, api_ctx: Context, source: IssueRef
) -> None:
    assert post(api_client, "database", source.key, headers={}).status_code == 401
    assert (
        post(api_client, "database", source.key, headers={"Authorization": "Bearer nope"}).status_code == 403
    )
    assert api_client.get("/api/routes/audit").status_code == 401
    assert store.read_audit(api_ctx.engine) == []


def test_without_hub_api_token_the_api_is_closed(ctx: Context) -> None:  # noqa: F811
    client = create_app(ctx.settings, ctx.config).test_client()
    assert client.post("/api/routes/database/SUP-1", json={}, headers=AUTH).status_code == 403


def test_a_route_is_accepted_journaled_and_its_status_shows_the_target(
    api_client: FlaskClient, api_ctx: Context, source: IssueRef
) -> None:
    answer = post(
        api_client,
        "hardware",
        source.key,
        {"fields": {"Spare parts": "Fuser kit"}, "actor": "jira-automation"},
    )

    assert answer.status_code == 202, answer.get_json()
    request_id = answer.get_json()["id"]
    assert api_client.get(f"/api/routes/{request_id}").get_json()["status"] == "queued"
    run_route_with(api_ctx, request_id)
    status = api_client.get(f"/api/routes/{request_id}").get_json()
    assert status["status"] == "done"
    assert status["target"]["key"] == "HW-1" and status["target"]["url"].endswith("/browse/HW-1")
    audit = api_client.get("/api/routes/audit", query_string={"issue": source.key}, headers=AUTH).get_json()
    assert [(e["result"], e["actor"], e["via"]) for e in audit["entries"]] == [
        ("done", "jira-automation", "api"),
        ("requested", "jira-automation", "api"),
    ]
    assert api_client.get(
        "/api/routes/audit", query_string={"route": "database"}, headers=AUTH
    ).get_json() == {"entries": []}


def test_missing_required_fields_are_named_with_422(api_client: FlaskClient, source: IssueRef) -> None:
    answer = post(api_client, "hardware", source.key, {"fields": {}})

    assert answer.status_code == 422
    body = answer.get_json()
    assert "Spare parts" in body["error"]
    assert [m["name"] for m in body["details"]["missing"]] == ["Spare parts"]


@pytest.mark.parametrize(("route", "key"), [("nowhere", None), ("database", "SUP-999")])
def test_an_unknown_route_or_issue_is_404(
    api_client: FlaskClient, source: IssueRef, route: str, key: str | None
) -> None:
    answer = post(api_client, route, key or source.key, {})
    assert answer.status_code == 404 and answer.get_json()["error"]


@pytest.mark.parametrize("body", [b"not json", b"[1]", b'{"fields": {"a": {"b": 1}}}', b'{"fields": []}'])
def test_a_bad_body_is_a_clear_4xx(api_client: FlaskClient, source: IssueRef, body: bytes) -> None:
    answer = api_client.post(
        f"/api/routes/database/{source.key}", data=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert answer.status_code in (400, 422)


def test_a_double_post_and_concurrent_posts_end_in_one_request_and_one_target(
    api_ctx: Context, source: IssueRef
) -> None:
    app = create_app(api_ctx.settings, api_ctx.config)

    def call(_: int) -> Any:
        return post(app.test_client(), "database", source.key, {})

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(call, range(6)))

    assert {a.status_code for a in answers} == {202}
    ids = {a.get_json()["id"] for a in answers}
    assert len(ids) == 1
    [request_id] = ids
    run_route_with(api_ctx, request_id)
    again = post(app.test_client(), "database", source.key, {})  # a retried call after it is done
    assert again.status_code == 202 and again.get_json()["id"] == request_id
    done = store.get_request(api_ctx.engine, request_id)
    assert done is not None and (done.status, done.target_key) == ("done", "DB-1")


def test_the_web_app_loads_no_tracker_client_until_a_route_is_asked_for() -> None:
    """The routing API's imports are lazy: a web worker that never routes keeps the jira library and the
    connectors out of its memory (the web RSS budget, BENCHMARKS.md "Memory")."""
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    code = "import sys, routes.app; print(sorted(m for m in ('jira', 'connector.instances') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
