"""The console in a real chromium (Debian's, through Playwright; phone-sized), against the hub's app
served from a thread, the Jira look-alike, the real Redis and database: a viewer logs in, reads a
hostile message without any of its script running, sees no Replay and has a forged replay refused; a
coordinator replays a dead letter, and once a worker has run its job the message shows its new issue."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from config.settings import Settings
from jobs.context import Context
from routes import create_app
from sandbox.server import RunningSandbox, run_in_thread
from store import accounts, journal
from tests.jobs.conftest import drain
from tests.routes.admin.conftest import PASSWORDS
from tests.routes.admin.test_dead_letters import dead_letter
from tests.routes.admin.test_messages import HOSTILE


@pytest.fixture
def hub(wired: Settings, ctx: Context, users: dict[str, accounts.User]) -> Iterator[RunningSandbox]:
    with run_in_thread(create_app(wired), "hub") as running:
        yield running


def log_in(page: Page, hub: RunningSandbox, name: str) -> None:
    page.goto(f"{hub.url}/admin/")
    expect(page.get_by_role("heading")).to_have_text("Log in")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORDS[name])
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")


def test_a_viewer_reads_a_hostile_message_safely_and_cannot_replay(
    phone: Page, hub: RunningSandbox, ctx: Context, jira: RunningSandbox
) -> None:
    letter = dead_letter(ctx, jira, "Printer is on fire")  # first: its job must not meet the mail's in a bulk
    hostile = accept_mail(hub)
    log_in(phone, hub, "vic")

    phone.goto(f"{hub.url}/admin/messages/{hostile}")
    expect(phone.locator("#raw")).to_contain_text("<script>window.pwned=3</script>")
    expect(phone.locator("#parsed")).to_contain_text("<script>window.pwned=1</script>")
    assert phone.evaluate("typeof window.pwned") == "undefined"

    phone.goto(f"{hub.url}/admin/dead-letters")
    expect(phone.get_by_role("link", name=re.compile(r"^\d{4}-\d\d-\d\d"))).to_have_count(1)
    expect(phone.get_by_role("button", name=re.compile("Replay"))).to_have_count(0)
    token = phone.locator("input[name=csrf_token]").first.input_value()  # the logout form's, valid
    forged = phone.context.request.post(
        f"{hub.url}/admin/dead-letters/{letter}/replay", form={"csrf_token": token}, max_redirects=0
    )
    assert forged.status == 403
    entry = journal.get(ctx.engine, letter)
    assert entry is not None and entry.status == journal.FAILED


def test_a_coordinator_replays_a_dead_letter_and_it_is_delivered(
    phone: Page, hub: RunningSandbox, ctx: Context, jira: RunningSandbox
) -> None:
    letter = dead_letter(ctx, jira, "Printer is on fire")
    log_in(phone, hub, "cory")
    phone.get_by_role("link", name="Dead letters").first.click()
    expect(phone.locator("tbody tr")).to_have_count(1)
    expect(phone.locator("tbody tr")).to_contain_text("tracker rejected the message")
    phone.get_by_role("button", name="Replay", exact=True).click()

    expect(phone.get_by_role("heading", level=1)).to_have_text("Replay")
    expect(phone.locator("#outcomes tbody tr")).to_have_text(re.compile(rf"{letter}\s*requeued"))
    drain(ctx)  # the worker's part: run the replayed delivery job

    phone.get_by_role("link", name=letter).click()
    expect(phone.locator("#status")).to_have_text("delivered")
    expect(phone.locator("#issue a")).to_have_text(re.compile(r"^SUP-\d+$"))


def accept_mail(hub: RunningSandbox) -> str:
    import requests

    sent = requests.post(
        f"{hub.url}/hooks/email", data=HOSTILE, headers={"Authorization": "Bearer inbound-token"}, timeout=10
    )
    assert sent.status_code == 202, sent.text
    return str(sent.json()["id"])
