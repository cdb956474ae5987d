"""Canned responses in the console, in a real chromium (Debian's, through Playwright; phone-sized),
against the hub's app served from a thread, the Jira look-alike, the real Redis and database: an admin
opens a canned response, writes a variable no template has and sees the error name it, fixes it, previews
it for an issue read from the tracker, and saves it; the version page shows the canned diff, and a
worker's library switches to the new text with no restart.

The list and the entry with its preview are saved, on a laptop's screen, as docs/screenshots/canned.png
and canned-editor.png.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from config.settings import Settings
from connector.types import IssueDraft, Target
from jobs import canned as canned_jobs
from jobs.context import Context
from mappers.canned import canned_variables
from sandbox.server import RunningSandbox
from store import config_versions
from tests.conftest import wait_for
from tests.routes.admin.test_canned import RULES, with_canned_library
from tests.routes.admin.test_config_editor_browser import RELOAD_WAIT_SECONDS, log_in, screenshot


@pytest.fixture
def wired(wired: Settings, tmp_path: Path) -> Settings:
    return with_canned_library(wired, tmp_path)


def fixed_text(ctx: Context) -> str:
    return canned_jobs.library(ctx).render(
        "fixed", "en", canned_variables(issue_key="SUP-1", requester_name="Ann")
    )


def test_an_admin_edits_a_canned_response_previews_it_and_saves_it_into_force(
    phone: Page, hub: RunningSandbox, worker: Context
) -> None:
    key = (
        worker.tracker("jira")
        .create_issue(IssueDraft(Target("jira", "SUP", "Task"), "Printer jam", "b", "k"))
        .key
    )
    assert fixed_text(worker) == "Hello Ann, SUP-1 is fixed."

    log_in(phone, hub, "ada")
    phone.get_by_role("link", name="Canned responses", exact=True).click()
    expect(phone.locator("#canned tbody tr")).to_have_count(3)
    screenshot(phone, "canned")
    phone.locator('#canned tr[data-name="fixed.en.md"] a').click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Canned response fixed.en.md")
    expect(phone.locator("#validity")).to_have_text(re.compile("Valid"))

    text = phone.get_by_label("Text (front matter, then the Jinja template)")
    text.fill("---\ntitle: Fixed\n---\nHello {{ customer }}, {{ issue_key }} ({{ summary }}) is fixed.\n")
    error = phone.locator("#errors li")
    expect(error).to_have_count(1)
    expect(error).to_contain_text("unknown variable 'customer'")

    text.fill(
        "---\ntitle: Fixed\n---\nHello {{ requester_name }}, {{ issue_key }} ({{ summary }}) is fixed.\n"
    )
    expect(phone.locator("#validity")).to_have_text("Valid: the entry and the configuration with it.")
    phone.get_by_label("Issue").fill(key)
    phone.get_by_role("button", name="Preview", exact=True).click()
    expect(phone.locator("#preview-text")).to_have_text(f"Hello , {key} (Printer jam) is fixed.")
    screenshot(phone, "canned-editor")

    phone.locator("#comment").fill("Name the issue's summary")
    phone.get_by_role("button", name="Save as a new version").click()
    (version,) = config_versions.list_versions(worker.engine)
    expect(phone.get_by_role("heading", level=1)).to_have_text(re.compile(rf"^Version {version.id}"))
    expect(phone.locator("#canned-diff .add")).to_contain_text(["({{ summary }}) is fixed."])
    assert (version.author, version.comment, version.text) == ("ada", "Name the issue's summary", RULES)
    wait_for(lambda: "(" in fixed_text(worker), timeout=RELOAD_WAIT_SECONDS)
    assert fixed_text(worker) == "Hello Ann, SUP-1 () is fixed."
