"""The configuration editor in a real chromium (Debian's, through Playwright; phone-sized), against the
hub's app served from a thread, the Jira look-alike, the real Redis and database: a viewer reads the
configuration and cannot change it; an admin sends the invoices to a project the tracker lacks and sees
the error name the rule and the project, fixes it, previews it on the messages the hub received (those
that would change project marked, their hostile text inert), saves it, and the next message the hub
receives is filed in the new project by the same worker, with no restart.

The editor with its error and the preview are saved, on a laptop's screen, as
docs/screenshots/config-editor.png and config-preview.png (``tests.browser.save_screenshot``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from config.settings import Settings
from jobs.context import Context
from sandbox.server import RunningSandbox
from store import config_versions, journal
from tests.browser import save_screenshot
from tests.conftest import wait_for
from tests.jobs.conftest import drain
from tests.routes.admin.conftest import PASSWORDS, with_rule_file
from tests.routes.admin.test_config_editor import RULES, TO_DEV, TO_NOWHERE

RELOAD_WAIT_SECONDS = 30  # a bound, not a measurement: each process looks for a new version every 2 s
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def wired(wired: Settings, tmp_path: Path) -> Settings:
    """The console's settings, the rule file ``RULES`` of the test's own, and mail to answer by (the
    autoreplies are queued, never sent: no worker takes the replies' queue here)."""
    return with_rule_file(wired.model_copy(update={"SMTP_URL": "smtp://127.0.0.1:9"}), tmp_path, RULES)


def send_mail(hub: RunningSandbox, subject: str, number: int) -> str:
    """A customer's mail through the hub's e-mail hook; its journal id."""
    raw = (
        f"From: Bob <bob{number}@customer.example>\r\nTo: support@hub.example.com\r\n"
        f"Subject: {subject}\r\nMessage-ID: <editor-{number}@customer.example>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nPlease look into it.\r\n"
    ).encode()
    sent = requests.post(
        f"{hub.url}/hooks/email", data=raw, headers={"Authorization": "Bearer inbound-token"}, timeout=10
    )
    assert sent.status_code == 202, sent.text
    return str(sent.json()["id"])


def log_in(page: Page, hub: RunningSandbox, name: str) -> None:
    page.goto(f"{hub.url}/admin/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORDS[name])
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")


def screenshot(page: Page, name: str) -> None:
    """The page on a laptop's screen, saved for the README; then the phone's screen again."""
    page.set_viewport_size(DESKTOP)
    save_screenshot(page, name)
    page.set_viewport_size({"width": 390, "height": 844})


def issue_key(ctx: Context, message_id: str) -> str:
    entry = journal.get(ctx.engine, message_id)
    assert entry is not None and entry.status == journal.DELIVERED, entry
    return entry.issue_key or ""


def test_an_admin_fixes_a_rule_previews_it_on_real_messages_and_saves_it_into_force(
    phone: Page, hub: RunningSandbox, worker: Context
) -> None:
    invoice = send_mail(hub, "Invoice is wrong", 1)
    printer = send_mail(hub, "Printer is on fire", 2)
    hostile = send_mail(hub, "Invoice <script>window.pwned=1</script>", 3)
    drain(worker)
    assert [issue_key(worker, m).split("-")[0] for m in (invoice, printer, hostile)] == ["SUP"] * 3

    # a viewer reads the configuration, with no Save, and a forged save is refused
    log_in(phone, hub, "vic")
    phone.get_by_role("link", name="Configuration", exact=True).click()
    editor = phone.get_by_label("Configuration (YAML)")
    expect(editor).to_have_value(RULES)
    expect(editor).not_to_be_editable()
    expect(phone.get_by_role("button", name="Save as a new version")).to_have_count(0)
    token = phone.locator("input[name=csrf_token]").first.input_value()
    forged = phone.context.request.post(
        f"{hub.url}/admin/config/save",
        form={"csrf_token": token, "text": TO_DEV, "comment": "x"},
        max_redirects=0,
    )
    assert forged.status == 403
    phone.get_by_role("button", name="Log out").click()

    # an admin sends the invoices to a project the tracker does not have: the error names it
    log_in(phone, hub, "ada")
    phone.get_by_role("link", name="Configuration", exact=True).click()
    editor = phone.get_by_label("Configuration (YAML)")
    expect(phone.locator("#validity")).to_have_text(re.compile("Valid"))
    editor.fill(TO_NOWHERE)
    error = phone.locator("#errors li")
    expect(error).to_have_count(1)
    expect(error).to_contain_text("rules[0] 'billing'")
    expect(error).to_contain_text("project 'NOPE' is not available")
    expect(error.get_by_role("button")).to_have_text("line 6")
    screenshot(phone, "config-editor")

    # fixed, it is valid against the tracker, and the preview shows which messages change project
    editor.fill(TO_DEV)
    expect(phone.locator("#validity")).to_have_text("Valid: the schema and the live trackers agree.")
    expect(phone.locator("#errors li")).to_have_count(0)
    phone.get_by_role("button", name="Preview", exact=True).click()
    expect(phone.locator("#preview-summary")).to_have_text("2 of 3 message(s) would change.")
    changed = phone.locator("#preview tr.changed")
    expect(changed).to_have_count(2)
    expect(changed.locator("td.old .target")).to_have_text(["jira/SUP", "jira/SUP"])
    expect(changed.locator("td.new .target")).to_have_text(["jira/DEV", "jira/DEV"])
    expect(changed.locator("td.new .autoreply").first).to_contain_text("registered your request as DEV-…")
    expect(changed.locator(".changes").first).to_have_text("Changes: project, autoreply")
    expect(phone.locator(f'#preview tr[data-message="{hostile}"] .subject')).to_contain_text(
        "<script>window.pwned=1</script>"
    )
    expect(phone.locator(f'#preview tr[data-message="{printer}"]')).to_have_class("same")
    assert phone.evaluate("typeof window.pwned") == "undefined"
    screenshot(phone, "config-preview")
    phone.get_by_label("Automation").fill("label-high")
    phone.get_by_role("button", name="Dry run").click()
    expect(phone.locator("#dry-run-summary")).to_have_text("label-high: unchanged")
    expect(phone.locator("#dry-run td.new")).to_have_text(
        "no automation 'label-high'; the automations are (none)"
    )

    # saved, it is the version in force, and the same worker files the next invoice in DEV
    phone.get_by_label("Comment (what changed and why)").fill("Invoices go to DEV")
    phone.get_by_role("button", name="Save as a new version").click()
    (version,) = config_versions.list_versions(worker.engine)
    expect(phone.get_by_role("heading", level=1)).to_have_text(re.compile(rf"^Version {version.id}"))
    assert (version.author, version.comment, version.text) == ("ada", "Invoices go to DEV", TO_DEV)
    later = send_mail(hub, "Invoice is still wrong", 4)
    wait_for(lambda: worker.config.rules[0].target.project == "DEV", timeout=RELOAD_WAIT_SECONDS)
    drain(worker)
    assert issue_key(worker, later).startswith("DEV-")
