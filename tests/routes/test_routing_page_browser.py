"""The routing page's own script in a real chromium, against the hub's app served from a thread and the
Jira look-alike: the result page follows a queued request and shows the new key when it is done, with no
reload and nothing refused by the page's Content-Security-Policy. No worker runs here, so the request
waits until the test finishes it in the journal as the routing job would."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from config.settings import Settings
from connector.types import IssueRef
from jobs.context import Context
from mappers.route_links import route_link_token
from routes import create_app
from sandbox.server import RunningSandbox, run_in_thread
from store import routing
from tests.routes.test_routing_page import ctx, jira, source, wired  # noqa: F401 - fixtures


@pytest.fixture
def hub(wired: Settings) -> Iterator[RunningSandbox]:  # noqa: F811
    with run_in_thread(create_app(wired), "hub") as running:
        yield running


def test_the_result_page_shows_the_new_key_when_the_request_is_done(
    phone: Page,
    hub: RunningSandbox,
    ctx: Context,  # noqa: F811
    source: IssueRef,  # noqa: F811
    wired: Settings,  # noqa: F811
) -> None:
    phone.goto(f"{hub.url}/route/{route_link_token(wired, 'jira', source.key)}?route=database")
    expect(phone.get_by_role("heading")).to_have_text(f"{source.key} → Database team")
    expect(phone.locator("form input:not([type=hidden]), form select")).to_have_count(0)  # DB asks nothing
    phone.get_by_role("button", name="Route").click()

    expect(phone.locator("#state")).to_have_text("Waiting to start…")
    request_id = phone.url.rsplit("/", 1)[1]
    routing.set_target(ctx.engine, request_id, "jira", "DB-42", "http://jira.example/browse/DB-42")
    routing.finish(ctx.engine, request_id, routing.DONE)

    target = phone.locator("#target")
    expect(target).to_have_text("DB-42")
    expect(target).to_have_attribute("href", "http://jira.example/browse/DB-42")
    expect(phone.locator("#state")).to_have_text(re.compile(r"^Done\. The issue is now"))
    expect(phone.locator("#reload")).to_have_count(0)
