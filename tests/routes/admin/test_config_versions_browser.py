"""Configuration versions in a real chromium (phone-sized): an admin reads a version whose comment holds
a script, sees it as text with the added line marked, and restores the version before it after
confirming; every process's source then has the restored version."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Dialog, Page, expect

from config.settings import Settings
from jobs.context import Context
from routes import create_app
from sandbox.server import RunningSandbox, run_in_thread
from store import accounts
from store import config_versions as store
from store.config_versions import StoredVersion
from tests.routes.admin.test_config_versions import saved  # noqa: F401 - the two versions
from tests.routes.admin.test_console_browser import log_in

HOSTILE = "<script>window.pwned=1</script>"


@pytest.fixture
def hub(wired: Settings, ctx: Context, users: dict[str, accounts.User]) -> Iterator[RunningSandbox]:
    with run_in_thread(create_app(wired), "hub") as running:
        yield running


def test_an_admin_reads_a_hostile_version_safely_and_restores_the_one_before(
    phone: Page,
    hub: RunningSandbox,
    ctx: Context,
    saved: tuple[StoredVersion, StoredVersion],  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    first, _second = saved
    hostile = store.save_version(
        ctx.engine, text=f"# {HOSTILE}\n{first.text}", author="ada", comment=HOSTILE
    )  # as a file imported from git might carry it (a YAML comment is valid)
    log_in(phone, hub, "ada")
    phone.goto(f"{hub.url}/admin/config/versions")
    expect(phone.locator("#versions")).to_contain_text(HOSTILE)
    phone.get_by_role("link", name=f"#{hostile.id}").click()
    expect(phone.locator("#diff .add")).to_have_text(f"+# {HOSTILE}")
    expect(phone.locator("#text")).to_contain_text(HOSTILE)
    assert phone.evaluate("typeof window.pwned") == "undefined"
    added = phone.locator("#diff .add").evaluate("e => getComputedStyle(e).backgroundColor")
    assert added not in ("rgba(0, 0, 0, 0)", "transparent")
    expect(phone.get_by_role("button", name="Restore this version")).to_have_count(0)  # it is in force
    phone.screenshot(path=str(tmp_path / "version.png"), full_page=True)

    phone.goto(f"{hub.url}/admin/config/versions/{first.id}")
    phone.once("dialog", Dialog.accept)
    phone.get_by_role("button", name="Restore this version").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text(f"Version {hostile.id + 1} (in force)")
    active = store.active_version(ctx.engine)
    assert active is not None and active.restored_from == first.id and active.text == first.text
    assert ctx.source.refresh() is True and ctx.source.version().origin == f"config_versions#{active.id}"
